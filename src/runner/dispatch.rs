//! The dispatcher: starts ready tasks on up to `run.workers` workers at once and counts how
//! each ended, and [`Shared`], the run-wide state every worker reports into.
//!
//! Workers are cooperative tasks on the run's one thread. Each owns its tree (the worker's
//! worktree, its snapshots, its `TASK.md`); everything they share sits in [`Shared`], and every
//! write of run state (an event to the sinks, `task.json`) is made whole between two awaits, so
//! two workers' writes never interleave and the journal stays the one ordered record of the
//! night. Which task starts next: the first pending one whose dependencies are completed, that
//! no worker has in hand, and whose `path_patterns` cannot overlap those of a task in flight
//! (unless `run.allow_overlap`). What the workers share besides: one budget (each call in flight
//! reserved at the average call, see [`super::spend`]), one wait for a provider that asked to
//! slow down, and the merge queue (one worker at a time moves autodev's branches and the user's
//! branch).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use super::{Runner, Sinks, TaskEnd, Worked, interrupted, spend, task_ref};
use crate::error::{Error, Result};
use crate::exec::CancelLevel;
use crate::journal::Sink;
use crate::journal::event::{BlockedTask, Event, Level};
use crate::task::{Lifecycle, Task, TaskFile};

/// What every worker of a run shares.
pub(super) struct Shared {
    pub sinks: RefCell<Sinks>,
    /// What the night spends, for its budget and the summary.
    pub ledger: RefCell<spend::Ledger>,
    /// The tasks this run blocked, with their reasons.
    pub blocked_now: RefCell<Vec<BlockedTask>>,
    /// Results that wait on their branch, with how to merge each.
    pub to_merge: RefCell<Vec<BlockedTask>>,
    pub waits: RefCell<Waits>,
    /// The commit the next task in a worktree starts from when a result could not be brought
    /// to the user's branch (`None`: the user's `HEAD`).
    pub integration: RefCell<Option<String>>,
    /// The run said that tasks are worked in the user's tree for want of a commit.
    pub told_in_place: Cell<bool>,
    /// The merge queue, and the rest of what moves autodev's branches and worktrees or the
    /// user's branch: held by one worker at a time, granted in the order asked.
    pub git: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Checks (shared) against an experiment's samples (exclusive), within the run: see
    /// [`super::quiet`].
    pub measuring: std::sync::Arc<tokio::sync::RwLock<()>>,
}

/// Waiting for a provider that is rate-limited, overloaded or unreachable: run-wide, since
/// every worker calls the same backend.
#[derive(Debug, Default)]
pub(super) struct Waits {
    /// Seconds spent waiting so far.
    pub waited: u64,
    /// Consecutive waits, for the backoff.
    pub streak: u32,
    /// Until when every worker holds its next call.
    pub until: Option<Instant>,
}

impl Shared {
    pub(super) fn new(sinks: Vec<Box<dyn Sink>>) -> Shared {
        Shared {
            sinks: RefCell::new(Sinks {
                list: sinks,
                failed: None,
            }),
            ledger: RefCell::default(),
            blocked_now: RefCell::default(),
            to_merge: RefCell::default(),
            waits: RefCell::default(),
            integration: RefCell::default(),
            told_in_place: Cell::new(false),
            git: std::sync::Arc::default(),
            measuring: std::sync::Arc::default(),
        }
    }
}

/// A worker at work on a task: it gives back the worker, the task's id and how the task ended.
type Working<'a> = Pin<Box<dyn Future<Output = (Runner<'a>, String, Result<TaskEnd>)> + 'a>>;

impl<'a> Runner<'a> {
    /// Tells every sink `event`, as this worker's.
    pub(super) fn emit(&self, event: Event) {
        let worker = (self.in_task || event.task_id().is_some()).then_some(self.worker);
        self.shared.sinks.borrow_mut().emit(worker, event);
    }

    pub(super) fn note(&self, level: Level, text: impl Into<String>) {
        self.emit(Event::Note {
            level,
            text: text.into(),
        });
    }

