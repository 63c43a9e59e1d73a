//! Recovery: what a run that starts where an earlier one died must finish first, read from the
//! journal's tail. The decision ([`decide`]) is pure; [`Runner::recover`] carries it out and
//! says what it recovered.
//!
//! The story of the task in flight is every event about it since its last `task_started`. Its
//! last step that reached the journal says where it stopped:
//!
//! | the journal shows                              | the next step                         |
//! | ---------------------------------------------- | ------------------------------------- |
//! | the task completed or blocked                  | nothing                               |
//! | an experiment begun in its worktree, not ended   | resume it there from its last kept commit (an undecided candidate is dropped) |
//! | an experiment ended, its task not marked        | tidy its worktrees, mark the task as the end said |
//! | the commit made, the task not marked           | mark it completed                     |
//! | the gate passed, no commit made (or it failed) | commit its paths, then mark it        |
//! | the agent's changes, no passing gate           | run the gate on them, no agent call   |
//! | an attempt whose agent was cut off, or whose turn ended without a verdict (a signal, a budget, a wait for the provider, a halt) | run it again from the tree as it was before it, so what the agent had done still counts |
//! | anything else                                  | nothing                               |

use std::path::PathBuf;

use super::agent::SavedOpening;
use super::isolate::WorkspaceAt;
use super::records::{AttemptRecord, AttemptStatus};
use super::{Runner, TaskEnd, Worked, task_ref};
use crate::backend::AgentReport;
use crate::error::Result;
use crate::gate::GateReport;
use crate::journal::Entry;
use crate::journal::event::Event;
use crate::task::contract::Execution;
use crate::task::{Lifecycle, Task};

/// What the agent's finished turn left, as journalled.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Turned {
    pub attempt: u32,
    pub report: AgentReport,
    pub changed: Vec<String>,
    pub log: PathBuf,
}

/// The opening snapshot of attempt `attempt` of `task`, which a run cut off: the one beside the
/// log its journalled start names, or (a journal without that start) the newest one, if it is
/// that attempt's.
fn cut_off_opening(
    entries: &[Entry],
    paths: &crate::config::ProjectPaths,
    task: &crate::task::Task,
    attempt: u32,
) -> Option<crate::snapshot::Snapshot> {
    let named = entries.iter().rev().find_map(|e| match &e.event {
        Event::AttemptStarted {
            task: t,
            attempt: a,
            log,
            ..
        } if t.id == task.id && *a == attempt => SavedOpening::at(&super::agent::opening_file(log)),
        _ => None,
    });
    named
        .or_else(|| SavedOpening::read(paths))
        .filter(|s| s.is_of(task, attempt))
        .and_then(|s| s.snapshot())
}

/// The step to finish before anything else.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Nothing,
    /// The agent of `attempt` was cut off: run the attempt again, its changes measured from the
    /// opening snapshot saved for it.
    Rerun {
        task: String,
        attempt: u32,
    },
    /// Run the gate on the journalled changes (then go on as after any attempt).
    Verify {
        task: String,
        turn: Turned,
    },
    /// The gate passed: commit the task's paths, then mark it. `started` is `HEAD` before the
    /// commit and its message, when the commit had begun (it may have landed).
    Commit {
        task: String,
        turn: Turned,
        gate: GateReport,
        started: Option<(String, String)>,
    },
    /// The commit was made: mark the task completed.
    MarkCompleted {
        task: String,
        turn: Turned,
        gate: GateReport,
    },
    /// An experiment was cut off in its worktree: resume it there.
    ResumeExperiment {
        task: String,
        resume: Resume,
    },
    /// An experiment had ended (its result merged or left on its branch) but its task was not
    /// marked: tidy its worktrees and mark it as the end said.
    FinishExperiment {
        task: String,
        resume: Resume,
        completed: bool,
        summary: String,
        /// Kept work waits on the branch, so the branch stays.
        on_branch: bool,
    },
}

impl Step {
    /// The task the step is of (empty for [`Step::Nothing`]).
    pub(super) fn task(&self) -> &str {
        match self {
            Step::Nothing => "",
            Step::Rerun { task, .. }
            | Step::Verify { task, .. }
            | Step::Commit { task, .. }
            | Step::MarkCompleted { task, .. }
            | Step::ResumeExperiment { task, .. }
            | Step::FinishExperiment { task, .. } => task,
        }
    }
}

