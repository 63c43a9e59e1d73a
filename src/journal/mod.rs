//! The run journal, `logs/events.jsonl`, the spine every other part stands on: every event of
//! every run, one JSON object per line, in the order it happened. It is the record a restarted run reads to finish a step that a crash
//! cut short, and the one stream the dashboards and other tools follow (`docs/journal.md`).
//!
//! Each line is `{"seq", "time", "run_id", "worker", "type", ...the event's fields}` (`worker` only
//! on a task's events); `seq` rises by one
//! per line across runs and rotations, so a reader can resume after the last one it saw. A file
//! always begins with a `journal_opened` line that carries the format version. Lines are written
//! whole with one `write` each, so a killed process leaves at most one cut-off last line, which
//! readers skip; the events a restart depends on are also synced to the disk.
//!
//! Growth is bounded: when the file has passed [`ROTATE_BYTES`] at the start of a run or a task,
//! it becomes `events.1.jsonl` (replacing an older one) and a new file begins. Recovery reads
//! from the end back to where the open work begins (the last run and the last task started),
//! however far back that is, going on into `events.1.jsonl` when a rotation came between.
//!
//! `seq` never goes backwards, even when the journal is deleted, emptied or cut short: the next
//! number is also kept in `events.seq` beside it (rewritten in place with each line), and a new
//! writer starts past the highest of that mark, the current file and the rotated one. A journal
//!
//! This module owns the vocabulary ([`event`]), the [`Sink`] trait every consumer implements,
//! the writer ([`JournalSink`]) and the one typed reader ([`Entry`], [`read_open_work`],
//! [`read_tail`]). The runner emits events; the journal, the reports, notifications and the
//! views consume them; nothing here imports from those that use it.

pub mod event;
mod read;
mod writer;

use std::io;

pub use read::{Entry, read_open_work, read_tail, read_tail_lines};
pub use writer::{FORMAT_VERSION, JournalSink, ROTATE_BYTES, new_run_id};

/// An event with the moment it happened, read from the clock once by whoever emits it, so that
/// the journal, the status file, the logs and the notifications all tell the same time.
#[derive(Debug, Clone, Copy)]
pub struct Stamped<'a> {
    pub at: jiff::Timestamp,
    /// The worker whose task the event is about (`None`: the run's own events). With one task
    /// at a time it is always worker 1.
    pub worker: Option<u32>,
    pub event: &'a event::Event,
}

/// Consumes run events: the journal's writer, each report, the notifier.
pub trait Sink {
    /// One event, stamped by its emitter.
    fn stamped(&mut self, stamped: Stamped<'_>) -> io::Result<()>;

    /// One event, stamped now: for a caller outside a run that emits a single event.
    fn event(&mut self, event: &event::Event) -> io::Result<()> {
        self.stamped(Stamped {
            at: jiff::Timestamp::now(),
            worker: None,
            event,
        })
    }
}
