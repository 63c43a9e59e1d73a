//! Fast snapshots of the project tree and the diff between two of them: which files an attempt
//! added, modified and deleted.
//!
//! A snapshot records, for every tracked file under the watched directories, its size, mtime,
//! ctime and inode. A write changes the ctime even when it keeps size and mtime (and ctime cannot
//! be set back), so a same-size, same-mtime edit is still seen. Files whose mtime is too recent
//! to trust (written within the last [`RACY_WINDOW`] before the snapshot, where a coarse clock could
//! hide a second write) are also hashed, and compared by content. Ignored directories are pruned
//! while walking, never descended into.
//!
//! Which files are tracked is decided by [`Rules`]: `snapshot.ignore_dirs` (names, at any depth),
//! `snapshot.ignore_path_globs` and `snapshot.include_path_globs` ([`PathPatterns`], the same
//! anchored globs as a task's `path_patterns`; see `docs/change-tracking.md`), and autodev's own
//! runtime files (the queue, progress, logs, and the user's project registry when it lies inside
//! the project), excluded by their paths only.

pub mod key;
mod patterns;
pub(crate) mod watch;

pub use patterns::{PathPatterns, may_overlap};
pub(crate) use watch::Watcher;

use std::collections::{BTreeSet, HashSet};
use std::fs::{File, Metadata};
use std::hash::Hasher;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::{Config, ProjectPaths};
use crate::error::Result;

/// A file modified this close to the snapshot may be modified again without its mtime moving.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);
/// The largest file whose content is ever hashed (see [`RACY_WINDOW`]); a larger one is judged
/// by its stat only.
pub const HASH_LIMIT: u64 = 8 * 1024 * 1024;

/// What to track.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Keys are relative to this directory (`project.code_dir`).
    root: PathBuf,
    /// Directories to walk, relative to `root`.
    watch: Vec<PathBuf>,
    ignore_names: HashSet<String>,
    ignore: PathPatterns,
    include: Option<PathPatterns>,
    /// autodev's own files and directories, relative to `root`.
    runtime: Vec<String>,
}

/// `path` relative to `root` with `/` separators, if it is inside.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let text = key::of_os(rel.as_os_str());
    (!text.is_empty()).then_some(text)
}

