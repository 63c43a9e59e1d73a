//! Running the agent for one attempt (supervised, teed to the logs, with heartbeats), and the
//! dry run that only shows what would run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::prompt::{self, ExperimentContext};
use super::{Runner, append, attempt_log_path, task_ref};
use crate::backend::{self, AgentReport, Invocation};
use crate::durable;
use crate::error::{Error, Exit, Result};
use crate::exec::{self, Limits, Tee};
use crate::gate::Guard;
use crate::journal::event::{Event, Level};
use crate::snapshot::{self, Snapshot};
use crate::task::Task;

impl Runner<'_> {
    /// Shows every pending task's prompt and command; calls nothing and changes nothing.
    pub(super) async fn dry_run(&mut self) -> Result<Exit> {
        let queue = self.store.load()?;
        let pending: Vec<Task> = queue
            .tasks
            .iter()
            .filter(|t| t.lifecycle() == crate::task::Lifecycle::Pending)
            .take(self.options.max_tasks as usize)
            .cloned()
            .collect();
        let log_dir = self
            .settings
            .paths
            .attempt_log_dir
            .join(self.options.backend.as_str());
        for (i, task) in pending.iter().enumerate() {
            let prompt = self.render_prompt(task, None).await?;
            let scratch = log_dir.join(format!("task_{}__attempt_1", task.id));
            let protected =
                crate::gate::Plan::new(task, &self.settings.config, &self.settings.paths)
                    .protected_paths;
            let invocation = backend::invocation(
                &self.settings.config,
                self.options.backend,
                &self.request(&prompt, &scratch, &protected),
            )?;
            self.emit(Event::TaskStarted {
                task: task_ref(task),
                number: i as u32 + 1,
            });
            // The whole prompt: its steps and checks are what a dry run exists to show.
            self.note(
                Level::Info,
                format!(
                    "[DRY RUN] would run: {}\n[DRY RUN] prompt ({} chars):\n{prompt}\n[DRY RUN] end of the prompt of {}",
                    invocation.spec.command_line(),
                    prompt.chars().count(),
                    task.id
                ),
            );
        }
        self.note(
            Level::Info,
            format!(
                "[DRY RUN] {} pending task(s) shown; nothing was run or changed",
                pending.len()
            ),
        );
        Ok(Exit::Success)
    }

    /// Runs the agent for one attempt, with heartbeats; the report and any log write failure.
    pub(super) async fn supervise(
        &mut self,
        task: &Task,
        attempt: u32,
        max: u32,
        invocation: &backend::Invocation,
        log_path: &Path,
    ) -> Result<(AgentReport, Option<String>)> {
        let settings = self.settings;
        let config = &settings.config;
        let main_log = settings.paths.run_log();
        let mut attempt_log = append(log_path)?;
        {
            use std::io::Write;
            let header = format!("$ {}\n", invocation.spec.command_line());
            for note in &invocation.notes {
                self.note(Level::Info, note.clone());
            }
            attempt_log
                .write_all(header.as_bytes())
                .map_err(|e| Error::io("write", log_path, e))?;
        }
        let mut sinks: Vec<Box<dyn std::io::Write + Send>> =
            vec![Box::new(attempt_log), Box::new(append(&main_log)?)];
        if self.options.console {
            // The terminal gets the narrative; the raw output is in the logs.
            sinks.push(Box::new(backend::narrate::Narrator::new(
                self.options.backend,
                std::io::stdout(),
            )));
        }
        let mut tee = Tee::new(sinks);
        self.emit(Event::AttemptStarted {
            task: task_ref(task),
            attempt,
            max_attempts: max,
            log: log_path.to_path_buf(),
        });
        // An attempt the journal could not record is not started: a restart could not tell
        // what it did, and the run halts on the write error instead.
        if let Some(error) = self.shared.sinks.borrow_mut().failed.take() {
            let report = AgentReport::bare(
                backend::Outcome::Crashed,
                "not started: the run's records could not be written".into(),
                exec::Exit::Code(-1),
                None,
            );
            return Ok((report, Some(error)));
        }
        let limits = backend::attempt_limits(&config.backend);
        let beat = Beat {
            task,
            attempt,
            max_attempts: max,
            log: log_path,
        };
        let called = self.call(invocation, &limits, &mut tee, Some(beat)).await;
        let (report, tee_error) = match called {
            Ok(called) => called,
            Err(exec::SpawnError::NotFound { program }) => {
                let detail = format!(
                    "`{program}` was not found on PATH; {}",
                    backend::install_hint(self.options.backend)
                );
                return Ok((AgentReport::not_installed(detail), None));
            }
            Err(e) => {
                return Err(Error::Setup {
                    message: e.to_string(),
                    hint: "check backend settings and the project directory".into(),
                });
            }
        };
        let tee_error = tee_error
            .map(|e| e.to_string())
            .or_else(|| self.shared.sinks.borrow_mut().failed.take());
        Ok((report, tee_error))
    }

    /// Runs one agent call under `limits`, its output teed to `tee` and read by the backend's
    /// parser; with `beat`, a heartbeat event every `run.heartbeat_interval`. The report, and the
    /// first failure to write a sink.
    pub(super) async fn call(
        &mut self,
        invocation: &Invocation,
        limits: &Limits,
        tee: &mut Tee,
        beat: Option<Beat<'_>>,
    ) -> std::result::Result<(AgentReport, Option<std::io::Error>), exec::SpawnError> {
        // The budget was judged before the call (by the turn, or the one-shot caller); while
        // the call runs, what it streams is judged too.
        let mut meter = self.meter();
        let settings = self.settings;
        let config = &settings.config;
        let every = Duration::from_secs(config.run.heartbeat_interval.max(1));
        let shared = std::rc::Rc::clone(&self.shared);
        let worker = self.worker;
        let mut last_size = 0;
        let mut on = |elapsed: Duration| {
            let Some(beat) = &beat else { return };
            let size = std::fs::metadata(beat.log).map(|m| m.len()).unwrap_or(0);
            shared.sinks.borrow_mut().emit(
                Some(worker),
                Event::Heartbeat {
                    task: task_ref(beat.task),
                    attempt: beat.attempt,
                    max_attempts: beat.max_attempts,
                    elapsed_seconds: elapsed.as_secs(),
                    active: size > last_size,
                },
            );
            last_size = size;
        };
        let beating = beat.is_some();
        self.shared.ledger.borrow_mut().in_flight += 1;
        let called = crate::call::call(
            &config.backend,
            self.options.backend,
            invocation,
            limits,
            tee,
            &self.cancel,
            beating.then_some(crate::call::Beat { every, on: &mut on }),
            Some(&mut meter),
        )
        .await;
        self.shared.ledger.borrow_mut().in_flight -= 1;
        if let Ok((report, _)) = &called {
            let purpose = if beating { "attempt" } else { "reflection" };
            let cut_short = report.outcome != crate::backend::Outcome::Ok;
            self.spend(purpose, report.usage, report.cost_usd, cut_short);
        }
        called
    }
}

