//! Durable state on disk: atomic replacement, advisory locks, timestamped backups, and the
//! process stamps that let a reader tell a live writer from a dead one.
//!
//! Every state file autodev writes goes through [`write_atomic`]: a crash leaves either the old
//! file or the new one, never a torn one. What the files contain is their owners' business.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Replaces `path` with `bytes`: temp file in the same directory, fsync, rename, fsync the
/// directory. An existing file's permissions are kept.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, true).map(drop)
}

/// [`write_atomic`], and the metadata of the file at `path` once it is in place, if it is still
/// the one written (nobody replaced or rewrote it in the instant since): what a reader that
/// remembers the content it wrote checks the file against later.
pub(crate) fn write_atomic_known(path: &Path, bytes: &[u8]) -> io::Result<Option<fs::Metadata>> {
    use std::os::unix::fs::MetadataExt;
    let written = replace(path, bytes, true)?;
    let now = fs::metadata(link_target(path)).ok();
    Ok(now.filter(|now| {
        (
            now.dev(),
            now.ino(),
            now.len(),
            now.mtime(),
            now.mtime_nsec(),
        ) == (
            written.dev(),
            written.ino(),
            written.len(),
            written.mtime(),
            written.mtime_nsec(),
        )
    }))
}

/// Like [`write_atomic`] (readers never see a torn file) but without waiting for the disk: for
/// files rewritten many times a minute that the next write regenerates anyway (the run status,
/// `TASK.md`). After a power loss such a file may be one version old, never half-written.
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, false).map(drop)
}

/// Creates `path` with `bytes` only if nothing exists there yet: the file appears whole (temp
/// file, then a link that fails on an existing name), and an existing file is never touched.
/// `Ok(false)` when something was already there.
pub fn create_new(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    if fs::symlink_metadata(path).is_ok() {
        return Ok(false);
    }
    let dir = parent_dir(path);
    fs::create_dir_all(dir)?;
    let mut temp = temp_file(dir, ".autodev-new.")?;
    temp.write_all(bytes)?;
    // A new project file, readable like any other (temp files start private).
    temp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    temp.as_file().sync_all()?;
    match temp.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.error),
    }
}

/// The file a write to `path` must replace: `path` itself, or what a symbolic link there points
/// at (followed to the end), so that a linked `task.json` is updated through its link.
fn link_target(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&at) {
            Ok(target) => {
                at = if target.is_absolute() {
                    target
                } else {
                    parent_dir(&at).join(target)
                };
            }
            Err(_) => break,
        }
    }
    at
}

/// Like [`write_atomic_unsynced`], for a large file written piece by piece by `fill` (never held
/// whole in memory).
pub(crate) fn write_atomic_unsynced_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    replace_by(path, false, |temp| {
        let mut out = io::BufWriter::with_capacity(256 << 10, temp);
        fill(&mut out)?;
        out.flush()
    })
    .map(drop)
}

/// Replaces `path` with `bytes`; the metadata of the file written, taken before it was renamed
/// into place.
fn replace(path: &Path, bytes: &[u8], sync: bool) -> io::Result<fs::Metadata> {
    replace_by(path, sync, |temp| temp.write_all(bytes))
}

/// Replaces `path` with what `fill` writes into the temporary file.
fn replace_by(
    path: &Path,
    sync: bool,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<fs::Metadata> {
    let path = &link_target(path);
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = temp_file(dir, &format!(".{name}."))?;
    fill(temp.as_file_mut())?;
    if let Ok(meta) = fs::metadata(path) {
        temp.as_file().set_permissions(meta.permissions())?;
    }
    if sync {
        temp.as_file().sync_all()?;
    }
    let written = temp.as_file().metadata()?;
    temp.persist(path).map_err(|e| e.error)?;
    if sync {
        sync_dir(dir);
    }
    Ok(written)
}

/// The folder, inside the git directory, where temporary files are made.
const TEMP_DIR: &str = "autodev-tmp";
/// A temporary file older than this is left over from a killed process.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Where temporary files for `dir` are made: `autodev-tmp/` in the git directory of the
/// repository holding `dir`, where a crash leaves nothing that `git add -A` could pick up;
/// `dir` itself outside git or when the git directory is on another file system (a rename
/// cannot cross file systems).
fn temp_home(dir: &Path) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let private = crate::git::git_dir_of(dir).map(|g| g.join(TEMP_DIR));
    if let Some(private) = private
        && fs::create_dir_all(&private).is_ok()
        && let (Ok(a), Ok(b)) = (fs::metadata(&private), fs::metadata(dir))
        && a.dev() == b.dev()
    {
        return private;
    }
    dir.to_path_buf()
}

