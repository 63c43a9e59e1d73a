//! `logs/runtime-status.json`: the machine-readable snapshot of a project's run.
//!
//! This module owns the file's format and the rules for reading it: it is parsed leniently
//! (garbage numbers become defaults), and a run whose writer process has died is shown as
//! interrupted, never as running. [`Snapshot::build`] combines the persisted run with the
//! current queue, which is what `autodev status` shows; reading never rewrites the file.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::config::Settings;
use crate::durable::ProcessStamp;
use crate::task::{ActivePhase, Counts, LiveTask, Task, TaskFile};

/// The largest run status read back (autodev writes a few kilobytes).
const MAX_STATUS_BYTES: u64 = 64 << 20;

/// What a run is doing, or how it ended: `run.status` in the file, from parsing to display.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RunStatus {
    /// No run yet.
    #[default]
    Idle,
    Starting,
    Running,
    Validating,
    /// Waiting for the provider, or for the agent to refine the task.
    Waiting,
    /// Between a failed attempt and the next one.
    RetryWait,
    Completed,
    Blocked,
    Interrupted,
    EnvError,
    BudgetStopped,
    /// A word this autodev does not know (written by a newer one), kept as it was.
    Other(String),
}

impl RunStatus {
    const WORDS: [(RunStatus, &'static str); 11] = [
        (RunStatus::Idle, "idle"),
        (RunStatus::Starting, "starting"),
        (RunStatus::Running, "running"),
        (RunStatus::Validating, "validating"),
        (RunStatus::Waiting, "waiting"),
        (RunStatus::RetryWait, "retry_wait"),
        (RunStatus::Completed, "completed"),
        (RunStatus::Blocked, "blocked"),
        (RunStatus::Interrupted, "interrupted"),
        (RunStatus::EnvError, "env_error"),
        (RunStatus::BudgetStopped, "budget_stopped"),
    ];

    /// The word in the file (`retry_wait`).
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Other(word) => word,
            known => known.badge(),
        }
    }

    /// The badge a log line shows for it: its word (`other` for one this autodev does not know).
    pub fn badge(&self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|(s, _)| s == self)
            .map_or("other", |(_, word)| word)
    }

    /// The status a word names; an empty one is idle.
    pub fn parse(word: &str) -> RunStatus {
        if word.is_empty() {
            return RunStatus::Idle;
        }
        Self::WORDS
            .iter()
            .find(|(_, w)| *w == word)
            .map_or_else(|| RunStatus::Other(word.to_string()), |(s, _)| s.clone())
    }

    /// A run is at work.
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            RunStatus::Starting
                | RunStatus::Running
                | RunStatus::Validating
                | RunStatus::Waiting
                | RunStatus::RetryWait
        )
    }

    /// How a person reads it (`Retry Wait`).
    pub fn label(&self) -> String {
        status_label(self.as_str())
    }
}

impl From<crate::journal::event::RunEnd> for RunStatus {
    fn from(end: crate::journal::event::RunEnd) -> RunStatus {
        use crate::journal::event::RunEnd;
        match end {
            RunEnd::Completed | RunEnd::Paused => RunStatus::Completed,
            RunEnd::Blocked => RunStatus::Blocked,
            RunEnd::Interrupted => RunStatus::Interrupted,
            RunEnd::EnvError => RunStatus::EnvError,
            RunEnd::Budget => RunStatus::BudgetStopped,
        }
    }
}

impl Serialize for RunStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RunStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RunStatus, D::Error> {
        Ok(RunStatus::parse(&lenient_text(d)?))
    }
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(crate::task::coerce::integer(Some(&value))
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0))
}

fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(u32::try_from(lenient_u64(d)?).unwrap_or(0))
}

fn lenient_epoch<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(lenient_u32(d)?.max(1))
}

fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(crate::task::coerce::text(Some(&value)))
}

fn lenient_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(crate::task::coerce::number(Some(&value)))
}

fn one() -> u32 {
    1
}

