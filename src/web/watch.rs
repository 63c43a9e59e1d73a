//! Change notices for the files `autodev web` follows (each project's journal, the registry),
//! so that an idle server sleeps instead of reading every file a few times a second. Linux's
//! inotify watches each file's folder; one thread reads the notices and counts them per file.
//! Where a folder cannot be watched (no inotify, the watch limit reached, a folder that does
//! not exist yet) the file is polled as before, and a watched file is still read now and then
//! in case a notice never comes (some network file systems send none).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

/// The most folders watched; past it files are polled, leaving the user's other programs the
/// rest of the system's watches.
const MAX_WATCHES: usize = 4096;

/// The count of changes seen to one file; a reader compares it with the count it last read at.
pub(crate) type Changes = Arc<AtomicU64>;

/// The server's watcher; cheap to clone. Without inotify it watches nothing.
#[derive(Clone, Default)]
pub(crate) struct Watch {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    inotify: Inotify,
    watched: Mutex<Watched>,
    /// Raised (its value counts up) after every batch of notices.
    changed: tokio::sync::watch::Sender<u64>,
}

#[derive(Default)]
struct Watched {
    /// A watched folder's descriptor.
    folders: HashMap<PathBuf, WatchDescriptor>,
    /// Per descriptor: the counts of the files in its folder that someone follows.
    files: HashMap<WatchDescriptor, HashMap<OsString, Changes>>,
    /// Set when the thread stopped reading: from then on nothing is trusted as watched.
    broken: bool,
}

impl Watch {
    /// Starts the thread that reads notices; without inotify every file is polled.
    pub(crate) fn start() -> Watch {
        let Ok(inotify) = Inotify::init(InitFlags::IN_CLOEXEC) else {
            return Watch::default();
        };
        let (changed, _) = tokio::sync::watch::channel(0);
        let inner = Arc::new(Inner {
            inotify,
            watched: Mutex::new(Watched::default()),
            changed,
        });
        let reader = Arc::clone(&inner);
        let spawned = std::thread::Builder::new()
            .name("web-watch".into())
            .spawn(move || reader.read_notices());
        if spawned.is_err() {
            return Watch::default();
        }
        Watch { inner: Some(inner) }
    }

    /// The change count of `file`, watched from now on; `None` when it cannot be watched (then
    /// poll it). While its folder does not exist, the count is that of the folder's creation in
    /// the folder above (ask again once it changed, to watch the file itself).
    pub(crate) fn file(&self, file: &Path) -> Option<Changes> {
        let inner = self.inner.as_ref()?;
        let (folder, name) = (file.parent()?, file.file_name()?);
        let mut watched = inner.watched.lock().ok()?;
        if watched.broken {
            return None;
        }
        let (wd, name) = match inner.folder(&mut watched, folder) {
            Some(wd) => (wd, name),
            None if !folder.exists() => {
                let above = folder.parent()?;
                (inner.folder(&mut watched, above)?, folder.file_name()?)
            }
            None => return None,
        };
        let changes = watched
            .files
            .entry(wd)
            .or_default()
            .entry(name.to_os_string())
            .or_default();
        Some(Arc::clone(changes))
    }

    /// A receiver woken after every batch of notices; `None` without inotify.
    pub(crate) fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.as_ref().map(|i| i.changed.subscribe())
    }
}

impl Inner {
    /// The watch on `folder`, made if need be.
    fn folder(&self, watched: &mut Watched, folder: &Path) -> Option<WatchDescriptor> {
        if let Some(wd) = watched.folders.get(folder) {
            return Some(*wd);
        }
        if watched.folders.len() >= MAX_WATCHES {
            return None;
        }
        let flags = AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ONLYDIR;
        let wd = self.inotify.add_watch(folder, flags).ok()?;
        watched.folders.insert(folder.to_path_buf(), wd);
        Some(wd)
    }