impl Rules {
    /// The rules of a project's configuration.
    pub fn new(config: &Config, paths: &ProjectPaths) -> Result<Rules> {
        let s = &config.snapshot;
        let root = paths.code_dir.clone();
        // The user's registry of projects is autodev's too, and lies inside a project kept at
        // $HOME (`~/.local/state/autodev`); matched as written and with links resolved.
        let registry = crate::projects::state_dir();
        let registry = registry
            .iter()
            .flat_map(|dir| [dir.canonicalize().ok(), Some(dir.clone())])
            .flatten();
        let runtime = [
            &paths.task_json,
            &paths.progress,
            &paths.task_brief,
            &paths.log_dir,
            &paths.attempt_log_dir,
        ]
        .into_iter()
        .cloned()
        .chain(registry)
        .filter_map(|p| relative(&root, &p))
        .collect();
        Ok(Rules {
            watch: s
                .watch_dirs
                .iter()
                .map(|d| PathBuf::from(d.trim()))
                .collect(),
            ignore_names: s.ignore_dirs.iter().map(|d| d.trim().to_string()).collect(),
            ignore: PathPatterns::setting(&s.ignore_path_globs, "snapshot.ignore_path_globs")?,
            include: if s.include_path_globs.is_empty() {
                None
            } else {
                Some(PathPatterns::setting(
                    &s.include_path_globs,
                    "snapshot.include_path_globs",
                )?)
            },
            runtime,
            root,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The same rules for another copy of the tree rooted at `root` (a linked worktree): the
    /// same relative paths are watched, ignored and kept as autodev's own.
    pub fn rooted_at(&self, root: &Path) -> Rules {
        Rules {
            root: root.to_path_buf(),
            ..self.clone()
        }
    }

    /// Whether `rel` is one of autodev's own files (the queue, the progress file, `TASK.md`, the
    /// logs) or inside one of its directories.
    pub fn is_runtime(&self, rel: &str) -> bool {
        self.runtime.iter().any(|r| {
            rel == r
                || (rel.len() > r.len()
                    && rel.starts_with(r.as_str())
                    && rel.as_bytes()[r.len()] == b'/')
        })
    }

    /// The directories walks start from, relative to the root (empty for the root itself); a
    /// watched directory outside the root has nothing to track.
    pub(crate) fn starts(&self) -> Vec<String> {
        self.watch
            .iter()
            .filter_map(|dir| {
                let path = self.root.join(dir);
                let rel = path.strip_prefix(&self.root).ok()?;
                Some(
                    rel.components()
                        .map(|c| key::of_os(c.as_os_str()))
                        .filter(|c| c != ".")
                        .collect::<Vec<_>>()
                        .join("/"),
                )
            })
            .collect()
    }

    /// Whether a directory (relative path, its name) is skipped with everything in it.
    fn prunes(&self, rel: &str, name: &str) -> bool {
        self.ignore_names.contains(name) || self.ignore.matches(rel) || self.is_runtime(rel)
    }

    /// Whether a path reported by something other than the walk (git, the user) is tracked:
    /// inside a watched directory, and neither it nor any directory above it excluded.
    pub fn tracks_path(&self, rel: &str) -> bool {
        let rel = rel.trim_start_matches("./");
        let watched = self.watch.iter().any(|w| {
            let w = w.to_string_lossy();
            let w = w.trim_start_matches("./").trim_end_matches('/');
            w.is_empty() || w == "." || rel == w || rel.starts_with(&format!("{w}/"))
        });
        if !watched {
            return false;
        }
        for (end, _) in rel.match_indices('/') {
            let dir = &rel[..end];
            let name = dir.rsplit('/').next().unwrap_or(dir);
            if self.prunes(dir, name) {
                return false;
            }
        }
        self.tracks(rel)
    }

    /// Whether a file met while walking is tracked (its directories were not pruned).
    fn tracks(&self, rel: &str) -> bool {
        !self.ignore.matches(rel)
            && !self.is_runtime(rel)
            && self.include.as_ref().is_none_or(|inc| inc.matches(rel))
    }
}

/// The recorded state of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    /// Content hash, for files too recent to trust their stat.
    hash: Option<u64>,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            size: meta.size(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            hash: None,
        }
    }

    fn same_stat(&self, other: &Stamp) -> bool {
        (self.size, self.mtime_ns, self.ctime_ns, self.ino)
            == (other.size, other.mtime_ns, other.ctime_ns, other.ino)
    }
}

/// Nanoseconds since the epoch of a time given as seconds and nanoseconds (saturating: a time
/// past the year 2262, or before 1678, is held as the nearest one that fits).
fn nanos(seconds: i64, nanoseconds: i64) -> i64 {
    seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(nanoseconds)
}

/// Every tracked file of a project at one moment, sorted by path.
///
/// Held compactly, as a snapshot of a large tree is held twice during every attempt: every path
/// in one buffer, one after another, and a sorted table of where each is and its stamp (about
/// 64 bytes a file besides its path, against some 200 for a map of owned strings). Lookups
/// search the table; two snapshots are compared by walking both tables in step.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    names: String,
    entries: Vec<Entry>,
}

/// One file of a [`Snapshot`]: where its path is in the snapshot's buffer, and its stamp.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    len: u32,
    stamp: Stamp,
}

impl Snapshot {
    fn name(&self, entry: &Entry) -> &str {
        &self.names[entry.start..entry.start + entry.len as usize]
    }

    /// Records `rel` (not yet sorted in; [`Snapshot::sorted`] does that).
    fn push(&mut self, rel: &str, stamp: Stamp) {
        // A path of 4 GiB is no path a file system gives; it could not be recorded whole.
        let Ok(len) = u32::try_from(rel.len()) else {
            return;
        };
        self.entries.push(Entry {
            start: self.names.len(),
            len,
            stamp,
        });
        self.names.push_str(rel);
    }

    /// Takes in every file of `other` (unsorted as well).
    fn append(&mut self, other: Snapshot) {
        let offset = self.names.len();
        self.names.push_str(&other.names);
        self.entries
            .extend(other.entries.into_iter().map(|e| Entry {
                start: e.start + offset,
                ..e
            }));
    }

    /// The table sorted by path, each path once (the first recorded wins).
    fn sorted(mut self) -> Snapshot {
        let names = &self.names;
        let name = |e: &Entry| &names[e.start..e.start + e.len as usize];
        self.entries.sort_by(|a, b| name(a).cmp(name(b)));
        self.entries.dedup_by(|a, b| name(a) == name(b));
        self.entries.shrink_to_fit();
        self
    }