/// The `run` object: what the current or last run is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    pub status: RunStatus,
    #[serde(deserialize_with = "lenient_text")]
    pub status_label: String,
    #[serde(deserialize_with = "lenient_text")]
    pub message: String,
    pub dry_run: bool,
    #[serde(deserialize_with = "lenient_text")]
    pub started_at: String,
    #[serde(deserialize_with = "lenient_text")]
    pub updated_at: String,
    #[serde(deserialize_with = "lenient_text")]
    pub finished_at: String,
    /// The process that wrote this file; a dead writer means the run is not live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<ProcessStamp>,
    #[serde(deserialize_with = "lenient_epoch", default = "one")]
    pub current_epoch: u32,
    #[serde(deserialize_with = "lenient_epoch", default = "one")]
    pub max_epochs: u32,
    #[serde(deserialize_with = "lenient_text")]
    pub current_task_id: String,
    #[serde(deserialize_with = "lenient_text")]
    pub current_task_title: String,
    #[serde(deserialize_with = "lenient_u32")]
    pub current_attempt: u32,
    #[serde(deserialize_with = "lenient_u32")]
    pub max_attempts: u32,
    #[serde(deserialize_with = "lenient_text")]
    pub attempt_log: String,
    /// The worktree the current task is worked in, and its branch (empty: your tree).
    #[serde(
        deserialize_with = "lenient_text",
        skip_serializing_if = "String::is_empty"
    )]
    pub worktree: String,
    #[serde(
        deserialize_with = "lenient_text",
        skip_serializing_if = "String::is_empty"
    )]
    pub branch: String,
    #[serde(deserialize_with = "lenient_u64")]
    pub heartbeat_elapsed_seconds: u64,
    #[serde(deserialize_with = "lenient_text")]
    pub execution_mode: String,
    #[serde(deserialize_with = "lenient_text")]
    pub execution_strategy: String,
    #[serde(deserialize_with = "lenient_text")]
    pub completion_kind: String,
    #[serde(deserialize_with = "lenient_text")]
    pub completion_name: String,
    #[serde(deserialize_with = "lenient_text")]
    pub completion_target_summary: String,
    #[serde(deserialize_with = "lenient_text")]
    pub last_completion_outcome: String,
    #[serde(deserialize_with = "lenient_u32")]
    pub current_iteration: u32,
    #[serde(deserialize_with = "lenient_u32")]
    pub max_iterations: u32,
    #[serde(deserialize_with = "lenient_text")]
    pub baseline_metric: String,
    #[serde(deserialize_with = "lenient_text")]
    pub best_metric: String,
    #[serde(deserialize_with = "lenient_text")]
    pub last_metric: String,
    #[serde(deserialize_with = "lenient_text")]
    pub last_outcome: String,
    #[serde(deserialize_with = "lenient_u32")]
    pub kept_count: u32,
    #[serde(deserialize_with = "lenient_u32")]
    pub reverted_count: u32,
    #[serde(deserialize_with = "lenient_u32")]
    pub no_improvement_streak: u32,
    /// The experiment's stage (`explore`, `refine`, `pivot`; empty: not an experiment).
    #[serde(
        deserialize_with = "lenient_text",
        skip_serializing_if = "String::is_empty"
    )]
    pub experiment_stage: String,
    /// Token and cost totals of the run's agent calls.
    #[serde(deserialize_with = "lenient_u64")]
    pub tokens_input: u64,
    #[serde(deserialize_with = "lenient_u64")]
    pub tokens_output: u64,
    #[serde(deserialize_with = "lenient_u64")]
    pub tokens_cache_read: u64,
    #[serde(deserialize_with = "lenient_u64")]
    pub tokens_cache_write: u64,
    /// Whether any call reported tokens: zero counts then mean "not reported".
    pub tokens_reported: bool,
    /// Total cost in USD; `null` while no call reported a cost.
    #[serde(deserialize_with = "lenient_opt_f64")]
    pub cost_usd: Option<f64>,
    /// The backend the run used.
    #[serde(deserialize_with = "lenient_text")]
    pub backend: String,
    /// Some of the cost is estimated from `[pricing]` (the CLI reported tokens only).
    pub cost_estimated: bool,
    /// Each worker that has a task in hand, by worker number (a run of several workers has
    /// several; `current_task_id` is the one that reported last).
    #[serde(
        deserialize_with = "lenient_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub workers: Vec<WorkerState>,
    /// Results of this run that wait on their branch (for review, or because they could not
    /// land), with what the run said of each.
    #[serde(
        deserialize_with = "lenient_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub waiting: Vec<WaitingResult>,
}

/// A task's result that waits on its branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct WaitingResult {
    pub task_id: String,
    pub message: String,
}

/// One worker of a live run and the task it has in hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerState {
    pub worker: u32,
    pub task_id: String,
    pub task_title: String,
    pub status: RunStatus,
    pub message: String,
    pub attempt: u32,
    pub max_attempts: u32,
    /// The worktree it works in and the task's branch (empty: your tree).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub worktree: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub branch: String,
}

