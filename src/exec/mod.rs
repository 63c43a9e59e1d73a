//! Supervision of child processes: agents, verification checks, version probes.
//!
//! Every child is started the same way: in its own process group, in a chosen directory, with
//! stdin either `/dev/null` or a payload that is written and then closed (an open stdin makes
//! some agent CLIs wait for ever). Its stdout and stderr are drained concurrently, teed in full
//! to the given sinks (the attempt log, the main log) and kept in memory only as a bounded head
//! and tail ([`Captured`]). A wall-clock limit, an idle limit (no output), a cancel token or an
//! observer's request stops the child: SIGTERM to the whole group, a grace period, SIGKILL.
//! Once the child has exited, whatever is left in its group is killed, so no grandchild outlives
//! the run (a process that moved itself to another session is out of reach; see
//! `docs/supervision.md`).
//!
//! This module knows nothing about agents: what a line of output means is the business of the
//! observer the caller passes in (see `backend`).

mod capture;
pub mod keeper;
mod signals;

pub use capture::{Captured, LineSplitter};
pub use signals::{
    cancel_on_signals, cancel_on_signals_every, trap as trap_signals, untrap as untrap_signals,
};

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::sleep_until;

/// How long to keep reading after the child exited while something else still holds its pipes.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);
const READ_BUFFER: usize = 64 * 1024;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// A program name (looked up on `PATH`) or a path.
    pub program: String,
    pub args: Vec<String>,
    /// Added to (or replacing entries of) the inherited environment; nothing is removed.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub stdin: Input,
    /// Keep all of stdout in memory rather than its head and tail: for a command whose output
    /// is a list that must be read whole (git's list of changed paths).
    pub whole_stdout: bool,
}

/// What the child reads on stdin.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// `/dev/null`.
    Null,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
}

impl Spec {
    pub fn new(program: impl Into<String>, cwd: impl Into<PathBuf>) -> Self {
        Spec {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: cwd.into(),
            stdin: Input::Null,
            whole_stdout: false,
        }
    }

    /// The command line as a shell would read it, for logs and previews.
    pub fn command_line(&self) -> String {
        let mut words = Vec::with_capacity(self.args.len() + 1 + self.env.len());
        for (key, value) in &self.env {
            words.push(format!("{key}={}", shell_quote(value)));
        }
        words.push(shell_quote(&self.program));
        words.extend(self.args.iter().map(|a| shell_quote(a)));
        let mut line = words.join(" ");
        if let Input::Bytes(bytes) = &self.stdin {
            line.push_str(&format!(" < (prompt, {} bytes on stdin)", bytes.len()));
        }
        line
    }
}

/// Quotes a word for a POSIX shell only when it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// When to stop a child that does not finish by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Wall-clock limit.
    pub wall: Option<Duration>,
    /// Longest silence (no byte on stdout or stderr).
    pub idle: Option<Duration>,
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
}

impl Limits {
    /// Limits from seconds, where 0 means "none".
    pub fn from_seconds(wall: u64, idle: u64, grace: u64) -> Self {
        let some = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        Limits {
            wall: some(wall),
            idle: some(idle),
            grace: Duration::from_secs(grace),
        }
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether supervision should go on after an observed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop the child now (gracefully): the observer has seen enough, for example a fatal
    /// authentication error that the child would otherwise retry for minutes.
    Stop,
}

/// Sees every complete line of output as it arrives.
pub trait Observer: Send {
    fn line(&mut self, stream: Stream, line: &str) -> Flow;
}

/// An observer that ignores everything.
pub struct Ignore;

impl Observer for Ignore {
    fn line(&mut self, _: Stream, _: &str) -> Flow {
        Flow::Continue
    }
}

/// Why autodev stopped a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    WallTimeout,
    IdleTimeout,
    Cancelled,
    /// The observer asked for it.
    Observer,
}

/// How urgently a cancel was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CancelLevel {
    None,
    /// SIGTERM to the group, then SIGKILL after the grace period.
    Graceful,
    /// SIGKILL to the group at once.
    Immediate,
}

/// Shared by the caller and running children: the caller raises the level, children react.
#[derive(Debug, Clone)]
pub struct Cancel(Arc<watch::Sender<CancelLevel>>);

impl Default for Cancel {
    fn default() -> Self {
        Cancel(Arc::new(watch::Sender::new(CancelLevel::None)))
    }
}

