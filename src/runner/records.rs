//! What a finished attempt leaves in `task.json`: its `attempt_history` entry, and the bounded
//! lists (history, notes, journal) it is appended to.

use serde_json::{Map, Value, json};

use super::{first_line, stamp};
use crate::backend::AgentReport;
use crate::gate::GateReport;

/// Keeps the last `cap` items (0: all).
pub(super) fn cap_front<T>(items: &mut Vec<T>, cap: usize) {
    if cap > 0 && items.len() > cap {
        items.drain(..items.len() - cap);
    }
}

pub(super) fn append_unique(list: &mut Vec<String>, new: &[String], cap: usize) {
    for item in new {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
    cap_front(list, cap);
}

/// A failed (or interrupted) attempt, as recorded.
pub(super) struct Failed<'a> {
    /// `failed` or `interrupted`.
    pub status: &'static str,
    pub attempt: u32,
    pub report: &'a AgentReport,
    pub changed: &'a [String],
    pub gate: Option<&'a GateReport>,
    pub summary: &'a str,
    pub notes: &'a [String],
}

pub(super) fn history_entry(failed: &Failed) -> Value {
    let Failed {
        status,
        attempt,
        report,
        changed,
        gate,
        summary,
        ..
    } = *failed;
    let mut map = Map::new();
    map.insert("attempt".into(), json!(attempt));
    map.insert("status".into(), json!(status));
    map.insert(
        "outcome".into(),
        serde_json::to_value(report.outcome).unwrap_or(Value::Null),
    );
    map.insert("backend_exit_code".into(), json!(report.exit.code()));
    map.insert("summary".into(), json!(summary));
    map.insert(
        "changed_files".into(),
        json!(changed.iter().take(20).collect::<Vec<_>>()),
    );
    map.insert(
        "verification_errors".into(),
        json!(
            gate.map(|g| g
                .errors
                .iter()
                .take(10)
                .map(|e| first_line(e).to_string())
                .collect::<Vec<_>>())
                .unwrap_or_default()
        ),
    );
    map.insert("finished_at".into(), json!(stamp()));
    Value::Object(map)
}
