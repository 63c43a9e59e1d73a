//! What happens during a run, as typed events. The runner emits them; the report sinks
//! (the journal `logs/events.jsonl`, the console and `autodev.log`, `progress.txt`,
//! `runtime-status.json`, `experiments.jsonl`) turn them into output.
//!
//! The serialized form is a public interface (`docs/journal.md`): each variant is one `type`
//! (snake_case) and its fields. New fields and new types may be added within a format version;
//! readers skip what they do not know.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backend::{AgentReport, Usage};
use crate::gate::GateReport;

/// How loud a note is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// The budget is spent (`--max-cost`, `--max-tokens`); tasks stay pending.
    Budget,
}

impl RunEnd {
    /// The exit status of a run that ended so: the one table (`docs/cli.md`).
    pub fn exit(self) -> crate::error::Exit {
        use crate::error::Exit;
        match self {
            RunEnd::Completed | RunEnd::Paused => Exit::Success,
            RunEnd::Blocked => Exit::Blocked,
            RunEnd::Interrupted => Exit::Interrupted,
            RunEnd::EnvError => Exit::Failure,
            RunEnd::Budget => Exit::Budget,
        }
    }
}

/// What a night has spent over every agent call: the run and the runs it resumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spending {
    /// USD, reported or estimated.
    pub cost_usd: f64,
    /// Input plus output tokens.
    pub tokens: u64,
    /// Calls that reported (or allowed an estimate of) a cost.
    pub costed_calls: u32,
    /// Calls that reported tokens.
    pub token_calls: u32,
}

impl Spending {
    /// `$3.10 and 410233 tokens`, as people read it; only the tokens when no call reported a
    /// cost (or allowed an estimate), which is an unknown cost, not a cost of nothing.
    pub fn told(&self) -> String {
        if self.costed_calls == 0 && self.cost_usd == 0.0 {
            return format!("{} tokens (no call reported its cost)", self.tokens);
        }
        format!("${:.2} and {} tokens", self.cost_usd, self.tokens)
    }
}