impl Cancel {
    /// Raises the level (it never goes down).
    pub fn request(&self, level: CancelLevel) {
        self.0.send_if_modified(|current| {
            let raise = level > *current;
            if raise {
                *current = level;
            }
            raise
        });
    }

    pub fn level(&self) -> CancelLevel {
        *self.0.borrow()
    }
}

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    fn of(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        }
    }

    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    /// The exit code, or 128 + signal as a shell reports it.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit {code}"),
            Exit::Signal(signal) => match Signal::try_from(*signal) {
                Ok(s) => write!(f, "killed by {}", s.as_str()),
                Err(_) => write!(f, "killed by signal {signal}"),
            },
        }
    }
}

/// What happened to a supervised child.
#[derive(Debug)]
pub struct Outcome {
    pub exit: Exit,
    /// Set when autodev stopped the child rather than letting it finish.
    pub stopped: Option<StopReason>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub elapsed: Duration,
    /// The first failure to write a sink; the sink is not written again after it.
    pub tee_error: Option<io::Error>,
}

/// The child could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("`{program}` was not found on PATH")]
    NotFound { program: String },
    #[error("could not start `{program}` in {}: {source}", cwd.display())]
    Failed {
        program: String,
        cwd: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where output goes besides memory: each chunk of either stream is written to every sink, in
/// the order it arrived.
#[derive(Default)]
pub struct Tee {
    sinks: Vec<Box<dyn Write + Send>>,
    error: Option<io::Error>,
}

impl Tee {
    pub fn new(sinks: Vec<Box<dyn Write + Send>>) -> Self {
        Tee { sinks, error: None }
    }

    /// Writes a line of autodev's own (a header such as `$ cargo test`) to every sink.
    pub fn note(&mut self, line: &str) {
        self.write(format!("{line}\n").as_bytes());
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut failed = None;
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            if let Err(e) = sink.write_all(bytes) {
                failed = Some(i);
                self.error.get_or_insert(e);
                break;
            }
        }
        if let Some(i) = failed {
            self.sinks.remove(i);
        }
    }

    fn flush(&mut self) {
        for sink in &mut self.sinks {
            if let Err(e) = sink.flush() {
                self.error.get_or_insert(e);
            }
        }
    }
}

/// What is left to do once the child itself has exited.
#[derive(Debug, Clone, Copy)]
enum AfterExit {
    /// Reading what is still in the pipes, until this moment.
    Draining(Instant),
    /// The rest of the group was killed; give up on the pipes at this moment.
    Killed(Instant),
}

/// One output pipe of the child while it is being read.
struct Pipe<R> {
    reader: Option<R>,
    stream: Stream,
    captured: Captured,
    lines: LineSplitter,
}

impl<R: AsyncRead + Unpin> Pipe<R> {
    fn new(reader: Option<R>, stream: Stream) -> Self {
        Pipe {
            reader,
            stream,
            captured: Captured::default(),
            lines: LineSplitter::default(),
        }
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.reader {
            Some(r) => r.read(buf).await,
            None => std::future::pending().await,
        }
    }

    /// Takes in a chunk (empty at end of file); returns what the observer asked for.
    fn take(&mut self, bytes: &[u8], tee: &mut Tee, observer: &mut dyn Observer) -> Flow {
        let mut flow = Flow::Continue;
        let stream = self.stream;
        let mut see = |line: &[u8]| {
            if observer.line(stream, &String::from_utf8_lossy(line)) == Flow::Stop {
                flow = Flow::Stop;
            }
        };
        if bytes.is_empty() {
            self.reader = None;
            self.lines.finish(&mut see);
        } else {
            tee.write(bytes);
            self.captured.push(bytes);
            self.lines.feed(bytes, &mut see);
        }
        flow
    }
}

fn signal_group(pgid: Pid, signal: Signal) {
    // ESRCH (the group is already gone) is the expected outcome once everything has exited.
    let _ = killpg(pgid, signal);
}

/// Children started so far by this process. A reader that must know whether anything could
/// have written into the tree since a moment (the carried snapshot) compares two readings.
static SPAWNED: AtomicU64 = AtomicU64::new(0);
/// Set by the binary: children run under [`keeper`] (a library in a unit test has no keeper).
static KEEPER: AtomicBool = AtomicBool::new(false);

/// How many children this process has started.
pub fn spawned() -> u64 {
    SPAWNED.load(Ordering::SeqCst)
}

