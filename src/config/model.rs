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
    pub planning: PlanningSection,
    pub prompt: PromptSection,
    pub snapshot: SnapshotSection,
    pub env_errors: EnvErrorsSection,
    pub circuit_breaker: CircuitBreakerSection,
    pub git: GitSection,
    pub detach: DetachSection,
    pub experiments: ExperimentsSection,
    /// What tokens cost, to estimate the cost of CLIs that report tokens but no cost.
    pub pricing: PricingSection,
    pub notify: NotifySection,
}

/// Notifications of what a run does (`docs/notify.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifySection {
    /// HTTP(S) address the JSON body is POSTed to ("": none).
    pub webhook_url: String,
    /// A shell command run with the JSON body on stdin ("": none).
    pub command: String,
    /// Which events notify: task_blocked, run_halted, budget_warning, budget_stopped,
    /// run_finished.
    pub events: Vec<String>,
    /// Further tries of a failed delivery, with backoff (1 s, 2 s, 4 s, …).
    pub retries: u32,
    /// Seconds one delivery may take.
    pub timeout_seconds: u64,
}

impl Default for NotifySection {
    fn default() -> Self {
        NotifySection {
            webhook_url: String::new(),
            command: String::new(),
            events: [
                "task_blocked",
                "run_halted",
                "budget_warning",
                "budget_stopped",
                "run_finished",
            ]
            .map(String::from)
            .to_vec(),
            retries: 3,
            timeout_seconds: 10,
        }
    }
}

/// USD per million tokens: `input_per_million` / `output_per_million` for any model, and
/// `models."<model>" = { input = …, output = … }` for the model a backend is configured with.
/// All 0 (the default): no estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PricingSection {
    pub input_per_million: f64,
    pub output_per_million: f64,
    pub models: BTreeMap<String, Price>,
}

/// What a model costs, in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

impl PricingSection {
    /// The price of `model` (a configured model name; empty when none is set), if one is known.
    pub fn price_of(&self, model: &str) -> Option<Price> {
        if let Some(price) = self.models.get(model) {
            return Some(*price);
        }
        let price = Price {
            input: self.input_per_million,
            output: self.output_per_million,
        };
        (price.input > 0.0 || price.output > 0.0).then_some(price)
    }
}

