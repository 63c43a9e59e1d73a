//! The typed shape of `autodev.toml`: every section and key with its built-in default.
//!
//! This module owns only the data model. Reading files, environment overrides, flags and the
//! record of where each value came from live in [`super::layer`]; turning relative paths into
//! absolute ones lives in [`super::ProjectPaths`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole configuration, after layering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    pub project: ProjectSection,
    pub backend: BackendSection,
    pub run: RunSection,
    pub files: FilesSection,
    pub verification: VerificationSection,
    pub reflection: ReflectionSection,
    pub prompt: PromptSection,
    pub snapshot: SnapshotSection,
    pub env_errors: EnvErrorsSection,
    pub circuit_breaker: CircuitBreakerSection,
    pub git: GitSection,
    pub detach: DetachSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectSection {
    /// Display name; also the tmux session suffix and the `project` of a new queue.
    pub name: String,
    /// Working directory of agents, checks and git; the root of change tracking.
    pub code_dir: String,
    /// Kept for compatibility with the original; autodev reads nothing from it.
    pub config_dir: String,
}

impl Default for ProjectSection {
    fn default() -> Self {
        Self {
            name: "Untitled Project".into(),
            code_dir: ".".into(),
            config_dir: ".".into(),
        }
    }
}

/// The agent CLIs autodev can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    Claude,
    #[default]
    Codex,
    Gemini,
    Opencode,
}

impl BackendName {
    pub const ALL: [BackendName; 4] = [Self::Claude, Self::Codex, Self::Gemini, Self::Opencode];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
            Self::Opencode => "opencode",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BackendSection {
    /// The backend used by `run`, `plan`, `spec` and reflection unless a flag says otherwise.
    /// Built-in default and `init` default agree (codex), unlike the original.
    pub default: BackendName,
    pub claude: ClaudeSettings,
    pub codex: CodexSettings,
    pub gemini: GeminiSettings,
    pub opencode: OpencodeSettings,
}

/// Claude Code permission modes: those the current CLI accepts, plus `default`, which means
/// "pass no `--permission-mode`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermissionMode {
    #[serde(rename = "default")]
    Default,
    #[serde(rename = "acceptEdits")]
    AcceptEdits,
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "bypassPermissions")]
    BypassPermissions,
    #[serde(rename = "manual")]
    Manual,
    #[serde(rename = "dontAsk")]
    DontAsk,
    #[serde(rename = "plan")]
    Plan,
}

/// Output formats of the agent CLIs that have them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputFormat {
    #[serde(rename = "text")]
    Text,
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "stream-json")]
    StreamJson,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaudeSettings {
    pub skip_permissions: bool,
    pub permission_mode: PermissionMode,
    pub output_format: OutputFormat,
    pub model: String,
    pub verbose: bool,
}