/// Where a cut-off experiment stood, as journalled.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Resume {
    pub branch: String,
    pub worktree: PathBuf,
    pub reference_worktree: Option<PathBuf>,
    pub start: String,
    pub start_ref: Option<String>,
    /// The last kept commit: where the branch goes back to.
    pub kept: String,
    /// A candidate committed but never decided (or whose discard was cut short): its
    /// iteration and commit, dropped when the experiment resumes.
    pub undecided: Option<(u32, String)>,
    /// Its measurements, baseline first, as journalled: what its tally is replayed from.
    pub records: Vec<crate::experiment::Record>,
}

/// A task the journal leaves unfinished, and what to finish of it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Open {
    /// The `seq` of the `task_started` its story begins at.
    pub seq: u64,
    pub step: Step,
    /// The worktree a delivery task was worked in (`run.isolation = "worktree"`).
    pub workspace: Option<WorkspaceAt>,
}

/// The steps a new run must finish first, one for each task whose story the journal's last
/// entries (oldest first) leave unfinished, in the order those tasks began.
pub(super) fn decide(entries: &[Entry]) -> Vec<Open> {
    let mut folds: Vec<(String, u64, Fold)> = Vec::new();
    for entry in entries {
        let event = &entry.event;
        let Some(id) = event.task_id() else { continue };
        if let Event::TaskStarted { .. } = event {
            // A task started again begins a new story: the old one is over.
            folds.retain(|(t, ..)| t != id);
            folds.push((id.to_string(), entry.seq, Fold::default()));
        } else if let Some((.., fold)) = folds.iter_mut().find(|(t, ..)| t == id) {
            fold.apply(event);
        }
    }
    folds
        .into_iter()
        .map(|(id, seq, fold)| Open {
            seq,
            workspace: fold.workspace.clone(),
            step: fold.step(id),
        })
        .filter(|open| open.step != Step::Nothing)
        .collect()
}

/// What the journal says of one task since its last `task_started`: the pure fold recovery
/// reads its next step from.
#[derive(Default)]
struct Fold {
    closed: bool,
    /// The attempt whose agent's turn has not ended, if any.
    cut_off: Option<u32>,
    report: Option<(u32, AgentReport)>,
    turn: Option<Turned>,
    gate: Option<GateReport>,
    commit_started: Option<(String, String)>,
    committed: bool,
    experiment: Option<Resume>,
    /// How the experiment ended, when it did: completed, its summary, whether work waits on
    /// its branch.
    ended: Option<(bool, String, bool)>,
    /// The experiment's measurements since it first started, its tally replays from.
    records: Vec<crate::experiment::Record>,
    /// The worktree the task is worked in, when it is not the user's tree.
    workspace: Option<WorkspaceAt>,
}

impl Fold {
    fn apply(&mut self, event: &Event) {
        match event {
            Event::TaskCompleted { .. } | Event::TaskBlocked { .. } => self.closed = true,
            Event::AttemptStarted { attempt, .. } => {
                self.forget_attempt();
                self.cut_off = Some(*attempt);
            }
            Event::AttemptFailed { .. } => {
                self.forget_attempt();
                self.cut_off = None;
            }
            Event::AgentFinished {
                attempt, report, ..
            } => self.report = Some((*attempt, (**report).clone())),
            Event::ChangesFound {
                attempt,
                changed,
                log,
                ..
            } => self.turned(*attempt, changed, log),
            Event::Judged { gate, .. } => self.gate = Some((**gate).clone()),
            Event::CommitStarted { head, message, .. } => {
                self.commit_started = head.clone().map(|h| (h, message.clone()));
            }
            Event::CommitMade { .. } => self.committed = true,
            Event::CommitFailed { .. } => self.commit_started = None,
            event => self.apply_experiment(event),
        }
    }

    /// An attempt begins or fails: what the one before left no longer counts.
    fn forget_attempt(&mut self) {
        self.report = None;
        self.turn = None;
        self.gate = None;
        self.commit_started = None;
        self.committed = false;
    }

    /// The agent's turn of `attempt` ended with these changes. A turn the policy does not
    /// judge (a signal, a budget, a provider to wait for, an environment to fix) did not
    /// finish: its attempt is run again.
    fn turned(&mut self, attempt: u32, changed: &[String], log: &std::path::Path) {
        let finished = self.report.as_ref().filter(|(a, r)| {
            *a == attempt
                && matches!(
                    super::policy::after_agent(r.outcome, false),
                    super::policy::Next::Judge { .. }
                )
        });
        self.turn = finished.map(|(_, report)| Turned {
            attempt,
            report: report.clone(),
            changed: changed.to_vec(),
            log: log.to_path_buf(),
        });
        if self.turn.is_some() {
            self.cut_off = None;
        }
    }

