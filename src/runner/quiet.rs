//! Quiet for measurements: an experiment's samples are never taken while another worker's (or
//! another run's, on this machine) checks, builds or setup run, since those compete for the
//! cores, the caches and the disk and would pass their noise into the samples. Checks hold the
//! lock shared, samples exclusive. Two locks in turn: one within the run (fair: a measurement
//! waiting holds back checks that come after it) and one for the machine, an advisory file
//! lock in the temporary directory that every autodev run takes the same way. The agents are
//! not held: they mostly wait on the model, and the interleaved pairs absorb the drift they
//! cause.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::Runner;
use crate::exec::CancelLevel;
use crate::journal::event::Level;

/// How often a waiting lock is tried again.
const POLL: Duration = Duration::from_millis(100);

/// Held while checks run (shared) or samples are taken (exclusive); released when dropped.
pub(super) struct Quiet {
    _shared: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
    _exclusive: Option<tokio::sync::OwnedRwLockWriteGuard<()>>,
    _machine: Option<File>,
}

/// The machine's lock file: one for every user and run, so it is only ever opened to be
/// locked, never written. `run.measure_lock` names another (runs that are to keep quiet for
/// each other name the same one), or, `"off"`, none.
fn machine_lock(setting: &str) -> Option<PathBuf> {
    match setting.trim() {
        "" => Some(std::env::temp_dir().join("autodev-measure.lock")),
        "off" => None,
        path => Some(PathBuf::from(path)),
    }
}

/// The machine's lock file, opened without following a link or waiting on a pipe someone put
/// there; `None` when it cannot be (then only the run's own lock holds).
fn open_machine_lock(setting: &str) -> Option<File> {
    let path = machine_lock(setting)?;
    let flags = nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK;
    let existing = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(&path);
    let file = match existing {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(flags)
            .open(&path)
            .ok()?,
        Err(_) => return None,
    };
    file.metadata().ok()?.is_file().then_some(file)
}

impl Runner<'_> {
    /// Quiet for taking samples: every other worker's and run's checks finished, and no new
    /// ones started until it is dropped. `None` when a signal came while waiting.
    pub(super) async fn quiet_for_samples(&mut self) -> Option<Quiet> {
        let lock = std::sync::Arc::clone(&self.shared.measuring);
        let mut waited = false;
        let run = tokio::select! {
            guard = lock.write_owned() => guard,
            () = self.told_waiting(&mut waited) => unreachable!("told_waiting never ends"),
        };
        let machine = self.machine_lock(true, &mut waited).await?;
        Some(Quiet {
            _shared: None,
            _exclusive: Some(run),
            _machine: machine,
        })
    }

    /// Leave to run checks: no samples are being taken. `None` when a signal came while
    /// waiting.
    pub(super) async fn quiet_for_checks(&mut self) -> Option<Quiet> {
        let lock = std::sync::Arc::clone(&self.shared.measuring);
        let run = lock.read_owned().await;
        let mut waited = true;
        let machine = self.machine_lock(false, &mut waited).await?;
        Some(Quiet {
            _shared: Some(run),
            _exclusive: None,
            _machine: machine,
        })
    }

    /// Says once, after a second, that samples wait for checks elsewhere; never returns.
    async fn told_waiting(&self, waited: &mut bool) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.tell_waiting(waited);
        std::future::pending::<()>().await;
    }

    fn tell_waiting(&self, waited: &mut bool) {
        if !std::mem::replace(waited, true) {
            self.note(
                Level::Info,
                "the samples wait for the checks of other workers or runs on this machine to \
                 end, so that they do not measure them",
            );
        }
    }

    /// The machine-wide lock, shared or `exclusive`, tried until it is had; `Some(None)` when
    /// the lock file cannot be opened, `None` when a signal came while waiting.
    async fn machine_lock(&self, exclusive: bool, waited: &mut bool) -> Option<Option<File>> {
        let Some(file) = open_machine_lock(&self.settings.config.run.measure_lock) else {
            return Some(None);
        };
        let started = std::time::Instant::now();
        loop {
            let tried = if exclusive {
                file.try_lock()
            } else {
                file.try_lock_shared()
            };
            match tried {
                Ok(()) => return Some(Some(file)),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(_)) => return Some(None),
            }
            if self.cancel.level() != CancelLevel::None {
                return None;
            }
            if exclusive && started.elapsed() >= Duration::from_secs(1) {
                self.tell_waiting(waited);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