/// Lets [`run`] start children under the keeper of this executable (`autodev __keeper`).
pub fn enable_keeper() {
    KEEPER.store(true, Ordering::SeqCst);
}

/// Finds `program` as a shell would: a name with a slash relative to `cwd`, any other name in
/// the directories of `path_var`.
pub fn find_program(program: &str, path_var: Option<&OsStr>, cwd: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = cwd.join(program);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

/// Why `spec` could not start: a missing program is named as such (when the directory it was
/// to run in exists: otherwise that is the reason).
fn spawn_error(spec: &Spec, source: io::Error) -> SpawnError {
    if source.kind() == io::ErrorKind::NotFound && spec.cwd.is_dir() {
        SpawnError::NotFound {
            program: spec.program.clone(),
        }
    } else {
        SpawnError::Failed {
            program: spec.program.clone(),
            cwd: spec.cwd.clone(),
            source,
        }
    }
}

/// What becomes of a child when autodev dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// A keeper takes its whole group down.
    Keeper,
    /// It alone is sent SIGTERM.
    ParentDeath,
    /// It runs to its end: a short step that must not be stopped half way.
    Finish,
}

/// The command that starts `spec`: under the keeper when asked and the binary allows it, so
/// that the whole group dies with autodev; otherwise directly, with a parent-death signal for
/// the child alone unless it is to finish.
fn command_for(spec: &Spec, ending: Ending) -> Result<tokio::process::Command, SpawnError> {
    let keeper_exe = if ending == Ending::Keeper && KEEPER.load(Ordering::SeqCst) {
        std::env::current_exe().ok()
    } else {
        None
    };
    let Some(exe) = keeper_exe else {
        let mut command = tokio::process::Command::new(&spec.program);
        command.args(&spec.args);
        if ending == Ending::Finish {
            return Ok(command);
        }
        // If autodev itself dies (even by SIGKILL), the child is told to stop. The signal is tied
        // to the spawning thread: runs use single-threaded runtimes.
        // SAFETY: the closure only calls prctl(2) and signal(2), which are async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                // autodev ignores SIGXFSZ (see `signals`); its children start with the default.
                nix::sys::signal::signal(Signal::SIGXFSZ, nix::sys::signal::SigHandler::SigDfl)?;
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(io::Error::from)
            });
        }
        return Ok(command);
    };
    let path_var = spec
        .env
        .iter()
        .rfind(|(k, _)| k == "PATH")
        .map(|(_, v)| OsString::from(v))
        .or_else(|| std::env::var_os("PATH"));
    let Some(program) = find_program(&spec.program, path_var.as_deref(), &spec.cwd) else {
        return Err(spawn_error(spec, io::Error::from(io::ErrorKind::NotFound)));
    };
    let mut command = tokio::process::Command::new(exe);
    command
        .arg(keeper::SUBCOMMAND)
        .arg(std::process::id().to_string())
        .arg(program)
        .args(&spec.args);
    // The keeper learns of autodev's death from this signal and takes the group down.
    // SAFETY: the closure only calls prctl(2), which is async-signal-safe.
    unsafe {
        command
            .pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGUSR1).map_err(io::Error::from));
    }
    Ok(command)
}

/// Runs `spec` to the end under `limits`, feeding output to `tee` and `observer`. The child and
/// everything it starts run in a process group of their own that a keeper takes down if autodev
/// dies.
pub async fn run(
    spec: &Spec,
    limits: &Limits,
    tee: &mut Tee,
    observer: &mut dyn Observer,
    cancel: &Cancel,
) -> Result<Outcome, SpawnError> {
    supervise(spec, limits, tee, observer, cancel, Ending::Keeper).await
}

