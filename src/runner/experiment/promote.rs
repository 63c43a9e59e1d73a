//! Promotion: an experiment's winning result measured again on top of the user's current tip
//! before it lands there. At the end of a run whose user committed meanwhile
//! (`promotion = "auto"`), and by `autodev promote TASK` for a result that waits on its branch
//! (`promotion = "manual"`, or one left there): the result's commits are replayed onto the tip
//! in the experiment's candidate tree, the tip is checked out in a reference tree, the two are
//! measured against each other (interleaved pairs when the task takes three samples or more),
//! and the result lands only if it still wins there. When it does not, its branch goes back to
//! what it was, and the reason says what the tip measured.

use std::path::{Path, PathBuf};

use super::super::branches::{Line, clear_of_your_edits};
use super::super::{Options, Runner};
use super::measure::Bench;
use crate::config::Settings;
use crate::error::{Error, Exit, Result};
use crate::experiment::{Action, Outcome, Policy, decide, decide_pairs};
use crate::gate::Plan;
use crate::git::{self, short_sha, worktree};
use crate::journal::Sink;
use crate::journal::event::{Event, Level};
use crate::task::contract::{Completion, Execution};
use crate::task::{Backup, Task, safe_id};

/// What a result is measured with: from its task.
pub(super) struct Yardstick<'a> {
    pub policy: &'a Policy,
    /// Samples per tree: three or more are taken in interleaved pairs.
    pub repeats: u32,
    pub build: Option<&'a str>,
}

/// What measuring the result again on the tip found.
pub(super) enum Recheck {
    /// It still wins there: its commits replayed onto the tip (the newest of them), and the
    /// decision's reason.
    Wins {
        tip: String,
        reason: String,
    },
    /// The tip has its change already: nothing is left to land.
    AlreadyThere,
    /// It does not land: why (it conflicts with the tip, a sample failed, the gain is gone).
    /// Its branch is back where it was.
    Refused(String),
    Interrupted,
}

/// The two trees a recheck measures in: the candidate's, on the result's branch, and the
/// reference's, detached.
pub(super) struct Arms<'b> {
    pub candidate: &'b mut Bench,
    pub candidate_dir: &'b Path,
    pub reference: &'b mut Bench,
    pub reference_dir: &'b Path,
}

