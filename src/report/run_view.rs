//! The run's state as the status file and the dashboard show it, derived from the run's events
//! alone by one pure fold ([`RunView::apply`]): no clock (each event brings its time), no file.
//! [`super::status_writer`] writes it out after each event; table tests fold recorded journals.

use super::runtime_status::{self, Event as StatusEvent, RunState, RunStatus};
use crate::experiment::Action;
use crate::journal::event::{Event, TaskRef};

/// Most recent events kept in the file.
const MAX_EVENTS: usize = 25;

/// Events that change nothing the status file shows.
pub(crate) fn unseen(event: &Event) -> bool {
    matches!(
        event,
        Event::Note { .. }
            | Event::Judged { .. }
            | Event::ChangesFound { .. }
            | Event::CheckFinished { .. }
            | Event::CommitStarted { .. }
            | Event::CommitMade { .. }
            | Event::CandidateCommitted { .. }
            | Event::DiscardStarted { .. }
            | Event::CandidateDiscarded { .. }
            | Event::CandidateKept { .. }
            | Event::BudgetWarning { .. }
    )
}

/// The run as folded so far.
#[derive(Debug, Clone, Default)]
pub struct RunView {
    pub run: RunState,
    /// The most recent events shown, newest first.
    pub events: Vec<StatusEvent>,
    /// The run's experiment measurements, for the dashboard's chart.
    pub records: Vec<crate::experiment::Record>,
}

impl RunView {
    fn set(&mut self, status: RunStatus, message: String) {
        self.run.status_label = status.label();
        self.run.status = status;
        self.run.message = message;
    }

    fn push(&mut self, at: &str, status: &str, task: Option<&TaskRef>, message: String) {
        self.events.insert(
            0,
            StatusEvent {
                timestamp: at.to_string(),
                status: status.to_string(),
                status_label: runtime_status::status_label(status),
                status_class: crate::ui::class_of(status).to_string(),
                task_id: task.map(|t| t.id.clone()).unwrap_or_default(),
                message,
            },
        );
        self.events.truncate(MAX_EVENTS);
    }

    fn current(&mut self, task: &TaskRef) {
        self.run.current_task_id = task.id.clone();
        self.run.current_task_title = task.title.clone();
    }

    /// Folds one event of `worker` (`None`: the run itself), which happened `at`, into the
    /// view: the run's state, then that worker's. Pure: no clock, no file.
    pub fn apply_from(&mut self, worker: Option<u32>, event: &Event, at: &str) {
        self.apply(event, at);
        if let Some(worker) = worker {
            self.worker(worker, event);
        }
    }

    /// What `worker` is doing, after its `event`: the task it has in hand, in what phase,
    /// where; gone once the task ended.
    fn worker(&mut self, worker: u32, event: &Event) {
        let workers = &mut self.run.workers;
        match event {
            Event::TaskStarted { task, .. } | Event::Recovered { task, .. } => {
                workers.retain(|w| w.worker != worker);
                workers.push(runtime_status::WorkerState {
                    worker,
                    task_id: task.id.clone(),
                    task_title: task.title.clone(),
                    ..Default::default()
                });
                workers.sort_by_key(|w| w.worker);
            }
            Event::TaskCompleted { .. } | Event::TaskBlocked { .. } => {
                workers.retain(|w| w.worker != worker);
                return;
            }
            _ => {}
        }
        let Some(at_work) = self.run.workers.iter_mut().find(|w| w.worker == worker) else {
            return;
        };
        if event.task_id() != Some(at_work.task_id.as_str()) {
            return;
        }
        match event {
            Event::AttemptStarted {
                attempt,
                max_attempts,
                ..
            } => {
                at_work.attempt = *attempt;
                at_work.max_attempts = *max_attempts;
            }
            Event::WorkspaceOpened {
                worktree, branch, ..
            }
            | Event::ExperimentStarted {
                worktree, branch, ..
            } => {
                at_work.worktree = worktree.display().to_string();
                at_work.branch = branch.clone();
            }
            _ => {}
        }
        at_work.status = self.run.status.clone();
        at_work.message = self.run.message.clone();
    }