fn temp_file(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".tmp")
        .tempfile_in(temp_home(dir))
}

/// Removes temporary files that a killed autodev left for `dirs` (older than a minute): those
/// in the git directory's `autodev-tmp/`, and the ones earlier versions made beside the files
/// themselves (`.task.json.*.tmp` and the like).
pub fn clean_stale_temps(dirs: &[&Path]) {
    let stale = |p: &Path| {
        fs::symlink_metadata(p)
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER)
    };
    let ours = |name: &str| {
        name.ends_with(".tmp")
            && [
                ".task.json.",
                ".runtime-status.json.",
                ".TASK.md.",
                ".autodev-new.",
            ]
            .iter()
            .any(|p| name.starts_with(p))
    };
    for dir in dirs {
        let private = crate::git::git_dir_of(dir).map(|g| g.join(TEMP_DIR));
        for (folder, all) in [(Some(dir.to_path_buf()), false), (private, true)] {
            let Some(folder) = folder else { continue };
            let Ok(entries) = fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let path = entry.path();
                if (all || ours(&name))
                    && entry.file_type().is_ok_and(|t| t.is_file())
                    && stale(&path)
                {
                    let _ = fs::remove_file(&path);
                }
            }
        }
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename durable; a failure here only weakens durability, so it is not reported.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// Now, in UTC, as written into state files: `2026-11-22T04:30:32Z`.
pub fn utc_now() -> String {
    utc(jiff::Timestamp::now())
}

/// A moment in UTC, as written into state files (see [`utc_now`]).
pub fn utc(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Now, in UTC, for file names: `20261122T043032Z`.
pub fn file_stamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// Copies `path` to `<path>.bak.<YYYYMMDDTHHMMSSZ>` (UTC) and returns the backup's path.
/// Two backups within one second get `-2`, `-3`, … rather than overwriting each other.
pub fn backup(path: &Path) -> io::Result<PathBuf> {
    let stamp = file_stamp();
    let bytes = fs::read(path)?;
    let dir = parent_dir(path);
    let base = format!(
        "{}.bak.{stamp}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let mut temp = temp_file(dir, &format!(".{base}."))?;
    temp.write_all(&bytes)?;
    if let Ok(meta) = fs::metadata(path) {
        temp.as_file().set_permissions(meta.permissions())?;
    }
    temp.as_file().sync_all()?;
    let mut n = 1;
    loop {
        let candidate = if n == 1 {
            dir.join(&base)
        } else {
            dir.join(format!("{base}-{n}"))
        };
        match temp.persist_noclobber(&candidate) {
            Ok(_) => {
                sync_dir(dir);
                return Ok(candidate);
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                temp = e.file;
                n += 1;
            }
            Err(e) => return Err(e.error),
        }
    }
}

/// An exclusive advisory lock on a lock file, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits for the lock, creating the lock file (and its directory) if needed. The file is
    /// never deleted: deleting lock files races with the next locker.
    pub fn acquire(path: &Path) -> io::Result<FileLock> {
        fs::create_dir_all(parent_dir(path))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.lock()?;
        Ok(FileLock { _file: file })
    }
}

/// Identifies a process across pid reuse: its pid and, where the system tells, its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStamp {
    pub pid: u32,
    /// Start time in clock ticks since boot (Linux `/proc/<pid>/stat`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
}