impl Runner<'_> {
    /// Replays the result the candidate tree has checked out (its commits since `start`) onto
    /// `onto`, points the reference tree at `onto`, and measures one against the other.
    pub(super) async fn recheck(
        &mut self,
        task: &Task,
        stick: &Yardstick<'_>,
        arms: Arms<'_>,
        (start, onto): (&str, &str),
    ) -> Result<Recheck> {
        let before = match git::head(arms.candidate_dir).await {
            Ok(sha) => sha,
            Err(why) => return Ok(Recheck::Refused(format!("its tree cannot be read ({why})"))),
        };
        // Landed already (by a run killed before it could say so, or by hand), perhaps as
        // other commits than these: replaying them would only conflict with themselves.
        if worktree::has_change(arms.candidate_dir, start, &before, onto).await {
            return Ok(Recheck::AlreadyThere);
        }
        match worktree::replay(arms.candidate_dir, start, onto).await {
            Ok(Ok(())) => {}
            Ok(Err(conflict)) => {
                return Ok(Recheck::Refused(format!(
                    "it conflicts with your newer commits ({})",
                    crate::ui::preview(&conflict.files, 10)
                )));
            }
            Err(why) => {
                return Ok(Recheck::Refused(format!(
                    "it could not be replayed onto your branch ({why})"
                )));
            }
        }
        let tip = match git::head(arms.candidate_dir).await {
            Ok(sha) => sha,
            Err(why) => return Ok(Recheck::Refused(format!("its tree cannot be read ({why})"))),
        };
        if tip == onto {
            return Ok(Recheck::AlreadyThere);
        }
        let outcome = self
            .measure_on_tip(
                task,
                stick,
                arms.reference_dir,
                (arms.candidate, arms.reference),
                (&tip, onto),
            )
            .await?;
        if !matches!(outcome, Recheck::Wins { .. }) {
            // The result waits as it was, not as replayed onto a tip it did not win on.
            if let Err(why) = worktree::reset_to(arms.candidate_dir, &before).await {
                self.note(
                    Level::Warn,
                    format!(
                        "the branch of {} could not be put back to {} ({why}); it holds the \
                         result replayed onto {}",
                        task.id,
                        short_sha(&before),
                        short_sha(onto)
                    ),
                );
            }
        }
        Ok(outcome)
    }

    /// Measures `tip` (checked out in the candidate tree) against `onto` (checked out in the
    /// reference tree here) and decides.
    async fn measure_on_tip(
        &mut self,
        task: &Task,
        stick: &Yardstick<'_>,
        reference_dir: &Path,
        (candidate, reference): (&mut Bench, &mut Bench),
        (tip, onto): (&str, &str),
    ) -> Result<Recheck> {
        if let Err(why) = worktree::check_out(reference_dir, onto).await {
            return Ok(Recheck::Refused(format!(
                "your tip could not be checked out to measure it ({why})"
            )));
        }
        for (bench, at) in [(&mut *candidate, tip), (&mut *reference, onto)] {
            bench.at = at.to_string();
            bench.built = None;
        }
        let log = self.step_log(task, "promotion")?;
        let what = "promotion: the result against your tip";
        let decision = if stick.repeats >= 3 {
            let measured = self
                .measure_pairs(
                    task,
                    (reference, candidate),
                    stick.build,
                    (what, stick.repeats, None),
                    log,
                )
                .await?;
            if measured.interrupted {
                return Ok(Recheck::Interrupted);
            }
            let pairs = match (&measured.reference, &measured.series) {
                (Some(Err(why)), _) => Err(format!("your tip's sample failed: {why}")),
                (_, Err(why)) => Err(why.clone()),
                (Some(Ok(a)), Ok(b)) => Ok((a, b)),
                (None, Ok(_)) => Err("the tip was not measured".to_string()),
            };
            decide_pairs(
                stick.policy,
                pairs.as_ref().map(|p| *p).map_err(String::as_str),
                None,
            )
        } else {
            let on_tip = self
                .measure_series(
                    task,
                    reference,
                    stick.build,
                    ("promotion: your tip", stick.repeats),
                    log.clone(),
                )
                .await?;
            if on_tip.interrupted {
                return Ok(Recheck::Interrupted);
            }
            let result = self
                .measure_series(
                    task,
                    candidate,
                    stick.build,
                    ("promotion: the result", stick.repeats),
                    log,
                )
                .await?;
            if result.interrupted {
                return Ok(Recheck::Interrupted);
            }
            match &on_tip.series {
                Ok(series) => decide(
                    stick.policy,
                    series,
                    result.series.as_ref().map_err(String::as_str),
                ),
                Err(why) => {
                    let why = format!("your tip's sample failed: {why}");
                    decide(stick.policy, &Default::default(), Err(&why))
                }
            }
        };
        let wins = decision.action == Action::Keep
            && matches!(decision.outcome, Outcome::Improved | Outcome::TargetMet);
        Ok(if wins {
            Recheck::Wins {
                tip: tip.to_string(),
                reason: decision.reason,
            }
        } else if decision.outcome == Outcome::Invalid {
            Recheck::Refused(format!(
                "it could not be measured there: {}",
                decision.reason
            ))
        } else {
            Recheck::Refused(format!("its gain is gone on your tip: {}", decision.reason))
        })
    }
}

