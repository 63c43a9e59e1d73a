//! The error kinds users can meet, the exit-code table, and the hints that say what to do.
//!
//! Every failure autodev reports passes through [`Error`]; it is rendered once, in `main`, as an
//! `error:` line followed by `hint:` lines. Business code returns errors and never prints them.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

/// How a command ended, as the process exit code. The table is documented in `docs/exit-codes.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything asked for was done (or there was nothing to do).
    Success,
    /// 1: an environment or runtime failure, or bad input; also `task next` with nothing pending.
    Failure,
    /// 2: the queue finished with blocked tasks remaining (clap usage errors also exit 2).
    Blocked,
    /// 3: `run` stopped at its budget (`--max-cost`, `--max-tokens`), tasks left pending.
    Budget,
    /// 130: interrupted by a signal.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Blocked => 2,
            Exit::Budget => 3,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// Where a bad configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// A position in a config file.
    File {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    /// An `AUTODEV_*` environment variable.
    Env(String),
    /// A command-line flag, as the user wrote it.
    Flag(String),
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigOrigin::File { path, line, column } => {
                write!(f, "{}:{line}:{column}", path.display())
            }
            ConfigOrigin::Env(name) => write!(f, "environment variable {name}"),
            ConfigOrigin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("autodev.toml not found in {} or any parent directory", start.display())]
    ConfigNotFound { start: PathBuf },

    #[error("config file not found: {}", path.display())]
    ConfigFileMissing { path: PathBuf },

    #[error("{}:{line}:{column}: invalid TOML: {message}", path.display())]
    ConfigSyntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{origin}: `{key}`: {message}")]
    ConfigValue {
        origin: ConfigOrigin,
        key: String,
        message: String,
    },

    #[error("{origin}: `{key}` is not a setting{}", suggestion_suffix(suggestion))]
    UnknownSetting {
        origin: ConfigOrigin,
        key: String,
        suggestion: Option<String>,
    },

    #[error("task file not found: {}", path.display())]
    TaskFileMissing { path: PathBuf },

    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    TaskFileSyntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{}: {message}", path.display())]
    TaskFileShape { path: PathBuf, message: String },

    #[error("{} cannot be read as written:{}", path.display(), problems.iter().map(|p| format!("\n- {p}")).collect::<String>())]
    TaskFileInvalid {
        path: PathBuf,
        problems: Vec<String>,
    },

    #[error("task {id} not found in {}", path.display())]
    TaskNotFound { id: String, path: PathBuf },

    #[error("{context}:{}", issues.iter().map(|i| format!("\n- {i}")).collect::<String>())]
    Audit {
        context: String,
        issues: Vec<String>,
    },

    #[error("{message}")]
    Setup { message: String, hint: String },

    #[error("interrupted")]
    Interrupted,

    #[error("setting `{key}`: {message}")]
    Setting { key: String, message: String },

    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn suggestion_suffix(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

impl Error {
    /// Something about the project or the repository stops the command: what, and what to do.
    pub fn setup(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Setup {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// Shorthand for the common I/O case.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::Interrupted => Exit::Interrupted,
            _ => Exit::Failure,
        }
    }

    /// What the user can do about it, one sentence a line.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Error::ConfigNotFound { .. } => vec![
                "create one with `autodev init` (it documents every key), or pass `--config PATH`"
                    .into(),
            ],
            Error::ConfigFileMissing { .. } => {
                vec!["check the path given to `--config`".into()]
            }
            // No hint sends the user to a command that would only fail the same way
            // (`config show` reads the same file): say what to fix, and where it is documented.
            Error::ConfigSyntax { .. } => {
                vec!["fix the TOML at that position, then run the command again".into()]
            }
            Error::ConfigValue { origin, .. } | Error::UnknownSetting { origin, .. } => {
                match origin {
                    ConfigOrigin::File { .. } => vec![
                        "fix the value at that position; every key is described in the comments `autodev init` writes (and in docs/configuration.md)".into(),
                    ],
                    ConfigOrigin::Env(name) => vec![format!("fix or unset {name}")],
                    ConfigOrigin::Flag(_) => {
                        vec!["fix the value given to --set; every key is described in docs/configuration.md".into()]
                    }
                }
            }
            Error::TaskFileMissing { .. } => vec![
                "create it with `autodev init` or `autodev plan`, or write a queue such as {\"tasks\": []}"
                    .into(),
            ],
            Error::TaskFileSyntax { .. } | Error::TaskFileShape { .. } => vec![
                "the file was left unchanged; fix it by hand or restore a `task.json.bak.*` backup"
                    .into(),
            ],
            Error::TaskFileInvalid { .. } => vec![
                "nothing was changed and no agent was called; fix these in the file, then check it \
                 with `autodev task check`"
                    .into(),
            ],
            Error::TaskNotFound { .. } => {
                vec!["`autodev task list` shows the task ids".into()]
            }
            Error::Setup { hint, .. } => vec![hint.clone()],
            Error::Setting { .. } => vec![
                "`autodev config show` prints where it is set and what it is"
                    .into(),
            ],
            Error::Audit { .. } | Error::Io { .. } | Error::Interrupted => Vec::new(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