impl Default for WorkerState {
    fn default() -> Self {
        WorkerState {
            worker: 0,
            task_id: String::new(),
            task_title: String::new(),
            status: RunStatus::Running,
            message: String::new(),
            attempt: 0,
            max_attempts: 0,
            worktree: String::new(),
            branch: String::new(),
        }
    }
}

/// A list whose items that do not read are left out (a list that is not one: empty).
fn lenient_list<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect(),
        _ => Vec::new(),
    })
}

impl Default for RunState {
    fn default() -> Self {
        RunState {
            status: RunStatus::Idle,
            status_label: "Idle".into(),
            message: "No active run yet".into(),
            dry_run: false,
            started_at: String::new(),
            updated_at: String::new(),
            finished_at: String::new(),
            writer: None,
            current_epoch: 1,
            max_epochs: 1,
            current_task_id: String::new(),
            current_task_title: String::new(),
            current_attempt: 0,
            max_attempts: 0,
            attempt_log: String::new(),
            worktree: String::new(),
            branch: String::new(),
            heartbeat_elapsed_seconds: 0,
            execution_mode: "delivery".into(),
            execution_strategy: "single_pass".into(),
            completion_kind: "boolean".into(),
            completion_name: "gate".into(),
            completion_target_summary: "all_checks_pass".into(),
            last_completion_outcome: String::new(),
            current_iteration: 0,
            max_iterations: 0,
            baseline_metric: String::new(),
            best_metric: String::new(),
            last_metric: String::new(),
            last_outcome: String::new(),
            kept_count: 0,
            reverted_count: 0,
            no_improvement_streak: 0,
            experiment_stage: String::new(),
            tokens_input: 0,
            tokens_output: 0,
            tokens_cache_read: 0,
            tokens_cache_write: 0,
            tokens_reported: false,
            cost_usd: None,
            backend: String::new(),
            cost_estimated: false,
            workers: Vec::new(),
            waiting: Vec::new(),
        }
    }
}

/// One entry of the recent-events list (newest first in the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Event {
    #[serde(deserialize_with = "lenient_text")]
    pub timestamp: String,
    #[serde(deserialize_with = "lenient_text")]
    pub status: String,
    #[serde(deserialize_with = "lenient_text")]
    pub status_label: String,
    #[serde(deserialize_with = "lenient_text")]
    pub status_class: String,
    #[serde(deserialize_with = "lenient_text")]
    pub task_id: String,
    #[serde(deserialize_with = "lenient_text")]
    pub message: String,
}

/// One row of the task table in the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRow {
    pub id: String,
    pub title: String,
    pub status: String,
    pub block_reason: String,
    pub passes: bool,
    pub blocked: bool,
    pub execution_mode: String,
    pub execution_strategy: String,
    pub completion_kind: String,
    pub completion_name: String,
    pub completion_target_summary: String,
}

impl TaskRow {
    pub fn new(task: &Task, live: &[LiveTask]) -> TaskRow {
        TaskRow {
            id: task.id.clone(),
            title: task.display_title().to_string(),
            status: task.status(live).as_str().to_string(),
            block_reason: task.block_reason.clone(),
            passes: task.passes,
            blocked: task.blocked,
            execution_mode: task.execution.mode().to_string(),
            execution_strategy: task.execution.strategy().to_string(),
            completion_kind: task.completion.kind().to_string(),
            completion_name: task.completion.name().to_string(),
            completion_target_summary: task.completion.target_summary(),
        }
    }
}

/// What the file holds when read back: the run and its events (counts and tasks are
/// recomputed from `task.json`, which is the source of truth for them).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
struct Persisted {
    run: RunState,
    #[serde(deserialize_with = "lenient_events")]
    events: Vec<Event>,
    /// The queue's totals as the writer last saw them (`None` when the file has none, or none
    /// that read as totals).
    #[serde(deserialize_with = "lenient_counts")]
    counts: Option<Counts>,
}

fn lenient_counts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Counts>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

fn lenient_events<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Event>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter(Value::is_object)
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// The persisted run as read from disk, and whether its writer still runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistedRun {
    pub run: RunState,
    pub events: Vec<Event>,
    /// The queue's totals when the file was written: what a listing of many projects shows
    /// without loading each queue. (Views of one project count `task.json` afresh.)
    pub counts: Option<Counts>,
    /// True only when the run is in an active state and its writer process is alive.
    pub live: bool,
}

/// A status file's bytes, read as [`read`] reads them: a run that is no longer alive is settled.
pub fn parse(bytes: &[u8]) -> serde_json::Result<PersistedRun> {
    serde_json::from_slice::<Persisted>(bytes).map(|p| PersistedRun {
        counts: p.counts,
        ..settle(p.run, p.events)
    })
}

