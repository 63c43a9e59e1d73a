//! The keeper: a small process between autodev and every agent or check it runs, so that nothing
//! a run started outlives it, even when autodev itself is killed with SIGKILL.
//!
//! autodev starts `autodev __keeper PARENT_PID PROGRAM ARGS...` as the leader of a new process
//! group, with a parent-death signal (SIGUSR1). The keeper starts PROGRAM in that same group and
//! waits. When the program exits, the keeper exits the same way (the same code, or the same
//! signal), so supervision sees the program's own ending. When autodev dies first, the kernel
//! sends the keeper SIGUSR1: it sends SIGTERM to the whole group, gives it [`GRACE`] to go, and
//! then sends SIGKILL to the group, itself included. Descendants that ignore SIGTERM go too;
//! only a process that leaves the group (`setsid`) escapes, as `docs/supervision.md` says.
//!
//! The keeper blocks the signals it waits for and takes them with `sigwait`; a group-wide
//! SIGTERM from autodev's own graceful stop reaches the program while the keeper stays to report
//! how it ended. The program starts with an empty signal mask (set between fork and exec: the
//! mask would otherwise be inherited) and SIGPIPE at its default.

use std::ffi::OsString;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg, raise, sigprocmask};
use nix::unistd::{Pid, getpgrp, getppid};

/// The hidden subcommand that runs the keeper.
pub const SUBCOMMAND: &str = "__keeper";
/// How long the group has between SIGTERM and SIGKILL once autodev is gone.
const GRACE: Duration = Duration::from_millis(1000);

fn watched() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGUSR1,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        set.add(signal);
    }
    set
}

/// Runs the keeper with its arguments (after the subcommand); never returns.
pub fn main(args: Vec<OsString>) -> ! {
    let mut args = args.into_iter();
    let parent: Option<i32> = args.next().and_then(|p| p.to_str()?.parse().ok());
    let Some(program) = args.next() else {
        eprintln!("autodev {SUBCOMMAND}: usage: {SUBCOMMAND} PARENT_PID PROGRAM [ARG...]");
        std::process::exit(2);
    };
    let set = watched();
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        eprintln!("autodev {SUBCOMMAND}: cannot block signals: {e}");
        std::process::exit(126);
    }
    // autodev may have died before the parent-death signal was armed.
    if parent.is_some_and(|p| getppid() != Pid::from_raw(p)) {
        std::process::exit(137);
    }
    let mut command = Command::new(&program);
    command.args(args);
    // The program starts as a program normally does: nothing blocked (the keeper's own mask is
    // inherited through exec otherwise), and SIGPIPE and SIGXFSZ at their defaults.
    // SAFETY: sigprocmask and signal are async-signal-safe, as pre_exec requires.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
            nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl)?;
            nix::sys::signal::signal(Signal::SIGXFSZ, nix::sys::signal::SigHandler::SigDfl)?;
            Ok(())
        });
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "autodev: could not start `{}`: {e}",
                program.to_string_lossy()
            );
            std::process::exit(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    watch(child, &set)
}

fn watch(mut child: Child, set: &SigSet) -> ! {
    loop {
        let signal = set.wait().unwrap_or(Signal::SIGCHLD);
        match signal {
            Signal::SIGCHLD => {
                if let Ok(Some(status)) = child.try_wait() {
                    end_like(status);
                }
            }
            Signal::SIGUSR1 => orphaned(&mut child),
            // A stop for the whole group reaches the program directly; the keeper stays to
            // report how it ended.
            _ => {}
        }
    }
}

/// autodev is gone: the group goes, gently first.
fn orphaned(child: &mut Child) -> ! {
    let group = getpgrp();
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(group, Signal::SIGKILL);
    std::process::exit(137)
}

/// Exits the way the program did.
fn end_like(status: std::process::ExitStatus) -> ! {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        std::process::exit(code);
    }
    if let Some(signal) = status.signal().and_then(|s| Signal::try_from(s).ok()) {
        // SAFETY: resetting a disposition to the default is always sound here: the keeper is
        // single-threaded and about to end.
        unsafe {
            let _ = nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl);
        }
        let mut only = SigSet::empty();
        only.add(signal);
        let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&only), None);
        let _ = raise(signal);
        std::process::exit(128 + signal as i32);
    }
    std::process::exit(1)
}