    fn get(&self, rel: &str) -> Option<&Stamp> {
        self.entries
            .binary_search_by(|e| self.name(e).cmp(rel))
            .ok()
            .map(|i| &self.entries[i].stamp)
    }

    /// Every file with its stamp, sorted by path.
    fn files(&self) -> impl Iterator<Item = (&str, &Stamp)> {
        self.entries.iter().map(|e| (self.name(e), &e.stamp))
    }
}

fn content_hash(path: &Path) -> Option<u64> {
    let mut file = File::open(path).ok()?;
    let mut hasher = std::hash::DefaultHasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(hasher.finish()),
            Ok(n) => hasher.write(&buf[..n]),
            Err(_) => return None,
        }
    }
}

/// A directory to read: its path, and its path relative to the root (empty for the root).
type Unit = (PathBuf, String);

/// The directories still to read, shared by the walking threads, and how many threads are
/// reading one right now (the walk is over when both are zero).
struct Pending {
    state: Mutex<(Vec<Unit>, usize)>,
    changed: Condvar,
}

impl Pending {
    /// The next directory to read, waiting while others may still find some; `None` at the end.
    fn next(&self) -> Option<Unit> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(unit) = state.0.pop() {
                state.1 += 1;
                return Some(unit);
            }
            if state.1 == 0 {
                return None;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// One directory read, with the subdirectories it holds.
    fn done(&self, found: &mut Vec<Unit>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0.append(found);
        state.1 -= 1;
        // Waiting threads have new work, or learn that there is none left.
        if !state.0.is_empty() || state.1 == 0 {
            self.changed.notify_all();
        }
    }
}

/// One snapshot being taken.
struct Walk<'a> {
    rules: &'a Rules,
    reference: Option<&'a Snapshot>,
    /// Files modified after this moment (ns since the epoch) are hashed.
    racy_after: i64,
    /// Watches each directory before it is read.
    watcher: Option<&'a Watcher>,
}

impl Walk<'_> {
    /// Records the files of one directory and collects its subdirectories that are not pruned.
    ///
    /// Files are stat'ed relative to their open directory, and relative paths are built while
    /// descending, so no full path is resolved or stripped per file.
    fn read(&self, (dir, rel): &Unit, subdirs: &mut Vec<Unit>, out: &mut Snapshot) {
        if let Some(watcher) = self.watcher {
            watcher.watch(dir, rel);
        }
        // Unreadable directories (permissions, removed mid-walk) are skipped.
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        // One buffer for every child's relative path: a file's is only read, not kept.
        let mut child = String::new();
        for entry in entries.filter_map(std::result::Result::ok) {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = key::of_os(&entry.file_name());
            child.clear();
            if !rel.is_empty() {
                child.push_str(rel);
                child.push('/');
            }
            child.push_str(&name);
            if kind.is_dir() {
                if !self.rules.prunes(&child, &name) {
                    subdirs.push((entry.path(), child.clone()));
                }
            } else if let Ok(meta) = entry.metadata() {
                // Symlinks are recorded as links (their own stat), never followed.
                self.record(&entry.path(), &child, &meta, out);
            }
        }
    }

    /// Reads directories until none is left; what it recorded.
    fn work(&self, pending: &Pending) -> Snapshot {
        let mut out = Snapshot::default();
        let mut found = Vec::new();
        while let Some(unit) = pending.next() {
            self.read(&unit, &mut found, &mut out);
            pending.done(&mut found);
        }
        out
    }

    fn record(&self, path: &Path, rel: &str, meta: &Metadata, out: &mut Snapshot) {
        if !self.rules.tracks(rel) {
            return;
        }
        let mut stamp = Stamp::of(meta);
        let before = self.reference.and_then(|r| r.get(rel));
        let recheck = before.is_some_and(|b| b.hash.is_some() && b.same_stat(&stamp));
        // A huge file (a disk image, a sparse file of many gigabytes) is never read: its stat
        // alone decides, which can only count a change too many, never miss one.
        if (stamp.mtime_ns >= self.racy_after || recheck)
            && meta.is_file()
            && meta.size() <= HASH_LIMIT
        {
            stamp.hash = content_hash(path);
        }
        out.push(rel, stamp);
    }

    /// Walks from the directories `start`, shared out one at a time among up to eight threads,
    /// this one included (stat calls dominate, and git status parallelises them the same way).
    fn walk(&self, start: Vec<Unit>) -> Snapshot {
        let pending = Pending {
            state: Mutex::new((start, 0)),
            changed: Condvar::new(),
        };
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
        // This thread is one of the workers; the others are spawned for the walk.
        let parts: Vec<Snapshot> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..workers)
                .map(|_| scope.spawn(|| self.work(&pending)))
                .collect();
            let mut parts = vec![self.work(&pending)];
            parts.extend(handles.into_iter().map(|h| h.join().unwrap_or_default()));
            parts
        });
        let mut files = Snapshot::default();
        let names = parts.iter().map(|p| p.names.len()).sum::<usize>();
        let entries = parts.iter().map(|p| p.entries.len()).sum::<usize>();
        files.names.reserve_exact(names);
        files.entries.reserve_exact(entries);
        for part in parts {
            files.append(part);
        }
        files.sorted()
    }
}

