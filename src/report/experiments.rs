//! `logs/experiments.jsonl`: appends one line per experiment measurement as it is recorded. The
//! record's format belongs to [`crate::experiment::journal`].

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::journal::event::Event;
use crate::journal::{Sink, Stamped};

pub struct ExperimentsSink {
    path: PathBuf,
}

impl ExperimentsSink {
    pub fn new(path: PathBuf) -> ExperimentsSink {
        ExperimentsSink { path }
    }
}

impl Sink for ExperimentsSink {
    fn stamped(&mut self, stamped: Stamped<'_>) -> io::Result<()> {
        let event = stamped.event;
        let Event::Experiment { record, .. } = event else {
            return Ok(());
        };
        let mut line = serde_json::to_string(record.as_ref()).map_err(io::Error::other)?;
        line.push('\n');
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // One write per line: a reader never sees half a record from this writer.
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?
            .write_all(line.as_bytes())
    }
}