    /// Folds one event, which happened `at`, into the view. Pure: no clock, no file.
    pub fn apply(&mut self, event: &Event, at: &str) {
        match event {
            Event::RunStarted { .. }
            | Event::Recovered { .. }
            | Event::CommitFailed { .. }
            | Event::EpochStarted { .. }
            | Event::Spent { .. }
            | Event::RunFinished { .. } => self.run(event, at),
            Event::TaskStarted { .. }
            | Event::AttemptStarted { .. }
            | Event::Heartbeat { .. }
            | Event::AgentFinished { .. }
            | Event::CheckRunning { .. } => self.attempt(event, at),
            Event::Validating { .. }
            | Event::AttemptFailed { .. }
            | Event::Reflecting { .. }
            | Event::Waiting { .. }
            | Event::TaskCompleted { .. }
            | Event::TaskBlocked { .. } => self.outcome(event, at),
            Event::Experiment { .. } => self.experiment(event, at),
            Event::ExperimentStage {
                task,
                stage,
                message,
            } => {
                self.run.experiment_stage = stage.clone();
                self.push(
                    at,
                    "running",
                    Some(task),
                    format!("Stage {stage}: {message}"),
                );
            }
            Event::WorkspaceOpened {
                worktree, branch, ..
            }
            | Event::ExperimentStarted {
                worktree, branch, ..
            } => {
                self.run.worktree = worktree.display().to_string();
                self.run.branch = branch.clone();
            }
            Event::ExperimentEnded {
                task,
                on_branch: true,
                message,
                ..
            }
            | Event::TaskLanded {
                task,
                merged: false,
                message,
                ..
            } => {
                let waiting = &mut self.run.waiting;
                waiting.retain(|w| w.task_id != task.id);
                waiting.push(runtime_status::WaitingResult {
                    task_id: task.id.clone(),
                    message: message.clone(),
                });
            }
            // What `unseen` names changes nothing here.
            _ => {}
        }
    }

    /// The run's own course: its start and end, epochs, spending, a recovery, a failed commit.
    fn run(&mut self, event: &Event, at: &str) {
        match event {
            Event::RunStarted {
                backend,
                max_attempts,
                dry_run,
                ..
            } => {
                self.set(RunStatus::Starting, "Run initialized".into());
                self.run.backend = backend.clone();
                self.run.started_at = at.to_string();
                self.run.finished_at.clear();
                self.run.waiting.clear();
                self.run.dry_run = *dry_run;
                self.run.max_attempts = *max_attempts;
                self.push(
                    at,
                    "starting",
                    None,
                    format!("Run started with backend {backend}"),
                );
            }
            Event::Recovered { task, message, .. } => {
                self.current(task);
                self.set(RunStatus::Running, message.clone());
                self.push(at, "running", Some(task), message.clone());
            }
            Event::CommitFailed { task, reason } => {
                let message = format!("Could not commit the files of {}: {reason}", task.id);
                self.set(RunStatus::Running, message.clone());
                self.push(at, "blocked", Some(task), message);
            }
            Event::EpochStarted { epoch, max_epochs } => {
                self.run.current_epoch = *epoch;
                self.run.max_epochs = *max_epochs;
                self.push(
                    at,
                    "running",
                    None,
                    format!("Epoch {epoch}/{max_epochs} started"),
                );
            }
            Event::Spent {
                tokens,
                cost_usd,
                estimated,
                ..
            } => {
                self.run.cost_estimated |= *estimated;
                if let Some(u) = tokens {
                    self.run.tokens_reported = true;
                    self.run.tokens_input += u.input;
                    self.run.tokens_output += u.output;
                    self.run.tokens_cache_read += u.cache_read;
                    self.run.tokens_cache_write += u.cache_write;
                }
                if let Some(c) = cost_usd {
                    *self.run.cost_usd.get_or_insert(0.0) += c;
                }
            }
            Event::RunFinished { end, message, .. } => {
                let status = RunStatus::from(*end);
                let badge = status.badge();
                self.set(status, message.clone());
                self.run.finished_at = at.to_string();
                // The run is over: no task is current any more.
                self.run.current_task_id.clear();
                self.run.current_task_title.clear();
                self.run.current_attempt = 0;
                self.run.worktree.clear();
                self.run.branch.clear();
                self.run.workers.clear();
                self.push(at, badge, None, message.clone());
            }
            // Folded by the other groups (see `apply`).
            _ => {}
        }
    }

