//! `progress.txt`: the append-only record of what happened to each task, one block per finished
//! attempt (failed), completion or block.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::gate::GateReport;
use crate::journal::event::{Event, TaskRef};
use crate::journal::{Sink, Stamped};

/// Appends records to the progress file.
pub struct ProgressSink {
    path: PathBuf,
}

impl ProgressSink {
    pub fn new(path: PathBuf) -> ProgressSink {
        ProgressSink { path }
    }
}

struct Record<'a> {
    task: &'a TaskRef,
    status: &'a str,
    changed: &'a [String],
    gate: Option<&'a GateReport>,
    summary: &'a str,
    notes: &'a [String],
    block_reason: &'a str,
    evidence: &'a [String],
}

fn render(r: &Record, at: jiff::Timestamp) -> String {
    let stamp = at.strftime("%Y-%m-%d %H:%M:%S");
    let mut out = format!(
        "\n## [{stamp} UTC] {} - {}\n\n### Status: {}\n\n",
        r.task.id, r.task.title, r.status
    );
    if !r.changed.is_empty() {
        out.push_str("### Changed Files\n");
        for path in r.changed.iter().take(20) {
            out.push_str(&format!("- {path}\n"));
        }
        if r.changed.len() > 20 {
            out.push_str(&format!("- ... {} more files\n", r.changed.len() - 20));
        }
        out.push('\n');
    }
    if let Some(gate) = r.gate.filter(|g| !g.checks.is_empty()) {
        out.push_str("### Verification Result\n");
        for check in &gate.checks {
            out.push_str(&format!(
                "- {}: {} - {}\n",
                check.name,
                if check.passed { "PASS" } else { "FAIL" },
                check.detail
            ));
        }
        out.push('\n');
    }
    if !r.summary.trim().is_empty() {
        out.push_str(&format!("### Summary\n{}\n\n", r.summary.trim()));
    }
    let notes: Vec<&String> = r.notes.iter().filter(|n| !n.trim().is_empty()).collect();
    if !notes.is_empty() {
        out.push_str("### Learning Notes\n");
        for note in notes {
            out.push_str(&format!("- {}\n", note.trim()));
        }
        out.push('\n');
    }
    if !r.block_reason.trim().is_empty() {
        out.push_str(&format!("### Block Reason\n{}\n\n", r.block_reason.trim()));
    }
    if !r.evidence.is_empty() {
        out.push_str("### Evidence\n");
        for line in r.evidence {
            out.push_str(&format!("    {line}\n"));
        }
        out.push('\n');
    }
    out.push_str("---\n");
    out
}

impl Sink for ProgressSink {
    fn stamped(&mut self, stamped: Stamped<'_>) -> io::Result<()> {
        let event = stamped.event;
        let record = match event {
            Event::AttemptFailed {
                task,
                summary,
                changed,
                gate,
                learning_notes,
                ..
            } => Record {
                task,
                status: "failed",
                changed,
                gate: gate.as_deref(),
                summary,
                notes: learning_notes,
                block_reason: "",
                evidence: &[],
            },
            Event::TaskCompleted {
                task,
                summary,
                changed,
                gate,
                learning_notes,
                ..
            } => Record {
                task,
                status: "completed",
                changed,
                gate: Some(gate),
                summary,
                notes: learning_notes,
                block_reason: "",
                evidence: &[],
            },
            Event::TaskBlocked {
                task,
                reason,
                evidence,
            } => Record {
                task,
                status: "blocked",
                changed: &[],
                gate: None,
                summary: "",
                notes: &[],
                block_reason: reason,
                evidence,
            },
            _ => return Ok(()),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(render(&record, stamped.at).as_bytes())
    }
}