/// What one agent turn left: its report, a log write failure, its log, and the files it
/// changed (protected files among them have already been put back).
pub(super) struct Turn {
    pub report: AgentReport,
    pub tee_error: Option<String>,
    pub log_path: PathBuf,
    pub changed: Vec<String>,
    /// The changed protected files that were put back.
    pub restored: Vec<String>,
}

impl Runner<'_> {
    /// A new log file for one step of the task, under the backend's attempt logs.
    pub(super) fn step_log(&self, task: &Task, step: &str) -> Result<PathBuf> {
        let log_dir = self
            .settings
            .paths
            .attempt_log_dir
            .join(self.options.backend.as_str());
        std::fs::create_dir_all(&log_dir).map_err(|e| Error::io("create", &log_dir, e))?;
        Ok(attempt_log_path(&log_dir, &task.id, step))
    }

    /// Keeps the attempt's opening snapshot beside its log until the next attempt: a run
    /// killed during the agent resumes from it, so the work the agent did before the kill still
    /// counts as this task's change. Its label names the attempt's log, which tells whether the
    /// journal knows of the attempt; the journal's `attempt_started` names the log, and so the
    /// file.
    /// Says in the log, once per reason, that change tracking walked the whole tree because the
    /// watcher's notices could not be used.
    fn tell_walk(&mut self) {
        if let Some(why) = self.tree.untold_walk() {
            self.note(
                Level::Info,
                format!("change tracking looks at every file of the tree this time: {why}"),
            );
        }
    }

    fn save_opening(
        &mut self,
        task: &Task,
        number: u32,
        before: &Snapshot,
        log_path: &Path,
    ) -> Result<()> {
        let saved = opening_file(log_path);
        let label = saved_label(task, number, log_path);
        durable::write_atomic_unsynced_with(&saved, |out| before.save(&label, out))
            .map_err(|e| Error::io("write", &saved, e))?;
        // One attempt runs at a time on a worker: the snapshot it replaces is no longer
        // needed. What earlier runs left is swept once recovery is over ([`forget_openings_but`]).
        if let Some(old) = self.last_opening.replace(saved.clone())
            && old != saved
        {
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }

    /// One turn of the agent on `task` (attempt or iteration `number` of `max`, logged as
    /// `step`): snapshot, protected files kept, `TASK.md` and the prompt written, the agent run
    /// under supervision, snapshot again, protected files put back whatever became of the turn.
    pub(super) async fn turn(
        &mut self,
        task: &Task,
        number: u32,
        max: u32,
        step: &str,
        experiment: Option<&ExperimentContext>,
    ) -> Result<Turn> {
        // A turn the budget refuses is no attempt: nothing is started, snapshotted or logged.
        if let Some(refused) = self.budget_before_turn(task) {
            return Ok(Turn {
                report: refused,
                tee_error: None,
                log_path: PathBuf::new(),
                changed: Vec::new(),
                restored: Vec::new(),
            });
        }
        // A signal meanwhile ends the call this turn makes at once, as an interrupted one.
        self.hold_for_provider(task).await;
        let paths = &self.settings.paths;
        let (before, resumed) = self.tree.opening_snapshot();
        self.tell_walk();
        let log_path = self.step_log(task, step)?;
        self.save_opening(task, number, &before, &log_path)?;
        let protected = crate::gate::Plan::new(task, &self.settings.config, paths).protected_paths;
        // Protected files are judged on what this run's agent does to them. A resumed attempt
        // starts from the tree before the cut-off one; what changed in protected files since
        // (you editing autodev.toml between the runs) is taken as it is, from the tree now.
        let now =
            (resumed && !protected.is_empty()).then(|| Snapshot::take(&self.tree.rules, None));
        let guard = if protected.is_empty() {
            None
        } else {
            let patterns =
                crate::snapshot::PathPatterns::setting(&protected, "verification.protected_paths")?;
            Some(Guard::capture(
                self.tree.dir.clone(),
                patterns,
                now.as_ref().unwrap_or(&before),
            )?)
        };
        self.write_brief(&prompt::active_brief(task, number, max, paths))?;
        let prompt = self.render_prompt(task, experiment).await?;
        let scratch = log_path.with_extension("");
        let invocation = backend::invocation(
            &self.settings.config,
            self.options.backend,
            &self.request(&prompt, &scratch, &protected),
        )?;
        if let Some(file) = &invocation.prompt_file {
            durable::write_atomic(file, prompt.as_bytes())
                .map_err(|e| Error::io("write", file, e))?;
        }
        let (report, tee_error) = self
            .supervise(task, number, max, &invocation, &log_path)
            .await?;
        let next = super::policy::after_agent(report.outcome, tee_error.is_some());
        use super::policy::Next;
        if !matches!(next, Next::HaltLogs | Next::HaltEnvironment | Next::Wait) {
            self.worked = true;
        }
        self.emit(Event::AgentFinished {
            task: task_ref(task),
            attempt: number,
            report: Box::new(report.clone()),
        });
        let after = self.tree.closing_snapshot(&before);
        self.tell_walk();
        let mut changed = snapshot::diff(&before, &after).all();
        let mut restored = Vec::new();
        if let Some(guard) = &guard {
            if let Some(now) = &now {
                // Of the protected files, only this agent's changes count: the others were made
                // before this run began, and are not the task's change.
                let during = snapshot::diff(now, &after).all();
                changed.retain(|p| !guard.patterns().matches(p) || during.contains(p));
            }
            restored = guard.restore(&changed)?;
            if !restored.is_empty() {
                self.note(
                    Level::Warn,
                    format!(
                        "protected files were changed and have been put back: {}",
                        restored.join(", ")
                    ),
                );
            }
        }
        self.emit(Event::ChangesFound {
            task: task_ref(task),
            attempt: number,
            changed: changed.clone(),
            restored: restored.clone(),
            log: log_path.clone(),
        });
        if restored.is_empty() {
            self.tree.carry = Some(super::Carried::now(after));
        }
        Ok(Turn {
            report,
            tee_error,
            log_path,
            changed,
            restored,
        })
    }
}

