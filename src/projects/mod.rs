//! The registry of this user's projects: every project `autodev init` or `autodev run` has seen,
//! with where its files are and the tmux sessions autodev started for it. It lives in the user's
//! state directory (`$XDG_STATE_HOME/autodev/projects.json`, by default
//! `~/.local/state/autodev/`), so that `autodev list`, `stop` and the web dashboard find
//! projects wherever they are. Written atomically under a lock; a project that moved or was
//! deleted stays listed (as missing) until it is forgotten.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Settings, log_files};
use crate::durable::{self, FileLock};
use crate::error::{Error, Result};

/// The registry's format version.
const VERSION: u32 = 1;
/// The largest registry read back.
const MAX_REGISTRY_BYTES: u64 = 64 << 20;

/// A tmux session autodev started for a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub name: String,
    pub started_at: String,
}

/// One project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The folder holding its `autodev.toml`.
    pub root: PathBuf,
    pub config: PathBuf,
    pub name: String,
    pub log_dir: PathBuf,
    /// Sessions autodev started for it, newest last.
    #[serde(default)]
    pub sessions: Vec<SessionRecord>,
    #[serde(default)]
    pub last_seen: String,
}

impl Project {
    /// Its run status file.
    pub fn runtime_status(&self) -> PathBuf {
        self.log_dir.join(log_files::RUNTIME_STATUS)
    }

    /// Its run journal.
    pub fn journal(&self) -> PathBuf {
        self.log_dir.join(log_files::EVENTS)
    }

    /// Its dashboard page.
    pub fn dashboard(&self) -> PathBuf {
        self.log_dir.join(log_files::DASHBOARD)
    }

    /// Its run log.
    pub fn run_log(&self) -> PathBuf {
        self.log_dir.join(log_files::RUN_LOG)
    }

    /// Whether the project is still where it was.
    pub fn exists(&self) -> bool {
        self.config.is_file()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    projects: Vec<Project>,
}

/// Where the registry lives: `$XDG_STATE_HOME/autodev`, else `~/.local/state/autodev`.
pub fn state_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = || std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state"));
    xdg.or_else(home).map(|d| d.join("autodev"))
}

fn file() -> Result<PathBuf> {
    state_dir()
        .map(|d| d.join("projects.json"))
        .ok_or(Error::Setup {
            message:
                "cannot tell where this user's state goes: neither XDG_STATE_HOME nor HOME is set"
                    .into(),
            hint: "set HOME (or XDG_STATE_HOME)".into(),
        })
}

fn read(path: &Path) -> Registry {
    durable::read_regular(path, MAX_REGISTRY_BYTES)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Every project known, in the order they were first seen.
pub fn list() -> Vec<Project> {
    file().map(|f| read(&f).projects).unwrap_or_default()
}

/// Changes the registry under its lock and writes it atomically.
fn update(change: impl FnOnce(&mut Vec<Project>)) -> Result<()> {
    let path = file()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let lock = dir.join("projects.lock");
    let _guard = FileLock::acquire(&lock).map_err(|e| Error::io("lock", &lock, e))?;
    let mut registry = read(&path);
    change(&mut registry.projects);
    registry.version = VERSION;
    let mut text = serde_json::to_string_pretty(&registry).map_err(|e| Error::Setup {
        message: format!("cannot write the project registry: {e}"),
        hint: String::new(),
    })?;
    text.push('\n');
    durable::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io("write", &path, e))
}

/// Records the project of `settings` (named `name`) as seen now; with `session`, also a tmux
/// session autodev started for it.
pub fn remember(settings: &Settings, name: &str, session: Option<SessionRecord>) -> Result<()> {
    let root = settings.paths.root.clone();
    let entry = Project {
        root: root.clone(),
        config: settings.file.clone(),
        name: name.to_string(),
        log_dir: settings.paths.log_dir.clone(),
        sessions: Vec::new(),
        last_seen: durable::utc_now(),
    };
    update(move |projects| {
        let at = match projects.iter().position(|p| p.root == root) {
            Some(i) => {
                let old = std::mem::take(&mut projects[i].sessions);
                projects[i] = Project {
                    sessions: old,
                    ..entry
                };
                i
            }
            None => {
                projects.push(entry);
                projects.len() - 1
            }
        };
        if let Some(session) = session {
            let sessions = &mut projects[at].sessions;
            sessions.retain(|s| s.name != session.name);
            sessions.push(session);
            // A bounded history: the newest few sessions.
            let drop = sessions.len().saturating_sub(10);
            sessions.drain(..drop);
        }
    })
}

/// Forgets the project at `root`.
pub fn forget(root: &Path) -> Result<()> {
    let root = root.to_path_buf();
    update(move |projects| projects.retain(|p| p.root != root))
}
