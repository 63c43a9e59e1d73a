//! Reading and writing `task.json`: parse errors with positions, locked read-modify-write,
//! atomic replacement, and backups before destructive rewrites.
//!
//! Readers never lock: writes are atomic renames, so a reader sees the old file or the new one.
//! Writers take `<log_dir>/task.json.lock`, re-read the file under the lock, apply their change
//! and write only if the content changed. A file that fails to parse is never written.

use std::fs;
use std::path::{Path, PathBuf};

use super::model::TaskFile;
use crate::config::ProjectPaths;
use crate::durable::{self, FileLock};
use crate::error::{Error, Result};

/// The largest queue read: far past any real one, short of what would exhaust memory.
const MAX_QUEUE_BYTES: u64 = 256 << 20;

/// The task queue of one project.
#[derive(Debug, Clone)]
pub struct TaskStore {
    path: PathBuf,
    lock_path: PathBuf,
}

/// Whether an update should first copy the current file to `task.json.bak.<UTCSTAMP>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backup {
    Before,
    None,
}

/// The result of [`TaskStore::update`].
#[derive(Debug)]
pub struct Updated<T> {
    pub value: T,
    /// Whether the file was rewritten (false when the change left the content as it was).
    pub written: bool,
    /// The backup made before writing, if one was asked for and the file changed.
    pub backup: Option<PathBuf>,
}

impl TaskStore {
    pub fn new(paths: &ProjectPaths) -> TaskStore {
        TaskStore {
            path: paths.task_json.clone(),
            lock_path: paths.log_dir.join("task.json.lock"),
        }
    }

    /// A store at `path`, locked through `lock_path`.
    pub fn at(path: PathBuf, lock_path: PathBuf) -> TaskStore {
        TaskStore { path, lock_path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the whole queue with `queue`, under the write lock and atomically. A file that
    /// held any task (or could not be read as a queue) is first backed up as
    /// `<name>.bak.<UTC stamp>`; the backup's path is returned.
    pub fn replace(&self, queue: &TaskFile) -> Result<Option<PathBuf>> {
        if let Some(dir) = self.lock_path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        let _lock = FileLock::acquire(&self.lock_path)
            .map_err(|e| Error::io("lock", &self.lock_path, e))?;
        let worth_keeping = match durable::read_regular(&self.path, MAX_QUEUE_BYTES) {
            Ok(bytes) => match parse(&self.path, &bytes) {
                Ok(old) => !old.tasks.is_empty(),
                Err(_) => !bytes.iter().all(u8::is_ascii_whitespace),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io("read", &self.path, e)),
        };
        let backup = if worth_keeping {
            Some(durable::backup(&self.path).map_err(|e| Error::io("back up", &self.path, e))?)
        } else {
            None
        };
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        durable::write_atomic(&self.path, queue.to_json_text().as_bytes())
            .map_err(|e| Error::io("write", &self.path, e))?;
        Ok(backup)
    }

    /// Reads and normalises the queue.
    pub fn load(&self) -> Result<TaskFile> {
        let bytes = match durable::read_regular(&self.path, MAX_QUEUE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::TaskFileMissing {
                    path: self.path.clone(),
                });
            }
            Err(e) => return Err(Error::io("read", &self.path, e)),
        };
        parse(&self.path, &bytes)
    }

    /// Applies `change` to the current queue under the write lock, and writes the result
    /// atomically if it differs from what was read.
    pub fn update<T>(
        &self,
        backup: Backup,
        change: impl FnOnce(&mut TaskFile) -> Result<T>,
    ) -> Result<Updated<T>> {
        let _lock = FileLock::acquire(&self.lock_path)
            .map_err(|e| Error::io("lock", &self.lock_path, e))?;
        let mut file = self.load()?;
        let before = file.to_json_text();
        let value = change(&mut file)?;
        let after = file.to_json_text();
        if before == after {
            return Ok(Updated {
                value,
                written: false,
                backup: None,
            });
        }
        let backup = match backup {
            Backup::Before => {
                Some(durable::backup(&self.path).map_err(|e| Error::io("back up", &self.path, e))?)
            }
            Backup::None => None,
        };
        durable::write_atomic(&self.path, after.as_bytes())
            .map_err(|e| Error::io("write", &self.path, e))?;
        Ok(Updated {
            value,
            written: true,
            backup,
        })
    }
}

/// Parses `task.json` bytes (a UTF-8 byte-order mark is accepted).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<TaskFile> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let (value, twice) = super::check::parse_value(bytes).map_err(|e| {
        let message = e.to_string();
        // serde_json appends " at line L column C"; the position is reported separately.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        Error::TaskFileSyntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    let mut problems = match &value {
        serde_json::Value::Object(root)
            if root.get("tasks").is_none_or(|t| {
                t.as_array()
                    .is_some_and(|items| items.iter().all(serde_json::Value::is_object))
            }) =>
        {
            super::check::problems(root, bytes, twice)
        }
        _ => Vec::new(),
    };
    let mut file = TaskFile::from_owned(value).map_err(|shape| Error::TaskFileShape {
        path: path.to_path_buf(),
        message: shape.0,
    })?;
    super::source::attach(&mut file, bytes);
    if problems.is_empty() {
        problems = super::audit::dependency_issues(&file.tasks);
    }
    if !problems.is_empty() {
        return Err(Error::TaskFileInvalid {
            path: path.to_path_buf(),
            problems,
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_carry_position() {
        let err = parse(
            Path::new("task.json"),
            b"{\n  \"tasks\": [\n    {\"id\": 1,}\n  ]\n}",
        )
        .unwrap_err();
        match err {
            Error::TaskFileSyntax { line, column, .. } => {
                assert_eq!((line, column), (3, 14));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn byte_order_mark_is_accepted() {
        let file = parse(Path::new("task.json"), b"\xef\xbb\xbf{\"tasks\": []}").unwrap();
        assert!(file.tasks.is_empty());
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = parse(Path::new("task.json"), b"{\"tasks\": [3]}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "task.json: tasks[0] is a number, but every task must be an object"
        );
    }
}