/// What a saved opening snapshot belongs to: the task and the attempt.
/// The label of an attempt's saved opening snapshot: the task's safe id, the attempt, and the
/// file name of the attempt's log, which no other attempt shares.
fn saved_label(task: &Task, attempt: u32, log: &Path) -> String {
    let name = log.file_name().unwrap_or_default().to_string_lossy();
    format!("{} {attempt} {name}", crate::task::safe_id(&task.id))
}

/// Where an attempt's opening snapshot is kept: beside its log, `<log name>.snapshot`.
pub(super) fn opening_file(log: &Path) -> PathBuf {
    log.with_extension("snapshot")
}

/// The opening snapshots on the disk: each attempt's beside its log (one backend's folder
/// each), and the one file earlier versions kept.
fn openings(paths: &crate::config::ProjectPaths) -> Vec<PathBuf> {
    let mut found = vec![paths.opening_snapshot()];
    let backends = std::fs::read_dir(&paths.attempt_log_dir)
        .into_iter()
        .flatten();
    for folder in backends.flatten() {
        let files = std::fs::read_dir(folder.path()).into_iter().flatten();
        found.extend(
            files
                .flatten()
                .map(|f| f.path())
                .filter(|p| p.extension().is_some_and(|e| e == "snapshot")),
        );
    }
    found.retain(|p| p.is_file());
    found
}

