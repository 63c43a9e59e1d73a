//! Reading and writing `task.json`: parse errors with positions, locked read-modify-write,
//! atomic replacement, and backups before destructive rewrites.
//!
//! Readers never lock: writes are atomic renames, so a reader sees the old file or the new one.
//! Writers take `<log_dir>/task.json.lock`, re-read the file under the lock, apply their change
//! and write only if the content changed. A file that fails to parse is never written.
//!
//! A store remembers the queue it last read, with the file's identity (device, inode, size,
//! modification and change times): a run reads the queue many times per task, and parses it
//! again only when the file changed. Clones of a store share what it remembers.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    /// The queue as last read, and the identity of the file it was read from.
    last: Arc<Mutex<Option<Remembered>>>,
}

/// A queue as read, and the identity of the file it was read from.
type Remembered = (Identity, Arc<TaskFile>);

/// One version of a file, told without reading it: any write changes its change time (which
/// no program can set back) and a replacement changes its inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    /// The file's identity, or `None` when it cannot be trusted: on a file system whose times
    /// have no fraction of a second, a same-size rewrite within the second of the last change
    /// would keep every field (git calls such an entry racy).
    fn of(meta: &fs::Metadata) -> Option<Identity> {
        let coarse = meta.mtime_nsec() == 0 && meta.ctime_nsec() == 0;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if coarse && now - meta.ctime() < 2 {
            return None;
        }
        Some(Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
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
        TaskStore::at(
            paths.task_json.clone(),
            paths.log_dir.join("task.json.lock"),
        )
    }

    /// A store at `path`, locked through `lock_path`.
    pub fn at(path: PathBuf, lock_path: PathBuf) -> TaskStore {
        TaskStore {
            path,
            lock_path,
            last: Arc::default(),
        }
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
        self.forget();
        durable::write_atomic(&self.path, queue.to_json_text().as_bytes())
            .map_err(|e| Error::io("write", &self.path, e))?;
        Ok(backup)
    }

    /// Reads and normalises the queue; the file is parsed again only when it changed since the
    /// last read.
    pub fn load(&self) -> Result<Arc<TaskFile>> {
        let opened = durable::open_regular(&self.path).and_then(|file| {
            let identity = file.metadata()?;
            Ok((file, Identity::of(&identity)))
        });
        let (file, identity) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::TaskFileMissing {
                    path: self.path.clone(),
                });
            }
            Err(e) => return Err(Error::io("read", &self.path, e)),
        };
        if let Some((known, queue)) = self.remembered().as_ref()
            && Some(*known) == identity
        {
            return Ok(Arc::clone(queue));
        }
        let bytes = durable::read_to_limit(file, MAX_QUEUE_BYTES)
            .map_err(|e| Error::io("read", &self.path, e))?;
        let queue = Arc::new(parse(&self.path, &bytes)?);
        *self.remembered() = identity.map(|identity| (identity, Arc::clone(&queue)));
        Ok(queue)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Option<Remembered>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn forget(&self) {
        *self.remembered() = None;
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
        let before = self.load()?;
        let mut file = TaskFile::clone(&before);
        let value = change(&mut file)?;
        // Two queues that compare equal are written as the same text (see `source`).
        if file == *before {
            return Ok(Updated {
                value,
                written: false,
                backup: None,
            });
        }
        let after = file.to_json_text();
        let backup = match backup {
            Backup::Before => {
                Some(durable::backup(&self.path).map_err(|e| Error::io("back up", &self.path, e))?)
            }
            Backup::None => None,
        };
        self.forget();
        let written = durable::write_atomic_known(&self.path, after.as_bytes())
            .map_err(|e| Error::io("write", &self.path, e))?;
        // What was written is remembered as read from the file (the next load need not parse
        // it again), unless the file changed again in the meantime.
        if let Some(identity) = written.as_ref().and_then(Identity::of) {
            super::source::attach(&mut file, after.as_bytes());
            *self.remembered() = Some((identity, Arc::new(file)));
        }
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
    use serde_json::Map;

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

    fn store_in(dir: &Path, text: &str) -> TaskStore {
        let path = dir.join("task.json");
        fs::write(&path, text).unwrap();
        TaskStore::at(path, dir.join("task.json.lock"))
    }

    /// A queue in lenient, hand-written forms, with fields autodev does not know.
    const HAND_WRITTEN: &str = r#"{"project": "p", "mine": [1, 2.50, 123456789012345678901234567890],
  "tasks": [
    {"id": "T1", "title": "one", "depends_on": "T0", "priority": "3", "note": {"a": 1}},
    {"id": "T2", "title": "two", "passes": "false", "verification": {"path_patterns": "src/**"}},
    {"id": "T0", "title": "zero"}
  ]}
"#;

    #[test]
    fn the_queue_remembered_after_a_write_is_the_queue_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path(), HAND_WRITTEN);
        for round in 0..3 {
            store
                .update(Backup::None, |q| {
                    let t = q.find_mut(if round == 1 { "T2" } else { "T1" }).unwrap();
                    t.passes = true;
                    t.attempt_history.push(Map::new());
                    q.refresh_statistics();
                    Ok(())
                })
                .unwrap();
            let remembered = store.load().unwrap();
            let bytes = fs::read(store.path()).unwrap();
            let read_back = parse(store.path(), &bytes).unwrap();
            assert_eq!(*remembered, read_back, "round {round}");
            // And it is written back as the file reads back.
            assert_eq!(remembered.to_json_text(), read_back.to_json_text());
            assert_eq!(remembered.to_json_text(), String::from_utf8(bytes).unwrap());
        }
        // Untouched members kept their text through three writes.
        let text = fs::read_to_string(store.path()).unwrap();
        assert!(
            text.contains("[1, 2.50, 123456789012345678901234567890]"),
            "{text}"
        );
        assert!(text.contains(r#""depends_on": "T0""#), "{text}");
    }

    #[test]
    fn an_edit_in_place_is_read_even_at_the_same_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path(), HAND_WRITTEN);
        assert_eq!(store.load().unwrap().tasks[0].title, "one");
        let edited = HAND_WRITTEN.replace(r#""title": "one""#, r#""title": "eno""#);
        // Rewritten in place (same inode, same size), as some editors do.
        {
            use std::io::Write;
            let mut file = fs::OpenOptions::new()
                .write(true)
                .open(store.path())
                .unwrap();
            file.write_all(edited.as_bytes()).unwrap();
        }
        assert_eq!(store.load().unwrap().tasks[0].title, "eno");
        // A clone shares what the store remembers, and sees the same file.
        assert_eq!(store.clone().load().unwrap().tasks[0].title, "eno");
    }
}