async fn supervise(
    spec: &Spec,
    limits: &Limits,
    tee: &mut Tee,
    observer: &mut dyn Observer,
    cancel: &Cancel,
    ending: Ending,
) -> Result<Outcome, SpawnError> {
    let mut command = command_for(spec, ending)?;
    command
        .envs(
            spec.env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
        .current_dir(&spec.cwd)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(match spec.stdin {
            Input::Null => Stdio::null(),
            Input::Bytes(_) => Stdio::piped(),
        })
        .kill_on_drop(true);
    SPAWNED.fetch_add(1, Ordering::SeqCst);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|source| spawn_error(spec, source))?;
    let pgid = Pid::from_raw(child.id().map_or(0, |id| id as i32));

    // The payload is written by its own task so that a child which prints before reading all
    // of its input cannot deadlock us; dropping the handle closes the pipe. A child that exits
    // without reading gives EPIPE here, which is not an error of ours.
    if let (Input::Bytes(bytes), Some(mut stdin)) = (&spec.stdin, child.stdin.take()) {
        let bytes = bytes.clone();
        tokio::spawn(async move {
            let _ = stdin.write_all(&bytes).await;
            let _ = stdin.shutdown().await;
        });
    }

    let mut stdout = Pipe::new(child.stdout.take(), Stream::Stdout);
    if spec.whole_stdout {
        stdout.captured = Captured::whole();
    }
    let mut stderr = Pipe::new(child.stderr.take(), Stream::Stderr);
    let mut out_buf = vec![0u8; READ_BUFFER];
    let mut err_buf = vec![0u8; READ_BUFFER];
    let mut cancel_rx = cancel.0.subscribe();

    let wall_deadline = limits.wall.map(|d| started + d);
    let mut last_output = started;
    let mut stopped: Option<StopReason> = None;
    let mut kill_at: Option<Instant> = None;
    let mut exit: Option<Exit> = None;
    let mut after_exit: Option<AfterExit> = None;

    // A cancel requested before the child started still applies.
    let mut pending_cancel = Some(*cancel_rx.borrow_and_update());

    loop {
        if let (Some(level), None) = (pending_cancel.take(), exit) {
            match level {
                CancelLevel::None => {}
                CancelLevel::Graceful => {
                    if kill_at.is_none() {
                        stopped.get_or_insert(StopReason::Cancelled);
                        signal_group(pgid, Signal::SIGTERM);
                        kill_at = Some(Instant::now() + limits.grace);
                    }
                }
                CancelLevel::Immediate => {
                    stopped.get_or_insert(StopReason::Cancelled);
                    signal_group(pgid, Signal::SIGKILL);
                    kill_at = Some(Instant::now());
                }
            }
        }
        if exit.is_some() && stdout.reader.is_none() && stderr.reader.is_none() {
            break;
        }

        // The next moment something must happen if no output arrives.
        let deadline = match (after_exit, kill_at) {
            (Some(AfterExit::Draining(at) | AfterExit::Killed(at)), _) => Some(at),
            (None, Some(at)) => Some(at),
            (None, None) => {
                let idle = limits.idle.map(|d| last_output + d);
                match (wall_deadline, idle) {
                    (Some(w), Some(i)) => Some(w.min(i)),
                    (w, i) => w.or(i),
                }
            }
        };
        let sleep = async {
            match deadline {
                Some(at) => sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };

        let mut flow = Flow::Continue;
        tokio::select! {
            read = stdout.read(&mut out_buf), if stdout.reader.is_some() => {
                let n = read.unwrap_or(0);
                if n > 0 { last_output = Instant::now(); }
                flow = stdout.take(&out_buf[..n], tee, observer);
            }
            read = stderr.read(&mut err_buf), if stderr.reader.is_some() => {
                let n = read.unwrap_or(0);
                if n > 0 { last_output = Instant::now(); }
                flow = stderr.take(&err_buf[..n], tee, observer);
            }
            status = child.wait(), if exit.is_none() => {
                exit = Some(status.map_or(Exit::Code(-1), Exit::of));
                after_exit = Some(AfterExit::Draining(Instant::now() + DRAIN_AFTER_EXIT));
            }
            changed = cancel_rx.changed() => {
                if changed.is_ok() {
                    pending_cancel = Some(*cancel_rx.borrow_and_update());
                }
            }
            () = sleep => {
                let now = Instant::now();
                match after_exit {
                    Some(AfterExit::Draining(_)) => {
                        // The child is gone but something in its group still holds the pipes.
                        signal_group(pgid, Signal::SIGKILL);
                        after_exit = Some(AfterExit::Killed(now + DRAIN_AFTER_EXIT));
                    }
                    Some(AfterExit::Killed(_)) => {
                        // Held by a process outside the group: stop listening.
                        stdout.reader = None;
                        stderr.reader = None;
                    }
                    None => {
                        if kill_at.is_some_and(|kill| now >= kill) {
                            signal_group(pgid, Signal::SIGKILL);
                            kill_at = Some(now + limits.grace);
                        } else if kill_at.is_none() {
                            let reason = if wall_deadline.is_some_and(|w| now >= w) {
                                StopReason::WallTimeout
                            } else {
                                StopReason::IdleTimeout
                            };
                            stopped.get_or_insert(reason);
                            signal_group(pgid, Signal::SIGTERM);
                            kill_at = Some(now + limits.grace);
                        }
                    }
                }
            }
        }
        if flow == Flow::Stop && kill_at.is_none() && exit.is_none() {
            stopped.get_or_insert(StopReason::Observer);
            signal_group(pgid, Signal::SIGTERM);
            kill_at = Some(Instant::now() + limits.grace);
        }
    }

    // Whatever is left in the group (a backgrounded grandchild that closed its output) goes too.
    signal_group(pgid, Signal::SIGKILL);
    tee.flush();
    Ok(Outcome {
        exit: exit.unwrap_or(Exit::Code(-1)),
        stopped,
        stdout: stdout.captured,
        stderr: stderr.captured,
        elapsed: started.elapsed(),
        tee_error: tee.error.take(),
    })
}

/// Runs a short command that starts nothing of its own (a version probe, a git query) within
/// `wall`, with no sinks, observer or cancel. It goes without a keeper: a parent-death signal
/// stops it if autodev dies.
pub async fn quick(spec: &Spec, wall: Duration) -> Result<Outcome, SpawnError> {
    quick_with(spec, wall, Ending::ParentDeath).await
}

/// Like [`quick`], but the command runs to its end even if autodev dies meanwhile: for a short
/// step that would leave things half done if stopped (a fast-forward of the user's branch). It
/// must start nothing that could hang.
pub async fn quick_to_the_end(spec: &Spec, wall: Duration) -> Result<Outcome, SpawnError> {
    quick_with(spec, wall, Ending::Finish).await
}

async fn quick_with(spec: &Spec, wall: Duration, ending: Ending) -> Result<Outcome, SpawnError> {
    let limits = Limits {
        wall: Some(wall),
        idle: None,
        grace: Duration::from_secs(1),
    };
    supervise(
        spec,
        &limits,
        &mut Tee::default(),
        &mut Ignore,
        &Cancel::default(),
        ending,
    )
    .await
}

/// Awaits `work`; meanwhile, when `every` is given, calls `on` each `every` with the time
/// since it began: the heartbeat of a long step (an agent call, a check).
pub async fn beating<T>(
    work: impl std::future::Future<Output = T>,
    every: Option<Duration>,
    mut on: impl FnMut(Duration),
) -> T {
    let started = Instant::now();
    let period = every.map_or(Duration::from_secs(3600), |e| {
        e.max(Duration::from_millis(10))
    });
    tokio::pin!(work);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticker.tick(), if every.is_some() => on(started.elapsed()),
        }
    }
}

