//! What happens during a run, as typed events. The runner emits them; the report sinks
//! (console, `autodev.log`, `progress.txt`, `runtime-status.json`) turn them into output.

use std::path::PathBuf;

use crate::backend::AgentReport;
use crate::gate::GateReport;

/// How loud a note is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Nothing left to do.
    Completed,
    /// Finished, with blocked tasks left.
    Blocked,
    /// `--max-tasks` reached with tasks still pending.
    Paused,
    /// A signal stopped it.
    Interrupted,
    /// The environment is broken (credentials, a missing CLI, unwritable logs).
    EnvError,
}

impl RunEnd {
    /// The run status written to `runtime-status.json`.
    pub fn status(self) -> &'static str {
        match self {
            RunEnd::Completed | RunEnd::Paused => "completed",
            RunEnd::Blocked => "blocked",
            RunEnd::Interrupted => "interrupted",
            RunEnd::EnvError => "env_error",
        }
    }
}

/// The task an event is about.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRef {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        backend: String,
        version: Option<String>,
        max_tasks: u32,
        max_attempts: u32,
        dry_run: bool,
    },
    Note {
        level: Level,
        text: String,
    },
    TaskStarted {
        task: TaskRef,
        number: u32,
    },
    /// A new epoch of a multi-epoch run begins.
    EpochStarted {
        epoch: u32,
        max_epochs: u32,
    },
    AttemptStarted {
        task: TaskRef,
        attempt: u32,
        max_attempts: u32,
        log: PathBuf,
    },
    /// The agent is still working: `active` when its output grew since the last beat.
    Heartbeat {
        task: TaskRef,
        attempt: u32,
        max_attempts: u32,
        elapsed_seconds: u64,
        active: bool,
    },
    AgentFinished {
        task: TaskRef,
        attempt: u32,
        report: Box<AgentReport>,
    },
    /// The task's checks are running.
    Validating {
        task: TaskRef,
        checks: usize,
    },
    Judged {
        task: TaskRef,
        attempt: u32,
        gate: Box<GateReport>,
    },
    AttemptFailed {
        task: TaskRef,
        attempt: u32,
        max_attempts: u32,
        summary: String,
        changed: Vec<String>,
        gate: Option<Box<GateReport>>,
        learning_notes: Vec<String>,
        retry_in_seconds: Option<f64>,
    },
    /// Asking the agent (read-only) to refine the task after a failed attempt.
    Reflecting {
        task: TaskRef,
        attempt: u32,
        max_attempts: u32,
    },
    /// Waiting for the provider (rate limit, overload, network), not counted as an attempt.
    Waiting {
        task: TaskRef,
        reason: String,
        seconds: u64,
    },
    TaskCompleted {
        task: TaskRef,
        attempt: u32,
        summary: String,
        changed: Vec<String>,
        gate: Box<GateReport>,
        learning_notes: Vec<String>,
    },
    TaskBlocked {
        task: TaskRef,
        reason: String,
    },
    /// An experiment's measurement, judged and recorded (the baseline is iteration 0).
    Experiment {
        task: TaskRef,
        record: Box<crate::experiment::Record>,
        progress: Box<ExperimentProgress>,
    },
    RunFinished {
        end: RunEnd,
        message: String,
        attempted: u32,
        completed: u32,
        blocked: u32,
    },
}

/// Where an experiment stands, for the run status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExperimentProgress {
    pub iteration: u32,
    pub max_iterations: u32,
    pub completion_name: String,
    pub completion_target_summary: String,
    /// `name=value` of the baseline, of the best kept commit, and of the last measurement.
    pub baseline: String,
    pub best: String,
    pub last: String,
    pub last_outcome: String,
    pub kept: u32,
    pub discarded: u32,
    pub no_improvement_streak: u32,
    /// What just happened, in one line.
    pub message: String,
}