    /// The thread's loop: counts each notice against its file, until reading fails.
    fn read_notices(&self) {
        loop {
            let events = match self.inotify.read_events() {
                Ok(events) => events,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    self.settle(|w| {
                        w.broken = true;
                        bump_all(w);
                    });
                    self.changed.send_modify(|n| *n = n.wrapping_add(1));
                    return;
                }
            };
            // Readers are woken only when a followed file changed, not for its neighbours
            // (the run's log, its status file).
            let mut any = false;
            self.settle(|w| {
                for event in &events {
                    any |= count(w, event);
                }
            });
            if any {
                self.changed.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    fn settle(&self, change: impl FnOnce(&mut Watched)) {
        if let Ok(mut watched) = self.watched.lock() {
            change(&mut watched);
        }
    }
}

/// Counts one notice against the files it concerns; whether any followed file did change.
fn count(w: &mut Watched, event: &nix::sys::inotify::InotifyEvent) -> bool {
    if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
        // Notices were lost: every file may have changed.
        bump_all(w);
        return true;
    }
    if event.mask.contains(AddWatchFlags::IN_IGNORED) {
        // The folder went away: its files are read once more, and a later `file` watches the
        // folder again if it comes back.
        w.folders.retain(|_, wd| *wd != event.wd);
        return match w.files.remove(&event.wd) {
            Some(files) => {
                files.values().for_each(bump);
                true
            }
            None => false,
        };
    }
    let Some(files) = w.files.get(&event.wd) else {
        return false;
    };
    match &event.name {
        Some(name) => files.get(name).map(bump).is_some(),
        None => {
            files.values().for_each(bump);
            true
        }
    }
}

fn bump(changes: &Changes) {
    changes.fetch_add(1, Ordering::Relaxed);
}

fn bump_all(watched: &Watched) {
    watched
        .files
        .values()
        .flat_map(|f| f.values())
        .for_each(bump);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(changes: &Changes, above: u64) -> bool {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < until {
            if changes.load(Ordering::Relaxed) > above {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn a_write_rename_or_deletion_of_the_file_counts_and_its_neighbours_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let journal = logs.join("events.jsonl");
        let watch = Watch::start();
        let changes = watch.file(&journal).expect("watched");
        assert_eq!(changes.load(Ordering::Relaxed), 0);

        std::fs::write(logs.join("autodev.log"), "x").unwrap();
        std::fs::write(&journal, "{}\n").unwrap();
        assert!(wait_for(&changes, 0), "a write counts");
        // The neighbour's write came first; only the journal's counted (once or a few times).
        let after_write = changes.load(Ordering::Relaxed);
        std::fs::write(logs.join("autodev.log"), "y").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(changes.load(Ordering::Relaxed), after_write);

        std::fs::rename(&journal, logs.join("events.1.jsonl")).unwrap();
        assert!(wait_for(&changes, after_write), "a rotation counts");

        // The folder deleted and made again: counted, and watched again when asked.
        let before = changes.load(Ordering::Relaxed);
        std::fs::remove_dir_all(&logs).unwrap();
        assert!(wait_for(&changes, before), "the folder's removal counts");
        std::fs::create_dir(&logs).unwrap();
        let again = watch.file(&journal).expect("watched again");
        std::fs::write(&journal, "{}\n").unwrap();
        assert!(wait_for(&again, 0));
    }

    #[test]
    fn a_folder_yet_to_be_made_is_watched_for_from_above() {
        let dir = tempfile::tempdir().unwrap();
        let watch = Watch::start();
        let journal = dir.path().join("logs/events.jsonl");
        let creation = watch.file(&journal).expect("watched from above");
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        assert!(wait_for(&creation, 0), "the folder's creation counts");
        let changes = watch.file(&journal).expect("now the file itself");
        std::fs::write(&journal, "{}\n").unwrap();
        assert!(wait_for(&changes, 0));
        assert!(
            watch.file(&dir.path().join("a/b/c")).is_none(),
            "two levels are not looked for"
        );
    }
}