/// Appends `n` in decimal.
fn push_signed(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_number(out, n.unsigned_abs());
}

/// Appends `n` in decimal.
fn push_number(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Files modified after this moment (ns since the epoch) are too recent to trust: they are
/// hashed.
fn racy_after() -> i64 {
    SystemTime::now()
        .checked_sub(RACY_WINDOW)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The largest saved snapshot read back (about ten million files).
pub const MAX_SAVED_BYTES: u64 = 1 << 30;

/// The first line of a saved snapshot.
const SAVED_HEADER: &str = "autodev-snapshot 1";

impl Snapshot {
    /// The snapshot as text, for a restart to pick up (`label` says what it belongs to): a
    /// header line, then one line per file, `size mtime ctime inode hash path`.
    ///
    /// Saved before every attempt, so written straight to `out` a line at a time, without the
    /// formatting machinery: at 100,000 files this was most of what an attempt cost autodev,
    /// and the whole text held at once a tenth of its memory.
    pub fn save(&self, label: &str, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(format!("{SAVED_HEADER} {label}\n").as_bytes())?;
        let mut line = Vec::with_capacity(256);
        for (path, st) in self.files() {
            if path.contains('\n') {
                continue;
            }
            line.clear();
            push_number(&mut line, st.size);
            line.push(b' ');
            push_signed(&mut line, st.mtime_ns);
            line.push(b' ');
            push_signed(&mut line, st.ctime_ns);
            line.push(b' ');
            push_number(&mut line, st.ino);
            line.push(b' ');
            match st.hash {
                Some(hash) => push_number(&mut line, hash),
                None => line.push(b'-'),
            }
            line.push(b' ');
            line.extend_from_slice(path.as_bytes());
            line.push(b'\n');
            out.write_all(&line)?;
        }
        Ok(())
    }

    /// The label a saved snapshot's first line carries, without reading the rest.
    pub fn saved_label(first_line: &str) -> Option<&str> {
        first_line
            .trim_end_matches('\n')
            .strip_prefix(SAVED_HEADER)?
            .strip_prefix(' ')
    }

    /// Reads a saved snapshot: its label and the snapshot; `None` when the text is not one.
    pub fn load_any(text: &str) -> Option<(&str, Snapshot)> {
        let mut lines = text.lines();
        let label = Snapshot::saved_label(lines.next()?)?;
        let mut files = Snapshot::default();
        for line in lines {
            let mut parts = line.splitn(6, ' ');
            let mut next = || parts.next();
            let (size, mtime, ctime, ino, hash, path) =
                (next()?, next()?, next()?, next()?, next()?, next()?);
            let stamp = Stamp {
                size: size.parse().ok()?,
                mtime_ns: mtime.parse().ok()?,
                ctime_ns: ctime.parse().ok()?,
                ino: ino.parse().ok()?,
                hash: if hash == "-" {
                    None
                } else {
                    Some(hash.parse().ok()?)
                },
            };
            files.push(path, stamp);
        }
        Some((label, files.sorted()))
    }

    /// Walks the watched directories. With `reference` (the snapshot taken before), files whose
    /// stat is unchanged but which were hashed then are hashed again, so their content decides.
    ///
    /// Directories are shared out one at a time among up to eight threads, this one included
    /// (stat calls dominate, and git status parallelises them the same way).
    pub fn take(rules: &Rules, reference: Option<&Snapshot>) -> Snapshot {
        Snapshot::take_watching(rules, reference, None)
    }

    /// [`Snapshot::take`], with `watcher` watching every directory walked from now on.
    pub(crate) fn take_watching(
        rules: &Rules,
        reference: Option<&Snapshot>,
        watcher: Option<&Watcher>,
    ) -> Snapshot {
        let walk = Walk {
            rules,
            reference,
            racy_after: racy_after(),
            watcher,
        };
        let start: Vec<Unit> = rules
            .starts()
            .into_iter()
            .map(|rel| (rules.root.join(&rel), rel))
            .collect();
        // A watched directory made later would appear where nothing is watched.
        if let Some(watcher) = watcher
            && let Some((path, _)) = start.iter().find(|(path, _)| !path.is_dir())
        {
            watcher.give_up(&format!("{} is not a directory yet", path.display()));
        }
        walk.walk(start)
    }

    /// This snapshot brought up to date with the paths `touched` since it was taken (see
    /// [`Watcher::drain`]): each is looked at again (a directory with everything in it, walked
    /// and watched), every other file keeps its record. The same result as a full walk, for
    /// the cost of what changed.
    pub(crate) fn refresh(
        &self,
        rules: &Rules,
        touched: &BTreeSet<String>,
        watcher: &Watcher,
    ) -> Snapshot {
        let walk = Walk {
            rules,
            reference: Some(self),
            racy_after: racy_after(),
            watcher: Some(watcher),
        };
        let mut fresh = Snapshot::default();
        let mut subtrees = Vec::new();
        for rel in touched {
            let path = key::path(&rules.root, rel);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let name = rel.rsplit('/').next().unwrap_or(rel);
            if meta.is_dir() {
                if !rules.prunes(rel, name) {
                    subtrees.push((path, rel.clone()));
                }
            } else {
                walk.record(&path, rel, &meta, &mut fresh);
            }
        }
        if !subtrees.is_empty() {
            fresh.append(walk.walk(subtrees));
        }
        let fresh = fresh.sorted();
        // Every record of this snapshot at or under a touched path is replaced by what is there
        // now: each such record is found by a binary search, not by looking at every record.
        let mut stale: Vec<std::ops::Range<usize>> = Vec::new();
        for rel in touched {
            let at = |key: &str| self.entries.partition_point(|e| self.name(e) < key);
            let exact = at(rel);
            if self.entries.get(exact).is_some_and(|e| self.name(e) == rel) {
                stale.push(exact..exact + 1);
            }
            // Everything below `rel/` sorts from `rel/` up to `rel0` ('0' follows '/').
            stale.push(at(&format!("{rel}/"))..at(&format!("{rel}0")));
        }
        stale.sort_by_key(|r| r.start);
        let mut out = Snapshot::default();
        out.names.reserve(self.names.len() + fresh.names.len());
        out.entries
            .reserve(self.entries.len() + fresh.entries.len());
        let mut new = fresh.files().peekable();
        let mut stale = stale.into_iter().peekable();
        for (i, (name, stamp)) in self.files().enumerate() {
            while stale.next_if(|r| r.end <= i).is_some() {}
            if stale.peek().is_some_and(|r| r.contains(&i)) {
                continue;
            }
            while let Some((n, s)) = new.next_if(|(n, _)| *n < name) {
                out.push(n, *s);
            }
            if new.peek().is_some_and(|(n, _)| *n == name) {
                continue;
            }
            out.push(name, *stamp);
        }
        for (n, s) in new {
            out.push(n, *s);
        }
        // Merged in order, each path once.
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, rel: &str) -> bool {
        self.get(rel).is_some()
    }

    /// Every tracked path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files().map(|(path, _)| path)
    }

    /// The tracked paths `patterns` match, sorted. Where every pattern has a literal start,
    /// only the paths that begin with one are looked at (found by binary search), not every
    /// path of a large tree.
    pub(crate) fn paths_matching(&self, patterns: &PathPatterns) -> Vec<&str> {
        let Some(starts) = patterns.literal_starts() else {
            return self.paths().filter(|p| patterns.matches(p)).collect();
        };
        let mut found: Vec<&str> = Vec::new();
        for start in starts {
            let from = self
                .entries
                .partition_point(|e| self.name(e) < start.as_str());
            found.extend(
                self.entries[from..]
                    .iter()
                    .map(|e| self.name(e))
                    .take_while(|name| name.starts_with(start.as_str()))
                    .filter(|name| patterns.matches(name)),
            );
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// What changed between two snapshots, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub deleted: Vec<String>,
}

impl Changes {
    /// Every changed path, sorted.
    pub fn all(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .added
            .iter()
            .chain(&self.modified)
            .chain(&self.deleted)
            .cloned()
            .collect();
        all.sort();
        all
    }

    pub fn count(&self) -> usize {
        self.added.len() + self.modified.len() + self.deleted.len()
    }
}

/// The changes from `before` to `after`: both tables walked in step, so each list comes out
/// sorted.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Changes {
    let mut changes = Changes::default();
    let (mut old, mut new) = (before.files().peekable(), after.files().peekable());
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some((path, _)), None) => {
                changes.deleted.push(path.to_string());
                old.next();
            }
            (None, Some((path, _))) => {
                changes.added.push(path.to_string());
                new.next();
            }
            (Some((was, a)), Some((is, b))) => match was.cmp(is) {
                std::cmp::Ordering::Less => {
                    changes.deleted.push(was.to_string());
                    old.next();
                }
                std::cmp::Ordering::Greater => {
                    changes.added.push(is.to_string());
                    new.next();
                }
                std::cmp::Ordering::Equal => {
                    let changed = match (a.hash, b.hash) {
                        // Both hashed: content decides (a touch is not a change).
                        (Some(x), Some(y)) => x != y || a.size != b.size,
                        _ => !a.same_stat(b),
                    };
                    if changed {
                        changes.modified.push(is.to_string());
                    }
                    old.next();
                    new.next();
                }
            },
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_snapshot_reads_back_under_its_label_only() {
        let mut files = Snapshot::default();
        let stamp = |hash| Stamp {
            size: 3,
            mtime_ns: 1_700_000_000_123_456_789,
            ctime_ns: -5,
            ino: 42,
            hash,
        };
        files.push("d", stamp(None));
        files.push("a b/c.txt", stamp(Some(7)));
        // Every number at its extremes reads back exactly.
        let extreme = Stamp {
            size: u64::MAX,
            mtime_ns: i64::MIN,
            ctime_ns: i64::MAX,
            ino: 0,
            hash: Some(u64::MAX),
        };
        files.push("e", extreme);
        let snapshot = files.sorted();
        let mut text = Vec::new();
        snapshot.save("T1 1", &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let (label, back) = Snapshot::load_any(&text).expect("loads");
        assert_eq!(label, "T1 1");
        let listed = |s: &Snapshot| -> Vec<(String, Stamp)> {
            s.files().map(|(p, st)| (p.to_string(), *st)).collect()
        };
        assert_eq!(listed(&back), listed(&snapshot));
        assert_eq!(
            listed(&back),
            [
                ("a b/c.txt".to_string(), stamp(Some(7))),
                ("d".to_string(), stamp(None)),
                ("e".to_string(), extreme)
            ]
        );
        assert!(Snapshot::load_any("garbage").is_none());
    }

    #[test]
    fn the_diff_of_two_tables_is_what_comparing_them_path_by_path_gives() {
        use std::collections::BTreeMap;
        let mut rng = crate::testing::Rng(7);
        let mut next = move |n: u64| rng.next(n);
        for _ in 0..300 {
            // Two random trees over a small set of names: paths come and go, and change.
            let mut trees: [BTreeMap<String, Stamp>; 2] = Default::default();
            for tree in &mut trees {
                for _ in 0..next(40) {
                    let path = format!("d{}/f{}", next(3), next(12));
                    let stamp = Stamp {
                        size: next(2),
                        mtime_ns: 5,
                        ctime_ns: 5,
                        ino: 1,
                        hash: (next(2) == 0).then(|| next(2)),
                    };
                    tree.entry(path).or_insert(stamp);
                }
            }
            let table = |tree: &BTreeMap<String, Stamp>| {
                let mut s = Snapshot::default();
                // Recorded out of order, and one path twice (as overlapping watch dirs give).
                for (path, stamp) in tree.iter().rev() {
                    s.push(path, *stamp);
                }
                if let Some((path, stamp)) = tree.iter().next() {
                    s.push(path, *stamp);
                }
                s.sorted()
            };
            let got = diff(&table(&trees[0]), &table(&trees[1]));
            let [before, after] = &trees;
            let mut want = Changes::default();
            for (path, b) in after {
                match before.get(path) {
                    None => want.added.push(path.clone()),
                    Some(a) => {
                        let changed = match (a.hash, b.hash) {
                            (Some(x), Some(y)) => x != y || a.size != b.size,
                            _ => !a.same_stat(b),
                        };
                        if changed {
                            want.modified.push(path.clone());
                        }
                    }
                }
            }
            want.deleted = before
                .keys()
                .filter(|p| !after.contains_key(*p))
                .cloned()
                .collect();
            assert_eq!(got, want);
            assert_eq!(table(&trees[1]).len(), after.len());
        }
    }

    /// What a user compares: every path with its file facts (the content hash aside, which
    /// only ever confirms them).
    fn facts(s: &Snapshot) -> Vec<(String, u64, i64, i64, u64)> {
        s.files()
            .map(|(p, st)| (p.to_string(), st.size, st.mtime_ns, st.ctime_ns, st.ino))
            .collect()
    }

    /// Random edits of every kind, in rounds; after each round the snapshot refreshed with the
    /// paths the watcher reports is the snapshot a full walk takes, and tells the same changes.
    #[test]
    fn a_refreshed_snapshot_is_what_a_full_walk_gives_after_any_edits() {
        use std::os::unix::fs::PermissionsExt;
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("p");
        std::fs::create_dir(&root).unwrap();
        let rules = Rules {
            root: root.clone(),
            watch: vec![PathBuf::from(".")],
            ignore_names: ["skipped".to_string()].into_iter().collect(),
            ignore: PathPatterns::setting(&["**/*.o".to_string()], "test").unwrap(),
            include: None,
            runtime: vec!["logs".to_string()],
        };
        let mut rng = crate::testing::Rng(
            std::env::var("AUTODEV_WATCH_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(11),
        );
        let mut next = move |n: u64| rng.next(n);
        let dirs = ["", "a", "a/b", "c", "skipped", "logs", "a/b/deep"];
        let names = ["x", "y.o", "z", "w w", "caf\u{e9}"];
        // A tree of old files (outside the window where content is hashed) to start from.
        let old = SystemTime::now() - Duration::from_secs(3600);
        for d in dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
            for n in names {
                let path = root.join(d).join(n);
                std::fs::write(&path, format!("{d}/{n}")).unwrap();
                File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(old)
                    .unwrap();
            }
        }
        let mut watcher = Watcher::new(&root, rules.starts()).unwrap();
        let mut snapshot = Snapshot::take_watching(&rules, None, Some(&watcher));
        assert!(snapshot.contains("a/b/x") && !snapshot.contains("skipped/x"));
        assert!(!snapshot.contains("a/y.o") && !snapshot.contains("logs/x"));
        for round in 0..80 {
            let mut done = Vec::new();
            for _ in 0..1 + next(5) {
                let dir = dirs[next(dirs.len() as u64) as usize];
                let name = names[next(names.len() as u64) as usize];
                let path = root.join(dir).join(name);
                let other = root
                    .join(dirs[next(dirs.len() as u64) as usize])
                    .join(names[next(names.len() as u64) as usize]);
                let op = next(12);
                done.push(format!("{op} {dir}/{name}"));
                let _ = match op {
                    0 => std::fs::write(&path, "x".repeat(next(30) as usize)),
                    1 => std::fs::remove_file(&path),
                    2 => std::fs::rename(&path, &other),
                    // Same size, other bytes, within the same second.
                    3 => std::fs::read(&path).and_then(|b| {
                        let flipped: Vec<u8> = b.iter().map(|c| c ^ 1).collect();
                        std::fs::write(&path, flipped)
                    }),
                    4 => std::fs::set_permissions(
                        &path,
                        std::fs::Permissions::from_mode(0o600 + 0o100 * (next(2) as u32)),
                    ),
                    5 => std::fs::remove_file(&path)
                        .or(Ok(()))
                        .and_then(|()| std::os::unix::fs::symlink(&other, &path)),
                    // A new subtree, files and all, at once.
                    6 => std::fs::create_dir_all(path.join("n/m"))
                        .and_then(|()| std::fs::write(path.join("n/m/f"), "f"))
                        .and_then(|()| std::fs::write(path.join("n/g"), "g")),
                    // A directory moved, removed, or replaced by a file; a file by a directory.
                    7 => {
                        let from = root.join(dir);
                        let to = root.join(format!("moved{}", next(3)));
                        if dir.is_empty() {
                            Ok(())
                        } else {
                            std::fs::rename(from, to)
                        }
                    }
                    8 => {
                        if dir.is_empty() {
                            Ok(())
                        } else {
                            std::fs::remove_dir_all(root.join(dir))
                        }
                    }
                    9 => std::fs::remove_dir_all(&path)
                        .or(Ok(()))
                        .and_then(|()| std::fs::write(&path, "now a file")),
                    10 => std::fs::remove_file(&path)
                        .or(Ok(()))
                        .and_then(|()| std::fs::create_dir_all(path.join("inner")))
                        .and_then(|()| std::fs::write(path.join("inner/f"), "in")),
                    // Times only: the change time moves.
                    _ => File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(SystemTime::now())),
                };
                // Directories come back, for the next edits to land somewhere.
                if next(3) == 0 {
                    let _ =
                        std::fs::create_dir_all(root.join(dirs[next(dirs.len() as u64) as usize]));
                }
            }
            let touched = watcher.drain().expect("the notices are trusted");
            let refreshed = snapshot.refresh(&rules, &touched, &watcher);
            let walked = Snapshot::take(&rules, Some(&snapshot));
            assert_eq!(facts(&refreshed), facts(&walked), "round {round}: {done:?}");
            assert_eq!(
                diff(&snapshot, &refreshed),
                diff(&snapshot, &walked),
                "round {round}: {done:?}"
            );
            snapshot = refreshed;
        }
    }

    #[test]
    fn the_paths_patterns_match_are_found_among_their_literal_starts_only() {
        let mut files = Snapshot::default();
        let paths = [
            "README.md",
            "README.md.bak",
            "docs/README.md",
            "src/a.rs",
            "src/a/b.rs",
            "src/ab.rs",
            "src2/a.rs",
            "tests",
            "tests/t1.py",
            "testsx/t.py",
            "x?y",
            "zz/deep/n.md",
        ];
        let stamp = Stamp {
            size: 1,
            mtime_ns: 1,
            ctime_ns: 1,
            ino: 1,
            hash: None,
        };
        for p in paths {
            files.push(p, stamp);
        }
        let files = files.sorted();
        let lists: [&[&str]; 6] = [
            &["src/**/*.rs"],
            &["README.md", "tests"],
            &["**/*.md"],
            &["src/a", "src/a/b.rs", "./src2/"],
            &["/x?y", "tests/t?.py"],
            &["nothing/here"],
        ];
        for list in lists {
            let list: Vec<String> = list.iter().map(|p| p.to_string()).collect();
            let patterns = PathPatterns::new(&list).unwrap();
            let all: Vec<&str> = files.paths().filter(|p| patterns.matches(p)).collect();
            assert_eq!(files.paths_matching(&patterns), all, "{list:?}");
        }
        let wild = PathPatterns::new(&["**/*.md".to_string()]).unwrap();
        assert!(wild.literal_starts().is_none());
        let two = PathPatterns::new(&["src/a".to_string(), "tests/t?.py".to_string()]).unwrap();
        assert_eq!(two.literal_starts().unwrap(), ["src/a", "tests/t"]);
    }

    #[test]
    fn a_watched_directory_that_goes_away_or_a_full_queue_is_not_trusted() {
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("p");
        std::fs::create_dir_all(root.join("src")).unwrap();
        let rules = Rules {
            root: root.clone(),
            watch: vec![PathBuf::from("src")],
            ignore_names: HashSet::new(),
            ignore: PathPatterns::setting(&[], "test").unwrap(),
            include: None,
            runtime: Vec::new(),
        };
        let mut watcher = Watcher::new(&root, rules.starts()).unwrap();
        let _ = Snapshot::take_watching(&rules, None, Some(&watcher));
        std::fs::write(root.join("src/a"), "a").unwrap();
        assert_eq!(
            watcher.drain().unwrap().into_iter().collect::<Vec<_>>(),
            ["src/a"]
        );
        std::fs::rename(root.join("src"), root.join("elsewhere")).unwrap();
        let why = watcher.drain().unwrap_err();
        assert!(why.contains("removed or moved"), "{why}");
    }
}
