//! `autodev.toml`: finding it, loading it in layers, and the resolved settings every command uses.
//!
//! [`load`] is the one entry point: it discovers the file (or takes `--config`), layers
//! defaults < file < environment < flags ([`layer`]), and resolves project paths against the
//! directory that holds the file. The result, [`Settings`], is what commands read; they never
//! look at raw TOML.

pub mod layer;
pub mod model;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

pub use layer::{Override, Source, Warning};
pub use model::{
    BackendName, BackendSection, ClaudeSettings, CodexSandbox, CodexSettings, CommandSettings,
    Config, GeminiApproval, GeminiSettings, Isolation, OpencodeFormat, OpencodeSettings,
    OutputFormat, PermissionMode, Promotion, RootModeSettings,
};

use crate::error::{Error, Result};

/// The file name autodev looks for.
pub const FILE_NAME: &str = "autodev.toml";

/// How to find and layer the configuration.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config PATH`, relative to `cwd`.
    pub config_path: Option<PathBuf>,
    /// Where discovery starts.
    pub cwd: PathBuf,
    /// Flag-level values, highest precedence.
    pub overrides: Vec<Override>,
}

/// Absolute paths of the files a project's run reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPaths {
    /// The directory holding `autodev.toml`; relative paths are resolved against it.
    pub root: PathBuf,
    pub code_dir: PathBuf,
    pub task_json: PathBuf,
    pub progress: PathBuf,
    pub execution_guide: PathBuf,
    pub task_brief: PathBuf,
    pub log_dir: PathBuf,
    pub attempt_log_dir: PathBuf,
    pub template_file: Option<PathBuf>,
}

impl ProjectPaths {
    fn resolve(root: &Path, config: &Config) -> ProjectPaths {
        let at_root = |p: &str| absolutize(root, Path::new(p));
        let files = &config.files;
        let log_dir = at_root(&files.log_dir);
        let template = config.prompt.template_file.trim();
        ProjectPaths {
            root: root.to_path_buf(),
            code_dir: at_root(&config.project.code_dir),
            task_json: at_root(&files.task_json),
            progress: at_root(&files.progress),
            execution_guide: at_root(&files.execution_guide),
            task_brief: at_root(&files.task_brief),
            attempt_log_dir: absolutize(&log_dir, Path::new(&files.attempt_log_subdir)),
            log_dir,
            template_file: (!template.is_empty()).then(|| at_root(template)),
        }
    }

    /// Where `logs/experiments.jsonl` lives.
    pub fn experiments_log(&self) -> PathBuf {
        self.log_dir.join("experiments.jsonl")
    }

    /// Where earlier versions kept the running attempt's opening snapshot (now each attempt's
    /// sits beside its log); still read, and removed at the next attempt.
    pub fn opening_snapshot(&self) -> PathBuf {
        self.log_dir.join("attempt-opening.snapshot")
    }

    /// Where the run journal `logs/events.jsonl` lives.
    pub fn events_log(&self) -> PathBuf {
        self.log_dir.join(log_files::EVENTS)
    }

    /// Where `logs/runtime-status.json` lives.
    pub fn runtime_status(&self) -> PathBuf {
        self.log_dir.join(log_files::RUNTIME_STATUS)
    }

    /// Where `logs/dashboard.html` lives.
    pub fn dashboard(&self) -> PathBuf {
        self.log_dir.join(log_files::DASHBOARD)
    }

    /// Where the run's log `logs/autodev.log` lives.
    pub fn run_log(&self) -> PathBuf {
        self.log_dir.join(log_files::RUN_LOG)
    }
}

/// The names of the files a run writes in its log folder, for the places that know only the
/// folder (the project registry and what reads it).
pub mod log_files {
    pub const EVENTS: &str = "events.jsonl";
    pub const RUNTIME_STATUS: &str = "runtime-status.json";
    pub const DASHBOARD: &str = "dashboard.html";
    pub const RUN_LOG: &str = "autodev.log";
}

/// Joins `path` onto `base` unless absolute, and removes `.` and `..` lexically.
pub fn absolutize(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The settings in force, with where each came from.
#[derive(Debug)]
pub struct Settings {
    pub config: Config,
    /// The file that was loaded.
    pub file: PathBuf,
    pub paths: ProjectPaths,
    /// Leaf keys set above the defaults, with the layer that set them.
    pub sources: BTreeMap<String, Source>,
    pub warnings: Vec<Warning>,
    /// Unknown keys that look like a misspelt `[verification]` setting (see `layer::Layered`).
    pub guarding: Vec<String>,
    tree: toml::Table,
}

/// One line of `autodev config show`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The dotted section, such as `backend.claude`.
    pub section: String,
    pub key: String,
    pub value: toml::Value,
    pub source: Source,
}

impl Settings {
    /// Every leaf setting, in the order of the model, with its source.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        collect_entries(
            &self.tree,
            &layer::defaults_tree(),
            "",
            &self.sources,
            &mut out,
        );
        out
    }
}