/// Removes every opening snapshot on the disk but `kept` (the last attempt's): once a run has
/// resumed every task earlier runs left in flight, none of theirs is needed. A file that cannot
/// be removed now is removed by the next run.
pub(super) fn forget_openings_but(paths: &crate::config::ProjectPaths, kept: Option<&Path>) {
    for old in openings(paths).iter().filter(|p| Some(p.as_path()) != kept) {
        let _ = std::fs::remove_file(old);
    }
}

/// Which attempt an opening snapshot saved on the disk belongs to (its label), for a restart.
/// The label is read alone; the snapshot itself, which grows with the tree, only when a
/// restart runs the attempt again.
pub(super) struct SavedOpening {
    /// The file it is in.
    path: PathBuf,
    /// The task's safe id ([`crate::task::safe_id`]).
    pub task: String,
    pub attempt: u32,
    /// The file name of the attempt's log.
    pub log: String,
}

impl SavedOpening {
    /// The newest opening snapshot of the project that reads, if there is one: the one a
    /// restart looks at when the journal does not say which attempt was cut off.
    pub(super) fn read(paths: &crate::config::ProjectPaths) -> Option<SavedOpening> {
        let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut found = openings(paths);
        found.sort_by_key(|p| std::cmp::Reverse(modified(p)));
        found.iter().find_map(|p| SavedOpening::at(p))
    }

    /// The opening snapshot in `path`, if that file is there and reads as one.
    pub(super) fn at(path: &Path) -> Option<SavedOpening> {
        use std::io::{BufRead, Read};
        let file = durable::open_regular(path).ok()?;
        let mut first = String::new();
        std::io::BufReader::new(file.take(4096))
            .read_line(&mut first)
            .ok()?;
        let mut label = SavedOpening::parse(Snapshot::saved_label(&first)?)?;
        label.path = path.to_path_buf();
        Some(label)
    }

    fn parse(label: &str) -> Option<SavedOpening> {
        let mut words = label.splitn(3, ' ');
        Some(SavedOpening {
            path: PathBuf::new(),
            task: words.next()?.to_string(),
            attempt: words.next()?.parse().ok()?,
            log: words.next()?.to_string(),
        })
    }

    /// The snapshot itself, when the file still holds this attempt's.
    pub(super) fn snapshot(&self) -> Option<Snapshot> {
        let bytes = durable::read_regular(&self.path, crate::snapshot::MAX_SAVED_BYTES).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        let (label, snapshot) = Snapshot::load_any(&text)?;
        let same = SavedOpening::parse(label)
            .is_some_and(|l| l.task == self.task && l.attempt == self.attempt && l.log == self.log);
        same.then_some(snapshot)
    }

    /// Whether it belongs to attempt `attempt` of `task`.
    pub(super) fn is_of(&self, task: &Task, attempt: u32) -> bool {
        self.task == crate::task::safe_id(&task.id) && self.attempt == attempt
    }
}

/// Which attempt a call belongs to, and the log whose growth shows the agent is active.
pub(super) struct Beat<'a> {
    pub task: &'a Task,
    pub attempt: u32,
    pub max_attempts: u32,
    pub log: &'a Path,
}