/// Reads the file; a missing file is an idle project, an unreadable one is reported as a
/// warning (the second value) and treated as idle.
pub fn read(path: &Path) -> (PersistedRun, Option<String>) {
    let idle = PersistedRun {
        run: RunState::default(),
        events: Vec::new(),
        counts: None,
        live: false,
    };
    let bytes = match crate::durable::read_regular(path, MAX_STATUS_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (idle, None),
        Err(e) => {
            return (
                idle,
                Some(format!("could not read {}: {e}", path.display())),
            );
        }
    };
    match parse(&bytes) {
        Ok(persisted) => (persisted, None),
        Err(e) => (
            idle,
            Some(format!(
                "{} is not valid run status ({e}); showing the project as idle",
                path.display()
            )),
        ),
    }
}

/// Applies the liveness rule: an active status whose writer is gone becomes `interrupted`.
fn settle(mut run: RunState, events: Vec<Event>) -> PersistedRun {
    let active = run.status.is_active();
    let alive = run.writer.is_some_and(|w| w.is_alive());
    if active && !alive {
        let who = match run.writer {
            Some(w) => format!("the run (pid {})", w.pid),
            None => "the run".to_string(),
        };
        let last = if run.message.trim().is_empty() {
            String::new()
        } else {
            format!("; its last message: {}", run.message.trim())
        };
        run.message = format!("{who} ended without finishing{last}");
        run.status = RunStatus::Interrupted;
        run.status_label = run.status.label();
    }
    PersistedRun {
        run,
        events,
        counts: None,
        live: active && alive,
    }
}

impl PersistedRun {
    /// The ids of the tasks a live run is working on, as a listing shows them (`T1, T3`).
    pub fn working_on(&self) -> String {
        let ids: Vec<String> = self.live_tasks().into_iter().map(|l| l.task_id).collect();
        ids.join(", ")
    }

    /// The tasks a live run is working on, each with its phase: every worker's.
    pub fn live_tasks(&self) -> Vec<LiveTask> {
        let phase = |status: &RunStatus| match status {
            RunStatus::Waiting | RunStatus::RetryWait => ActivePhase::Waiting,
            _ => ActivePhase::Running,
        };
        if !self.live {
            return Vec::new();
        }
        if !self.run.workers.is_empty() {
            return self
                .run
                .workers
                .iter()
                .map(|w| LiveTask {
                    task_id: w.task_id.clone(),
                    phase: phase(&w.status),
                })
                .collect();
        }
        if self.run.current_task_id.is_empty() {
            return Vec::new();
        }
        vec![LiveTask {
            task_id: self.run.current_task_id.clone(),
            phase: phase(&self.run.status),
        }]
    }
}

/// The status a project's badge shows: what a person must know first. A run at work shows its
/// phase; otherwise blocked tasks come before how the last run ended (a green "completed" must
/// not sit beside "1 blocked").
pub fn headline(status: &RunStatus, blocked: u64) -> RunStatus {
    if status.is_active() || blocked == 0 {
        status.clone()
    } else {
        RunStatus::Blocked
    }
}