impl ProcessStamp {
    /// The stamp of this process.
    pub fn current() -> ProcessStamp {
        let pid = std::process::id();
        ProcessStamp {
            pid,
            start: start_ticks(pid),
        }
    }

    /// Whether the stamped process still runs (a reused pid does not count).
    pub fn is_alive(&self) -> bool {
        let Ok(raw) = i32::try_from(self.pid) else {
            return false;
        };
        if raw <= 0 {
            return false;
        }
        let exists = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
            Ok(()) => true,
            Err(nix::errno::Errno::EPERM) => true,
            Err(_) => false,
        };
        if !exists {
            return false;
        }
        match (self.start, start_ticks(self.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
        }
    }
}

/// Refuses an open file that is not a regular file: a FIFO would block its reader or writer
/// for ever, and a device (a link to `/dev/zero` or `/dev/full`) never ends.
fn regular(file: File) -> io::Result<File> {
    match not_regular(&file.metadata()?.file_type()) {
        None => Ok(file),
        Some(e) => Err(e),
    }
}

/// Refuses `path` before it is opened when something other than a regular file is there (a
/// FIFO opened for writing would fail with a less helpful error); a missing file is fine.
fn before_open(path: &Path) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(meta) => not_regular(&meta.file_type()).map_or(Ok(()), Err),
        Err(_) => Ok(()),
    }
}

fn not_regular(kind: &fs::FileType) -> Option<io::Error> {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_file() {
        return None;
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "something else"
    };
    Some(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file; move it away and let autodev create the file"),
    ))
}

/// Opens `path` with `options` (and `flags` besides `O_NONBLOCK`) only if it is a regular file:
/// checked before opening, for a clear error, and after, on what was opened. Opening never
/// blocks, whatever is there.
fn open_checked(path: &Path, options: &mut OpenOptions, flags: i32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    before_open(path)?;
    regular(
        options
            .custom_flags(nix::libc::O_NONBLOCK | flags)
            .open(path)?,
    )
}

/// Opens `path` for reading only if it is a regular file (see [`regular`]).
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_checked(path, OpenOptions::new().read(true), 0)
}

/// Like [`open_regular`], but a symbolic link as the last component is refused too: for a
/// server reading files on a project's behalf.
pub fn open_regular_no_link(path: &Path) -> io::Result<File> {
    open_checked(path, OpenOptions::new().read(true), nix::libc::O_NOFOLLOW)
}

/// Opens `path` for appending (created if missing) only if it is a regular file.
pub fn append_regular(path: &Path) -> io::Result<File> {
    open_checked(path, OpenOptions::new().create(true).append(true), 0)
}

/// Opens `path` for reading and writing in place (created if missing) only if it is a regular
/// file.
pub fn open_regular_rw(path: &Path) -> io::Result<File> {
    open_checked(
        path,
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true),
        0,
    )
}

/// The whole of a regular file of at most `max` bytes: a state file autodev reads back. Anything
/// else (a FIFO, a device, a file grown past `max`) is an error that says what it is.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    read_to_limit(open_regular(path)?, max)
}

/// The rest of `file`, refused when it is longer than `max` bytes.
pub(crate) fn read_to_limit(file: File, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is larger than {} MiB, more than autodev ever writes there",
                max >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// The last `window` bytes of a file as text (lossy UTF-8), starting at a whole line: when the
/// window begins inside a line, that partial line is left out. `None` when it cannot be read
/// (or is not a regular file).
pub fn read_tail(path: &Path, window: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = open_regular(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(window);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(start)).ok()?;
    file.take(window).read_to_end(&mut bytes).ok()?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        let cut = text.find('\n').map_or(text.len(), |i| i + 1);
        text.drain(..cut);
    }
    Some(text)
}

/// The lines of a file from its end to its start, read a block at a time, so that a reader
/// looking for something near the end reads only as far back as it must. A last line without
/// its newline (cut off by a kill) is given too; the reader's parser skips it.
pub struct LinesBack {
    file: File,
    /// Where the bytes not yet read end.
    pos: u64,
    /// Bytes read but not yet given: the start of the earliest line seen, still incomplete.
    carry: Vec<u8>,
    /// Complete lines of the last block, in file order; given from the back.
    ready: Vec<Vec<u8>>,
}