    fn apply_experiment(&mut self, event: &Event) {
        match event {
            Event::ExperimentStarted {
                branch,
                worktree,
                reference_worktree,
                start,
                start_ref,
                kept,
                resumed,
                ..
            } => {
                if !resumed {
                    self.records.clear();
                }
                // A resumed experiment goes on from the kept commit it was resumed at.
                self.experiment = Some(Resume {
                    branch: branch.clone(),
                    worktree: worktree.clone(),
                    reference_worktree: reference_worktree.clone(),
                    start: start.clone(),
                    start_ref: start_ref.clone(),
                    kept: if kept.is_empty() { start } else { kept }.clone(),
                    undecided: None,
                    records: Vec::new(),
                });
                self.ended = None;
            }
            Event::ExperimentEnded {
                completed,
                summary,
                on_branch,
                ..
            } => self.ended = Some((*completed, summary.clone(), *on_branch)),
            Event::Experiment { record, .. } => self.records.push((**record).clone()),
            Event::WorkspaceOpened {
                worktree,
                branch,
                start,
                start_ref,
                ..
            } => {
                self.workspace = Some(WorkspaceAt {
                    root: worktree.clone(),
                    branch: branch.clone(),
                    start: start.clone(),
                    start_ref: start_ref.clone(),
                });
            }
            Event::CandidateCommitted {
                iteration,
                sha,
                kept,
                ..
            }
            | Event::DiscardStarted {
                iteration,
                sha,
                kept,
                ..
            } => {
                if let Some(e) = &mut self.experiment {
                    e.kept = kept.clone();
                    e.undecided = Some((*iteration, sha.clone()));
                }
            }
            Event::CandidateKept { sha, .. } => {
                if let Some(e) = &mut self.experiment {
                    e.kept = sha.clone();
                    e.undecided = None;
                }
            }
            Event::CandidateDiscarded { .. } => {
                if let Some(e) = &mut self.experiment {
                    e.undecided = None;
                }
            }
            _ => {}
        }
    }

    /// The step the story leaves for task `id`.
    fn step(self, task: String) -> Step {
        if self.closed {
            return Step::Nothing;
        }
        if let Some(mut resume) = self.experiment {
            resume.records = self.records;
            return match self.ended {
                Some((completed, summary, on_branch)) => Step::FinishExperiment {
                    task,
                    resume,
                    completed,
                    summary,
                    on_branch,
                },
                None => Step::ResumeExperiment { task, resume },
            };
        }
        let Some(turn) = self.turn else {
            return match self.cut_off {
                Some(attempt) => Step::Rerun { task, attempt },
                None => Step::Nothing,
            };
        };
        match self.gate {
            Some(gate) if gate.passed && self.committed => Step::MarkCompleted { task, turn, gate },
            Some(gate) if gate.passed => Step::Commit {
                task,
                turn,
                gate,
                started: self.commit_started,
            },
            _ => Step::Verify { task, turn },
        }
    }
}