/// How a person reads a status word (`retry_wait` → `Retry Wait`).
pub fn status_label(status: &str) -> String {
    match status {
        "env_error" => "Env Error".into(),
        other => other
            .split('_')
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut chars = w.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The full snapshot: what `status --json` prints and what the runner will persist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub project: String,
    pub backend: String,
    pub generated_at: String,
    pub run: RunState,
    pub counts: Counts,
    pub tasks: Vec<TaskRow>,
    pub events: Vec<Event>,
}

impl Snapshot {
    pub fn build(settings: &Settings, queue: &TaskFile, persisted: &PersistedRun) -> Snapshot {
        Snapshot::assemble(
            &settings.config.project.name,
            settings.config.backend.default.as_str(),
            queue,
            persisted,
        )
    }

    /// The snapshot of `queue` and `persisted`, for the configured project name and a backend.
    pub fn assemble(
        configured_name: &str,
        backend: &str,
        queue: &TaskFile,
        persisted: &PersistedRun,
    ) -> Snapshot {
        let live = persisted.live_tasks();
        let tasks: Vec<TaskRow> = queue.tasks.iter().map(|t| TaskRow::new(t, &live)).collect();
        let counts = Counts::of(queue.tasks.iter().map(|t| t.status(&live)));
        let project = queue.project_name(configured_name).to_string();
        let mut run = persisted.run.clone();
        if run.status_label.is_empty() {
            run.status_label = run.status.label();
        }
        // The backend of the last run when there was one; the configured one otherwise.
        let backend = if run.backend.is_empty() {
            backend
        } else {
            run.backend.as_str()
        };
        Snapshot {
            project,
            backend: backend.to_string(),
            generated_at: crate::durable::utc_now(),
            run,
            counts,
            tasks,
            events: persisted.events.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn persisted(value: Value) -> PersistedRun {
        let p: Persisted = serde_json::from_value(value).unwrap();
        settle(p.run, p.events)
    }

    #[test]
    fn garbage_numbers_become_defaults() {
        let p = persisted(json!({"run": {
            "status": "completed", "current_attempt": "two", "current_epoch": -5,
            "max_attempts": 3.0, "message": null
        }, "events": [{"status": "running", "message": "x"}, 5, "junk"]}));
        assert_eq!(p.run.current_attempt, 0);
        assert_eq!(p.run.current_epoch, 1);
        assert_eq!(p.run.max_attempts, 3);
        assert_eq!(p.run.message, "");
        assert_eq!(p.events.len(), 1);
        assert!(!p.live);
    }

    #[test]
    fn active_status_from_a_live_writer_is_live() {
        let me = serde_json::to_value(ProcessStamp::current()).unwrap();
        let p = persisted(json!({"run": {
            "status": "waiting", "current_task_id": "T2", "writer": me
        }}));
        assert!(p.live);
        assert_eq!(
            p.live_tasks(),
            vec![LiveTask {
                task_id: "T2".into(),
                phase: ActivePhase::Waiting
            }]
        );
        // A run of several workers: each worker's task, in its own phase.
        let p = persisted(json!({"run": {
            "status": "running", "current_task_id": "T2", "writer": me,
            "workers": [
                {"worker": 1, "task_id": "T1", "status": "validating"},
                {"worker": 2, "task_id": "T2", "status": "retry_wait"},
                "not a worker"
            ]
        }}));
        let phases: Vec<(String, ActivePhase)> = p
            .live_tasks()
            .into_iter()
            .map(|l| (l.task_id, l.phase))
            .collect();
        assert_eq!(
            phases,
            vec![
                ("T1".to_string(), ActivePhase::Running),
                ("T2".to_string(), ActivePhase::Waiting)
            ]
        );
    }

    #[test]
    fn active_status_from_a_dead_or_unknown_writer_is_interrupted() {
        for writer in [json!({"pid": 999_999_999u32}), Value::Null] {
            let mut run = json!({"status": "running", "current_task_id": "T1",
                                 "message": "Task T1 attempt 1/3"});
            if !writer.is_null() {
                run["writer"] = writer;
            }
            let p = persisted(json!({ "run": run }));
            assert!(!p.live);
            assert_eq!(p.run.status, RunStatus::Interrupted);
            assert!(
                p.run.message.contains("ended without finishing"),
                "{}",
                p.run.message
            );
            assert!(p.run.message.contains("Task T1 attempt 1/3"));
            assert_eq!(p.live_tasks(), Vec::new());
        }
    }

    #[test]
    fn run_statuses_read_back_as_they_were_written_and_label_for_a_person() {
        for (status, word) in RunStatus::WORDS {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{word}\""));
            assert_eq!(serde_json::from_str::<RunStatus>(&json).unwrap(), status);
        }
        assert_eq!(RunStatus::RetryWait.label(), "Retry Wait");
        assert_eq!(RunStatus::EnvError.label(), "Env Error");
        assert_eq!(RunStatus::Idle.label(), "Idle");
        // A newer autodev's word is kept, and an empty one (or a number) reads as idle.
        let newer: RunStatus = serde_json::from_str("\"merging\"").unwrap();
        assert_eq!(newer, RunStatus::Other("merging".into()));
        assert_eq!(serde_json::to_string(&newer).unwrap(), "\"merging\"");
        assert!(!newer.is_active());
        assert_eq!(
            serde_json::from_str::<RunStatus>("\"\"").unwrap(),
            RunStatus::Idle
        );
        assert_eq!(
            serde_json::from_str::<RunStatus>("null").unwrap(),
            RunStatus::Idle
        );
    }

    #[test]
    fn unreadable_file_is_idle_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime-status.json");
        std::fs::write(&path, "{not json").unwrap();
        let (p, warning) = read(&path);
        assert_eq!(p.run.status, RunStatus::Idle);
        assert!(warning.unwrap().contains("not valid run status"));
        let (p, warning) = read(&dir.path().join("missing.json"));
        assert_eq!(p.run.status, RunStatus::Idle);
        assert!(warning.is_none());
    }
}