/// How much [`LinesBack`] reads at a time.
const BACK_BLOCK: u64 = 256 * 1024;

impl LinesBack {
    /// From the end of `path` (a regular file).
    pub fn open(path: &Path) -> io::Result<LinesBack> {
        let file = open_regular(path)?;
        let pos = file.metadata()?.len();
        Ok(LinesBack {
            file,
            pos,
            carry: Vec::new(),
            ready: Vec::new(),
        })
    }

    /// Reads the block before `pos`, making the lines it completes ready.
    fn read_block(&mut self) -> io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let start = self.pos.saturating_sub(BACK_BLOCK);
        let mut block = vec![0u8; (self.pos - start) as usize];
        self.file.seek(SeekFrom::Start(start))?;
        self.file.read_exact(&mut block)?;
        self.pos = start;
        block.append(&mut self.carry);
        let mut parts: Vec<Vec<u8>> = block.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        // The first part may begin before this block: it waits for the next one, unless this
        // block starts the file.
        if start > 0 {
            self.carry = parts.remove(0);
        }
        parts.retain(|p| !p.is_empty());
        self.ready = parts;
        Ok(())
    }
}

impl Iterator for LinesBack {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(line) = self.ready.pop() {
                return Some(line);
            }
            if self.pos == 0 {
                // A file with no newline at all ends here with what was carried.
                return (!self.carry.is_empty()).then(|| std::mem::take(&mut self.carry));
            }
            self.read_block().ok()?;
        }
    }
}

/// Field 22 of `/proc/<pid>/stat`, read after the command name (which may hold spaces).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_from_the_end_across_blocks_and_a_cut_line_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines");
        let long = "x".repeat(BACK_BLOCK as usize * 2 + 17);
        let mut text = String::new();
        for n in 0..50_000 {
            text.push_str(&format!("line {n}\n"));
            if n == 100 {
                text.push_str(&long);
                text.push('\n');
            }
        }
        text.push_str("cut");
        fs::write(&path, &text).unwrap();
        let back: Vec<String> = LinesBack::open(&path)
            .unwrap()
            .map(|l| String::from_utf8(l).unwrap())
            .collect();
        let mut forward: Vec<String> = text.lines().map(str::to_string).collect();
        forward.reverse();
        assert_eq!(back, forward);
        fs::write(&path, "").unwrap();
        assert_eq!(LinesBack::open(&path).unwrap().count(), 0);
    }

    #[test]
    fn tails_start_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, "first line\nsecond\nthird\n").unwrap();
        assert_eq!(
            read_tail(&path, 100).unwrap(),
            "first line\nsecond\nthird\n"
        );
        assert_eq!(read_tail(&path, 10).unwrap(), "third\n");
        assert_eq!(read_tail(&dir.path().join("missing"), 10), None);
    }

    #[test]
    fn atomic_write_replaces_and_keeps_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[test]
    fn backups_in_the_same_second_do_not_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("task.json");
        fs::write(&path, "one").unwrap();
        let first = backup(&path).unwrap();
        fs::write(&path, "two").unwrap();
        let second = backup(&path).unwrap();
        assert_ne!(first, second);
        assert_eq!(fs::read_to_string(&first).unwrap(), "one");
        assert_eq!(fs::read_to_string(&second).unwrap(), "two");
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("task.json.bak.") && name.ends_with('Z'),
            "{name}"
        );
    }

    #[test]
    fn own_process_is_alive_and_a_dead_child_is_not() {
        assert!(ProcessStamp::current().is_alive());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let stamp = ProcessStamp {
            pid: child.id(),
            start: start_ticks(child.id()),
        };
        child.wait().unwrap();
        assert!(!stamp.is_alive());
        let reused = ProcessStamp {
            pid: std::process::id(),
            start: Some(1),
        };
        assert!(
            !reused.is_alive(),
            "a different start time means a reused pid"
        );
    }
}
