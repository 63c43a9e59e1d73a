//! `autodev run`: the loop that works the queue, and the only writer of run state.
//!
//! For each ready task and each attempt: snapshot the tree, keep the protected files, write
//! `TASK.md`, render the prompt, run the agent under supervision (teeing its output to the
//! attempt log and the main log), snapshot again, put protected files back, run the gate, then
//! complete the task, try again, or block it. What the agent's report says decides the policy:
//! a broken environment halts the run with the task untouched, a provider that is rate-limited,
//! overloaded or unreachable is waited for without counting an attempt, and anything else is a
//! failed attempt. Everything the run does is emitted as an [`event::Event`] to the report sinks.

mod agent;
mod branches;
mod breaker;
mod budget;
mod dispatch;
mod epoch;
mod executor;
mod experiment;
mod isolate;
mod lock;
mod policy;
mod prompt;
mod quiet;
mod records;
mod recover;
mod settle;
mod spend;
mod story;
mod tree;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::backend::{self, Purpose, Request};
use crate::config::{BackendName, Settings};
use crate::durable;
use crate::error::{Error, Exit, Result};
use crate::exec::{self, Cancel, CancelLevel, Tee};
use crate::gate::{self, Plan};
use crate::journal::Sink;
use crate::journal::event::{self, Event, Level, RunEnd, TaskRef};
use crate::snapshot::{PathPatterns, Rules};
use crate::task::{Backup, Lifecycle, Task, TaskFile, TaskStore};
use breaker::Breaker;
pub use experiment::promote::promote;
pub use lock::RunLock;
pub use prompt::idle_brief;
use records::{AttemptRecord, AttemptStatus};
use tree::{Carried, Tree};

/// Longest single wait for a rate-limited or overloaded provider.
const MAX_SINGLE_WAIT: u64 = 1800;

/// What `autodev run` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub max_tasks: u32,
    pub max_attempts: u32,
    /// Work-and-re-plan cycles (`--epochs`).
    pub max_epochs: u32,
    pub backend: BackendName,
    pub dry_run: bool,
    /// Print the narrative on stderr (and the agent's output on stdout).
    pub console: bool,
    /// The run's budget: USD and tokens over every agent call (`None`: no cap).
    pub max_cost_usd: Option<f64>,
    pub max_tokens: Option<u64>,
    /// Tasks worked at once (`--workers`, `run.workers`).
    pub workers: u32,
    /// Run even when the backend reports nothing a cap could be enforced with.
    pub force: bool,
}

/// How one task ended.
enum TaskEnd {
    Completed,
    Blocked,
    /// Stop the run: the environment is broken.
    Halt(String),
    Interrupted,
    /// Stop the run: its budget is spent (the task stays pending).
    Budget(String),
}

impl TaskEnd {
    /// Whether the run stops here with the task still pending.
    fn stops_the_run(&self) -> bool {
        matches!(
            self,
            TaskEnd::Halt(_) | TaskEnd::Interrupted | TaskEnd::Budget(_)
        )
    }
}

/// An attempt that did not pass: what its turn and its gate left.
struct Failed {
    attempt: u32,
    max: u32,
    report: crate::backend::AgentReport,
    changed: Vec<String>,
    log_path: PathBuf,
    /// `None`: the turn was not judged.
    gate: Option<crate::gate::GateReport>,
}

/// What a failed attempt leaves for the next one.
struct AfterFailure {
    /// The task as recorded (refined by reflection, its attempt counted).
    task: Task,
    failure: story::Failure,
    /// The circuit breaker's rule, when it tripped.
    tripped: Option<String>,
    /// Another attempt follows.
    more: bool,
}

/// How a passing attempt ended: the task's end, or a conflict with the user's newer commits
/// that the task is to be done again for, on top of them.
enum Passed {
    End(TaskEnd),
    Redo(crate::git::worktree::Conflict),
}

/// What a run's tasks came to so far: how many were worked and completed, and why the run
/// stops, once it must.
#[derive(Debug, Default)]
struct Worked {
    attempted: u32,
    completed: u32,
    stop: Option<(RunEnd, String)>,
}

impl Worked {
    /// Counts a task that ended as `end`; `agent_worked`: an agent worked on it. A task the
    /// run stops on counts only when an agent worked on it: not when the environment halted
    /// its first call, or the budget refused it. Whether the run stops here: the first end
    /// that stops it (the ends of other workers that follow keep that reason).
    fn count(&mut self, end: TaskEnd, agent_worked: bool) -> bool {
        if agent_worked || !end.stops_the_run() {
            self.attempted += 1;
        }
        let stop = match end {
            TaskEnd::Completed => {
                self.completed += 1;
                None
            }
            TaskEnd::Blocked => None,
            TaskEnd::Halt(why) => Some((RunEnd::EnvError, why)),
            TaskEnd::Interrupted => Some(interrupted()),
            TaskEnd::Budget(why) => Some((RunEnd::Budget, why)),
        };
        // The first reason to stop is the run's: workers that stop after it stop because of it.
        let now = stop.is_some() && self.stop.is_none();
        if now {
            self.stop = stop;
        }
        now
    }