impl Config {
    /// Settings worth a warning: those the original accepted that current agent CLIs reject
    /// (autodev never passes the rejected flag), and snapshot globs written for the original's
    /// match-anywhere rule.
    pub fn advisories(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.backend.codex.full_auto {
            notes.push(
                "backend.codex.full_auto is ignored: codex no longer accepts --full-auto; \
                 `sandbox = \"workspace-write\"` (the default) does the same"
                    .to_string(),
            );
        }
        for (key, globs) in [
            (
                "snapshot.ignore_path_globs",
                &self.snapshot.ignore_path_globs,
            ),
            (
                "snapshot.include_path_globs",
                &self.snapshot.include_path_globs,
            ),
        ] {
            let loose: Vec<&str> = globs
                .iter()
                .map(|g| g.trim())
                .filter(|g| !g.contains('/') && !g.is_empty())
                .collect();
            if !loose.is_empty() {
                notes.push(format!(
                    "{key}: {} match top-level paths only (globs are anchored at the project \
                     root); write {} to match at any depth",
                    loose.join(", "),
                    loose
                        .iter()
                        .map(|g| format!("**/{g}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if self.backend.gemini.all_files {
            notes.push(
                "backend.gemini.all_files is ignored: gemini no longer accepts --all-files"
                    .to_string(),
            );
        }
        notes
    }
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

/// The agent CLIs autodev can drive, plus `command`: any program configured by argv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    Claude,
    #[default]
    Codex,
    Gemini,
    Opencode,
    Command,
}

impl BackendName {
    pub const ALL: [BackendName; 5] = [
        Self::Claude,
        Self::Codex,
        Self::Gemini,
        Self::Opencode,
        Self::Command,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
            Self::Opencode => "opencode",
            Self::Command => "command",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendSection {
    /// The backend used by `run`, `plan`, `spec` and reflection unless a flag says otherwise.
    /// Built-in default and `init` default agree (codex), unlike the original.
    pub default: BackendName,
    /// Wall-clock limit of one agent attempt, in seconds (0: none).
    pub timeout_seconds: u64,
    /// An attempt that prints nothing for this many seconds is stopped (0: never).
    pub idle_timeout_seconds: u64,
    /// Seconds between SIGTERM and SIGKILL when an agent is stopped.
    pub kill_grace_seconds: u64,
    pub claude: ClaudeSettings,
    pub codex: CodexSettings,
    pub gemini: GeminiSettings,
    pub opencode: OpencodeSettings,
    pub command: CommandSettings,
}

impl Default for BackendSection {
    fn default() -> Self {
        Self {
            default: BackendName::default(),
            timeout_seconds: 7200,
            idle_timeout_seconds: 1800,
            kill_grace_seconds: 10,
            claude: ClaudeSettings::default(),
            codex: CodexSettings::default(),
            gemini: GeminiSettings::default(),
            opencode: OpencodeSettings::default(),
            command: CommandSettings::default(),
        }
    }
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

impl PermissionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::AcceptEdits => "acceptEdits",
            Self::Auto => "auto",
            Self::BypassPermissions => "bypassPermissions",
            Self::Manual => "manual",
            Self::DontAsk => "dontAsk",
            Self::Plan => "plan",
        }
    }
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

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
            Self::StreamJson => "stream-json",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaudeSettings {
    pub skip_permissions: bool,
    pub permission_mode: PermissionMode,
    pub output_format: OutputFormat,
    pub model: String,
    pub verbose: bool,
    /// The user declares this machine a disposable sandbox: bypass mode is kept even as root
    /// (autodev sets `IS_SANDBOX=1` for claude).
    pub sandbox: bool,
    /// `--allowedTools`, for attempts; empty passes nothing.
    pub allowed_tools: Vec<String>,
    /// `--max-turns` when above 0.
    pub max_turns: u32,
    /// Appended to the attempt command line as given.
    pub extra_args: Vec<String>,
}

impl Default for ClaudeSettings {
    fn default() -> Self {
        Self {
            skip_permissions: true,
            permission_mode: PermissionMode::BypassPermissions,
            output_format: OutputFormat::StreamJson,
            model: String::new(),
            verbose: true,
            sandbox: false,
            allowed_tools: Vec::new(),
            max_turns: 0,
            extra_args: Vec::new(),
        }
    }
}

/// Codex sandbox policies (`--sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodexSandbox {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

impl CodexSandbox {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "read-only",
            Self::WorkspaceWrite => "workspace-write",
            Self::DangerFullAccess => "danger-full-access",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CodexSettings {
    pub model: String,
    /// No approvals and no sandbox (`--dangerously-bypass-approvals-and-sandbox`).
    pub yolo: bool,
    /// Retired: current codex rejects `--full-auto`; `sandbox = "workspace-write"` replaces it.
    pub full_auto: bool,
    pub dangerously_bypass_approvals_and_sandbox: bool,
    /// The sandbox of attempts when neither bypass setting is on.
    pub sandbox: CodexSandbox,
    pub ephemeral: bool,
    /// `--skip-git-repo-check`, so projects outside git work too.
    pub skip_git_repo_check: bool,
    pub extra_args: Vec<String>,
}

impl Default for CodexSettings {
    fn default() -> Self {
        Self {
            model: String::new(),
            yolo: true,
            full_auto: false,
            dangerously_bypass_approvals_and_sandbox: true,
            sandbox: CodexSandbox::WorkspaceWrite,
            ephemeral: false,
            skip_git_repo_check: true,
            extra_args: Vec::new(),
        }
    }
}

/// Gemini approval modes (`--approval-mode`); the empty string means "decided by `yolo`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GeminiApproval {
    #[serde(rename = "")]
    Unset,
    #[serde(rename = "default")]
    Default,
    #[serde(rename = "auto_edit")]
    AutoEdit,
    #[serde(rename = "yolo")]
    Yolo,
    #[serde(rename = "plan")]
    Plan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeminiSettings {
    pub model: String,
    pub yolo: bool,
    pub approval_mode: GeminiApproval,
    pub output_format: OutputFormat,
    /// Retired: current gemini rejects `--all-files`.
    pub all_files: bool,
    pub include_directories: String,
    pub debug: bool,
    /// `--skip-trust`: without it gemini downgrades yolo in a folder it does not trust and
    /// headless runs exit 55.
    pub skip_trust: bool,
    pub extra_args: Vec<String>,
}

impl Default for GeminiSettings {
    fn default() -> Self {
        Self {
            model: String::new(),
            yolo: true,
            approval_mode: GeminiApproval::Unset,
            output_format: OutputFormat::StreamJson,
            all_files: false,
            include_directories: String::new(),
            debug: false,
            skip_trust: true,
            extra_args: Vec::new(),
        }
    }
}

/// OpenCode output formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpencodeFormat {
    Default,
    Json,
}

/// The permissions the original granted opencode for unattended runs.
pub const OPENCODE_DEFAULT_PERMISSIONS: &str =
    r#"{"read":"allow","edit":"allow","bash":"allow","glob":"allow","grep":"allow"}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpencodeSettings {
    pub model: String,
    pub format: OpencodeFormat,
    pub permissions: String,
    pub log_level: String,
    /// `--auto`: approve every permission not explicitly denied (otherwise "ask" is rejected).
    pub auto: bool,
    /// `--agent`, when not empty.
    pub agent: String,
    pub extra_args: Vec<String>,
}

impl Default for OpencodeSettings {
    fn default() -> Self {
        Self {
            model: String::new(),
            format: OpencodeFormat::Json,
            permissions: OPENCODE_DEFAULT_PERMISSIONS.into(),
            log_level: String::new(),
            auto: true,
            agent: String::new(),
            extra_args: Vec::new(),
        }
    }
}

/// Any program as the agent: aider, goose, a script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CommandSettings {
    /// The attempt command line; `{prompt_file}` is replaced by the path of a file holding the
    /// prompt, otherwise the prompt arrives on stdin.
    pub argv: Vec<String>,
    /// The command line of read-only one-shot calls (plan, spec, reflection); empty: `argv`.
    pub oneshot_argv: Vec<String>,
    /// Extra environment variables for the command.
    pub env: BTreeMap<String, String>,
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
    /// The most the run may spend, in USD, over every agent call (0: no cap).
    pub max_cost_usd: f64,
    /// The most tokens (input + output) the run may use (0: no cap).
    pub max_tokens: u64,
    /// Where a delivery task is worked: a worktree of its own, or the user's tree.
    pub isolation: Isolation,
    /// A command run in the worker's worktree before each task is worked there (installing
    /// the dependencies its checks need); empty: none.
    pub worktree_setup: String,
    /// Tasks worked at once, each by a worker in a worktree of its own (`--workers`).
    pub workers: u32,
    /// Let tasks whose `path_patterns` may overlap run at the same time (the merge queue still
    /// checks every result on top of the others).
    pub allow_overlap: bool,
    /// The file every run on this machine locks so that an experiment's samples are never
    /// taken while checks run (empty: `autodev-measure.lock` in the temporary directory;
    /// `"off"`: only within the run).
    pub measure_lock: String,
    pub root_mode: RootModeSettings,
}

/// Where a delivery task is worked (`run.isolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Isolation {
    /// In the user's own tree, as the original did.
    #[serde(rename = "in-place")]
    InPlace,
    /// In a worker's worktree on a branch of its own, brought to the user's branch by a
    /// fast-forward when that touches nothing of the user's.
    #[serde(rename = "worktree")]
    Worktree,
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
            max_cost_usd: 0.0,
            max_tokens: 0,
            isolation: Isolation::Worktree,
            worktree_setup: String::new(),
            workers: 1,
            allow_overlap: false,
            measure_lock: String::new(),
            root_mode: RootModeSettings::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RootModeSettings {
    pub disable_skip_permissions: bool,
    /// Replaces bypass (and `default`, which denies every edit in headless mode) as root.
    pub fallback_permission_mode: PermissionMode,
    /// `--allowedTools` as root when bypass was replaced, so the agent can still run commands.
    pub allowed_tools: Vec<String>,
}

impl Default for RootModeSettings {
    fn default() -> Self {
        Self {
            disable_skip_permissions: true,
            fallback_permission_mode: PermissionMode::AcceptEdits,
            allowed_tools: strings(&["Bash", "Edit", "Write", "Read", "Glob", "Grep"]),
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
    /// Globs of files an attempt must not change (tests, benchmarks, checks): a change fails the
    /// gate as tampering and the files are restored.
    pub protected_paths: Vec<String>,
    /// Protect the files each task's checks depend on as well (see `gate::protect`).
    pub protect_checks: bool,
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
            protected_paths: Vec::new(),
            protect_checks: true,
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

/// `autodev spec`, `autodev plan` and re-planning between epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanningSection {
    /// Seconds one planning call (spec, plan, re-plan) may take.
    pub timeout_seconds: u64,
    /// Where generated COCA specs go, relative to the code directory.
    pub specs_dir: String,
}

impl Default for PlanningSection {
    fn default() -> Self {
        Self {
            timeout_seconds: 300,
            specs_dir: "docs/specs".into(),
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
                ".hg",
                ".svn",
                ".idea",
                ".vscode",
                "build",
                "target",
                "venv",
                ".venv",
                "__pycache__",
                "node_modules",
                "logs",
            ]),
            ignore_path_globs: strings(&[
                "**/build-*",
                "**/cmake-build-*",
                "**/out-*",
                "**/*.dir/**",
                "**/*.o",
                "**/*.obj",
                "**/*.so",
                "**/*.a",
                "**/*.dylib",
                "**/*.dll",
                "**/*.pdb",
                "**/*.exp",
                "**/*.lib",
                "**/*.ptx",
                "**/*.cubin",
                "**/*.fatbin",
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
    /// Seconds to wait after the provider reports a rate limit or overload; doubles on each
    /// wait in a row.
    pub rate_limit_cooldown: u64,
    /// Kept for old files: rate limits are now recognised from the agent's structured output.
    pub rate_limit_patterns: Vec<String>,
    /// Total seconds a run may spend waiting for the provider before it stops.
    pub max_wait_seconds: u64,
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
            max_wait_seconds: 7200,
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

/// What becomes of an experiment's result (`docs/experiments.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ExperimentsSection {
    /// A result that comes to your branch comes as one commit stating its measured effect,
    /// the experiment's own commits kept under a backup ref (as `autodev finalize` does).
    pub finalize: bool,
    /// How a result that met its goal comes to your branch (a task's `execution.promotion`
    /// overrides it).
    pub promotion: Promotion,
}

/// How an experiment's winning result comes to the user's branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Promotion {
    /// By itself: fast-forwarded when the branch has not moved; when it has, replayed onto the
    /// new tip and measured again there, landing only if it still wins.
    #[default]
    Auto,
    /// It waits on its branch for `autodev promote TASK`, which measures it on the current tip
    /// first.
    Manual,
}

impl Promotion {
    /// The value named `name` in a task (`None`: not one).
    pub fn parse(name: &str) -> Option<Promotion> {
        match name.trim() {
            "auto" => Some(Promotion::Auto),
            "manual" => Some(Promotion::Manual),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Promotion::Auto => "auto",
            Promotion::Manual => "manual",
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