impl Default for ClaudeSettings {
    fn default() -> Self {
        Self {
            skip_permissions: true,
            permission_mode: PermissionMode::BypassPermissions,
            output_format: OutputFormat::StreamJson,
            model: String::new(),
            verbose: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CodexSettings {
    pub model: String,
    pub yolo: bool,
    pub full_auto: bool,
    pub dangerously_bypass_approvals_and_sandbox: bool,
    pub ephemeral: bool,
}

impl Default for CodexSettings {
    fn default() -> Self {
        Self {
            model: String::new(),
            yolo: true,
            full_auto: false,
            dangerously_bypass_approvals_and_sandbox: true,
            ephemeral: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeminiSettings {
    pub model: String,
    pub yolo: bool,
    pub approval_mode: String,
    pub output_format: OutputFormat,
    pub all_files: bool,
    pub include_directories: String,
    pub debug: bool,
}

impl Default for GeminiSettings {
    fn default() -> Self {
        Self {
            model: String::new(),
            yolo: true,
            approval_mode: String::new(),
            output_format: OutputFormat::Text,
            all_files: false,
            include_directories: String::new(),
            debug: false,
        }
    }
}

/// The permissions the original granted opencode for unattended runs.
pub const OPENCODE_DEFAULT_PERMISSIONS: &str =
    r#"{"read":"allow","edit":"allow","bash":"allow","glob":"allow","grep":"allow"}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpencodeSettings {
    pub model: String,
    pub format: String,
    pub permissions: String,
    pub log_level: String,
}

impl Default for OpencodeSettings {
    fn default() -> Self {
        Self {
            model: String::new(),
            format: "default".into(),
            permissions: OPENCODE_DEFAULT_PERMISSIONS.into(),
            log_level: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSection {
    /// Attempts per delivery task (`--max-retries N` means N attempts).
    pub max_retries: u32,
    /// Tasks worked per epoch.
    pub max_tasks: u32,
    /// Plan-and-run cycles (`--epochs`).
    pub max_epochs: u32,
    /// Seconds between heartbeat lines while an agent runs.
    pub heartbeat_interval: u64,
    pub keep_attempt_logs: bool,
    pub reset_tasks_on_start: bool,
    /// Seconds to pause between attempts and tasks.
    pub delay_between_tasks: f64,
    pub root_mode: RootModeSettings,
}

impl Default for RunSection {
    fn default() -> Self {
        Self {
            max_retries: 3,
            max_tasks: 999,
            max_epochs: 1,
            heartbeat_interval: 20,
            keep_attempt_logs: true,
            reset_tasks_on_start: false,
            delay_between_tasks: 2.0,
            root_mode: RootModeSettings::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RootModeSettings {
    pub disable_skip_permissions: bool,
    pub fallback_permission_mode: PermissionMode,
}

impl Default for RootModeSettings {
    fn default() -> Self {
        Self {
            disable_skip_permissions: true,
            fallback_permission_mode: PermissionMode::Default,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FilesSection {
    pub task_json: String,
    pub progress: String,
    pub execution_guide: String,
    pub task_brief: String,
    pub log_dir: String,
    /// Per-attempt logs, relative to `log_dir` unless absolute.
    pub attempt_log_subdir: String,
}

impl Default for FilesSection {
    fn default() -> Self {
        Self {
            task_json: "task.json".into(),
            progress: "progress.txt".into(),
            execution_guide: "AGENT.md".into(),
            task_brief: "TASK.md".into(),
            log_dir: "logs".into(),
            attempt_log_subdir: "attempts".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerificationSection {
    pub min_changed_files: u32,
    pub changed_files_preview_limit: u32,
    /// Used for tasks that have no `validate_commands` key of their own.
    pub validate_commands: Vec<String>,
    pub validate_timeout_seconds: u64,
    /// Relative to `project.code_dir`; empty means `code_dir` itself.
    pub validate_working_directory: String,
    pub validate_environment: BTreeMap<String, String>,
}

impl Default for VerificationSection {
    fn default() -> Self {
        Self {
            min_changed_files: 1,
            changed_files_preview_limit: 20,
            validate_commands: Vec::new(),
            validate_timeout_seconds: 1800,
            validate_working_directory: String::new(),
            validate_environment: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReflectionSection {
    pub enabled: bool,
    pub max_refinements_per_task: u32,
    pub prompt_timeout_seconds: u64,
    pub log_tail_lines: u32,
    pub max_attempt_history_entries: u32,
    pub max_learning_notes: u32,
    pub max_project_learning_entries: u32,
    pub prompt_learning_limit: u32,
}

impl Default for ReflectionSection {
    fn default() -> Self {
        Self {
            enabled: true,
            max_refinements_per_task: 3,
            prompt_timeout_seconds: 180,
            log_tail_lines: 80,
            max_attempt_history_entries: 12,
            max_learning_notes: 20,
            max_project_learning_entries: 50,
            prompt_learning_limit: 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PromptSection {
    /// A file holding a custom task prompt template (wins over `template`).
    pub template_file: String,
    /// An inline custom task prompt template.
    pub template: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotSection {
    pub watch_dirs: Vec<String>,
    pub ignore_dirs: Vec<String>,
    pub ignore_path_globs: Vec<String>,
    pub include_path_globs: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

impl Default for SnapshotSection {
    fn default() -> Self {
        Self {
            watch_dirs: strings(&["."]),
            ignore_dirs: strings(&[
                ".git",
                ".idea",
                ".vscode",
                "build",
                "venv",
                "__pycache__",
                "node_modules",
                "logs",
            ]),
            ignore_path_globs: strings(&[
                "build-*",
                "cmake-build-*",
                "out-*",
                "*.dir/*",
                "*.o",
                "*.obj",
                "*.so",
                "*.a",
                "*.dylib",
                "*.dll",
                "*.pdb",
                "*.exp",
                "*.lib",
                "*.ptx",
                "*.cubin",
                "*.fatbin",
            ]),
            include_path_globs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvErrorsSection {
    pub halt_patterns: Vec<String>,
}

impl Default for EnvErrorsSection {
    fn default() -> Self {
        Self {
            halt_patterns: strings(&[
                "cannot be used with root/sudo privileges",
                "permission denied",
                "invalid api key",
                "unauthorized",
                "requires --verbose",
            ]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CircuitBreakerSection {
    pub no_progress_threshold: u32,
    pub repeated_error_threshold: u32,
    /// Seconds to wait after a rate-limited attempt.
    pub rate_limit_cooldown: u64,
    pub rate_limit_patterns: Vec<String>,
}

impl Default for CircuitBreakerSection {
    fn default() -> Self {
        Self {
            no_progress_threshold: 3,
            repeated_error_threshold: 3,
            rate_limit_cooldown: 300,
            rate_limit_patterns: strings(&[
                "rate_limit",
                "rate limit",
                "overloaded",
                "too many requests",
                "usage cap",
                "capacity",
                "throttl",
            ]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GitSection {
    pub auto_commit: bool,
    /// `{task_id}` and `{task_name}` are replaced literally.
    pub commit_message_template: String,
}

impl Default for GitSection {
    fn default() -> Self {
        Self {
            auto_commit: true,
            commit_message_template: "autodev: {task_id} - {task_name}".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetachSection {
    pub tmux_session_prefix: String,
}

impl Default for DetachSection {
    fn default() -> Self {
        Self {
            tmux_session_prefix: "autodev".into(),
        }
    }
}