    fn add(&mut self, other: Worked) {
        self.attempted += other.attempted;
        self.completed += other.completed;
        self.stop = other.stop;
    }
}

/// The sinks, fed in order. A sink that fails is dropped and its error kept: the attempt that
/// follows halts the run (a run that cannot record itself must not go on unattended).
struct Sinks {
    list: Vec<Box<dyn Sink>>,
    failed: Option<String>,
}

impl Sinks {
    /// Feeds `event` to every sink, stamped with the `worker` it comes from (`None`: the run
    /// itself).
    fn emit(&mut self, worker: Option<u32>, event: Event) {
        let mut broken = Vec::new();
        // The clock is read once: every sink tells the same time for the event.
        let at = jiff::Timestamp::now();
        for (i, sink) in self.list.iter_mut().enumerate() {
            let stamped = crate::journal::Stamped {
                at,
                worker,
                event: &event,
            };
            if let Err(e) = sink.stamped(stamped) {
                broken.push(i);
                self.failed.get_or_insert(e.to_string());
            }
        }
        for i in broken.into_iter().rev() {
            self.list.remove(i);
        }
    }
}

fn task_ref(task: &Task) -> TaskRef {
    TaskRef {
        id: task.id.clone(),
        title: task.display_title().to_string(),
    }
}

/// A log path for one step of a task (`attempt_2`, `baseline`, `iteration_3`) that never
/// overwrites an earlier one.
fn attempt_log_path(dir: &Path, task_id: &str, step: &str) -> PathBuf {
    let safe = crate::task::safe_id(task_id);
    let when = durable::file_stamp();
    let base = format!("task_{safe}__{step}_{when}");
    let mut path = dir.join(format!("{base}.log"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{base}-{n}.log"));
        n += 1;
    }
    path
}

/// Sleeps `seconds`, or less if a cancel arrives; true when cancelled.
async fn pause(seconds: f64, cancel: &Cancel) -> bool {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    while Instant::now() < deadline {
        if cancel.level() != CancelLevel::None {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
    }
    cancel.level() != CancelLevel::None
}

/// One worker of the run: the tree it works in and what belongs to its task, with the
/// run-wide state every worker shares ([`dispatch::Shared`]).
struct Runner<'a> {
    settings: &'a Settings,
    options: &'a Options,
    store: TaskStore,
    /// Which worker this is (1 to `run.workers`): its worktree, its events, its `TASK.md`.
    worker: u32,
    /// What every worker of the run shares: the sinks, the budget, the waits, the merge queue.
    shared: Rc<dispatch::Shared>,
    /// The tree the current task works in (the user's, or an experiment's worktree).
    tree: Tree,
    template: Rc<str>,
    cancel: Cancel,
    /// Whether the task in hand has had an agent turn that worked on it in this run (one the
    /// environment, the provider or the budget did not refuse): what `attempted` counts.
    worked: bool,
    /// The newest commits shown in prompts, read again when `HEAD` moves.
    commits: crate::git::RecentCommits,
    /// When the run began, for the summary.
    started: Instant,
    /// When the run began, as written in attempt records: which run an attempt belongs to.
    started_at: Rc<str>,
    /// The worker has a task in hand: its notes are that task's, and say which worker.
    in_task: bool,
    /// The task in hand's own budget, when it has one.
    task_budget: Option<spend::TaskBudget>,
    /// The opening snapshot this worker saved last: the one file its next attempt removes.
    last_opening: Option<std::path::PathBuf>,
    /// The worktree the current delivery task is worked in (`run.isolation = "worktree"`).
    workspace: Option<isolate::Workspace>,
    /// Where the repository's worktrees are, once asked ([`Runner::layout`]).
    layout: Option<crate::git::worktree::Layout>,
}

/// Runs the queue, telling `sinks` everything that happens; the exit code says how it ended.
/// The caller holds the run lock (a dry run needs none).
pub fn run(
    settings: &Settings,
    options: &Options,
    store: TaskStore,
    sinks: Vec<Box<dyn Sink>>,
) -> Result<Exit> {
    let runtime = exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
    runtime.block_on(async {
        let mut runner = Runner::new(settings, options, store, sinks)?;
        runner.go().await
    })
}

impl<'a> Runner<'a> {
    /// The run's first worker, its state fresh, stopped by the signals of a polite stop.
    fn new(
        settings: &'a Settings,
        options: &'a Options,
        store: TaskStore,
        sinks: Vec<Box<dyn Sink>>,
    ) -> Result<Runner<'a>> {
        let paths = &settings.paths;
        let config = &settings.config;
        let cancel = Cancel::default();
        exec::cancel_on_signals(&cancel).map_err(|e| Error::io("watch", "signals", e))?;
        let rules = Rules::new(config, paths)?;
        // Refused at the start, not at the first attempt: a protected_paths glob that is not one.
        PathPatterns::setting(
            &config.verification.protected_paths,
            "verification.protected_paths",
        )?;
        let template: Rc<str> = prompt::template(config, paths)?.into();
        let runner = Runner {
            settings,
            options,
            store,
            worker: 1,
            shared: Rc::new(dispatch::Shared::new(sinks)),
            tree: Tree::new(paths.code_dir.clone(), rules),
            template,
            cancel,
            worked: false,
            commits: crate::git::RecentCommits::default(),
            started: Instant::now(),
            started_at: durable::utc_now().into(),
            in_task: false,
            task_budget: None,
            last_opening: None,
            workspace: None,
            layout: None,
        };
        *runner.shared.ledger.borrow_mut() = spend::Ledger::new(runner.price());
        Ok(runner)
    }
}