/// `autodev promote TASK`: measures the result of experiment `task` that waits on its branch
/// again on top of the user's current `HEAD`, and fast-forwards the user's branch to it (the
/// result replayed there) only if it still wins. The caller holds the run lock.
pub fn promote(
    settings: &Settings,
    task: &Task,
    branch: Option<&str>,
    sinks: Vec<Box<dyn Sink>>,
) -> Result<Exit> {
    let runtime = crate::exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
    let options = Options {
        max_tasks: 1,
        max_attempts: 1,
        max_epochs: 1,
        backend: settings.config.backend.default,
        dry_run: false,
        console: true,
        max_cost_usd: None,
        max_tokens: None,
        workers: 1,
        force: false,
    };
    runtime.block_on(async {
        let store = crate::task::TaskStore::new(&settings.paths);
        let mut runner = Runner::new(settings, &options, store, sinks)?;
        runner.promote(task, branch).await
    })
}

/// Where a promotion measures: two worktrees of its own, removed when it ends.
struct Stage {
    candidate: PathBuf,
    reference: PathBuf,
}

/// A result that waits on its branch, and where it is to land: the user's branch.
struct Waiting {
    branch: String,
    /// The branch's tip, and the newest commit it shares with `head`.
    result: String,
    start: String,
    head: String,
    head_ref: Option<String>,
    layout: worktree::Layout,
}