/// The task an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRef {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        backend: String,
        version: Option<String>,
        max_tasks: u32,
        max_attempts: u32,
        dry_run: bool,
        /// What the runs this one resumes (stopped by a signal, killed, halted) had spent: it
        /// counts against this run's budget.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        carried: Option<Spending>,
        /// The tasks earlier runs left unfinished, as this run found them before it began: where
        /// a later reader must read back to. `None` in journals written before it was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_flight: Option<Vec<InFlight>>,
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
    /// A check is still running: which one, and for how long (every `run.heartbeat_interval`).
    CheckRunning {
        task: TaskRef,
        command: String,
        elapsed_seconds: u64,
    },
    AgentFinished {
        task: TaskRef,
        attempt: u32,
        report: Box<AgentReport>,
    },
    /// What the agent's turn changed in the tree (protected files among them already put back).
    /// Journalled durably: a restart verifies these changes instead of asking the agent again.
    ChangesFound {
        task: TaskRef,
        attempt: u32,
        changed: Vec<String>,
        restored: Vec<String>,
        /// The turn's log, which the checks' output is appended to.
        log: PathBuf,
    },
    /// The task's checks are running.
    #[serde(rename = "checks_started")]
    Validating {
        task: TaskRef,
        checks: usize,
    },
    /// One check of the gate finished.
    CheckFinished {
        task: TaskRef,
        command: String,
        passed: bool,
        /// `exit 0`, `killed by SIGTERM`, or why it could not start.
        result: String,
        elapsed_ms: u64,
    },
    #[serde(rename = "gate_verdict")]
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
    /// A commit of the task's paths is about to be made (`head` is `HEAD` before it).
    CommitStarted {
        task: TaskRef,
        paths: Vec<String>,
        message: String,
        head: Option<String>,
    },
    CommitMade {
        task: TaskRef,
        sha: String,
        /// Changed paths left out because git ignores them.
        ignored: Vec<String>,
    },
    /// The gate passed but the commit failed: the task stays pending and the next run commits.
    CommitFailed {
        task: TaskRef,
        reason: String,
    },
    /// A step cut short by an earlier run's death is being finished.
    Recovered {
        task: TaskRef,
        /// `verify`, `commit`, `mark_completed`, `resume_experiment` or `finish_experiment`.
        step: String,
        message: String,
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
        /// The first lines of what shows the cause: the failing check's output, the agent's
        /// last message.
        #[serde(default)]
        evidence: Vec<String>,
    },
    /// A delivery task is worked in a worker's worktree (`run.isolation = "worktree"`): on
    /// `branch`, made at `start`, the commit the run integrates onto (the user's `HEAD` on
    /// `start_ref`, or the last result waiting on its branch).
    WorkspaceOpened {
        task: TaskRef,
        branch: String,
        worktree: PathBuf,
        start: String,
        start_ref: Option<String>,
    },
    /// A task's result, committed on its branch, was brought to the user's branch by a
    /// fast-forward (`merged`), or waits on its branch; `message` says which and how to merge.
    TaskLanded {
        task: TaskRef,
        branch: String,
        sha: String,
        merged: bool,
        message: String,
    },
    /// An experiment's worktrees exist and it begins (or resumes) in them: the candidate tree on
    /// `branch`, the reference tree (interleaved measurement only) detached at the kept commit.
    ExperimentStarted {
        task: TaskRef,
        branch: String,
        worktree: PathBuf,
        reference_worktree: Option<PathBuf>,
        /// The user's `HEAD` the experiment started from, and the branch it was on (`None`:
        /// detached).
        start: String,
        start_ref: Option<String>,
        /// The commit it goes on from: `start`, or a resumed experiment's last kept commit.
        #[serde(default)]
        kept: String,
        resumed: bool,
    },
    /// An experiment moves to another stage (`explore`, `refine`, `pivot`): what its prompts ask
    /// of the agent from now on, and why.
    ExperimentStage {
        task: TaskRef,
        stage: String,
        message: String,
    },
    /// An experiment is over and its result was brought to the user's branch (`merged`) or left
    /// on its own branch; `message` says which and how to merge it.
    ExperimentEnded {
        task: TaskRef,
        branch: String,
        kept: String,
        merged: bool,
        /// Kept work waits on `branch`, not merged.
        on_branch: bool,
        message: String,
        /// Whether the task completes, and the summary it is recorded with: a run killed
        /// before the task was marked marks it from these.
        #[serde(default)]
        completed: bool,
        #[serde(default)]
        summary: String,
    },
    /// An experiment's candidate was committed (and pinned at `git_ref`) before measurement.
    CandidateCommitted {
        task: TaskRef,
        iteration: u32,
        sha: String,
        /// The last kept commit, where a discard takes the branch back to.
        kept: String,
        git_ref: String,
    },
    /// Taking a candidate off the branch begins.
    DiscardStarted {
        task: TaskRef,
        iteration: u32,
        sha: String,
        kept: String,
    },
    CandidateDiscarded {
        task: TaskRef,
        iteration: u32,
        sha: String,
    },
    CandidateKept {
        task: TaskRef,
        iteration: u32,
        sha: String,
    },
    /// An experiment's measurement, judged and recorded (the baseline is iteration 0).
    #[serde(rename = "experiment_measured")]
    Experiment {
        task: TaskRef,
        record: Box<crate::experiment::Record>,
        progress: Box<ExperimentProgress>,
    },
    /// 80% of a budget is spent.
    BudgetWarning {
        message: String,
    },
    /// What an agent call cost: every call of the run (attempts, reflection, re-planning).
    Spent {
        /// `attempt`, `reflection` or `replan`.
        purpose: String,
        /// `None`: the CLI reported no tokens.
        tokens: Option<Usage>,
        /// `None`: the CLI reported no cost (and no price was configured to estimate it).
        cost_usd: Option<f64>,
        /// The cost is an estimate (from `[pricing]`, from the rate of this run's priced calls,
        /// or, for a call cut short that reported nothing, the average call), not the CLI's own
        /// figure.
        #[serde(default)]
        estimated: bool,
        /// The night's spend after this call (this run and the runs it resumed).
        #[serde(default)]
        total: Spending,
    },
    /// The budget stopped the run before a call (or during one, which was stopped): no attempt
    /// was made for it, and the task stays pending.
    BudgetStopped {
        task: Option<TaskRef>,
        message: String,
        spent: Spending,
    },
    #[serde(rename = "run_ended")]
    RunFinished {
        end: RunEnd,
        message: String,
        attempted: u32,
        completed: u32,
        blocked: u32,
        /// The whole run, for the summary a person reads in the morning.
        #[serde(default)]
        summary: RunSummary,
    },
}

