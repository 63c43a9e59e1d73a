//! The writer side of `logs/runtime-status.json`: the run state, updated by every event and
//! written atomically (temp file + rename) with the current queue, the writer's process stamp
//! and the run's token and cost totals.

use std::io;
use std::path::PathBuf;

use super::runtime_status::{self, Event as StatusEvent, PersistedRun, RunState, Snapshot};
use crate::durable::{self, ProcessStamp, utc_now};
use crate::journal::Sink;
use crate::journal::event::{Event, TaskRef};
use crate::task::{TaskFile, TaskStore};

/// Most recent events kept in the file.
const MAX_EVENTS: usize = 25;

/// Events that change nothing the status file shows.
fn unseen(event: &Event) -> bool {
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

pub struct StatusWriter {
    path: PathBuf,
    store: TaskStore,
    /// The queue as last read, and the size and mtime of `task.json` it was read at.
    queue: (Option<(u64, std::time::SystemTime)>, TaskFile),
    project_name: String,
    backend: String,
    run: RunState,
    events: Vec<StatusEvent>,
    /// `logs/dashboard.html`, rendered from the same snapshot (see [`super::dashboard`]).
    dashboard: Option<PathBuf>,
    /// The run's experiment measurements, for the dashboard's chart.
    records: Vec<crate::experiment::Record>,
    /// When the dashboard was last written: it is rewritten at most once a second, and always
    /// when a task or the run ends.
    dashboard_at: Option<std::time::Instant>,
}

impl StatusWriter {
    /// Starts from the events of the previous run (kept for context), with a fresh run state.
    pub fn new(path: PathBuf, store: TaskStore, project_name: String, backend: String) -> Self {
        let (previous, _) = runtime_status::read(&path);
        StatusWriter {
            path,
            store,
            queue: (None, TaskFile::default()),
            project_name,
            backend,
            run: RunState {
                writer: Some(ProcessStamp::current()),
                ..RunState::default()
            },
            events: previous.events,
            dashboard: None,
            records: Vec::new(),
            dashboard_at: None,
        }
    }

    /// Also keeps `path` (`logs/dashboard.html`) up to date.
    pub fn with_dashboard(mut self, path: PathBuf) -> Self {
        self.dashboard = Some(path);
        self
    }

    fn set(&mut self, status: &str, message: String) {
        self.run.status = status.to_string();
        self.run.status_label = runtime_status::status_label(status);
        self.run.message = message;
    }

    fn push(&mut self, status: &str, task: Option<&TaskRef>, message: String) {
        self.events.insert(
            0,
            StatusEvent {
                timestamp: utc_now(),
                status: status.to_string(),
                status_label: runtime_status::status_label(status),
                status_class: runtime_status::class_of(status).to_string(),
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

    fn apply(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                backend,
                max_attempts,
                dry_run,
                ..
            } => {
                self.set("starting", "Run initialized".into());
                self.run.backend = backend.clone();
                self.run.started_at = utc_now();
                self.run.finished_at.clear();
                self.run.dry_run = *dry_run;
                self.run.max_attempts = *max_attempts;
                self.push(
                    "starting",
                    None,
                    format!("Run started with backend {backend}"),
                );
            }
            Event::Recovered { task, message, .. } => {
                self.current(task);
                self.set("running", message.clone());
                self.push("running", Some(task), message.clone());
            }
            Event::CommitFailed { task, reason } => {
                let message = format!("Could not commit the files of {}: {reason}", task.id);
                self.set("running", message.clone());
                self.push("blocked", Some(task), message);
            }
            Event::EpochStarted { epoch, max_epochs } => {
                self.run.current_epoch = *epoch;
                self.run.max_epochs = *max_epochs;
                self.push(
                    "running",
                    None,
                    format!("Epoch {epoch}/{max_epochs} started"),
                );
            }
            Event::TaskStarted { task, .. } => {
                self.current(task);
                self.run.current_attempt = 0;
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
                self.set("running", format!("Starting {}: {}", task.id, task.title));
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
                self.set("running", format!("Executing {}: {}", task.id, task.title));
                self.push(
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
                self.set("running", format!("{} {doing}", task.id));
            }
            Event::AgentFinished { task, .. } => {
                self.set("running", format!("{} finished its turn", task.id));
            }
            Event::CheckRunning {
                task,
                command,
                elapsed_seconds,
            } => {
                self.run.heartbeat_elapsed_seconds = *elapsed_seconds;
                self.set(
                    "validating",
                    format!(
                        "{} is running check `{}` ({elapsed_seconds}s)",
                        task.id,
                        crate::backend::clip(command, 80)
                    ),
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
            Event::Validating { task, checks } => {
                self.set(
                    "validating",
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
                    Some(s) => self.set("retry_wait", format!("{message}; next attempt in {s}s")),
                    None => self.set("running", message.clone()),
                }
                self.push("retry", Some(task), message);
            }
            Event::Reflecting { task, .. } => {
                self.set("waiting", format!("Refining task guidance for {}", task.id));
            }
            Event::Waiting {
                task,
                reason,
                seconds,
            } => {
                let message = format!("{reason}; waiting {seconds}s");
                self.set("waiting", message.clone());
                self.push("waiting", Some(task), message);
            }
            Event::TaskCompleted { task, .. } => {
                self.set(
                    "running",
                    format!("Completed {}; preparing next task", task.id),
                );
                self.push(
                    "completed",
                    Some(task),
                    format!("Task completed: {}", task.title),
                );
            }
            Event::TaskBlocked { task, reason, .. } => {
                self.set(
                    "running",
                    format!("Task {} blocked; preparing next task", task.id),
                );
                self.push("blocked", Some(task), reason.clone());
            }
            Event::Experiment {
                task,
                progress,
                record,
            } => {
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
                self.set("running", format!("{}: {}", task.id, p.message));
                // The event's badge is the decision, not the run's phase.
                let decided = match record.action.as_str() {
                    "keep" => "kept",
                    "discard" => "discarded",
                    "hold" => "held",
                    _ if record.iteration == 0 => "measured",
                    _ => "running",
                };
                self.push(decided, Some(task), p.message.clone());
            }
            Event::RunFinished { end, message, .. } => {
                let status = end.status();
                self.set(status, message.clone());
                self.run.finished_at = utc_now();
                // The run is over: no task is current any more.
                self.run.current_task_id.clear();
                self.run.current_task_title.clear();
                self.run.current_attempt = 0;
                self.push(status, None, message.clone());
            }
            // What `unseen` names changes nothing here.
            _ => {}
        }
    }

    /// Writes the status file, and the dashboard when it is due (`force`: a task or the run
    /// ended, or an experiment measured).
    fn write(&mut self, force: bool) -> io::Result<()> {
        self.run.updated_at = utc_now();
        // Counts and rows follow task.json, read again only when it changed; a queue that cannot
        // be read right now (mid-edit by a person) leaves the rows empty rather than failing.
        let stamp = std::fs::metadata(self.store.path())
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)));
        if stamp.is_none() || self.queue.0 != stamp {
            self.queue = (stamp, self.store.load().unwrap_or_default());
        }
        let persisted = PersistedRun {
            run: self.run.clone(),
            events: self.events.clone(),
            counts: None,
            live: true,
        };
        let snapshot =
            Snapshot::assemble(&self.project_name, &self.backend, &self.queue.1, &persisted);
        let mut text = serde_json::to_string_pretty(&snapshot).map_err(io::Error::other)?;
        text.push('\n');
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        durable::write_atomic_unsynced(&self.path, text.as_bytes())?;
        self.write_dashboard(&snapshot, force)
    }

    fn write_dashboard(&mut self, snapshot: &Snapshot, force: bool) -> io::Result<()> {
        let Some(path) = &self.dashboard else {
            return Ok(());
        };
        let due = force
            || self
                .dashboard_at
                .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1));
        if !due {
            return Ok(());
        }
        let live = self.run.finished_at.is_empty();
        let page = super::dashboard::render(snapshot, &self.records, live, &utc_now());
        durable::write_atomic_unsynced(path, page.as_bytes())?;
        self.dashboard_at = Some(std::time::Instant::now());
        Ok(())
    }
}

impl Sink for StatusWriter {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        if unseen(event) {
            return Ok(());
        }
        self.apply(event);
        // A task start is followed at once by its first attempt's start, and an agent's end by
        // the checks or the verdict: those events write the file.
        if matches!(
            event,
            Event::TaskStarted { .. } | Event::AgentFinished { .. }
        ) {
            return Ok(());
        }
        // A change of phase is shown at once (a throttled write would leave the page on the
        // previous phase until the next heartbeat, many seconds later); beats and notes wait.
        let force = matches!(
            event,
            Event::AttemptStarted { .. }
                | Event::Validating { .. }
                | Event::Judged { .. }
                | Event::Recovered { .. }
                | Event::TaskCompleted { .. }
                | Event::TaskBlocked { .. }
                | Event::RunFinished { .. }
                | Event::Experiment { .. }
        );
        self.write(force)
    }
}
