//! What a finished attempt leaves in `task.json`: its `attempt_history` entry.

use serde_json::{Value, json};

use super::first_line;
use crate::backend::AgentReport;
use crate::gate::GateReport;

/// How an attempt ended, as its `attempt_history` entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttemptStatus {
    /// Its gate failed, or its turn was not judged.
    Failed,
    /// A signal stopped it; it teaches nothing about the project.
    Interrupted,
    Completed,
}

impl AttemptStatus {
    /// The word in `task.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Failed => "failed",
            AttemptStatus::Interrupted => "interrupted",
            AttemptStatus::Completed => "completed",
        }
    }
}

/// One attempt as recorded: failed, interrupted or completed.
pub(super) struct AttemptRecord<'a> {
    pub status: AttemptStatus,
    pub attempt: u32,
    /// The agent's last report (`None` when no agent call belongs to the record).
    pub report: Option<&'a AgentReport>,
    pub changed: &'a [String],
    pub gate: Option<&'a GateReport>,
    pub summary: &'a str,
    pub notes: &'a [String],
}

/// The `attempt_history` entry of an attempt.
pub(super) fn history_entry(record: &AttemptRecord) -> Value {
    let errors: Vec<String> = record
        .gate
        .map(|g| {
            g.errors
                .iter()
                .take(10)
                .map(|e| first_line(e).to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut entry = json!({
        "attempt": record.attempt,
        "status": record.status.as_str(),
        "outcome": record.report.map(|r| r.outcome.as_str()),
        "backend_exit_code": record.report.map(|r| r.exit.code()),
        "summary": record.summary,
        "changed_files": record.changed.iter().take(20).collect::<Vec<_>>(),
        "verification_errors": errors,
        "finished_at": crate::durable::utc_now(),
    });
    // The evidence: the failing check's output, the agent's own last message, what it cost.
    if let Some(report) = record.report {
        let failure = super::story::failure(record.gate, report);
        if record.status == AttemptStatus::Failed {
            entry["cause"] = json!(failure.cause);
            entry["check_output"] = json!(failure.check_output);
        }
        entry["agent_message"] = json!(failure.agent_message);
        // `null` when the CLI reported none: not the same as zero.
        entry["tokens"] = match report.usage.reported() {
            Some(u) => json!({
                "input": u.input,
                "output": u.output,
                "cache_read": u.cache_read,
                "cache_write": u.cache_write,
            }),
            None => Value::Null,
        };
        entry["cost_usd"] = json!(report.cost_usd);
    }
    entry
}