impl Runner<'_> {
    async fn promote(&mut self, task: &Task, asked: Option<&str>) -> Result<Exit> {
        let (Execution::Iterative(iterative), Completion::Numeric(numeric)) =
            (&task.execution, &task.completion)
        else {
            return Err(Error::setup(
                format!(
                    "task {} is not an experiment: only an iterative task with a numeric \
                     completion has a result to promote",
                    task.id
                ),
                "`autodev task show` shows its execution and completion",
            ));
        };
        let policy = Policy::new(numeric, iterative).map_err(|why| {
            Error::setup(
                format!("task {}: {why}", task.id),
                "correct it in task.json",
            )
        })?;
        let Some(waiting) = self.find_waiting(task, asked).await? else {
            return Ok(Exit::Success);
        };
        let stick = Yardstick {
            policy: &policy,
            repeats: numeric.repeats.max(1),
            build: iterative.build_command.as_deref(),
        };
        let stage = self.stage(task, &waiting).await?;
        let measured = self.measure_staged(task, &stick, &stage, &waiting).await;
        let exit = match measured {
            Ok(exit) => exit,
            Err(e) => {
                let candidate = waiting.layout.inside(&stage.candidate);
                let _ = worktree::reset_to(&candidate, &waiting.result).await;
                self.clear_stage(&stage).await;
                return Err(e);
            }
        };
        self.clear_stage(&stage).await;
        let top = &waiting.layout.top;
        if exit == Exit::Success
            && worktree::has_change(top, &waiting.start, &waiting.result, "HEAD").await
        {
            // Its change is on your branch (fast-forwarded, or there already): the branch goes.
            let _ = worktree::delete_branch(top, &waiting.branch).await;
        }
        Ok(exit)
    }

    /// The result to promote and where it is to land; `None` when it is there already (said).
    async fn find_waiting(&mut self, task: &Task, asked: Option<&str>) -> Result<Option<Waiting>> {
        let layout = self.layout().await.map_err(|why| {
            Error::setup(
                format!("promotion needs a git repository: {why}"),
                "run it in the project's repository",
            )
        })?;
        let user = self.settings.paths.code_dir.clone();
        let head = git::head(&user).await.map_err(no_head)?;
        let branch = self.waiting_branch(task, &layout, &head, asked).await?;
        let result = worktree::branch_tip(&layout.top, &branch)
            .await
            .ok_or_else(|| {
                Error::setup(
                    format!("there is no branch {branch}"),
                    "`git branch --list 'autodev/*'` lists autodev's branches",
                )
            })?;
        if worktree::is_ancestor(&user, &result, &head).await {
            let _ = worktree::delete_branch(&layout.top, &branch).await;
            self.note(
                Level::Info,
                format!(
                    "Experiment {}: the result on {branch} is on your branch already; nothing \
                     to promote (branch removed)",
                    task.id
                ),
            );
            return Ok(None);
        }
        let start = worktree::merge_base(&layout.top, &result, &head)
            .await
            .map_err(|why| {
                Error::setup(
                    format!("{branch} shares no history with your branch ({why})"),
                    "merge it by hand if it is what you want",
                )
            })?;
        // Said before minutes of measuring, and again before the fast-forward.
        if let Err(why) = clear_of_your_edits(&user, &layout.top, &start, &result).await {
            return Err(Error::setup(
                format!("{branch} cannot land: {why}"),
                "then run `autodev promote` again",
            ));
        }
        Ok(Some(Waiting {
            head_ref: worktree::head_ref(&user).await,
            branch,
            result,
            start,
            head,
            layout,
        }))
    }

    /// Makes the promotion's two worktrees: the result's branch, and the user's `HEAD`.
    async fn stage(&mut self, task: &Task, waiting: &Waiting) -> Result<Stage> {
        let layout = &waiting.layout;
        let user = self.settings.paths.code_dir.clone();
        let safe = self.tree_name(layout, &safe_id(&task.id));
        let stage = Stage {
            candidate: layout.tree(&format!("{safe}.promote")),
            reference: layout.tree(&format!("{safe}.promote-reference")),
        };
        let made = async {
            for tree in [&stage.candidate, &stage.reference] {
                worktree::remove(&user, tree).await?;
            }
            let branch = worktree::Checkout::Branch(&waiting.branch);
            worktree::add(&user, &stage.candidate, branch, "").await?;
            let detached = worktree::Checkout::Detached;
            worktree::add(&user, &stage.reference, detached, &waiting.head).await
        }
        .await;
        if let Err(why) = made {
            self.clear_stage(&stage).await;
            return Err(Error::setup(
                format!("the promotion's worktrees could not be made: {why}"),
                "is the branch checked out elsewhere? `git worktree list` shows where",
            ));
        }
        Ok(stage)
    }

    /// Measures the staged result against the user's `HEAD`, and lands it if it still wins;
    /// how the command ends.
    async fn measure_staged(
        &mut self,
        task: &Task,
        stick: &Yardstick<'_>,
        stage: &Stage,
        waiting: &Waiting,
    ) -> Result<Exit> {
        let Waiting {
            branch,
            result,
            head,
            layout,
            ..
        } = waiting;
        self.note(
            Level::Info,
            format!(
                "Experiment {}: measuring {branch} ({}) on top of your branch at {}",
                task.id,
                worktree::commits_ahead(&layout.top, &waiting.start, result).await,
                short_sha(head)
            ),
        );
        let user = self.settings.paths.code_dir.clone();
        let plan = Plan::new(task, &self.settings.config, &self.settings.paths);
        let candidate_dir = layout.inside(&stage.candidate);
        let reference_dir = layout.inside(&stage.reference);
        let mut candidate = Bench::new(plan.clone().in_tree(&user, &candidate_dir), result);
        let mut reference = Bench::new(plan.in_tree(&user, &reference_dir), head);
        let arms = Arms {
            candidate: &mut candidate,
            candidate_dir: &candidate_dir,
            reference: &mut reference,
            reference_dir: &reference_dir,
        };
        let id = &task.id;
        let (level, message, exit) = match self
            .recheck(task, stick, arms, (&waiting.start, head))
            .await?
        {
            Recheck::Wins { tip, reason } => {
                let line = Line {
                    top: &layout.top,
                    start: head,
                    start_ref: waiting.head_ref.as_deref(),
                    branch,
                };
                if let Err(why) = self.fast_forward(&line, &tip).await {
                    let _ = worktree::reset_to(&candidate_dir, result).await;
                    let message = format!(
                        "Experiment {id}: it still wins on your tip ({reason}), but it cannot \
                         land: {why}; {branch} waits as it was"
                    );
                    (Level::Warn, message, Exit::Failure)
                } else {
                    let sha = short_sha(&tip);
                    let note = format!(
                        "Promoted onto your branch by `autodev promote` as {sha}: {reason}"
                    );
                    self.record_promotion(task, &note)?;
                    let message = format!(
                        "Experiment {id}: promoted. Measured on your tip it still wins \
                         ({reason}); your branch is fast-forwarded to {sha} (branch {branch} \
                         removed)"
                    );
                    (Level::Info, message, Exit::Success)
                }
            }
            Recheck::AlreadyThere => (
                Level::Info,
                format!(
                    "Experiment {id}: your branch has the changes of {branch} already; nothing \
                     to promote"
                ),
                Exit::Success,
            ),
            Recheck::Refused(why) => (
                Level::Warn,
                format!(
                    "Experiment {id}: not promoted: {why}. {branch} waits as it was: `git merge \
                     {branch}` takes it anyway"
                ),
                Exit::Failure,
            ),
            Recheck::Interrupted => (
                Level::Warn,
                format!("Experiment {id}: the promotion was interrupted; {branch} waits as it was"),
                Exit::Interrupted,
            ),
        };
        self.note(level, message);
        Ok(exit)
    }

    async fn clear_stage(&mut self, stage: &Stage) {
        let user = self.settings.paths.code_dir.clone();
        for tree in [&stage.candidate, &stage.reference] {
            if let Err(why) = worktree::remove(&user, tree).await {
                self.note(
                    Level::Warn,
                    format!(
                        "could not remove the promotion's worktree {}: {why}",
                        tree.display()
                    ),
                );
            }
        }
    }

    /// The branch the task's result waits on: the one asked for; else, of this task's
    /// `autodev/` branches holding work your branch lacks, the one the journal's newest end of
    /// the experiment names, or the only one.
    async fn waiting_branch(
        &mut self,
        task: &Task,
        layout: &worktree::Layout,
        head: &str,
        asked: Option<&str>,
    ) -> Result<String> {
        if let Some(asked) = asked {
            return Ok(asked.to_string());
        }
        let name = format!("autodev/{}", self.tree_name(layout, &safe_id(&task.id)));
        let user = &self.settings.paths.code_dir;
        let mut waiting = Vec::new();
        let mut named = worktree::branches_under(&layout.top, &name).await;
        named.extend(worktree::branches_under(&layout.top, &format!("{name}-*")).await);
        for branch in named {
            let numbered = branch.strip_prefix(&name).is_some_and(|rest| {
                rest.is_empty()
                    || rest
                        .strip_prefix('-')
                        .is_some_and(|n| n.parse::<u32>().is_ok())
            });
            if let Some(tip) = worktree::branch_tip(&layout.top, &branch).await
                && numbered
                && !worktree::is_ancestor(user, &tip, head).await
            {
                waiting.push(branch);
            }
        }
        let last_ended = crate::journal::read_tail(&self.settings.paths.events_log())
            .into_iter()
            .rev()
            .find_map(|e| match e.event {
                Event::ExperimentEnded {
                    task: t, branch, ..
                } if t.id == task.id => Some(branch),
                _ => None,
            });
        if let Some(branch) = last_ended.filter(|b| waiting.contains(b)) {
            return Ok(branch);
        }
        match waiting.len() {
            0 => Err(Error::setup(
                format!(
                    "no result of experiment {} waits on a branch: {name} holds nothing your branch lacks",
                    task.id
                ),
                "`autodev status` shows how the experiment ended",
            )),
            1 => Ok(waiting.remove(0)),
            _ => Err(Error::setup(
                format!(
                    "several results of experiment {} wait on branches: {}",
                    task.id,
                    waiting.join(", ")
                ),
                "name one with `autodev promote TASK --branch NAME`",
            )),
        }
    }

    /// Notes on the task what the promotion did (an implementation note).
    fn record_promotion(&mut self, task: &Task, note: &str) -> Result<()> {
        let id = task.id.clone();
        self.store.update(Backup::None, |file| {
            if let Some(t) = file.tasks.iter_mut().find(|t| t.id == id) {
                t.implementation_notes.push(note.to_string());
            }
            Ok(())
        })?;
        Ok(())
    }
}

fn no_head(why: git::GitError) -> Error {
    Error::setup(
        format!("your branch's HEAD cannot be read ({why})"),
        "promotion lands on a branch with at least one commit",
    )
}