impl Runner<'_> {
    async fn go(&mut self) -> Result<Exit> {
        let settings = self.settings;
        let config = &settings.config;
        let paths = &settings.paths;
        let found = backend::preflight(
            config,
            self.options.backend,
            &paths.code_dir,
            std::env::var_os("PATH").as_deref(),
        )
        .await;
        let version = match &found {
            Ok(p) => p.version.clone(),
            Err(_) => None,
        };
        // Read before this run adds to it: what an earlier run left to finish, and spent.
        let entries = if self.options.dry_run {
            Vec::new()
        } else {
            crate::journal::read_open_work(&paths.events_log())
        };
        let carried = spend::carried(&entries);
        self.shared.ledger.borrow_mut().resume(carried);
        let open = recover::decide(&entries);
        let in_flight = (!self.options.dry_run).then(|| self.in_flight(&open));
        self.emit(Event::RunStarted {
            backend: self.options.backend.as_str().to_string(),
            version,
            max_tasks: self.options.max_tasks,
            max_attempts: self.options.max_attempts,
            dry_run: self.options.dry_run,
            carried,
            in_flight,
        });
        if let Some(carried) = carried {
            self.tell_carried(carried);
        }
        if self.options.dry_run {
            if let Err(e) = &found {
                self.note(Level::Warn, e.to_string());
            }
            if self.options.max_epochs > 1 {
                self.note(
                    Level::Warn,
                    "a dry run previews the current queue only; later epochs are not planned",
                );
            }
            return self.dry_run().await;
        }
        if let Err(e) = found {
            let mut message = e.to_string();
            for hint in e.hints() {
                message.push_str(&format!("; {hint}"));
            }
            return Ok(self
                .finish(RunEnd::EnvError, message, &Worked::default())
                .await);
        }
        if let Err(why) = self.budget_enforceable() {
            return Ok(self.finish(RunEnd::EnvError, why, &Worked::default()).await);
        }
        self.write_brief(&prompt::idle_brief(paths))?;
        durable::clean_stale_temps(&[&paths.code_dir, &paths.log_dir]);
        crate::git::clean_commit_leftovers(&paths.code_dir);
        self.clear_stale_locks().await;

        let mut worked = self.recover_all(&entries, open).await?;
        if let Some((end, why)) = worked.stop.take() {
            return Ok(self.finish(end, why, &worked).await);
        }
        // Every task earlier runs left in flight is resumed: their opening snapshots are no
        // longer needed. (Swept only now: with several tasks in flight, the first one resumed
        // must not take the others' away.)
        agent::forget_openings_but(paths, self.last_opening.as_deref());
        self.tidy_after_recovery().await;
        let max_epochs = self.options.max_epochs.max(1);
        for epoch in 1..=max_epochs {
            if max_epochs > 1 {
                self.emit(Event::EpochStarted { epoch, max_epochs });
            }
            worked.add(self.work_queue().await?);
            if worked.stop.is_some() || epoch == max_epochs {
                break;
            }
            if let epoch::Next::Stop(stop) = self.next_epoch(epoch, max_epochs).await? {
                worked.stop = stop;
                break;
            }
        }
        let (end, message) = match worked.stop.take() {
            Some(end) => end,
            None => how_it_ended(
                &*self.store.load()?,
                worked.attempted,
                !self.shared.blocked_now.borrow().is_empty(),
            ),
        };
        Ok(self.finish(end, message, &worked).await)
    }

    async fn finish(&mut self, end: RunEnd, message: String, worked: &Worked) -> Exit {
        let Worked {
            attempted,
            completed,
            ..
        } = *worked;
        if !self.options.dry_run
            && let Err(e) = self.write_brief(&prompt::idle_brief(&self.settings.paths))
        {
            self.note(Level::Warn, e.to_string());
        }
        // What a tidy during the run could not remove (a ref git held locked a moment), once
        // no task is left in flight.
        if !self.options.dry_run
            && matches!(end, RunEnd::Completed | RunEnd::Blocked | RunEnd::Paused)
        {
            self.tidy_after_recovery().await;
        }
        let queue = self.store.load().unwrap_or_default();
        let count = |f: &dyn Fn(&Task) -> bool| queue.tasks.iter().filter(|t| f(t)).count() as u32;
        let blocked = count(&still_blocked);
        let blocked_tasks = self.shared.blocked_now.borrow().clone();
        let ledger = self.shared.ledger.borrow();
        let summary = event::RunSummary {
            elapsed_seconds: self.started.elapsed().as_secs(),
            completed: count(&|t| t.lifecycle() == Lifecycle::Completed),
            blocked,
            pending: count(&|t| t.lifecycle() == Lifecycle::Pending),
            blocked_before: blocked.saturating_sub(
                blocked_tasks
                    .iter()
                    .filter(|b| queue.tasks.iter().any(|t| t.id == b.id && still_blocked(t)))
                    .count() as u32,
            ),
            blocked_tasks,
            to_merge: self.shared.to_merge.borrow().clone(),
            tokens: ledger.tokens,
            cost_usd: ledger.cost_usd,
            cost_estimated: ledger.estimated,
            night: ledger.carried.map(|_| ledger.spent),
        };
        drop(ledger);
        self.emit(Event::RunFinished {
            end,
            message,
            attempted,
            completed,
            blocked,
            summary,
        });
        end.exit()
    }

    /// This worker's `TASK.md`: worker 1's is the project's (`files.task_brief`); each other
    /// worker has its own under the logs, which its prompt names.
    fn brief_path(&self) -> PathBuf {
        let paths = &self.settings.paths;
        if self.worker == 1 {
            return paths.task_brief.clone();
        }
        let name = paths.task_brief.file_name().unwrap_or("TASK.md".as_ref());
        paths
            .log_dir
            .join(format!("worker-{}", self.worker))
            .join(name)
    }

    fn write_brief(&self, text: &str) -> Result<()> {
        let path = self.brief_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        durable::write_atomic_unsynced(&path, text.as_bytes())
            .map_err(|e| Error::io("write", &path, e))
    }

    async fn render_prompt(
        &mut self,
        task: &Task,
        experiment: Option<&prompt::ExperimentContext>,
    ) -> Result<String> {
        let queue = self.store.load()?;
        let commits = self.commits.get(&self.tree.dir, 3).await.to_vec();
        let input = prompt::PromptInput {
            task,
            config: &self.settings.config,
            paths: &self.settings.paths,
            code_dir: &self.tree.dir,
            project_name: queue.project_name(&self.settings.config.project.name),
            journal: queue.learning_journal.as_deref().unwrap_or(&[]),
            commits: &commits,
            experiment,
        };
        let mut variables = prompt::variables(&input);
        variables.insert("task_brief", self.brief_path().display().to_string());
        Ok(crate::template::render(&self.template, &variables))
    }

    fn request<'r>(
        &'r self,
        prompt: &'r str,
        scratch: &'r Path,
        protected: &'r [String],
    ) -> Request<'r> {
        Request {
            purpose: Purpose::Attempt,
            prompt,
            cwd: &self.tree.dir,
            scratch,
            as_root: nix::unistd::geteuid().is_root(),
            protected,
        }
    }

    /// Blocks the task with `reason`, saved and told.
    fn block(&mut self, task: &Task, reason: String) -> Result<TaskEnd> {
        self.block_with(task, reason, Vec::new())
    }

    /// Blocks the task with `reason` and the evidence behind it, saved and told.
    fn block_with(
        &mut self,
        task: &Task,
        reason: String,
        evidence: Vec<String>,
    ) -> Result<TaskEnd> {
        let id = task.id.clone();
        self.store.update(Backup::None, |q| {
            // A block a person made meanwhile keeps its own reason.
            if let Some(t) = q.find_mut(&id)
                && !t.blocked
            {
                t.block(&reason, crate::task::blocked_at_now());
            }
            q.refresh_statistics();
            Ok(())
        })?;
        self.shared
            .blocked_now
            .borrow_mut()
            .push(event::BlockedTask {
                id: task.id.clone(),
                reason: reason.clone(),
            });
        self.emit(Event::TaskBlocked {
            task: task_ref(task),
            reason,
            evidence,
        });
        Ok(TaskEnd::Blocked)
    }

    /// Works one task: an experiment for iterative tasks, otherwise attempts until it passes.
    async fn work(&mut self, task: Task) -> Result<TaskEnd> {
        // A task's own budget: `max_cost_usd` on it.
        self.task_budget = crate::task::coerce::budget(task.extra.get("max_cost_usd")).map(|cap| {
            spend::TaskBudget {
                cap,
                spent: Default::default(),
            }
        });
        if matches!(
            task.execution,
            crate::task::contract::Execution::Iterative(_)
        ) {
            return self.experiment(task, None).await;
        }
        if self.settings.config.run.isolation == crate::config::Isolation::Worktree {
            return self.deliver_isolated(task).await;
        }
        self.deliver(task, None, None).await
    }

    /// Works a delivery task through its attempts; with `resumed`, the first attempt is the
    /// journalled turn of a run that died before judging it (no agent call for it); with
    /// `redone`, the task is being done again for a conflict, and that is the branch of its
    /// first result.
    async fn deliver(
        &mut self,
        mut task: Task,
        mut resumed: Option<recover::Turned>,
        mut redone: Option<String>,
    ) -> Result<TaskEnd> {
        let config = &self.settings.config;
        let mut max = self.options.max_attempts.max(1);
        let mut attempt = 0;
        let mut breaker = Breaker::default();
        let mut tripped = None;
        let mut last_failure: Option<story::Failure> = None;
        while attempt < max || resumed.is_some() {
            if self.cancel.level() != CancelLevel::None {
                return Ok(TaskEnd::Interrupted);
            }
            let (report, tee_error, log_path, changed) = match resumed.take() {
                Some(turn) => {
                    attempt = turn.attempt;
                    (turn.report, None, turn.log, turn.changed)
                }
                None => {
                    attempt += 1;
                    let turn = self
                        .turn(&task, attempt, max, &format!("attempt_{attempt}"), None)
                        .await?;
                    (turn.report, turn.tee_error, turn.log_path, turn.changed)
                }
            };
            if let Some(reason) = self.blocked_by_hand(&task)? {
                self.told_blocked_by_hand(&task, reason);
                return Ok(TaskEnd::Blocked);
            }
            let next = policy::after_agent(report.outcome, tee_error.is_some());
            if let Some(end) = self.stopped_after_turn(&task, next, &report, tee_error)? {
                return Ok(end);
            }
            let checks = match next {
                policy::Next::Wait => {
                    attempt -= 1;
                    match self.wait_for_provider(&task, &report).await {
                        Some(end) => return Ok(end),
                        None => continue,
                    }
                }
                policy::Next::Judge { checks } => checks,
                // A signal (every other end was taken above).
                _ => return self.record_interrupted(&task, attempt, &report, &changed),
            };
            self.provider_answered();

            let gate = if checks {
                let plan = self.plan(&task);
                match self
                    .gate(&task, attempt, &plan, &changed, &log_path)
                    .await?
                {
                    Some(gate) => Some(gate),
                    None => return Ok(TaskEnd::Interrupted),
                }
            } else {
                None
            };

            if let Some(gate) = gate.as_ref().filter(|g| g.passed) {
                let turn = (&report, changed.as_slice());
                match self.passed(task, attempt, turn, gate, &mut redone).await? {
                    Ok(end) => return Ok(end),
                    Err(again) => {
                        (task, max) = (again, max.max(attempt + 1));
                        continue;
                    }
                }
            }
            let failed = Failed {
                attempt,
                max,
                report,
                changed,
                log_path,
                gate,
            };
            let after = match self.after_failure(task, &failed, &mut breaker).await? {
                Ok(after) => after,
                Err(end) => return Ok(end),
            };
            task = after.task;
            last_failure = Some(after.failure);
            tripped = after.tripped;
            if let Some(reason) = &tripped {
                self.tell_tripped(reason, max - attempt);
                break;
            }
            if after.more && pause(config.run.delay_between_tasks, &self.cancel).await {
                return Ok(TaskEnd::Interrupted);
            }
        }
        let cause = last_failure
            .as_ref()
            .map_or_else(|| "no attempt finished".to_string(), |f| f.cause.clone());
        let reason = match tripped {
            Some(rule) => format!(
                "Circuit breaker after {attempt} of {max} attempt(s) ({rule}); the last failure: {cause}"
            ),
            None => format!("Failed {attempt} attempt(s); the last: {cause}"),
        };
        let evidence = last_failure.map(|f| f.evidence()).unwrap_or_default();
        self.block_with(&task, reason, evidence)
    }

    /// What stops a task after its agent's turn, whatever its kind: the logs or the environment
    /// halting the run, the budget stopping the run or blocking the task. `None`: each kind goes
    /// on its own way (to judge the turn, to wait for the provider, or to stop for a signal).
    fn stopped_after_turn(
        &mut self,
        task: &Task,
        next: policy::Next,
        report: &crate::backend::AgentReport,
        tee_error: Option<String>,
    ) -> Result<Option<TaskEnd>> {
        Ok(Some(match next {
            policy::Next::HaltLogs => TaskEnd::Halt(logs_halt(tee_error, &task.id)),
            policy::Next::HaltEnvironment => TaskEnd::Halt(self.environment_halt(report, &task.id)),
            policy::Next::StopBudget => TaskEnd::Budget(report.detail.clone()),
            policy::Next::BlockBudget => {
                let reason = format!("Stopped by {}", report.detail);
                return self.block(task, reason).map(Some);
            }
            policy::Next::Interrupted | policy::Next::Wait | policy::Next::Judge { .. } => {
                return Ok(None);
            }
        }))
    }

    /// Settles an attempt whose gate failed (or that was not judged): the circuit breaker
    /// told, the task refined by reflection when attempts are left, the failure recorded and
    /// journalled. `Err`: a signal came during the reflection.
    async fn after_failure(
        &mut self,
        mut task: Task,
        failed: &Failed,
        breaker: &mut Breaker,
    ) -> Result<std::result::Result<AfterFailure, TaskEnd>> {
        let config = &self.settings.config;
        let Failed {
            attempt,
            max,
            report,
            changed,
            gate,
            ..
        } = failed;
        let (attempt, max) = (*attempt, *max);
        let summary = match gate {
            Some(g) => g
                .errors
                .iter()
                .take(3)
                .map(|e| first_line(e))
                .collect::<Vec<_>>()
                .join("; "),
            None => report.summary(),
        };
        let failure = story::failure(gate.as_ref(), report);
        let fingerprint = breaker::fingerprint(&self.tree.dir, changed);
        let tripped = breaker.record(
            changed.len(),
            &fingerprint,
            &summary,
            &config.circuit_breaker,
        );
        let more = attempt < max && tripped.is_none();
        let mut learning_notes = Vec::new();
        if more
            && config.reflection.enabled
            && task.refinement_count < config.reflection.max_refinements_per_task
        {
            if let Some(refined) = self.reflect_on(&task, failed, &summary).await {
                learning_notes = refined.learning_notes.clone();
                task = refined;
            }
            if self.cancel.level() != CancelLevel::None {
                return Ok(Err(TaskEnd::Interrupted));
            }
        }
        let task = self.record_failure(
            &task,
            &AttemptRecord {
                status: AttemptStatus::Failed,
                attempt,
                report: Some(report),
                changed,
                gate: gate.as_ref(),
                summary: &summary,
                notes: &learning_notes,
            },
        )?;
        self.emit(Event::AttemptFailed {
            task: task_ref(&task),
            attempt,
            max_attempts: max,
            summary,
            changed: changed.clone(),
            gate: gate.clone().map(Box::new),
            learning_notes,
            retry_in_seconds: more.then_some(config.run.delay_between_tasks),
        });
        Ok(Ok(AfterFailure {
            task,
            failure,
            tripped,
            more,
        }))
    }

    /// Asks the agent (read-only) to refine the task after a failed attempt; the refined task.
    async fn reflect_on(&mut self, task: &Task, failed: &Failed, summary: &str) -> Option<Task> {
        let config = &self.settings.config;
        let errors = failed
            .gate
            .as_ref()
            .map(|g| g.errors.clone())
            .unwrap_or_else(|| vec![summary.to_string()]);
        let failure = crate::reflect::Failure {
            attempt: failed.attempt,
            max_attempts: failed.max,
            outcome: failed.report.outcome.describe().to_string(),
            changed: &failed.changed,
            errors: &errors,
            log_tail: log_tail(&failed.log_path, config.reflection.log_tail_lines as usize),
        };
        self.refine(task, &failure, &failed.log_path).await
    }

    /// Tells that the circuit breaker tripped, and how many attempts it spares.
    fn tell_tripped(&mut self, reason: &str, left: u32) {
        self.note(
            Level::Warn,
            if left > 0 {
                format!("circuit breaker: {reason}; skipping the remaining {left} attempt(s)")
            } else {
                format!("circuit breaker: {reason}")
            },
        );
    }

    /// Why the run halts for an environment the agent CLI cannot work in.
    fn environment_halt(&self, report: &crate::backend::AgentReport, task_id: &str) -> String {
        let mut message = format!(
            "{}: {} (task {task_id} untouched; fix this, then run again)",
            self.options.backend.as_str(),
            if report.detail.is_empty() {
                report.summary()
            } else {
                report.detail.clone()
            },
        );
        if let Some(hint) = backend::fix_hint(self.options.backend, report.outcome) {
            message.push_str(&format!("\nhint: {hint}"));
        }
        message
    }

    /// Runs the task's checks on `changed` and judges them, telling each step; `None` when a
    /// signal cut the checks short.
    async fn gate(
        &mut self,
        task: &Task,
        attempt: u32,
        plan: &Plan,
        changed: &[String],
        log_path: &Path,
    ) -> Result<Option<gate::GateReport>> {
        if !plan.commands.is_empty() {
            self.emit(Event::Validating {
                task: task_ref(task),
                checks: plan.commands.len(),
            });
        }
        let Some(runs) = self.checks_logged(task, plan, log_path).await? else {
            return Ok(None);
        };
        for run in &runs {
            self.emit(Event::CheckFinished {
                task: task_ref(task),
                command: run.command.clone(),
                passed: run.succeeded(),
                result: match (&run.error, run.exit) {
                    (Some(error), _) => error.clone(),
                    (None, Some(exit)) => exit.to_string(),
                    (None, None) => "did not run".into(),
                },
                elapsed_ms: run.elapsed_ms,
            });
        }
        let gate = gate::judge(plan, changed, &runs, None, true);
        self.emit(Event::Judged {
            task: task_ref(task),
            attempt,
            gate: Box::new(gate.clone()),
        });
        Ok(Some(gate))
    }

    /// The task's checks as they run in the tree at work: the user's, or a worktree's copy of
    /// the code directory.
    fn plan(&self, task: &Task) -> Plan {
        let paths = &self.settings.paths;
        Plan::new(task, &self.settings.config, paths).in_tree(&paths.code_dir, &self.tree.dir)
    }

    /// Runs `plan`'s commands for `task` with their output appended to `log`; `None` when a
    /// signal cut them short.
    async fn checks_logged(
        &mut self,
        task: &Task,
        plan: &Plan,
        log: &Path,
    ) -> Result<Option<Vec<gate::CheckRun>>> {
        let mut tee = Tee::new(vec![Box::new(append(log)?)]);
        let runs = self.checks(task, plan, &mut tee).await;
        Ok((self.cancel.level() == CancelLevel::None).then_some(runs))
    }

    /// Runs `plan`'s check commands for `task`, with a heartbeat that names the running check
    /// and how long it has run, so a check that hangs is never silent.
    async fn checks(&mut self, task: &Task, plan: &Plan, tee: &mut Tee) -> Vec<gate::CheckRun> {
        // A signal while waiting for an experiment's samples to end: nothing ran, and the
        // caller sees the signal.
        let Some(_quiet) = self.quiet_for_checks().await else {
            return Vec::new();
        };
        self.checks_now(task, plan, tee).await
    }

    /// [`Runner::checks`] without waiting for quiet: for an experiment's samples, which hold it.
    async fn checks_now(&mut self, task: &Task, plan: &Plan, tee: &mut Tee) -> Vec<gate::CheckRun> {
        let every = Duration::from_secs(self.settings.config.run.heartbeat_interval.max(1));
        let shared = std::rc::Rc::clone(&self.shared);
        let worker = self.worker;
        let mut on = |command: &str, elapsed: Duration| {
            shared.sinks.borrow_mut().emit(
                Some(worker),
                Event::CheckRunning {
                    task: task_ref(task),
                    command: command.to_string(),
                    elapsed_seconds: elapsed.as_secs(),
                },
            );
        };
        let beat = gate::CheckBeat { every, on: &mut on };
        gate::run_checks(plan, tee, &self.cancel, Some(beat)).await
    }

    /// A passing attempt: its files are committed first (`[git] auto_commit`), then the task is
    /// marked completed, so a task is never COMPLETED with its work uncommitted. A commit that
    /// fails leaves the task pending and halts the run; the next run commits without asking the
    /// agent again.
    async fn deliver_passed(
        &mut self,
        task: &Task,
        attempt: u32,
        report: &crate::backend::AgentReport,
        changed: &[String],
        gate: &gate::GateReport,
        started: Option<(String, String)>,
    ) -> Result<Passed> {
        if let Some(reason) = self.blocked_by_hand(task)? {
            self.told_blocked_by_hand(task, reason);
            return Ok(Passed::End(TaskEnd::Blocked));
        }
        // In a worktree the change is always committed, on the task's branch: that is how it
        // leaves the worktree (without `git.auto_commit` it waits there, not on your branch).
        let commits = self.settings.config.git.auto_commit || self.workspace.is_some();
        if commits && let Err(why) = self.commit(task, changed, started).await {
            return Ok(Passed::End(TaskEnd::Halt(format!(
                "the checks of {} passed but its files could not be committed: {why}; fix this, \
                 then run again: the next run commits them without asking the agent again",
                task.id
            ))));
        }
        if let Some(conflict) = self.land_result(task, changed, true).await {
            return Ok(Passed::Redo(conflict));
        }
        let completed = self.complete(task, attempt, report, changed, gate)?;
        Ok(Passed::End(if completed {
            TaskEnd::Completed
        } else {
            TaskEnd::Blocked
        }))
    }

    /// An attempt whose gate passed: delivered ([`Runner::deliver_passed`]), and how the task
    /// ended; or, when its result conflicts with the user's newer commits, the task to do again
    /// on top of them (`redone` then names the first result's branch).
    async fn passed(
        &mut self,
        task: Task,
        attempt: u32,
        (report, changed): (&crate::backend::AgentReport, &[String]),
        gate: &gate::GateReport,
        redone: &mut Option<String>,
    ) -> Result<std::result::Result<TaskEnd, Task>> {
        let passed = self
            .deliver_passed(&task, attempt, report, changed, gate, None)
            .await?;
        let conflict = match passed {
            Passed::End(end) => return Ok(Ok(self.superseded(end, redone.as_deref()).await)),
            Passed::Redo(conflict) => conflict,
        };
        let first = redone.as_deref();
        Ok(
            match self
                .redo_on_new_tip(task, attempt, &conflict, first)
                .await?
            {
                Ok((again, old)) => {
                    *redone = Some(old);
                    Err(again)
                }
                Err(end) => Ok(end),
            },
        )
    }

    /// Records an attempt a signal stopped: the task stays pending.
    fn record_interrupted(
        &mut self,
        task: &Task,
        attempt: u32,
        report: &crate::backend::AgentReport,
        changed: &[String],
    ) -> Result<TaskEnd> {
        let summary = "interrupted by a signal; the task stays pending".to_string();
        self.record_failure(
            task,
            &AttemptRecord {
                status: AttemptStatus::Interrupted,
                attempt,
                report: Some(report),
                changed,
                gate: None,
                summary: &summary,
                notes: &[],
            },
        )?;
        Ok(TaskEnd::Interrupted)
    }
}