impl Runner<'_> {
    /// Finishes the step an earlier run died in, if the journal shows one and its task is still
    /// pending; how that task ended when the step ended it.
    /// When the journal shows nothing in flight but the opening snapshot of an attempt it
    /// never recorded is on the disk (the journal was deleted, damaged, or could not be
    /// written), that attempt's task is still pending and its work is in the tree: run it again
    /// from that snapshot, so what its agent changed counts.
    async fn unjournalled(&mut self, entries: &[Entry]) -> Result<Option<TaskEnd>> {
        // Checked from the cheapest look to the dearest: the label, the journal already read,
        // the queue, then the rotated journal, and the snapshot only to run the attempt again.
        let paths = &self.settings.paths;
        let Some(saved) = SavedOpening::read(paths) else {
            return Ok(None);
        };
        let names_it = |entries: &[Entry]| {
            entries.iter().any(|e| {
                matches!(&e.event, Event::AttemptStarted { log, .. }
                    if log.file_name().is_some_and(|n| n.to_string_lossy() == saved.log))
            })
        };
        if names_it(entries) {
            return Ok(None);
        }
        let queue = self.store.load()?;
        let Some(task) = queue
            .tasks
            .iter()
            .find(|t| {
                saved.is_of(t, saved.attempt)
                    && t.lifecycle() == Lifecycle::Pending
                    && !matches!(t.execution, Execution::Iterative(_))
            })
            .cloned()
        else {
            return Ok(None);
        };
        if names_it(&crate::journal::read_tail(
            &paths.log_dir.join("events.1.jsonl"),
        )) {
            return Ok(None);
        }
        let Some(snapshot) = saved.snapshot() else {
            return Ok(None);
        };
        self.emit(Event::Recovered {
            task: task_ref(&task),
            step: "rerun".into(),
            message: format!(
                "resuming {}: the journal does not say how attempt {} ended (it was lost, \
                 damaged or could not be written), but the tree as it was before that attempt \
                 was kept; running it again, and what it had already changed counts",
                task.id, saved.attempt
            ),
        });
        self.tree.carry = Some(super::Carried::resumed(snapshot));
        Ok(Some(self.deliver(task, None, None).await?))
    }

    /// Finishes what earlier runs left in flight, oldest task first, before anything else: the
    /// tasks `open` names, or (when it names none) an attempt the journal never recorded.
    pub(super) async fn recover_all(
        &mut self,
        entries: &[Entry],
        open: Vec<Open>,
    ) -> Result<Worked> {
        let mut worked = Worked::default();
        if open.is_empty() {
            self.worked = false;
            if let Some(end) = self.unjournalled(entries).await? {
                worked.count(end, self.worked);
            }
            return Ok(worked);
        }
        for open in open {
            self.worked = false;
            if let Some(end) = self.recover(entries, open).await?
                && worked.count(end, self.worked)
            {
                break;
            }
        }
        Ok(worked)
    }

    /// The tasks earlier runs left in flight that are still pending, for this run's start to
    /// name ([`crate::journal::event::InFlight`]): the next reader reads back to their starts.
    pub(super) fn in_flight(&self, open: &[Open]) -> Vec<crate::journal::event::InFlight> {
        let queue = self.store.load().ok();
        open.iter()
            .filter(|o| {
                queue.as_ref().is_none_or(|q| {
                    q.tasks
                        .iter()
                        .any(|t| t.id == o.step.task() && t.lifecycle() == Lifecycle::Pending)
                })
            })
            .map(|o| crate::journal::event::InFlight {
                task: o.step.task().to_string(),
                seq: o.seq,
            })
            .collect()
    }

    /// Finishes the step an earlier run died in, if its task is still pending; how that task
    /// ended when the step ended it.
    pub(super) async fn recover(
        &mut self,
        entries: &[Entry],
        open: Open,
    ) -> Result<Option<TaskEnd>> {
        let Open {
            step, workspace, ..
        } = open;
        let queue = self.store.load()?;
        let Some(task) = queue
            .tasks
            .iter()
            .find(|t| t.id == step.task() && t.lifecycle() == Lifecycle::Pending)
            .cloned()
        else {
            return Ok(None);
        };
        // A task whose kind changed since (edited by hand) starts afresh.
        match (step, matches!(task.execution, Execution::Iterative(_))) {
            (Step::ResumeExperiment { resume, .. }, true) => {
                self.resume_experiment(task, resume).await.map(Some)
            }
            (
                Step::FinishExperiment {
                    resume,
                    completed,
                    summary,
                    on_branch,
                    ..
                },
                true,
            ) => {
                let end = (completed, summary, on_branch);
                self.record_ended_experiment(&task, &resume, end)
                    .await
                    .map(Some)
            }
            (step, false) => match workspace {
                None => self.recover_delivery(entries, task, step).await,
                Some(at) => self.recover_isolated(entries, task, step, &at).await,
            },
            (_, true) => Ok(None),
        }
    }

    /// Finishes a delivery task's step in the worktree it was worked in, found again as the
    /// cut-off run left it; when it is gone, the task starts afresh.
    async fn recover_isolated(
        &mut self,
        entries: &[Entry],
        task: Task,
        step: Step,
        at: &WorkspaceAt,
    ) -> Result<Option<TaskEnd>> {
        let Some(workspace) = self.reopen_workspace(at).await else {
            self.note(
                crate::journal::event::Level::Warn,
                format!(
                    "the worktree {} that {} was worked in is gone or holds another branch; the \
                     task starts afresh (branch {} keeps what was committed on it)",
                    at.root.display(),
                    task.id,
                    at.branch
                ),
            );
            return Ok(None);
        };
        let user_tree = self.enter(workspace);
        let end = self.recover_delivery(entries, task.clone(), step).await;
        let told = match &end {
            Ok(Some(end)) => Some(end),
            _ => None,
        };
        self.leave(&task, user_tree, told).await;
        end
    }

    fn tell_recovered(&mut self, task: &Task, step: &str, message: String) {
        self.emit(Event::Recovered {
            task: task_ref(task),
            step: step.to_string(),
            message,
        });
    }

    /// Finishes a delivery task's step: its attempt run again, its changes verified, its
    /// commit made or its completion marked.
    async fn recover_delivery(
        &mut self,
        entries: &[Entry],
        task: Task,
        step: Step,
    ) -> Result<Option<TaskEnd>> {
        let id = task.id.clone();
        match step {
            Step::Rerun { attempt, .. } => {
                let Some(saved) = cut_off_opening(entries, &self.settings.paths, &task, attempt)
                else {
                    return Ok(None);
                };
                self.tell_recovered(
                    &task,
                    "rerun",
                    format!(
                        "resuming {id}: attempt {attempt} was cut off before the agent finished; \
                         running it again, and what it had already changed counts"
                    ),
                );
                self.tree.carry = Some(super::Carried::resumed(saved));
                Ok(Some(self.deliver(task, None, None).await?))
            }
            Step::Verify { turn, .. } => {
                self.tell_recovered(
                    &task,
                    "verify",
                    format!(
                        "resuming {id}: the agent had finished attempt {} before the last run \
                         stopped; verifying its changes",
                        turn.attempt
                    ),
                );
                Ok(Some(self.deliver(task, Some(turn), None).await?))
            }
            Step::Commit {
                turn,
                gate,
                started,
                ..
            } => {
                self.tell_recovered(
                    &task,
                    "commit",
                    format!(
                        "resuming {id}: its checks had passed before the last run stopped; \
                         committing its files"
                    ),
                );
                let (attempt, report, changed) = (turn.attempt, &turn.report, &turn.changed);
                let passed = self
                    .deliver_passed(&task, attempt, report, changed, &gate, started)
                    .await?;
                Ok(Some(match passed {
                    super::Passed::End(end) => end,
                    super::Passed::Redo(conflict) => {
                        match self.redo_on_new_tip(task, attempt, &conflict, None).await? {
                            Ok((task, first)) => self.deliver(task, None, Some(first)).await?,
                            Err(end) => end,
                        }
                    }
                }))
            }
            Step::MarkCompleted { turn, gate, .. } => {
                self.tell_recovered(
                    &task,
                    "mark_completed",
                    format!(
                        "resuming {id}: its commit was made before the last run stopped; marking \
                         it completed"
                    ),
                );
                self.land_result(&task, &turn.changed, false).await;
                let completed =
                    self.complete(&task, turn.attempt, &turn.report, &turn.changed, &gate)?;
                Ok(Some(if completed {
                    TaskEnd::Completed
                } else {
                    TaskEnd::Blocked
                }))
            }
            Step::Nothing | Step::ResumeExperiment { .. } | Step::FinishExperiment { .. } => {
                Ok(None)
            }
        }
    }

    /// Resumes an experiment cut off in its worktree.
    async fn resume_experiment(&mut self, task: Task, resume: Resume) -> Result<TaskEnd> {
        let dropped = match &resume.undecided {
            Some((iteration, sha)) => format!(
                "; candidate {} of iteration {iteration} was not decided, so it is dropped",
                crate::git::short_sha(sha)
            ),
            None => String::new(),
        };
        self.tell_recovered(
            &task,
            "resume_experiment",
            format!(
                "resuming {}: its experiment was cut off; it goes on in {} from the kept commit \
                 {}{dropped}",
                task.id,
                resume.worktree.display(),
                crate::git::short_sha(&resume.kept)
            ),
        );
        self.experiment(task, Some(resume)).await
    }

    /// Records how an experiment that had ended before the run stopped ended: its worktrees
    /// tidied (its branch kept when the work waits on it), then the task completed or blocked
    /// with the experiment's summary.
    async fn record_ended_experiment(
        &mut self,
        task: &Task,
        resume: &Resume,
        (completed, summary, on_branch): (bool, String, bool),
    ) -> Result<TaskEnd> {
        self.tell_recovered(
            task,
            "finish_experiment",
            format!(
                "resuming {}: its experiment had ended before the last run stopped; recording \
                 how it ended",
                task.id
            ),
        );
        let trees = [
            Some(resume.worktree.clone()),
            resume.reference_worktree.clone(),
        ];
        self.tidy(task, &trees, (!on_branch).then_some(resume.branch.as_str()))
            .await;
        if !completed {
            return self.block(task, summary);
        }
        let marked = self.record_completion(
            task,
            &AttemptRecord {
                status: AttemptStatus::Completed,
                attempt: 0,
                report: None,
                changed: &[],
                gate: None,
                summary: &summary,
                notes: &[],
            },
        )?;
        Ok(if marked {
            TaskEnd::Completed
        } else {
            TaskEnd::Blocked
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Outcome;
    use crate::exec::Exit;
    use crate::journal::event::{RunEnd, TaskRef};

    fn t(id: &str) -> TaskRef {
        TaskRef {
            id: id.into(),
            title: id.into(),
        }
    }

    fn report() -> AgentReport {
        AgentReport::bare(Outcome::Ok, String::new(), Exit::Code(0), None)
    }

    fn gate(passed: bool) -> GateReport {
        GateReport {
            passed,
            ..GateReport::default()
        }
    }

    fn steps(entries: &[Entry]) -> Vec<Step> {
        decide(entries).into_iter().map(|open| open.step).collect()
    }

    fn entries(events: Vec<Event>) -> Vec<Entry> {
        events
            .into_iter()
            .enumerate()
            .map(|(i, event)| Entry {
                seq: i as u64,
                time: String::new(),
                run_id: "r".into(),
                worker: None,
                event,
            })
            .collect()
    }

    fn started(id: &str, attempt: u32) -> Vec<Event> {
        vec![
            Event::TaskStarted {
                task: t(id),
                number: 1,
            },
            Event::AttemptStarted {
                task: t(id),
                attempt,
                max_attempts: 3,
                log: "a.log".into(),
            },
        ]
    }

    fn finished(id: &str, attempt: u32) -> Vec<Event> {
        finished_as(id, attempt, Outcome::Ok)
    }

    fn finished_as(id: &str, attempt: u32, outcome: Outcome) -> Vec<Event> {
        vec![
            Event::AgentFinished {
                task: t(id),
                attempt,
                report: Box::new(AgentReport::bare(
                    outcome,
                    String::new(),
                    Exit::Code(0),
                    None,
                )),
            },
            Event::ChangesFound {
                task: t(id),
                attempt,
                changed: vec!["a.txt".into()],
                restored: vec![],
                log: "a.log".into(),
            },
        ]
    }

    fn judged(id: &str, passed: bool) -> Event {
        Event::Judged {
            task: t(id),
            attempt: 1,
            gate: Box::new(gate(passed)),
        }
    }

    fn turned() -> Turned {
        Turned {
            attempt: 1,
            report: report(),
            changed: vec!["a.txt".into()],
            log: "a.log".into(),
        }
    }

    fn candidate(iteration: u32) -> Event {
        Event::CandidateCommitted {
            task: t("E"),
            iteration,
            sha: format!("c{iteration}"),
            kept: "k".into(),
            git_ref: String::new(),
        }
    }

    fn task_started(id: &str) -> Event {
        Event::TaskStarted {
            task: t(id),
            number: 1,
        }
    }

    fn experiment_started() -> Event {
        Event::ExperimentStarted {
            task: t("E"),
            branch: "autodev/E".into(),
            worktree: "/w/E".into(),
            reference_worktree: None,
            start: "s".into(),
            start_ref: Some("refs/heads/main".into()),
            kept: "s".into(),
            resumed: false,
        }
    }

    fn resume(kept: &str, undecided: Option<(u32, &str)>) -> Resume {
        Resume {
            branch: "autodev/E".into(),
            worktree: "/w/E".into(),
            reference_worktree: None,
            start: "s".into(),
            start_ref: Some("refs/heads/main".into()),
            kept: kept.into(),
            undecided: undecided.map(|(i, s)| (i, s.to_string())),
            records: Vec::new(),
        }
    }

    #[test]
    fn journal_tails_map_to_their_next_step() {
        let commit_started = Event::CommitStarted {
            task: t("T1"),
            paths: vec!["a.txt".into()],
            message: "m".into(),
            head: Some("h".into()),
        };
        let cases: Vec<(&str, Vec<Event>, Step)> = vec![
            ("an empty journal", vec![], Step::Nothing),
            (
                "killed during the agent",
                started("T1", 1),
                Step::Rerun {
                    task: "T1".into(),
                    attempt: 1,
                },
            ),
            (
                "a signal stopped the agent (Ctrl-C, autodev stop, SIGHUP)",
                [started("T1", 1), finished_as("T1", 1, Outcome::Interrupted)].concat(),
                Step::Rerun {
                    task: "T1".into(),
                    attempt: 1,
                },
            ),
            (
                "an old journal's budget stop written as a turn",
                [started("T1", 2), finished_as("T1", 2, Outcome::OverBudget)].concat(),
                Step::Rerun {
                    task: "T1".into(),
                    attempt: 2,
                },
            ),
            (
                "killed while waiting for a rate-limited provider",
                [started("T1", 1), finished_as("T1", 1, Outcome::RateLimited)].concat(),
                Step::Rerun {
                    task: "T1".into(),
                    attempt: 1,
                },
            ),
            (
                "halted on an environment to fix",
                [started("T1", 1), finished_as("T1", 1, Outcome::Auth)].concat(),
                Step::Rerun {
                    task: "T1".into(),
                    attempt: 1,
                },
            ),
            (
                "killed during the checks",
                [started("T1", 1), finished("T1", 1)].concat(),
                Step::Verify {
                    task: "T1".into(),
                    turn: turned(),
                },
            ),
            (
                "the gate failed but the failure was not recorded",
                [
                    started("T1", 1),
                    finished("T1", 1),
                    vec![judged("T1", false)],
                ]
                .concat(),
                Step::Verify {
                    task: "T1".into(),
                    turn: turned(),
                },
            ),
            (
                "killed after the gate passed",
                [
                    started("T1", 1),
                    finished("T1", 1),
                    vec![judged("T1", true)],
                ]
                .concat(),
                Step::Commit {
                    task: "T1".into(),
                    turn: turned(),
                    gate: gate(true),
                    started: None,
                },
            ),
            (
                "killed inside the commit",
                [
                    started("T1", 1),
                    finished("T1", 1),
                    vec![judged("T1", true), commit_started.clone()],
                ]
                .concat(),
                Step::Commit {
                    task: "T1".into(),
                    turn: turned(),
                    gate: gate(true),
                    started: Some(("h".into(), "m".into())),
                },
            ),
            (
                "the commit failed and the run halted",
                [
                    started("T1", 1),
                    finished("T1", 1),
                    vec![
                        judged("T1", true),
                        commit_started.clone(),
                        Event::CommitFailed {
                            task: t("T1"),
                            reason: "hook".into(),
                        },
                        Event::RunFinished {
                            end: RunEnd::EnvError,
                            message: String::new(),
                            attempted: 1,
                            completed: 0,
                            blocked: 0,
                            summary: Default::default(),
                        },
                    ],
                ]
                .concat(),
                Step::Commit {
                    task: "T1".into(),
                    turn: turned(),
                    gate: gate(true),
                    started: None,
                },
            ),
            (
                "killed after the commit, before task.json",
                [
                    started("T1", 1),
                    finished("T1", 1),
                    vec![
                        judged("T1", true),
                        commit_started,
                        Event::CommitMade {
                            task: t("T1"),
                            sha: "s".into(),
                            ignored: vec![],
                        },
                    ],
                ]
                .concat(),
                Step::MarkCompleted {
                    task: "T1".into(),
                    turn: turned(),
                    gate: gate(true),
                },
            ),
            (
                "the task was completed",
                [
                    started("T1", 1),
                    finished("T1", 1),
                    vec![
                        judged("T1", true),
                        Event::TaskCompleted {
                            task: t("T1"),
                            attempt: 1,
                            summary: String::new(),
                            changed: vec![],
                            gate: Box::new(gate(true)),
                            learning_notes: vec![],
                        },
                    ],
                ]
                .concat(),
                Step::Nothing,
            ),
            (
                "a failed attempt was recorded, the next one was cut off",
                [
                    started("T1", 1),
                    finished("T1", 1),
                    vec![
                        judged("T1", false),
                        Event::AttemptFailed {
                            task: t("T1"),
                            attempt: 1,
                            max_attempts: 3,
                            summary: String::new(),
                            changed: vec![],
                            gate: None,
                            learning_notes: vec![],
                            retry_in_seconds: None,
                        },
                    ],
                ]
                .concat(),
                Step::Nothing,
            ),
            (
                "a task begun after it leaves it in flight",
                [
                    started("T1", 1),
                    finished("T1", 1),
                    vec![Event::TaskStarted {
                        task: t("T2"),
                        number: 2,
                    }],
                ]
                .concat(),
                Step::Verify {
                    task: "T1".into(),
                    turn: turned(),
                },
            ),
            (
                "an experiment begun, nothing decided yet",
                vec![task_started("E"), experiment_started()],
                Step::ResumeExperiment {
                    task: "E".into(),
                    resume: resume("s", None),
                },
            ),
            (
                "an experiment candidate committed, not measured",
                vec![task_started("E"), experiment_started(), candidate(1)],
                Step::ResumeExperiment {
                    task: "E".into(),
                    resume: resume("k", Some((1, "c1"))),
                },
            ),
            (
                "a discard cut short",
                vec![
                    task_started("E"),
                    experiment_started(),
                    candidate(1),
                    Event::DiscardStarted {
                        task: t("E"),
                        iteration: 1,
                        sha: "c1".into(),
                        kept: "k".into(),
                    },
                ],
                Step::ResumeExperiment {
                    task: "E".into(),
                    resume: resume("k", Some((1, "c1"))),
                },
            ),
            (
                "a kept candidate is where it goes on from",
                vec![
                    task_started("E"),
                    experiment_started(),
                    candidate(1),
                    Event::CandidateKept {
                        task: t("E"),
                        iteration: 1,
                        sha: "c1".into(),
                    },
                ],
                Step::ResumeExperiment {
                    task: "E".into(),
                    resume: resume("c1", None),
                },
            ),
            (
                "an experiment that ended, its task not marked",
                vec![
                    task_started("E"),
                    experiment_started(),
                    Event::ExperimentEnded {
                        task: t("E"),
                        branch: "autodev/E".into(),
                        kept: "c1".into(),
                        merged: true,
                        on_branch: false,
                        message: String::new(),
                        completed: true,
                        summary: "Improved".into(),
                    },
                ],
                Step::FinishExperiment {
                    task: "E".into(),
                    resume: resume("s", None),
                    completed: true,
                    summary: "Improved".into(),
                    on_branch: false,
                },
            ),
            (
                "an experiment that ended and whose task was marked",
                vec![
                    task_started("E"),
                    experiment_started(),
                    Event::ExperimentEnded {
                        task: t("E"),
                        branch: "autodev/E".into(),
                        kept: "c1".into(),
                        merged: true,
                        on_branch: false,
                        message: String::new(),
                        completed: true,
                        summary: "Improved".into(),
                    },
                    Event::TaskCompleted {
                        task: t("E"),
                        attempt: 1,
                        summary: String::new(),
                        changed: vec![],
                        gate: Box::new(gate(true)),
                        learning_notes: vec![],
                    },
                ],
                Step::Nothing,
            ),
            (
                "a resumed experiment cut off again goes on from where it resumed",
                vec![
                    task_started("E"),
                    experiment_started(),
                    candidate(1),
                    Event::CandidateKept {
                        task: t("E"),
                        iteration: 1,
                        sha: "c1".into(),
                    },
                    Event::Recovered {
                        task: t("E"),
                        step: "resume_experiment".into(),
                        message: String::new(),
                    },
                    Event::ExperimentStarted {
                        task: t("E"),
                        branch: "autodev/E".into(),
                        worktree: "/w/E".into(),
                        reference_worktree: None,
                        start: "s".into(),
                        start_ref: Some("refs/heads/main".into()),
                        kept: "c1".into(),
                        resumed: true,
                    },
                ],
                Step::ResumeExperiment {
                    task: "E".into(),
                    resume: resume("c1", None),
                },
            ),
            (
                "cut off before its worktree existed",
                vec![task_started("E"), candidate(1)],
                Step::Nothing,
            ),
        ];
        for (name, events, step) in cases {
            let want: Vec<Step> = [step].into_iter().filter(|s| *s != Step::Nothing).collect();
            assert_eq!(steps(&entries(events)), want, "{name}");
        }
    }

    #[test]
    fn every_task_in_flight_has_its_step_in_the_order_they_began() {
        let mut events = [started("T1", 1), finished("T1", 1)].concat();
        events.extend(started("T2", 1));
        events.extend([task_started("E"), experiment_started()]);
        events.extend(started("T4", 1));
        events.push(Event::TaskCompleted {
            task: t("T4"),
            attempt: 1,
            summary: String::new(),
            changed: vec![],
            gate: Box::new(gate(true)),
            learning_notes: vec![],
        });
        let open = decide(&entries(events));
        let tasks: Vec<(&str, u64)> = open.iter().map(|o| (o.step.task(), o.seq)).collect();
        assert_eq!(tasks, [("T1", 0), ("T2", 4), ("E", 6)]);
        assert!(matches!(open[0].step, Step::Verify { .. }));
        assert!(matches!(open[1].step, Step::Rerun { attempt: 1, .. }));
        assert!(matches!(open[2].step, Step::ResumeExperiment { .. }));
    }

    #[test]
    fn a_resumed_experiment_carries_its_journalled_measurements_since_it_first_began() {
        let measured = |iteration: u32| Event::Experiment {
            task: t("E"),
            record: Box::new(crate::experiment::Record {
                task_id: "E".into(),
                iteration,
                ..Default::default()
            }),
            progress: Box::default(),
        };
        let mut resumed = experiment_started();
        if let Event::ExperimentStarted { resumed, .. } = &mut resumed {
            *resumed = true;
        }
        let events = vec![
            task_started("E"),
            experiment_started(),
            measured(0),
            measured(1),
            resumed,
            measured(2),
        ];
        let open = decide(&entries(events));
        let Step::ResumeExperiment { resume, .. } = &open[0].step else {
            panic!("{open:?}");
        };
        let iterations: Vec<u32> = resume.records.iter().map(|r| r.iteration).collect();
        assert_eq!(iterations, [0, 1, 2]);
    }
}
