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
    /// `path` when it is a file of this project that a server may read on its behalf: not a
    /// symbolic link, and inside the project's folder once every link above it is resolved. A
    /// link planted in `logs/` (to `/etc/shadow`, to another user's file) is refused.
    pub fn own_file(&self, path: &Path) -> Option<PathBuf> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.file_type().is_symlink() || !meta.is_file() {
            return None;
        }
        let root = self.root.canonicalize().ok()?;
        let real = path.canonicalize().ok()?;
        real.starts_with(&root).then_some(real)
    }

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

#[derive(Debug, Default, Serialize)]
struct Registry {
    version: u32,
    /// The entries that read as projects, then those that do not, kept as written: one bad
    /// entry (a hand edit, a newer autodev) never costs the others, and is never dropped.
    #[serde(serialize_with = "both")]
    projects: (Vec<Project>, Vec<serde_json::Value>),
}

fn both<S: serde::Serializer>(
    (good, bad): &(Vec<Project>, Vec<serde_json::Value>),
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(good.len() + bad.len()))?;
    for p in good {
        seq.serialize_element(p)?;
    }
    for v in bad {
        seq.serialize_element(v)?;
    }
    seq.end()
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

/// The registry at `path`, entry by entry; `Err` when the file is there but is no registry at
/// all (it is then backed up before anything replaces it).
fn read(path: &Path) -> std::result::Result<Registry, ()> {
    let bytes = match durable::read_regular(path, MAX_REGISTRY_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registry::default()),
        Err(_) => return Err(()),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| ())?;
    let entries = match &value["projects"] {
        serde_json::Value::Array(items) => items.clone(),
        serde_json::Value::Null => Vec::new(),
        _ => return Err(()),
    };
    let mut registry = Registry {
        version: value["version"].as_u64().unwrap_or(0) as u32,
        projects: (Vec::new(), Vec::new()),
    };
    for entry in entries {
        match serde_json::from_value::<Project>(entry.clone()) {
            Ok(project) => registry.projects.0.push(project),
            Err(_) => registry.projects.1.push(entry),
        }
    }
    Ok(registry)
}

/// Every project known, in the order they were first seen (entries that do not read as a
/// project are left out here: [`unreadable`] names them).
pub fn list() -> Vec<Project> {
    file()
        .ok()
        .and_then(|f| read(&f).ok())
        .map(|r| r.projects.0)
        .unwrap_or_default()
}

/// The registry's entries that do not read as a project, shortened for a warning.
pub fn unreadable() -> Vec<String> {
    file()
        .ok()
        .and_then(|f| read(&f).ok())
        .map(|r| {
            r.projects
                .1
                .iter()
                .map(|v| crate::backend::clip(&v.to_string(), 120))
                .collect()
        })
        .unwrap_or_default()
}

/// Changes the registry under its lock and writes it atomically.
fn update(change: impl FnOnce(&mut Vec<Project>)) -> Result<()> {
    let path = file()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let lock = dir.join("projects.lock");
    let _guard = FileLock::acquire(&lock).map_err(|e| Error::io("lock", &lock, e))?;
    let mut registry = match read(&path) {
        Ok(registry) => registry,
        Err(()) => {
            // Not a registry at all: kept aside, never silently replaced.
            durable::backup(&path).map_err(|e| Error::io("back up", &path, e))?;
            Registry::default()
        }
    };
    change(&mut registry.projects.0);
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
