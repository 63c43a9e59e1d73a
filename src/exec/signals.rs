//! SIGINT, SIGTERM and SIGHUP as cancel requests.
//!
//! [`trap`] installs the handlers; a command that must never die of these signals (`autodev
//! run`) calls it first, before it loads anything, so a signal at any moment is counted rather
//! than killing the process (exit 130 instead of 143). The handler only counts; a task on the
//! runtime turns the count into [`Cancel`] levels: the first signal asks children to stop
//! gracefully, any further one kills them at once.
//!
//! A signal the process was started with ignored stays ignored: `nohup autodev run` must survive
//! the hangup it asked to be spared. SIGXFSZ is ignored too: a file-size limit (`ulimit -f`)
//! then makes a write fail with an error the run reports, instead of killing it mid-step.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use super::{Cancel, CancelLevel};

static SEEN: AtomicU32 = AtomicU32::new(0);
static TRAPPED: AtomicU32 = AtomicU32::new(0);
/// The signals found ignored when trapping (bit n for signal n), left ignored.
static IGNORED: AtomicU32 = AtomicU32::new(0);

const TRAPPED_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

fn bit(signal: Signal) -> u32 {
    1 << (signal as i32 as u32)
}
/// How often the count is turned into a cancel level.
const POLL: Duration = Duration::from_millis(25);

extern "C" fn count(_: nix::libc::c_int) {
    SEEN.fetch_add(1, Ordering::SeqCst);
}

/// Installs the counting handlers (once per process).
pub fn trap() -> io::Result<()> {
    if TRAPPED.swap(1, Ordering::SeqCst) == 1 {
        return Ok(());
    }
    let action = SigAction::new(
        SigHandler::Handler(count),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: ignoring a signal is always sound.
    unsafe { sigaction(Signal::SIGXFSZ, &ignore) }.map_err(io::Error::from)?;
    for signal in TRAPPED_SIGNALS {
        // SAFETY: the handler only increments an atomic, which is async-signal-safe.
        let old = unsafe { sigaction(signal, &action) }.map_err(io::Error::from)?;
        if matches!(old.handler(), SigHandler::SigIgn) {
            // SAFETY: ignoring a signal is always sound.
            unsafe { sigaction(signal, &ignore) }.map_err(io::Error::from)?;
            IGNORED.fetch_or(bit(signal), Ordering::SeqCst);
        }
    }
    Ok(())
}

/// Gives the signals back their default effect (for a command that turns out not to need
/// [`trap`]); a signal counted meanwhile is acted on now.
pub fn untrap() {
    if TRAPPED.swap(0, Ordering::SeqCst) == 0 {
        return;
    }
    let ignored = IGNORED.load(Ordering::SeqCst);
    for signal in TRAPPED_SIGNALS {
        if ignored & bit(signal) != 0 {
            continue;
        }
        // SAFETY: restoring the default disposition is always sound.
        let _ = unsafe { nix::sys::signal::signal(signal, SigHandler::SigDfl) };
    }
    if seen() > 0 {
        let _ = nix::sys::signal::raise(Signal::SIGTERM);
    }
}

/// How many of these signals have arrived since [`trap`].
pub fn seen() -> u32 {
    SEEN.load(Ordering::SeqCst)
}

fn apply(cancel: &Cancel, seen: u32) {
    match seen {
        0 => {}
        1 => cancel.request(CancelLevel::Graceful),
        _ => cancel.request(CancelLevel::Immediate),
    }
}

/// Turns signals into cancel requests for as long as the runtime lives (trapping them first if
/// that has not been done); a signal that arrived earlier applies at once.
pub fn cancel_on_signals(cancel: &Cancel) -> io::Result<()> {
    cancel_on_signals_every(cancel, POLL)
}

/// [`cancel_on_signals`], looking at the count every `period`: a server that only has to stop
/// in good time need not wake forty times a second.
pub fn cancel_on_signals_every(cancel: &Cancel, period: Duration) -> io::Result<()> {
    trap()?;
    apply(cancel, seen());
    let cancel = cancel.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            apply(&cancel, seen());
        }
    });
    Ok(())
}
