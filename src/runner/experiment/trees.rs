//! An experiment's worktrees: made from the user's `HEAD` when it begins (or found again when a
//! cut-off experiment resumes), and, when it ends, its result brought to the user's branch by a
//! fast-forward if that touches nothing of the user's, else left on its branch with the command
//! that merges it. The user's working tree, index and uncommitted work are only read at the end,
//! to see whether the fast-forward is safe.

use std::path::PathBuf;

use super::super::branches::Line;
use super::super::recover::Resume;
use super::super::{Runner, task_ref};
use super::Lab;
use super::measure::Bench;
use super::promote::{Arms, Recheck, Yardstick};
use crate::config::Promotion;
use crate::git::{self, short_sha, worktree};
use crate::journal::event::{Event, Level};
use crate::task::{Task, safe_id};

/// Where an experiment runs.
pub(super) struct Trees {
    pub layout: worktree::Layout,
    pub branch: String,
    /// The candidate worktree (on `branch`) and the reference worktree (detached at the kept
    /// commit; interleaved measurement only), as their roots.
    pub candidate: PathBuf,
    pub reference: Option<PathBuf>,
    /// The user's `HEAD` when the experiment began, and the branch it was on.
    pub start: String,
    pub start_ref: Option<String>,
    /// The commit to go on from: `start`, or the last kept commit of a resumed experiment.
    pub kept: String,
    /// Whether a cut-off experiment resumes in these trees.
    pub resumed: bool,
    /// A resumed experiment's measurements as the journal kept them, baseline first.
    pub journalled: Vec<crate::experiment::Record>,
}

/// How an experiment's end left its result.
pub(super) struct Landing {
    /// The task's summary: the conclusion, and where its result went when something was kept.
    pub summary: String,
}