/// Walks the merged tree; a table is a section when the defaults hold a non-empty table there
/// (a model record), and a value otherwise (a free-form map such as `validate_environment`).
fn collect_entries(
    table: &toml::Table,
    defaults: &toml::Table,
    section: &str,
    sources: &BTreeMap<String, Source>,
    out: &mut Vec<Entry>,
) {
    let sub_defaults = |key: &str| match defaults.get(key) {
        Some(toml::Value::Table(t)) if !t.is_empty() => Some(t),
        _ => None,
    };
    let path_of = |key: &str| {
        if section.is_empty() {
            key.to_string()
        } else {
            format!("{section}.{key}")
        }
    };
    // Plain values first, then sub-sections, so that the listing reads like a TOML file.
    // Keys the model does not know were reported as warnings and are not in force.
    for (key, value) in table.iter().filter(|(k, _)| defaults.contains_key(*k)) {
        if sub_defaults(key).is_none() {
            out.push(Entry {
                section: section.to_string(),
                key: key.clone(),
                value: value.clone(),
                source: sources
                    .get(&path_of(key))
                    .cloned()
                    .unwrap_or(Source::Default),
            });
        }
    }
    for (key, value) in table {
        if let (Some(inner_defaults), toml::Value::Table(inner)) = (sub_defaults(key), value) {
            collect_entries(inner, inner_defaults, &path_of(key), sources, out);
        }
    }
}

/// Finds `autodev.toml` in `start` or the nearest parent.
pub fn discover(start: &Path) -> Result<PathBuf> {
    let found = start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.exists())
        .ok_or_else(|| Error::ConfigNotFound {
            start: start.to_path_buf(),
        })?;
    regular(found, false)
}

/// The config file, if it is a regular file (a link to one will do): a directory, a device
/// or a pipe named as one is refused by name, not reported missing.
fn regular(path: PathBuf, given: bool) -> Result<PathBuf> {
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::ConfigFileMissing { path });
        }
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    if meta.is_file() {
        return Ok(path);
    }
    let what = if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file (a device, a pipe or a socket)"
    };
    Err(Error::Setup {
        message: format!("{} is {what}, not a config file", path.display()),
        hint: if given {
            format!("point --config at an {FILE_NAME} file")
        } else {
            format!(
                "move {} aside, then create the project's settings with `autodev init`",
                path.display()
            )
        },
    })
}

/// Loads the settings in force for the project around `options.cwd`.
pub fn load(
    options: &LoadOptions,
    env: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Settings> {
    let file = match &options.config_path {
        Some(path) => regular(absolutize(&options.cwd, path), true)?,
        None => discover(&options.cwd)?,
    };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, e))?;
    let layered = layer::layer(Some((&file, &text)), env, &options.overrides)?;
    let root = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| options.cwd.clone());
    let paths = ProjectPaths::resolve(&root, &layered.config);
    Ok(Settings {
        config: layered.config,
        file,
        paths,
        sources: layered.sources,
        warnings: layered.warnings,
        guarding: layered.guarding,
        tree: layered.tree,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolutize_cleans_dots() {
        assert_eq!(
            absolutize(Path::new("/a/b"), Path::new("./c/../d.json")),
            PathBuf::from("/a/b/d.json")
        );
        assert_eq!(
            absolutize(Path::new("/a/b"), Path::new("/x/y")),
            PathBuf::from("/x/y")
        );
    }

    #[test]
    fn paths_resolve_against_the_config_directory() {
        let mut config = Config::default();
        config.files.log_dir = "out/logs".into();
        config.files.attempt_log_subdir = "tries".into();
        let paths = ProjectPaths::resolve(Path::new("/proj"), &config);
        assert_eq!(paths.task_json, PathBuf::from("/proj/task.json"));
        assert_eq!(paths.code_dir, PathBuf::from("/proj"));
        assert_eq!(paths.attempt_log_dir, PathBuf::from("/proj/out/logs/tries"));
        assert_eq!(paths.template_file, None);
    }

    #[test]
    fn entries_list_every_leaf_once_in_model_order() {
        let layered = layer::layer(None, Vec::new(), &[]).unwrap();
        let settings = Settings {
            paths: ProjectPaths::resolve(Path::new("/p"), &layered.config),
            config: layered.config,
            file: PathBuf::from("/p/autodev.toml"),
            sources: layered.sources,
            warnings: layered.warnings,
            guarding: layered.guarding,
            tree: layered.tree,
        };
        let entries = settings.entries();
        let names: Vec<String> = entries
            .iter()
            .map(|e| format!("{}.{}", e.section, e.key))
            .collect();
        assert_eq!(names[0], "project.name");
        assert!(names.contains(&"backend.claude.permission_mode".to_string()));
        assert!(names.contains(&"verification.validate_environment".to_string()));
        assert!(names.contains(&"run.root_mode.fallback_permission_mode".to_string()));
        let first_claude = names
            .iter()
            .position(|n| n.starts_with("backend.claude"))
            .unwrap();
        let default_backend = names.iter().position(|n| n == "backend.default").unwrap();
        assert!(default_backend < first_claude);
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), names.len());
    }
}