/// How a run that worked its queue to the end ended, from the queue as it stands: tasks left
/// (`--max-tasks`), tasks waiting on dependencies that cannot finish, tasks this run blocked
/// (`blocked_now`), or everything it could work done.
fn how_it_ended(queue: &TaskFile, attempted: u32, blocked_now: bool) -> (RunEnd, String) {
    let blocked = queue.tasks.iter().any(still_blocked);
    let waiting: Vec<String> = queue
        .tasks
        .iter()
        .filter(|t| t.lifecycle() == Lifecycle::Pending)
        .map(|t| {
            let on: Vec<String> = queue
                .waits_on(t)
                .into_iter()
                .map(|(id, state)| {
                    format!("{id} ({})", state.map_or("no such task", Lifecycle::as_str))
                })
                .collect();
            format!("{} waits on {}", t.id, on.join(", "))
        })
        .collect();
    if queue.next_task().is_some() {
        (
            RunEnd::Paused,
            format!("Stopped after {attempted} task(s) (--max-tasks); tasks remain"),
        )
    } else if !waiting.is_empty() {
        (
            RunEnd::Blocked,
            format!(
                "Run finished with tasks waiting on unfinished dependencies: {}",
                waiting.join("; ")
            ),
        )
    } else if blocked && blocked_now {
        (
            RunEnd::Blocked,
            "Run finished with blocked tasks".to_string(),
        )
    } else if blocked {
        (
            RunEnd::Completed,
            "Every task this run could work is done; tasks blocked by an earlier run stay blocked"
                .to_string(),
        )
    } else {
        (RunEnd::Completed, "All tasks done".to_string())
    }
}

