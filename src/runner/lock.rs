//! One run per project: an exclusive lock on `<log_dir>/run.lock`, holding the owner's pid.
//!
//! The lock is an advisory file lock, so it disappears with its process: a run killed with
//! `kill -9` leaves no stale lock behind, and the next run simply takes it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Held for the whole run; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock, or explains which run holds it.
    pub fn acquire(path: &Path) -> Result<RunLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let pid = holder.trim();
                return Err(Error::Setup {
                    message: format!(
                        "another autodev run{} is already working on this project",
                        if pid.is_empty() {
                            String::new()
                        } else {
                            format!(" (pid {pid})")
                        }
                    ),
                    hint: "wait for it to finish, or stop it first; `autodev status` shows what it is doing"
                        .into(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
        }
        let pid = std::process::id().to_string();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()))
            .map_err(|e| Error::io("write", path, e))?;
        Ok(RunLock { _file: file })
    }
}