    /// This worker's turn in the merge queue: while it is held, no other worker moves
    /// autodev's branches and worktrees or the user's branch (git's own locks would refuse the
    /// second of two at once, and a fast-forward must see the branch it moves as it is).
    pub(super) async fn git_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        std::sync::Arc::clone(&self.shared.git).lock_owned().await
    }

    /// How many workers the run has (`--workers`, `run.workers`).
    fn workers(&self) -> u32 {
        self.options.workers.max(1)
    }

    /// Worker `worker`, sharing this one's run-wide state, with a tree of its own.
    fn for_worker(&self, worker: u32) -> Runner<'a> {
        Runner {
            settings: self.settings,
            options: self.options,
            store: self.store.clone(),
            worker,
            shared: Rc::clone(&self.shared),
            tree: self.tree.copy_at(&self.settings.paths.code_dir),
            template: Rc::clone(&self.template),
            cancel: self.cancel.clone(),
            worked: false,
            commits: crate::git::RecentCommits::default(),
            started: self.started,
            started_at: Rc::clone(&self.started_at),
            in_task: false,
            task_budget: None,
            last_opening: None,
            workspace: None,
            layout: self.layout.clone(),
        }
    }

    /// Works ready tasks on up to `run.workers` workers until none is left, `--max-tasks` were
    /// started, or the run must stop: how many were worked, how many completed, and why the
    /// run stops, if it must. Once it must, no task starts; a halt (the environment is broken,
    /// every call would fail the same way) stops the tasks in flight as a signal would, and
    /// any other stop lets them finish their turn.
    pub(super) async fn work_queue(&mut self) -> Result<Worked> {
        let mut workers = self.workers();
        if workers > 1
            && let Some(why) = self.why_in_place().await
        {
            self.note(
                Level::Warn,
                format!("{why}, so tasks cannot have a worktree each: one worker works them"),
            );
            workers = 1;
        }
        let mut idle: Vec<Runner<'a>> = (1..=workers).rev().map(|k| self.for_worker(k)).collect();
        let mut running: Vec<Working<'a>> = Vec::new();
        let mut in_hand: Vec<Task> = Vec::new();
        let mut worked = Worked::default();
        let mut error: Option<Error> = None;
        let mut started = 0;
        loop {
            if worked.stop.is_none() && self.cancel.level() != CancelLevel::None {
                worked.stop = Some(interrupted());
            }
            while worked.stop.is_none() && error.is_none() && started < self.options.max_tasks {
                let Some(mut worker) = idle.pop() else { break };
                let task = match self.store.load() {
                    Ok(queue) => self.next_ready(&queue, &in_hand).cloned(),
                    Err(e) => {
                        error = Some(e);
                        None
                    }
                };
                let Some(task) = task else {
                    idle.push(worker);
                    break;
                };
                started += 1;
                worker.emit(Event::TaskStarted {
                    task: task_ref(&task),
                    number: started,
                });
                in_hand.push(task.clone());
                let id = task.id.clone();
                running.push(Box::pin(async move {
                    worker.worked = false;
                    worker.in_task = true;
                    let end = worker.work(task).await;
                    worker.in_task = false;
                    (worker, id, end)
                }));
            }
            if running.is_empty() {
                break;
            }
            let (worker, id, end) = next_done(&mut running).await;
            in_hand.retain(|t| t.id != id);
            match end {
                Ok(end) => {
                    let halt = matches!(end, TaskEnd::Halt(_));
                    if worked.count(end, worker.worked) && halt && !running.is_empty() {
                        self.note(
                            Level::Warn,
                            "the run halts: the tasks in flight are stopped and resume next run",
                        );
                        self.cancel.request(CancelLevel::Graceful);
                    }
                }
                Err(e) => {
                    if !running.is_empty() {
                        self.cancel.request(CancelLevel::Graceful);
                    }
                    error.get_or_insert(e);
                }
            }
            idle.push(worker);
        }
        match error {
            Some(e) => Err(e),
            None => Ok(worked),
        }
    }

    /// The next task to start: the first pending task, in queue order, whose dependencies are
    /// completed, that no worker has in hand, and that may not touch the files of one that
    /// does (its `path_patterns` against theirs), unless `run.allow_overlap`.
    fn next_ready<'q>(&self, queue: &'q TaskFile, in_hand: &[Task]) -> Option<&'q Task> {
        let allow_overlap = self.settings.config.run.allow_overlap;
        queue.tasks.iter().find(|t| {
            t.lifecycle() == Lifecycle::Pending
                && queue.waits_on(t).is_empty()
                && in_hand.iter().all(|busy| {
                    busy.id != t.id
                        && (allow_overlap
                            || !crate::snapshot::may_overlap(
                                &busy.verification.path_patterns,
                                &t.verification.path_patterns,
                            ))
                })
        })
    }
}

/// Waits for the first of `running` to finish, and takes it out.
async fn next_done<'a>(running: &mut Vec<Working<'a>>) -> (Runner<'a>, String, Result<TaskEnd>) {
    let (i, done) = std::future::poll_fn(|cx| {
        for (i, future) in running.iter_mut().enumerate() {
            if let Poll::Ready(done) = future.as_mut().poll(cx) {
                return Poll::Ready((i, done));
            }
        }
        Poll::Pending
    })
    .await;
    drop(running.swap_remove(i));
    done
}