impl Runner<'_> {
    /// Makes the experiment's worktrees, or finds those of `resume` again; `Err` is why the
    /// experiment cannot run (the task is blocked with it).
    pub(super) async fn open_trees(
        &mut self,
        task: &Task,
        interleaved: bool,
        resume: Option<Resume>,
    ) -> crate::error::Result<std::result::Result<Trees, String>> {
        let _turn = self.git_turn().await;
        let user = self.settings.paths.code_dir.clone();
        let no_repo = |why: crate::git::GitError| {
            format!(
                "Experiment mode needs a git repository with at least one commit (each candidate \
                 is committed in a worktree of its own): {why}"
            )
        };
        let layout = match self.layout().await {
            Ok(layout) => layout,
            Err(why) => return Ok(Err(no_repo(why))),
        };
        let safe = self.tree_name(&layout, &safe_id(&task.id));
        let candidate = layout.tree(&safe);
        let reference_root = layout.tree(&format!("{safe}.reference"));
        if let Some(resume) = resume
            && let Some(trees) = self.reopen(task, &layout, interleaved, resume).await
        {
            return Ok(Ok(trees));
        }
        let start = match git::head(&user).await {
            Ok(sha) => sha,
            Err(why) => return Ok(Err(no_repo(why))),
        };
        let start_ref = worktree::head_ref(&user).await;
        // Leftovers of an earlier experiment of this task are autodev's own: its branch, which
        // holds any kept work, stays.
        for old in [&candidate, &reference_root] {
            if let Err(why) = worktree::remove(&user, old).await {
                return Ok(Err(format!("cannot clear the old worktree: {why}")));
            }
        }
        let branch = self.free_branch(&layout, &safe, &start).await;
        let made = async {
            worktree::add(
                &user,
                &candidate,
                worktree::Checkout::NewBranch(&branch),
                &start,
            )
            .await?;
            if interleaved {
                worktree::add(&user, &reference_root, worktree::Checkout::Detached, &start).await?;
            }
            Ok::<(), String>(())
        }
        .await;
        if let Err(why) = made {
            return Ok(Err(format!(
                "could not create the experiment's worktree under {}: {why}",
                candidate.display()
            )));
        }
        let trees = Trees {
            layout,
            branch,
            candidate,
            reference: interleaved.then_some(reference_root),
            kept: start.clone(),
            start,
            start_ref,
            resumed: false,
            journalled: Vec::new(),
        };
        self.told_started(task, &trees);
        Ok(Ok(trees))
    }

    /// The worktrees of a cut-off experiment, put back to its last kept commit (an undecided
    /// candidate and a killed agent's edits dropped); `None` when its branch is gone.
    async fn reopen(
        &mut self,
        task: &Task,
        layout: &worktree::Layout,
        interleaved: bool,
        resume: Resume,
    ) -> Option<Trees> {
        let user = self.settings.paths.code_dir.clone();
        worktree::branch_tip(&user, &resume.branch).await?;
        let safe = self.tree_name(layout, &safe_id(&task.id));
        let candidate = resume.worktree.clone();
        let reference_root = resume
            .reference_worktree
            .clone()
            .unwrap_or_else(|| layout.tree(&format!("{safe}.reference")));
        let restored = async {
            if !worktree::usable(&candidate).await {
                worktree::remove(&user, &candidate).await?;
                worktree::add(
                    &user,
                    &candidate,
                    worktree::Checkout::Branch(&resume.branch),
                    "",
                )
                .await?;
            }
            // A run killed while it replayed the result onto the user's newer commits (an
            // auto promotion) left the replay under way: undone first, so that the branch is
            // checked out again and the reset moves it.
            worktree::abort_replay(&candidate).await;
            worktree::reset_to(&candidate, &resume.kept).await?;
            worktree::remove(&user, &reference_root).await?;
            if interleaved {
                worktree::add(
                    &user,
                    &reference_root,
                    worktree::Checkout::Detached,
                    &resume.kept,
                )
                .await?;
            }
            Ok::<(), String>(())
        }
        .await;
        if let Err(why) = restored {
            self.note(
                Level::Warn,
                format!(
                    "the cut-off experiment of {} could not be resumed ({why}); it starts afresh \
                     and its branch {} keeps what it had",
                    task.id, resume.branch
                ),
            );
            return None;
        }
        let trees = Trees {
            layout: layout.clone(),
            branch: resume.branch,
            candidate,
            reference: interleaved.then_some(reference_root),
            start: resume.start,
            start_ref: resume.start_ref,
            kept: resume.kept,
            resumed: true,
            journalled: resume.records,
        };
        self.told_started(task, &trees);
        Some(trees)
    }

    fn told_started(&mut self, task: &Task, trees: &Trees) {
        self.emit(Event::ExperimentStarted {
            task: task_ref(task),
            branch: trees.branch.clone(),
            worktree: trees.candidate.clone(),
            reference_worktree: trees.reference.clone(),
            start: trees.start.clone(),
            start_ref: trees.start_ref.clone(),
            kept: trees.kept.clone(),
            resumed: trees.resumed,
        });
    }

    /// Brings the experiment's result (its branch at `kept`) to the user's branch when it can be
    /// done without touching anything of the user's, journals the end (with how the task is to
    /// be recorded: `completed`, the experiment met its goal, and its `conclusion`), then
    /// removes the worktrees. `None`: a polite stop came while the result was measured on the
    /// user's newer commits; nothing is journalled and the worktrees stay, so the next run
    /// resumes the experiment and lands it then.
    pub(super) async fn land(
        &mut self,
        task: &Task,
        lab: &mut Lab,
        trees: &Trees,
        kept: &str,
        (completed, conclusion): (bool, &str),
    ) -> Option<Landing> {
        let _turn = self.git_turn().await;
        let top = trees.layout.top.clone();
        let branch = &trees.branch;
        let (merged, message) = if kept == trees.start {
            (
                false,
                "nothing was kept, so there is nothing to merge".to_string(),
            )
        } else if !completed {
            let ahead = worktree::commits_ahead(&top, &trees.start, kept).await;
            (
                false,
                format!(
                    "the kept changes fall short of the goal and are not merged; they stay on \
                     branch {branch} ({ahead}): `git merge {branch}` takes them anyway"
                ),
            )
        } else {
            let line = Line {
                top: &trees.layout.top,
                start: &trees.start,
                start_ref: trees.start_ref.as_deref(),
                branch: &trees.branch,
            };
            let target = match self.settings.config.experiments.finalize {
                true => self.finalized(task, trees, kept, conclusion).await,
                false => kept.to_string(),
            };
            let promotion = lab
                .settings
                .promotion
                .unwrap_or(self.settings.config.experiments.promotion);
            if promotion == Promotion::Manual {
                let ahead = worktree::commits_ahead(&top, &trees.start, &target).await;
                (
                    false,
                    format!(
                        "the result waits for your review on branch {branch} ({ahead}): \
                         `autodev promote {}` measures it again on top of your branch and lands \
                         it if it still wins (`git merge {branch}` takes it as it is)",
                        task.id
                    ),
                )
            } else {
                match self.fast_forward(&line, &target).await {
                    Ok(()) => (
                        true,
                        format!(
                            "the result is on your branch: fast-forwarded to {} (branch {branch} \
                             removed)",
                            short_sha(&target)
                        ),
                    ),
                    Err(why) => match self.moved_on(&line, &target).await {
                        Some(now) => self.promote_at_end(task, trees, lab, &target, &now).await?,
                        None => {
                            let ahead = worktree::commits_ahead(&top, &trees.start, kept).await;
                            (
                                false,
                                format!(
                                    "the result stays on branch {branch} ({ahead}) because \
                                     {why}; merge it with `git merge {branch}`"
                                ),
                            )
                        }
                    },
                }
            }
        };
        let kept_branch = !merged && kept != trees.start;
        if kept_branch {
            self.shared
                .to_merge
                .borrow_mut()
                .push(crate::journal::event::BlockedTask {
                    id: task.id.clone(),
                    reason: message.clone(),
                });
        }
        let summary = if kept == trees.start {
            conclusion.to_string()
        } else {
            format!("{conclusion}; {message}")
        };
        self.emit(Event::ExperimentEnded {
            task: task_ref(task),
            branch: branch.clone(),
            kept: kept.to_string(),
            merged,
            on_branch: kept_branch,
            message: format!("Experiment {}: {message}", task.id),
            completed,
            summary: summary.clone(),
        });
        let trees_of = [Some(trees.candidate.clone()), trees.reference.clone()];
        self.tidy(task, &trees_of, (!kept_branch).then_some(branch.as_str()))
            .await;
        Some(Landing { summary })
    }

    /// `promotion = "auto"` when the user's branch moved on to `now` while the experiment ran:
    /// its `result` replayed onto `now` and measured again there against `now`, landing only
    /// if it still wins; whether it landed, and what became of it (`None`: stopped politely
    /// while measuring).
    async fn promote_at_end(
        &mut self,
        task: &Task,
        trees: &Trees,
        lab: &mut Lab,
        result: &str,
        now: &str,
    ) -> Option<(bool, String)> {
        let branch = &trees.branch;
        let user = self.settings.paths.code_dir.clone();
        let ahead = worktree::commits_ahead(&trees.layout.top, &trees.start, result).await;
        let stays = |why: String| {
            Some((
                false,
                format!(
                    "the result stays on branch {branch} ({ahead}): your branch moved while it \
                     ran (to {}), and {why}; `git merge {branch}` takes it anyway",
                    short_sha(now)
                ),
            ))
        };
        self.note(
            Level::Info,
            format!(
                "Experiment {}: your branch moved to {} while it ran; the result is replayed \
                 onto it and measured again there",
                task.id,
                short_sha(now)
            ),
        );
        // The tip is measured in the reference tree, or, measured one series at a time, in one
        // made for this and removed after.
        let made = trees.reference.is_none();
        let reference_root = match &trees.reference {
            Some(root) => root.clone(),
            None => {
                let safe = self.tree_name(&trees.layout, &safe_id(&task.id));
                trees.layout.tree(&format!("{safe}.reference"))
            }
        };
        if made {
            let added = async {
                worktree::remove(&user, &reference_root).await?;
                worktree::add(&user, &reference_root, worktree::Checkout::Detached, now).await
            }
            .await;
            if let Err(why) = added {
                return stays(format!(
                    "no tree to measure your tip in could be made ({why})"
                ));
            }
        }
        let candidate_dir = trees.layout.inside(&trees.candidate);
        let reference_dir = trees.layout.inside(&reference_root);
        let mut spare = None;
        let reference = match lab.reference_bench.as_mut() {
            Some((bench, _)) => bench,
            None => spare.insert(Bench::new(
                lab.candidate
                    .plan
                    .clone()
                    .in_tree(&candidate_dir, &reference_dir),
                now,
            )),
        };
        let stick = Yardstick {
            policy: &lab.policy,
            repeats: lab.repeats,
            build: lab.build.as_deref(),
        };
        let arms = Arms {
            candidate: &mut lab.candidate,
            candidate_dir: &candidate_dir,
            reference,
            reference_dir: &reference_dir,
        };
        let checked = self.recheck(task, &stick, arms, (&trees.start, now)).await;
        if made && let Err(why) = worktree::remove(&user, &reference_root).await {
            self.note(
                Level::Warn,
                format!("could not remove {} ({why})", reference_root.display()),
            );
        }
        let end = match checked {
            Ok(Recheck::Wins { tip, reason }) => {
                let line = Line {
                    top: &trees.layout.top,
                    start: now,
                    start_ref: trees.start_ref.as_deref(),
                    branch,
                };
                match self.fast_forward(&line, &tip).await {
                    Ok(()) => (
                        true,
                        format!(
                            "the result is on your branch: your branch moved while it ran, so it \
                             was replayed onto {} and measured again there, where it still wins \
                             ({reason}); fast-forwarded to {} (branch {branch} removed)",
                            short_sha(now),
                            short_sha(&tip)
                        ),
                    ),
                    Err(why) => (
                        false,
                        format!(
                            "the result, replayed onto your newer commits, still wins there \
                             ({reason}) but stays on branch {branch} because {why}; merge it \
                             with `git merge {branch}`"
                        ),
                    ),
                }
            }
            Ok(Recheck::AlreadyThere) => (
                true,
                format!("your branch has its changes already (branch {branch} removed)"),
            ),
            Ok(Recheck::Refused(why)) => return stays(why),
            Ok(Recheck::Interrupted) => return None,
            Err(e) => return stays(format!("it could not be measured there ({e})")),
        };
        Some(end)
    }

    /// `experiments.finalize`: the kept commits as one, on the experiment's start, its message
    /// the task and the conclusion, the experiment's own commits kept under a backup ref, and
    /// the experiment's branch moved to it; what is to land. When it cannot be made (said as a warning), the kept commits land as they are.
    async fn finalized(
        &mut self,
        task: &Task,
        trees: &Trees,
        kept: &str,
        conclusion: &str,
    ) -> String {
        let top = &trees.layout.top;
        // Made and landed already, by a run killed before it could say so: your HEAD is the one
        // commit (the kept tree on the experiment's start).
        let user = &self.settings.paths.code_dir;
        if let (Some(landed), Some((kept_tree, _))) = (
            worktree::tree_and_parent(user, "HEAD").await,
            worktree::tree_and_parent(user, kept).await,
        ) && landed == (kept_tree, trees.start.clone())
            && let Ok(head) = git::head(user).await
        {
            return head;
        }
        let backup = crate::experiment::finalized_ref(&task.id);
        let message = format!(
            "{}: {}\n\n{conclusion}.\n\nThe experiment's own history: {backup}\n",
            task.id,
            task.display_title()
        );
        // The experiment's branch moves to the one commit (the same tree as its worktree's, so
        // nothing there changes): that is what lands, or waits on it.
        let branch = format!("refs/heads/{}", trees.branch);
        let made = match git::set_ref(top, &backup, kept).await {
            Ok(()) => match worktree::squashed(top, kept, &trees.start, &message).await {
                Ok(sha) => git::set_ref(top, &branch, &sha).await.map(|()| sha),
                Err(why) => Err(why),
            },
            Err(why) => Err(why),
        };
        match made {
            Ok(sha) => sha,
            Err(why) => {
                self.note(
                    Level::Warn,
                    format!(
                        "experiments.finalize: the kept changes of {} could not be made one \
                         commit ({why}); they land as they are",
                        task.id
                    ),
                );
                kept.to_string()
            }
        }
    }

    /// Removes an ended experiment's worktrees, and its branch when given (nothing waits on it).
    pub(in crate::runner) async fn tidy(
        &mut self,
        task: &Task,
        trees: &[Option<PathBuf>],
        branch: Option<&str>,
    ) {
        let user = self.settings.paths.code_dir.clone();
        let mut failed = Vec::new();
        for tree in trees.iter().flatten() {
            if let Err(why) = worktree::remove(&user, tree).await {
                failed.push(why.to_string());
            }
        }
        if let Some(branch) = branch
            && worktree::branch_tip(&user, branch).await.is_some()
            && let Err(why) = worktree::delete_branch(&user, branch).await
        {
            failed.push(format!("branch {branch}: {why}"));
        }
        if !failed.is_empty() {
            self.note(
                Level::Warn,
                format!(
                    "could not tidy the experiment of {}: {}",
                    task.id,
                    failed.join("; ")
                ),
            );
        }
    }

    /// Says where the worktrees of an experiment that stopped early are: kept for a look.
    pub(super) fn keep_trees(&mut self, task: &Task, trees: &Trees) {
        let list: Vec<String> = std::iter::once(&trees.candidate)
            .chain(trees.reference.as_ref())
            .map(|p| p.display().to_string())
            .collect();
        self.note(
            Level::Warn,
            format!(
                "the worktrees of experiment {} are kept for a look: {} (branch {}); remove them \
                 with `git worktree remove --force <path>`",
                task.id,
                list.join(", "),
                trees.branch
            ),
        );
    }
}
