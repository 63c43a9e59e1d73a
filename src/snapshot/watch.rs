//! Change tracking in O(changed): an inotify watch on every tracked directory of a tree, kept
//! while the tree is worked, tells which paths anything touched since the last look. A
//! snapshot is then brought up to date by looking at those paths only ([`Snapshot::refresh`])
//! instead of walking the whole tree again.
//!
//! The watches are added by the walk itself, on each directory before it is read, so nothing
//! written while the walk goes is missed. A directory that appears later is watched when the
//! refresh walks it. When the notices cannot be trusted, [`Watcher::drain`] says why and the
//! caller walks the whole tree: the kernel's queue of notices overflowed, the limit of watches
//! was reached, a watched directory went away, or the tree is on a network file system (whose
//! changes made by other machines raise no notice).
//!
//! What no watch sees, and a walk would: a file changed through a hard link outside the tree,
//! or through a memory mapping. Both are out of reach of git's own file-system monitor too.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};

use super::key;

/// The watches on one tree, and what they reported so far.
pub(crate) struct Watcher {
    inotify: Inotify,
    /// Each watched directory, by its path relative to the tree's root (empty for the root).
    dirs: Mutex<HashMap<WatchDescriptor, String>>,
    /// The directories the walks start from: their going away cannot be seen from a parent.
    starts: BTreeSet<String>,
    /// Why the notices cannot be trusted any more, once they cannot.
    broken: Mutex<Option<String>>,
    touched: BTreeSet<String>,
}

/// File systems whose files other machines change without a notice here.
const REMOTE: [nix::sys::statfs::FsType; 3] = [
    nix::sys::statfs::NFS_SUPER_MAGIC,
    nix::sys::statfs::SMB_SUPER_MAGIC,
    nix::sys::statfs::FUSE_SUPER_MAGIC,
];

impl Watcher {
    /// A watcher for the tree at `root` whose walks start at `starts` (relative paths); why
    /// there can be none (no inotify, a network file system).
    pub(crate) fn new(
        root: &Path,
        starts: impl IntoIterator<Item = String>,
    ) -> Result<Watcher, String> {
        if let Ok(fs) = nix::sys::statfs::statfs(root)
            && REMOTE.contains(&fs.filesystem_type())
        {
            return Err("the project is on a network file system".into());
        }
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| format!("inotify is not available ({e})"))?;
        Ok(Watcher {
            inotify,
            dirs: Mutex::default(),
            starts: starts.into_iter().collect(),
            broken: Mutex::default(),
            touched: BTreeSet::new(),
        })
    }

    /// Watches directory `dir` (`rel` from the root) before the walk reads it.
    pub(super) fn watch(&self, dir: &Path, rel: &str) {
        let flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_ONLYDIR
            | AddWatchFlags::IN_DONT_FOLLOW;
        match self.inotify.add_watch(dir, flags) {
            Ok(wd) => {
                lock(&self.dirs).insert(wd, rel.to_string());
            }
            // Gone, or not a directory any more: the walk finds nothing there either.
            Err(Errno::ENOENT | Errno::ENOTDIR) => {}
            Err(Errno::ENOSPC) => self.give_up(
                "the limit of inotify watches is reached (raise fs.inotify.max_user_watches)",
            ),
            Err(e) => self.give_up(&format!("{} cannot be watched ({e})", dir.display())),
        }
    }

    pub(super) fn give_up(&self, why: &str) {
        lock(&self.broken).get_or_insert_with(|| why.to_string());
    }

    /// Every path touched since the last drain (relative to the root; a directory stands for
    /// everything in it), or why the notices cannot be trusted.
    pub(crate) fn drain(&mut self) -> Result<BTreeSet<String>, String> {
        loop {
            match self.inotify.read_events() {
                Ok(events) => events.iter().for_each(|e| self.take(e)),
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    self.give_up(&format!("reading the change notices failed ({e})"));
                    break;
                }
            }
        }
        if let Some(why) = lock(&self.broken).clone() {
            return Err(why);
        }
        Ok(std::mem::take(&mut self.touched))
    }

    fn take(&mut self, event: &InotifyEvent) {
        let mask = event.mask;
        if mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            return self.give_up("the kernel's queue of change notices overflowed");
        }
        if mask.contains(AddWatchFlags::IN_UNMOUNT) {
            return self.give_up("a file system inside the project was unmounted");
        }
        let mut dirs = lock(&self.dirs);
        let Some(dir) = dirs.get(&event.wd).cloned() else {
            // A watch already removed: its directory's parent reported the removal.
            return;
        };
        if mask.intersects(AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF)
            && self.starts.contains(&dir)
        {
            drop(dirs);
            return self.give_up("a watched directory was removed or moved");
        }
        if mask.contains(AddWatchFlags::IN_IGNORED) {
            dirs.remove(&event.wd);
            return;
        }
        drop(dirs);
        if let Some(name) = &event.name {
            self.touched.insert(join(&dir, name));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn join(dir: &str, name: &OsStr) -> String {
    let name = key::of_os(name);
    if dir.is_empty() {
        name
    } else {
        format!("{dir}/{name}")
    }
}
