//! Times appending events to a run journal, as a run does: the rate for events that need no sync
//! (heartbeats, notes) and for events a restart depends on (each synced to the disk). Used by
//! `bench/journal.sh`.
//!
//! Usage: `cargo run --release --example journal_append -- DIR [EVENTS]`

use std::process::ExitCode;
use std::time::Instant;

use autodev::journal::event::{Event, TaskRef};
use autodev::journal::{JournalSink, Sink};

/// A kind of event to append: its name and how to make the nth one.
type Kind<'a> = (&'static str, Box<dyn Fn(u32) -> Event + 'a>);

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: journal_append DIR [EVENTS]");
        return ExitCode::FAILURE;
    };
    let events: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let task = TaskRef {
        id: "T1".into(),
        title: "a task".into(),
    };
    let kinds: [Kind; 2] = [
        (
            "heartbeat (no sync)",
            Box::new(|n| Event::Heartbeat {
                task: task.clone(),
                attempt: 1,
                max_attempts: 3,
                elapsed_seconds: u64::from(n),
                active: true,
            }),
        ),
        (
            "recovered (synced)",
            Box::new(|n| Event::Recovered {
                task: task.clone(),
                step: "verify".into(),
                message: format!("resuming T1 for the {n}th time"),
            }),
        ),
    ];
    for (name, make) in kinds {
        let path = std::path::Path::new(&dir).join(format!("{}.jsonl", name.len()));
        let mut sink = match JournalSink::open(&path, "bench".into()) {
            Ok(sink) => sink,
            Err(e) => {
                eprintln!("cannot open {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        };
        // Synced events are slow: fewer of them.
        let count = if name.contains("synced") {
            events / 20
        } else {
            events
        };
        let started = Instant::now();
        for n in 0..count {
            if let Err(e) = sink.event(&make(n)) {
                eprintln!("append failed: {e}");
                return ExitCode::FAILURE;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "  {name:<26} {count:>7} events  {:>9.0} events/s  {:>7.1} µs each",
            f64::from(count) / seconds,
            seconds * 1e6 / f64::from(count)
        );
    }
    ExitCode::SUCCESS
}