    /// A task's start and its attempts while the agent works.
    fn attempt(&mut self, event: &Event, at: &str) {
        match event {
            Event::TaskStarted { task, .. } => {
                self.current(task);
                self.run.current_attempt = 0;
                // In your tree until a worktree is said.
                self.run.worktree.clear();
                self.run.branch.clear();
                let idle = RunState::default();
                let run = &mut self.run;
                run.execution_mode = idle.execution_mode;
                run.execution_strategy = idle.execution_strategy;
                run.completion_kind = idle.completion_kind;
                run.completion_name = idle.completion_name;
                run.completion_target_summary = idle.completion_target_summary;
                run.last_completion_outcome.clear();
                run.current_iteration = 0;
                run.max_iterations = 0;
                run.baseline_metric.clear();
                run.best_metric.clear();
                run.last_metric.clear();
                run.last_outcome.clear();
                run.kept_count = 0;
                run.reverted_count = 0;
                run.no_improvement_streak = 0;
                run.experiment_stage.clear();
                self.set(
                    RunStatus::Running,
                    format!("Starting {}: {}", task.id, task.title),
                );
            }
            Event::AttemptStarted {
                task,
                attempt,
                max_attempts,
                log,
            } => {
                self.current(task);
                self.run.current_attempt = *attempt;
                self.run.max_attempts = *max_attempts;
                self.run.attempt_log = log.display().to_string();
                self.run.heartbeat_elapsed_seconds = 0;
                self.set(
                    RunStatus::Running,
                    format!("Executing {}: {}", task.id, task.title),
                );
                self.push(
                    at,
                    "running",
                    Some(task),
                    format!("Started attempt {attempt}/{max_attempts}: {}", task.title),
                );
            }
            Event::Heartbeat {
                task,
                elapsed_seconds,
                active,
                ..
            } => {
                self.run.heartbeat_elapsed_seconds = *elapsed_seconds;
                let doing = if *active {
                    "is streaming output"
                } else {
                    "is waiting for model output"
                };
                self.set(RunStatus::Running, format!("{} {doing}", task.id));
            }
            Event::AgentFinished { task, .. } => {
                self.set(RunStatus::Running, format!("{} finished its turn", task.id));
            }
            Event::CheckRunning {
                task,
                command,
                elapsed_seconds,
            } => {
                self.run.heartbeat_elapsed_seconds = *elapsed_seconds;
                self.set(
                    RunStatus::Validating,
                    format!(
                        "{} is running check `{}` ({elapsed_seconds}s)",
                        task.id,
                        crate::backend::clip(command, 80)
                    ),
                );
            }
            // Folded by the other groups (see `apply`).
            _ => {}
        }
    }

    /// What became of an attempt and of the task.
    fn outcome(&mut self, event: &Event, at: &str) {
        match event {
            Event::Validating { task, checks } => {
                self.set(
                    RunStatus::Validating,
                    format!("Running {checks} check(s) for {}", task.id),
                );
            }
            Event::AttemptFailed {
                task,
                attempt,
                max_attempts,
                summary,
                retry_in_seconds,
                ..
            } => {
                let message = format!("Attempt {attempt}/{max_attempts} failed: {summary}");
                match retry_in_seconds {
                    Some(s) => self.set(
                        RunStatus::RetryWait,
                        format!("{message}; next attempt in {s}s"),
                    ),
                    None => self.set(RunStatus::Running, message.clone()),
                }
                self.push(at, "retry", Some(task), message);
            }
            Event::Reflecting { task, .. } => {
                self.set(
                    RunStatus::Waiting,
                    format!("Refining task guidance for {}", task.id),
                );
            }
            Event::Waiting {
                task,
                reason,
                seconds,
            } => {
                let message = format!("{reason}; waiting {seconds}s");
                self.set(RunStatus::Waiting, message.clone());
                self.push(at, "waiting", Some(task), message);
            }
            Event::TaskCompleted { task, .. } => {
                self.set(
                    RunStatus::Running,
                    format!("Completed {}; preparing next task", task.id),
                );
                self.push(
                    at,
                    "completed",
                    Some(task),
                    format!("Task completed: {}", task.title),
                );
            }
            Event::TaskBlocked { task, reason, .. } => {
                self.set(
                    RunStatus::Running,
                    format!("Task {} blocked; preparing next task", task.id),
                );
                self.push(at, "blocked", Some(task), reason.clone());
            }
            // Folded by the other groups (see `apply`).
            _ => {}
        }
    }

    /// An experiment's measurement and decision.
    fn experiment(&mut self, event: &Event, at: &str) {
        let Event::Experiment {
            task,
            progress,
            record,
        } = event
        else {
            return;
        };
        self.records.push((**record).clone());
        let drop = self
            .records
            .len()
            .saturating_sub(super::dashboard::CHART_POINTS);
        self.records.drain(..drop);
        let p = progress;
        let run = &mut self.run;
        run.execution_mode = "experiment".into();
        run.execution_strategy = "iterative".into();
        run.completion_kind = "numeric".into();
        run.completion_name = p.completion_name.clone();
        run.completion_target_summary = p.completion_target_summary.clone();
        run.current_iteration = p.iteration;
        run.max_iterations = p.max_iterations;
        run.baseline_metric = p.baseline.clone();
        run.best_metric = p.best.clone();
        run.last_metric = p.last.clone();
        run.last_outcome = p.last_outcome.clone();
        run.last_completion_outcome = p.last_outcome.clone();
        run.kept_count = p.kept;
        run.reverted_count = p.discarded;
        run.no_improvement_streak = p.no_improvement_streak;
        self.set(RunStatus::Running, format!("{}: {}", task.id, p.message));
        // The event's badge is the decision, not the run's phase.
        let decided = match record.action {
            Some(Action::Keep) => "kept",
            Some(Action::Discard) => "discarded",
            Some(Action::Hold) => "held",
            None if record.iteration == 0 => "measured",
            None => "running",
        };
        self.push(at, decided, Some(task), p.message.clone());
    }
}