/// The single-threaded runtime every command that supervises children runs on. Children are
/// spawned from its thread, which their parent-death signal is tied to.
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs `run` on a private [`runtime`], for callers that are not async.
pub fn run_blocking(
    spec: &Spec,
    limits: &Limits,
    tee: &mut Tee,
    observer: &mut dyn Observer,
    cancel: &Cancel,
) -> Result<Outcome, SpawnError> {
    let runtime = runtime().map_err(|source| SpawnError::Failed {
        program: spec.program.clone(),
        cwd: spec.cwd.clone(),
        source,
    })?;
    runtime.block_on(run(spec, limits, tee, observer, cancel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_only_what_needs_it() {
        let mut spec = Spec::new("codex", "/tmp");
        spec.args = vec![
            "exec".into(),
            "--json".into(),
            "it's here".into(),
            "".into(),
        ];
        spec.env = vec![("OPENCODE_PERMISSION".into(), r#"{"edit":"deny"}"#.into())];
        spec.stdin = Input::Bytes(b"hello".to_vec());
        assert_eq!(
            spec.command_line(),
            r#"OPENCODE_PERMISSION='{"edit":"deny"}' codex exec --json 'it'\''s here' '' < (prompt, 5 bytes on stdin)"#
        );
    }

    #[test]
    fn cancel_levels_only_rise() {
        let cancel = Cancel::default();
        cancel.request(CancelLevel::Immediate);
        cancel.request(CancelLevel::Graceful);
        assert_eq!(cancel.level(), CancelLevel::Immediate);
    }

    #[test]
    fn exits_render_like_a_shell() {
        assert_eq!(Exit::Signal(9).to_string(), "killed by SIGKILL");
        assert_eq!(Exit::Signal(9).code(), 137);
        assert_eq!(Exit::Code(3).to_string(), "exit 3");
    }
}
