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
use super::{Runner, TaskEnd, task_ref};
use crate::backend::AgentReport;
use crate::error::Result;
use crate::gate::GateReport;
use crate::journal::Entry;
use crate::journal::event::Event;
use crate::task::Lifecycle;
use crate::task::contract::Execution;

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
}

/// The step a new run must finish first, from the journal's last entries (oldest first).
pub(super) fn decide(entries: &[Entry]) -> Step {
    let Some(start) = entries
        .iter()
        .rposition(|e| matches!(e.event, Event::TaskStarted { .. }))
    else {
        return Step::Nothing;
    };
    let Event::TaskStarted { task, .. } = &entries[start].event else {
        return Step::Nothing;
    };
    let id = task.id.clone();
    let mut report: Option<(u32, AgentReport)> = None;
    let mut turn: Option<Turned> = None;
    let mut gate: Option<GateReport> = None;
    let mut commit_started: Option<(String, String)> = None;
    let mut committed = false;
    let mut experiment: Option<Resume> = None;
    // How the experiment ended, when it did: completed, its summary, whether work waits on
    // its branch.
    let mut ended: Option<(bool, String, bool)> = None;
    let mut cut_off: Option<u32> = None;
    for entry in &entries[start..] {
        let event = &entry.event;
        if event_task(event) != Some(id.as_str()) {
            continue;
        }
        match event {
            Event::TaskCompleted { .. } | Event::TaskBlocked { .. } => return Step::Nothing,
            Event::AttemptStarted { attempt, .. } => {
                cut_off = Some(*attempt);
                report = None;
                turn = None;
                gate = None;
                commit_started = None;
                committed = false;
            }
            Event::AttemptFailed { .. } => {
                cut_off = None;
                report = None;
                turn = None;
                gate = None;
                commit_started = None;
                committed = false;
            }
            Event::AgentFinished {
                attempt, report: r, ..
            } => report = Some((*attempt, (**r).clone())),
            Event::ChangesFound {
                attempt,
                changed,
                log,
                ..
            } => {
                // A turn the policy does not judge (a signal, a budget, a provider to wait for,
                // an environment to fix) did not finish: its attempt is run again.
                let finished = report.as_ref().filter(|(a, r)| {
                    a == attempt
                        && matches!(
                            super::policy::after_agent(r.outcome, false),
                            super::policy::Next::Judge { .. }
                        )
                });
                if finished.is_none() {
                    turn = None;
                    continue;
                }
                cut_off = None;
                turn = finished.map(|(_, r)| Turned {
                    attempt: *attempt,
                    report: r.clone(),
                    changed: changed.clone(),
                    log: log.clone(),
                });
            }
            Event::Judged { gate: g, .. } => gate = Some((**g).clone()),
            Event::CommitStarted { head, message, .. } => {
                commit_started = head.clone().map(|h| (h, message.clone()));
            }
            Event::CommitMade { .. } => committed = true,
            Event::CommitFailed { .. } => commit_started = None,
            Event::ExperimentStarted {
                branch,
                worktree,
                reference_worktree,
                start,
                start_ref,
                kept,
                ..
            } => {
                // A resumed experiment goes on from the kept commit it was resumed at.
                experiment = Some(Resume {
                    branch: branch.clone(),
                    worktree: worktree.clone(),
                    reference_worktree: reference_worktree.clone(),
                    start: start.clone(),
                    start_ref: start_ref.clone(),
                    kept: if kept.is_empty() {
                        start.clone()
                    } else {
                        kept.clone()
                    },
                    undecided: None,
                });
                ended = None;
            }
            Event::ExperimentEnded {
                completed,
                summary,
                on_branch,
                ..
            } => ended = Some((*completed, summary.clone(), *on_branch)),
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
                if let Some(e) = &mut experiment {
                    e.kept = kept.clone();
                    e.undecided = Some((*iteration, sha.clone()));
                }
            }
            Event::CandidateKept { sha, .. } => {
                if let Some(e) = &mut experiment {
                    e.kept = sha.clone();
                    e.undecided = None;
                }
            }
            Event::CandidateDiscarded { .. } => {
                if let Some(e) = &mut experiment {
                    e.undecided = None;
                }
            }
            _ => {}
        }
    }
    if let Some(resume) = experiment {
        return match ended {
            Some((completed, summary, on_branch)) => Step::FinishExperiment {
                task: id,
                resume,
                completed,
                summary,
                on_branch,
            },
            None => Step::ResumeExperiment { task: id, resume },
        };
    }
    let Some(turn) = turn else {
        return match cut_off {
            Some(attempt) => Step::Rerun { task: id, attempt },
            None => Step::Nothing,
        };
    };
    match gate {
        Some(gate) if gate.passed && committed => Step::MarkCompleted {
            task: id,
            turn,
            gate,
        },
        Some(gate) if gate.passed => Step::Commit {
            task: id,
            turn,
            gate,
            started: commit_started,
        },
        _ => Step::Verify { task: id, turn },
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
        self.sinks.emit(Event::Recovered {
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
        Ok(Some(self.deliver(task, None).await?))
    }

    pub(super) async fn recover(&mut self, entries: &[Entry]) -> Result<Option<TaskEnd>> {
        let step = decide(entries);
        let id = match &step {
            Step::Nothing => return self.unjournalled(entries).await,
            Step::Rerun { task, .. }
            | Step::Verify { task, .. }
            | Step::Commit { task, .. }
            | Step::MarkCompleted { task, .. }
            | Step::ResumeExperiment { task, .. }
            | Step::FinishExperiment { task, .. } => task.clone(),
        };
        let queue = self.store.load()?;
        let Some(task) = queue
            .tasks
            .iter()
            .find(|t| t.id == id && t.lifecycle() == Lifecycle::Pending)
            .cloned()
        else {
            return Ok(None);
        };
        let iterative = matches!(task.execution, Execution::Iterative(_));
        let tell = |runner: &mut Self, step: &str, message: String| {
            runner.sinks.emit(Event::Recovered {
                task: task_ref(&task),
                step: step.to_string(),
                message,
            });
        };
        match step {
            Step::Nothing => Ok(None),
            Step::Rerun { attempt, .. } if !iterative => {
                let Some(saved) = cut_off_opening(entries, &self.settings.paths, &task, attempt)
                else {
                    return Ok(None);
                };
                tell(
                    self,
                    "rerun",
                    format!(
                        "resuming {id}: attempt {attempt} was cut off before the agent finished; \
                         running it again, and what it had already changed counts"
                    ),
                );
                self.tree.carry = Some(super::Carried::resumed(saved));
                Ok(Some(self.deliver(task.clone(), None).await?))
            }
            Step::Verify { turn, .. } if !iterative => {
                tell(
                    self,
                    "verify",
                    format!(
                        "resuming {id}: the agent had finished attempt {} before the last run \
                         stopped; verifying its changes",
                        turn.attempt
                    ),
                );
                Ok(Some(self.deliver(task.clone(), Some(turn)).await?))
            }
            Step::Commit {
                turn,
                gate,
                started,
                ..
            } if !iterative => {
                tell(
                    self,
                    "commit",
                    format!(
                        "resuming {id}: its checks had passed before the last run stopped; \
                         committing its files"
                    ),
                );
                let end = self
                    .deliver_passed(
                        &task,
                        turn.attempt,
                        &turn.report,
                        &turn.changed,
                        &gate,
                        started,
                    )
                    .await?;
                Ok(Some(end))
            }
            Step::MarkCompleted { turn, gate, .. } if !iterative => {
                tell(
                    self,
                    "mark_completed",
                    format!(
                        "resuming {id}: its commit was made before the last run stopped; marking \
                         it completed"
                    ),
                );
                let completed =
                    self.complete(&task, turn.attempt, &turn.report, &turn.changed, &gate)?;
                Ok(Some(if completed {
                    TaskEnd::Completed
                } else {
                    TaskEnd::Blocked
                }))
            }
            Step::ResumeExperiment { resume, .. } if iterative => {
                let dropped = match &resume.undecided {
                    Some((iteration, sha)) => format!(
                        "; candidate {} of iteration {iteration} was not decided, so it is dropped",
                        crate::git::short_sha(sha)
                    ),
                    None => String::new(),
                };
                tell(
                    self,
                    "resume_experiment",
                    format!(
                        "resuming {id}: its experiment was cut off; it goes on in {} from the \
                         kept commit {}{dropped}",
                        resume.worktree.display(),
                        crate::git::short_sha(&resume.kept)
                    ),
                );
                Ok(Some(self.experiment(task.clone(), Some(resume)).await?))
            }
            Step::FinishExperiment {
                resume,
                completed,
                summary,
                on_branch,
                ..
            } if iterative => {
                tell(
                    self,
                    "finish_experiment",
                    format!(
                        "resuming {id}: its experiment had ended before the last run stopped; \
                         recording how it ended"
                    ),
                );
                let end = self
                    .record_ended_experiment(&task, &resume, completed, summary, on_branch)
                    .await?;
                Ok(Some(end))
            }
            // A task whose kind changed since (edited by hand) starts afresh.
            _ => Ok(None),
        }
    }

    /// Records how an experiment that had ended before the run stopped ended: its worktrees
    /// tidied (its branch kept when the work waits on it), then the task completed or blocked
    /// with the experiment's summary.
    async fn record_ended_experiment(
        &mut self,
        task: &crate::task::Task,
        resume: &Resume,
        completed: bool,
        summary: String,
        on_branch: bool,
    ) -> Result<TaskEnd> {
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
            &super::records::AttemptRecord {
                status: "completed",
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

/// The task an event is about, if any.
fn event_task(event: &Event) -> Option<&str> {
    let task = match event {
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
        | Event::ExperimentEnded { task, .. }
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

    fn entries(events: Vec<Event>) -> Vec<Entry> {
        events
            .into_iter()
            .enumerate()
            .map(|(i, event)| Entry {
                seq: i as u64,
                time: String::new(),
                run_id: "r".into(),
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
                "only the newest task counts",
                [
                    started("T1", 1),
                    finished("T1", 1),
                    vec![Event::TaskStarted {
                        task: t("T2"),
                        number: 2,
                    }],
                ]
                .concat(),
                Step::Nothing,
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
            assert_eq!(decide(&entries(events)), step, "{name}");
        }
    }
}
