//! The writer side of `logs/runtime-status.json`: the run state, updated by every event and
//! written atomically (temp file + rename) with the current queue, the writer's process stamp
//! and the run's token and cost totals.

use std::io;
use std::path::PathBuf;

use super::run_view::{RunView, unseen};
use super::runtime_status::{self, PersistedRun, RunState, Snapshot};
use crate::durable::{self, ProcessStamp, utc_now};
use crate::journal::event::Event;
use crate::journal::{Sink, Stamped};
use crate::task::TaskStore;

pub struct StatusWriter {
    path: PathBuf,
    store: TaskStore,
    project_name: String,
    backend: String,
    /// The run as its events so far tell it.
    view: RunView,
    /// `logs/dashboard.html`, rendered from the same snapshot (see [`super::dashboard`]).
    dashboard: Option<PathBuf>,
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
            project_name,
            backend,
            view: RunView {
                run: RunState {
                    writer: Some(ProcessStamp::current()),
                    ..RunState::default()
                },
                events: previous.events,
                records: Vec::new(),
            },
            dashboard: None,
            dashboard_at: None,
        }
    }

    /// Also keeps `path` (`logs/dashboard.html`) up to date.
    pub fn with_dashboard(mut self, path: PathBuf) -> Self {
        self.dashboard = Some(path);
        self
    }

    /// Writes the status file, and the dashboard when it is due (`force`: a task or the run
    /// ended, or an experiment measured).
    fn write(&mut self, force: bool) -> io::Result<()> {
        self.view.run.updated_at = utc_now();
        // Counts and rows follow task.json (the store parses it again only when it changed); a
        // queue that cannot be read right now (mid-edit by a person) leaves the rows empty
        // rather than failing.
        let queue = self.store.load().unwrap_or_default();
        let persisted = PersistedRun {
            run: self.view.run.clone(),
            events: self.view.events.clone(),
            counts: None,
            live: true,
        };
        let snapshot = Snapshot::assemble(&self.project_name, &self.backend, &queue, &persisted);
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
        let live = self.view.run.finished_at.is_empty();
        // The backlog of the experiment the chart shows.
        let tried = match (self.view.records.last(), self.path.parent()) {
            (Some(last), Some(log_dir)) => crate::experiment::ideas::read_lines(
                log_dir,
                &last.task_id,
                super::dashboard::TRIED_SHOWN,
            ),
            _ => Vec::new(),
        };
        let records = (self.view.records.as_slice(), tried.as_slice());
        let page = super::dashboard::render(snapshot, records, live, &utc_now());
        durable::write_atomic_unsynced(path, page.as_bytes())?;
        self.dashboard_at = Some(std::time::Instant::now());
        Ok(())
    }
}

impl Sink for StatusWriter {
    fn stamped(&mut self, stamped: Stamped<'_>) -> io::Result<()> {
        let event = stamped.event;
        if unseen(event) {
            return Ok(());
        }
        let at = durable::utc(stamped.at);
        self.view.apply_from(stamped.worker, event, &at);
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
