//! What autodev leaves for people and tools to read. The runner emits [`Event`]s; each sink here
//! turns them into one output: the run journal `logs/events.jsonl` ([`journal`]), the console
//! and `logs/autodev.log` ([`log`]), `progress.txt`
//! ([`progress`]), `logs/runtime-status.json` ([`runtime_status`]), `logs/experiments.jsonl`
//! ([`experiments`]) and `logs/dashboard.html` ([`dashboard`], written with the run status).

pub mod dashboard;
pub mod experiments;
pub mod journal;
pub mod log;
pub mod progress;
pub mod runtime_status;
pub mod status_writer;

use std::io;

use crate::runner::event::Event;

/// Consumes run events.
pub trait Sink {
    fn event(&mut self, event: &Event) -> io::Result<()>;
}