/// A blocked task that no later epoch's task superseded: what makes a run end with exit 2.
fn still_blocked(task: &Task) -> bool {
    task.lifecycle() == Lifecycle::Blocked && !task.extra.contains_key("superseded_by")
}

/// Why the run halts when the logs cannot be written.
fn logs_halt(error: Option<String>, task_id: &str) -> String {
    format!(
        "could not write the logs ({}); check disk space and permissions, then run again (task \
         {task_id} stays pending, and whatever its agent changed so far is kept and counted)",
        error.unwrap_or_default()
    )
}

fn interrupted() -> (RunEnd, String) {
    (
        RunEnd::Interrupted,
        "Run interrupted by a signal".to_string(),
    )
}

fn append(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))
}

/// The last `lines` lines of a log file (lossy UTF-8), or "" when it cannot be read. Only the
/// file's end is read: an attempt log can hold hundreds of megabytes.
fn log_tail(path: &Path, lines: usize) -> String {
    let text = durable::read_tail(path, 256 * 1024).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(super) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_a_worked_queue_ended_table() {
        let queue = |tasks: serde_json::Value| {
            TaskFile::from_owned(serde_json::json!({ "tasks": tasks })).expect("queue")
        };
        let done = serde_json::json!({"id": "A", "title": "a", "passes": true});
        let pending = serde_json::json!({"id": "B", "title": "b"});
        let blocked = serde_json::json!({"id": "C", "title": "c", "blocked": true});
        let waits = serde_json::json!({"id": "D", "title": "d", "depends_on": ["C"]});
        let cases = [
            // (queue, blocked by this run, end, the message begins)
            (
                vec![done.clone(), pending],
                false,
                RunEnd::Paused,
                "Stopped after 2 task(s)",
            ),
            (
                vec![blocked.clone(), waits],
                true,
                RunEnd::Blocked,
                "Run finished with tasks waiting on unfinished dependencies: D waits on C (blocked)",
            ),
            (
                vec![done.clone(), blocked.clone()],
                true,
                RunEnd::Blocked,
                "Run finished with blocked tasks",
            ),
            (
                vec![done.clone(), blocked],
                false,
                RunEnd::Completed,
                "Every task this run could work is done",
            ),
            (vec![done], false, RunEnd::Completed, "All tasks done"),
        ];
        for (tasks, blocked_now, end, message) in cases {
            let (got, said) = how_it_ended(
                &queue(serde_json::Value::Array(tasks.clone())),
                2,
                blocked_now,
            );
            assert_eq!(got, end, "{tasks:?}");
            assert!(said.starts_with(message), "{tasks:?}: {said}");
        }
    }
}