impl Event {
    /// The task the event is about, if any.
    pub fn task_id(&self) -> Option<&str> {
        let task = match self {
            Event::TaskStarted { task, .. }
            | Event::AttemptStarted { task, .. }
            | Event::Heartbeat { task, .. }
            | Event::CheckRunning { task, .. }
            | Event::AgentFinished { task, .. }
            | Event::ChangesFound { task, .. }
            | Event::Validating { task, .. }
            | Event::CheckFinished { task, .. }
            | Event::Judged { task, .. }
            | Event::AttemptFailed { task, .. }
            | Event::Reflecting { task, .. }
            | Event::Waiting { task, .. }
            | Event::CommitStarted { task, .. }
            | Event::CommitMade { task, .. }
            | Event::CommitFailed { task, .. }
            | Event::Recovered { task, .. }
            | Event::TaskCompleted { task, .. }
            | Event::TaskBlocked { task, .. }
            | Event::CandidateCommitted { task, .. }
            | Event::ExperimentStarted { task, .. }
            | Event::WorkspaceOpened { task, .. }
            | Event::TaskLanded { task, .. }
            | Event::ExperimentEnded { task, .. }
            | Event::ExperimentStage { task, .. }
            | Event::DiscardStarted { task, .. }
            | Event::CandidateDiscarded { task, .. }
            | Event::CandidateKept { task, .. }
            | Event::Experiment { task, .. } => task,
            Event::BudgetStopped { task, .. } => return task.as_ref().map(|t| t.id.as_str()),
            Event::RunStarted { .. }
            | Event::Spent { .. }
            | Event::BudgetWarning { .. }
            | Event::Note { .. }
            | Event::EpochStarted { .. }
            | Event::RunFinished { .. } => return None,
        };
        Some(&task.id)
    }

    /// Whether the event ends its task's story: it was completed or blocked.
    pub fn closes_task(&self) -> bool {
        matches!(
            self,
            Event::TaskCompleted { .. } | Event::TaskBlocked { .. }
        )
    }
}

/// A task left unfinished, and the `seq` of the `task_started` its story begins at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub task: String,
    pub seq: u64,
}

/// The end-of-run summary.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunSummary {
    pub elapsed_seconds: u64,
    /// Counts of the whole queue as the run leaves it.
    pub completed: u32,
    pub blocked: u32,
    pub pending: u32,
    /// The tasks this run blocked, with their one-line reasons.
    pub blocked_tasks: Vec<BlockedTask>,
    /// Tasks blocked by earlier runs, still blocked.
    pub blocked_before: u32,
    /// Experiments of this run whose kept result waits on its own branch, with how to merge it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_merge: Vec<BlockedTask>,
    /// `None`: no call reported tokens (or cost).
    pub tokens: Option<Usage>,
    pub cost_usd: Option<f64>,
    /// Some of the cost is an estimate (docs/budget.md).
    #[serde(default)]
    pub cost_estimated: bool,
    /// The night's spend, when this run resumed an interrupted one (its own figures are above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub night: Option<Spending>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BlockedTask {
    pub id: String,
    pub reason: String,
}

/// Where an experiment stands, for the run status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::Spending;

    #[test]
    fn spending_is_told_with_its_cost_only_when_a_cost_was_reported() {
        let costed = Spending {
            cost_usd: 3.1,
            tokens: 410_233,
            costed_calls: 4,
            token_calls: 4,
        };
        assert_eq!(costed.told(), "$3.10 and 410233 tokens");
        let tokens_only = Spending {
            cost_usd: 0.0,
            tokens: 20_747,
            costed_calls: 0,
            token_calls: 1,
        };
        assert_eq!(
            tokens_only.told(),
            "20747 tokens (no call reported its cost)"
        );
    }
}
