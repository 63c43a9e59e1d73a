//! A delivery task's own worktree (`run.isolation = "worktree"`): the worker's worktree under
//! `.git/autodev/worktrees/`, moved to a branch `autodev/<task>` at the commit the run
//! integrates onto, where the agent, the checks and the commit work; the result brought to the
//! user's branch (by the fast-forward of [`super::branches`], or replayed on the user's newer
//! commits and checked again), a conflict sent back for one more attempt, else the result left
//! on its branch for the next task to build on; a blocked task's unfinished work committed on
//! its branch, so it never reaches the next task. The user's tree, index and uncommitted work
//! are only read, to see whether a fast-forward is safe.
//!
//! The worker's worktree is kept between tasks and runs: moving it to the next task's start
//! writes only the files that differ, and its ignored files (build caches) stay.

use std::path::PathBuf;

use super::branches::Line;
use super::executor::{Executor, LocalWorktree};
use super::{Runner, TaskEnd, task_ref};
use crate::git::{self, short_sha, worktree};
use crate::journal::event::{BlockedTask, Event, Level};
use crate::task::{Task, safe_id};
use crate::ui::preview;

/// The worktree a delivery task is worked in.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Workspace {
    /// The worktree, its branch and where the task started, as journalled.
    pub at: WorkspaceAt,
    /// The code directory inside it: where the agent, the checks and git run.
    pub dir: PathBuf,
    /// The top of the user's work tree.
    pub top: PathBuf,
}

/// Where a workspace stands, as journalled (`workspace_opened`): what a restarted run finds it
/// again from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WorkspaceAt {
    /// The worker's worktree (its root).
    pub root: PathBuf,
    pub branch: String,
    /// The commit the task started from, and the user's branch then (`None`: detached).
    pub start: String,
    pub start_ref: Option<String>,
}

impl Workspace {
    /// Where its result is to land: the user's branch as it was when the task began.
    fn line(&self) -> Line<'_> {
        Line {
            top: &self.top,
            start: &self.at.start,
            start_ref: self.at.start_ref.as_deref(),
            branch: &self.at.branch,
        }
    }
}

/// Why a result could not be replayed on the user's newer commits.
enum NotLanded {
    Conflict(worktree::Conflict),
    Refused(String),
}

impl std::fmt::Display for NotLanded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotLanded::Conflict(c) => write!(
                f,
                "it conflicts with your newer commits in {}",
                preview(&c.files, 10)
            ),
            NotLanded::Refused(why) => f.write_str(why),
        }
    }
}

/// The name of worker `n`'s worktree among the repository's autodev worktrees.
fn worker_tree(n: u32) -> String {
    format!("worker-{n}")
}

impl Runner<'_> {
    /// The executor `workspace` is worked in.
    fn executor_of(&self, workspace: &Workspace) -> LocalWorktree {
        LocalWorktree::at(
            &workspace.at.root,
            &workspace.dir,
            &self.settings.paths.code_dir,
            &workspace.top,
        )
    }

    /// Works a delivery task in its own worktree, from the start of its story: the worktree
    /// made ready, the task worked there, and what it left brought out.
    pub(super) async fn deliver_isolated(&mut self, task: Task) -> crate::error::Result<TaskEnd> {
        if let Some(why) = self.why_in_place().await {
            if !self.shared.told_in_place.replace(true) {
                self.note(
                    Level::Warn,
                    format!("run.isolation = \"worktree\": {why}; tasks are worked in your tree"),
                );
            }
            return self.deliver(task, None, None).await;
        }
        let workspace = match self.open_workspace(&task).await {
            Ok(workspace) => workspace,
            Err(why) => return self.block(&task, why),
        };
        let user_tree = self.enter(workspace);
        let end = match self.set_up(&task).await {
            Ok(()) => self.deliver(task.clone(), None, None).await,
            Err(why) => Ok(TaskEnd::Halt(why)),
        };
        self.leave(&task, user_tree, end.as_ref().ok()).await;
        end
    }

    /// Why tasks cannot be worked in a worktree here, if they cannot: no commit to start from
    /// (a repository with none yet, or none at all), or submodules, which a worktree does not
    /// check out.
    pub(super) async fn why_in_place(&mut self) -> Option<&'static str> {
        if git::head(&self.settings.paths.code_dir).await.is_err() {
            return Some("there is no commit to start each task from yet");
        }
        let layout = self.layout().await.ok()?;
        layout
            .top
            .join(".gitmodules")
            .exists()
            .then_some("the repository has submodules, which a worktree does not check out")
    }

    /// Runs `run.worktree_setup` (installing dependencies, say) in the task's worktree, its
    /// output in a `setup` log beside the attempt logs; `Err` says why the run must stop: every
    /// task would fail the same way.
    async fn set_up(&mut self, task: &Task) -> Result<(), String> {
        let command = self.settings.config.run.worktree_setup.trim().to_string();
        if command.is_empty() {
            return Ok(());
        }
        let mut plan = self.plan(task);
        plan.commands = vec![command.clone()];
        let log = self.step_log(task, "setup").map_err(|e| e.to_string())?;
        let ran = self.checks_logged(task, &plan, &log).await;
        let runs = ran
            .map_err(|e| e.to_string())?
            .ok_or("a signal stopped the worktree setup")?;
        match runs.first() {
            Some(run) if run.succeeded() => Ok(()),
            Some(run) => Err(format!(
                "run.worktree_setup `{command}` failed in {} ({}); its output is in {}; fix it, \
                 then run again",
                self.tree.dir.display(),
                run.error
                    .clone()
                    .or_else(|| run.exit.map(|e| e.to_string()))
                    .unwrap_or_else(|| "it did not finish".into()),
                log.display()
            )),
            None => Ok(()),
        }
    }

    /// Makes the worker's worktree ready for `task`: on a new branch at the commit the run
    /// integrates onto, with what an earlier task or run left in it put aside first. `Err` is
    /// why it cannot be (the task is blocked with it).
    async fn open_workspace(&mut self, task: &Task) -> Result<Workspace, String> {
        let _turn = self.git_turn().await;
        let user = self.settings.paths.code_dir.clone();
        let layout = self
            .layout()
            .await
            .map_err(|why| format!("cannot find the repository's worktrees: {why}"))?;
        let integration = self.shared.integration.borrow().clone();
        let start = match integration {
            Some(tip) => tip,
            None => git::head(&user).await.map_err(|why| why.to_string())?,
        };
        let start_ref = worktree::head_ref(&user).await;
        let root = layout.tree(&self.tree_name(&layout, &worker_tree(self.worker)));
        let mut executor = LocalWorktree::new(&root, &user, &layout);
        // What it holds is put aside, and the branch it is on freed, before a branch is chosen:
        // the task's own old branch may be the one checked out there.
        if let Some(aside) = executor.clear().await {
            self.note(
                Level::Warn,
                format!(
                    "what an earlier run left in {} is kept as commit {} on {}",
                    root.display(),
                    short_sha(&aside.sha),
                    aside.branch
                ),
            );
        }
        let name = self.tree_name(&layout, &safe_id(&task.id));
        let branch = self.free_branch(&layout, &name, &start).await;
        let dir = executor.prepare(&branch, &start).await.map_err(|why| {
            format!(
                "could not make the worktree {} ready for {}: {why}",
                root.display(),
                task.id
            )
        })?;
        let workspace = Workspace {
            dir,
            top: layout.top,
            at: WorkspaceAt {
                root,
                branch,
                start,
                start_ref,
            },
        };
        self.emit(Event::WorkspaceOpened {
            task: task_ref(task),
            branch: workspace.at.branch.clone(),
            worktree: workspace.at.root.clone(),
            start: workspace.at.start.clone(),
            start_ref: workspace.at.start_ref.clone(),
        });
        Ok(workspace)
    }

    /// The workspace a cut-off task was worked in, found again as it was (its edits kept);
    /// `None` when it is gone or holds another branch.
    pub(super) async fn reopen_workspace(&mut self, at: &WorkspaceAt) -> Option<Workspace> {
        let layout = self.layout().await.ok()?;
        let user = self.settings.paths.code_dir.clone();
        let dir = LocalWorktree::new(&at.root, &user, &layout)
            .reopen(&at.branch)
            .await?;
        Some(Workspace {
            dir,
            top: layout.top,
            at: at.clone(),
        })
    }

    /// Tidies what a run killed between a task's end and its tidying left (after recovery), or
    /// what a tidy could not remove (at the end of a run): the worker's worktree still on a
    /// task's branch is released when it has nothing uncommitted and your branch has all of
    /// it, and this project's `autodev/` branches whose every commit is on your branch,
    /// checked out nowhere, are deleted. A result waiting to be merged, unfinished work, and a
    /// branch a worktree has checked out (an experiment's) stay. A task in flight whose
    /// worktree this releases is found again on its branch; one whose branch this deletes had
    /// nothing on it, and starts afresh.
    pub(super) async fn tidy_after_recovery(&mut self) {
        let Ok(layout) = self.layout().await else {
            return;
        };
        for root in self.worker_trees(&layout) {
            if worktree::usable(&root).await
                && worktree::head_ref(&root).await.is_some()
                && git::changed_files(&root).await.is_ok_and(|c| c.is_empty())
                && let Ok(tip) = git::head(&root).await
                && self.on_your_branch(&tip).await
            {
                let _ = worktree::detach(&root).await;
            }
        }
        self.delete_merged_branches(&layout).await;
    }

    /// The workers' worktrees of this project that are on the disk, whatever number of workers
    /// the run that made them had.
    fn worker_trees(&self, layout: &worktree::Layout) -> Vec<PathBuf> {
        let mut found: Vec<(u32, PathBuf)> =
            std::fs::read_dir(layout.tree(&self.tree_name(layout, "")))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name();
                    let n = name.to_str()?.strip_prefix("worker-")?.parse().ok()?;
                    Some((n, entry.path()))
                })
                .collect();
        found.sort();
        found.into_iter().map(|(_, path)| path).collect()
    }

    /// Works in `workspace` from now on: the user's tree state, to give back to [`Runner::leave`].
    pub(super) fn enter(&mut self, workspace: Workspace) -> super::tree::Tree {
        let inner = self.tree.copy_at(&workspace.dir);
        self.workspace = Some(workspace);
        std::mem::replace(&mut self.tree, inner)
    }

    /// Back in the user's tree after a task ended as `end` in its workspace: a blocked task's
    /// unfinished work committed on its branch, and the worktree left on no branch, ready for
    /// the next task. A task that is to go on (interrupted, stopped, halted) leaves it as it is,
    /// for the next run to resume in.
    pub(super) async fn leave(
        &mut self,
        task: &Task,
        user_tree: super::tree::Tree,
        end: Option<&TaskEnd>,
    ) {
        let _turn = self.git_turn().await;
        self.tree = user_tree;
        let Some(workspace) = self.workspace.take() else {
            return;
        };
        match end {
            Some(TaskEnd::Blocked) => self.park(task, &workspace).await,
            Some(TaskEnd::Completed) => {}
            _ => return,
        }
        if let Err(why) = self.executor_of(&workspace).release().await {
            self.note(
                Level::Warn,
                format!(
                    "could not free the worktree {}: {why}",
                    workspace.at.root.display()
                ),
            );
        }
        // The branch goes when nothing on it is unique: nothing was committed, or it is on
        // your branch now. A result waiting to be merged keeps it.
        let merged = match worktree::branch_tip(&workspace.top, &workspace.at.branch).await {
            Some(tip) => tip == workspace.at.start || self.on_your_branch(&tip).await,
            None => false,
        };
        if merged {
            let _ = worktree::delete_branch(&workspace.top, &workspace.at.branch).await;
        }
    }

    /// A blocked task's unfinished work, committed on its branch and told where to find it.
    async fn park(&mut self, task: &Task, workspace: &Workspace) {
        let message = format!("autodev: {} blocked, its unfinished work", task.id);
        let kept = self.executor_of(workspace).keep_unfinished(&message).await;
        let told = match kept {
            Ok(_)
                if worktree::branch_tip(&workspace.top, &workspace.at.branch).await
                    == Some(workspace.at.start.clone()) =>
            {
                return;
            }
            Ok(_) => format!(
                "the work of blocked task {} stays on branch {} (`git diff {}...{}` shows it); \
                 your branch and the next task do not have it",
                task.id,
                workspace.at.branch,
                short_sha(&workspace.at.start),
                workspace.at.branch
            ),
            Err(why) => format!(
                "the unfinished work of blocked task {} could not be committed on branch {} \
                 ({why}); it is left in {}",
                task.id,
                workspace.at.branch,
                workspace.at.root.display()
            ),
        };
        self.note(Level::Warn, told);
    }

    /// Brings the result committed in the current workspace to the user's branch, when it can
    /// be done without touching anything of the user's: directly, or, when the user's branch
    /// went forward while the task ran, replayed on top of it and checked again there
    /// ([`Runner::integrate`]). Otherwise it waits on its branch and the next task starts from
    /// it. `changed` is the task's change. Nothing to do outside a workspace or when nothing
    /// was committed.
    pub(super) async fn land_result(
        &mut self,
        task: &Task,
        changed: &[String],
        redo: bool,
    ) -> Option<worktree::Conflict> {
        let _turn = self.git_turn().await;
        let workspace = self.workspace.clone()?;
        let mut tip = self.executor_of(&workspace).hand_back().await.ok()?;
        if tip == workspace.at.start {
            return None;
        }
        let on_your_branch = self.on_your_branch(&workspace.at.start).await;
        let landed = if !self.settings.config.git.auto_commit {
            Err("git.auto_commit is false".to_string())
        } else if !on_your_branch {
            Err(
                "it builds on work your branch does not have (an earlier result waiting to be \
                 merged, or history you rewrote)"
                    .to_string(),
            )
        } else if let Some(now) = self.moved_on(&workspace.line(), &tip).await {
            match self.integrate(task, &workspace, &now, changed).await {
                Ok(new_tip) => {
                    tip = new_tip;
                    let line = Line {
                        start: &now,
                        ..workspace.line()
                    };
                    self.fast_forward(&line, &tip).await.map(|()| {
                        " (replayed on your newer commits and checked again there)".to_string()
                    })
                }
                Err(NotLanded::Conflict(conflict)) if redo => return Some(conflict),
                Err(why) => Err(why.to_string()),
            }
        } else {
            let line = workspace.line();
            self.fast_forward(&line, &tip).await.map(|()| String::new())
        };
        self.told_landed(task, &workspace, &tip, landed).await;
        None
    }

    /// A result that conflicts with the user's newer commits: recorded as a failed attempt
    /// (the files and hunks, which the next attempt's prompt shows), the result left on its
    /// branch, and the worktree moved to a new branch at the user's branch's tip, where the task
    /// is done again: the task as recorded and the first result's branch. A second conflict
    /// (`first`: the branch of the first) blocks the task, both results kept on their branches.
    pub(super) async fn redo_on_new_tip(
        &mut self,
        task: Task,
        attempt: u32,
        conflict: &worktree::Conflict,
        first: Option<&str>,
    ) -> crate::error::Result<Result<(Task, String), TaskEnd>> {
        let Some(workspace) = self.workspace.clone() else {
            return Ok(Err(TaskEnd::Blocked));
        };
        let files = preview(&conflict.files, 10);
        if let Some(first) = first {
            let why = format!(
                "its result conflicted with your newer commits twice, last in {files}; both \
                 results wait, on branches {first} and {}, for a person to merge",
                workspace.at.branch
            );
            return self.block(&task, why).map(Err);
        }
        let summary = format!(
            "the result conflicts with newer commits on the user's branch in {files}, so the \
             task is done again on top of them (the first result stays on branch {}). The \
             conflicting hunks:\n{}",
            workspace.at.branch, conflict.hunks
        );
        let record = super::records::AttemptRecord {
            status: super::records::AttemptStatus::Failed,
            attempt,
            report: None,
            changed: &conflict.files,
            gate: None,
            summary: &summary,
            notes: &[],
        };
        let task = self.record_failure(&task, &record)?;
        self.emit(Event::AttemptFailed {
            task: task_ref(&task),
            attempt,
            max_attempts: attempt + 1,
            summary: format!(
                "the result conflicts with your newer commits in {files}; done again on top of \
                 them"
            ),
            changed: conflict.files.clone(),
            gate: None,
            learning_notes: Vec::new(),
            retry_in_seconds: Some(0.0),
        });
        // The worktree moves on from what is committed on the first branch.
        let _ = self.executor_of(&workspace).release().await;
        *self.shared.integration.borrow_mut() = None;
        match self.open_workspace(&task).await {
            Ok(next) => {
                self.tree.carry = None;
                self.workspace = Some(next);
                Ok(Ok((task, workspace.at.branch)))
            }
            Err(why) => self.block(&task, why).map(Err),
        }
    }

    /// After a task done again for a conflict ends as `end`: the first result's branch goes
    /// once the second result is on the user's branch.
    pub(super) async fn superseded(&mut self, end: TaskEnd, first: Option<&str>) -> TaskEnd {
        let _turn = self.git_turn().await;
        let (Some(first), Some(workspace)) = (first, self.workspace.clone()) else {
            return end;
        };
        if let Ok(tip) = self.executor_of(&workspace).hand_back().await
            && self.on_your_branch(&tip).await
            && worktree::delete_branch(&workspace.top, first).await.is_ok()
        {
            self.note(
                Level::Info,
                format!(
                    "the first result of {}, which conflicted, is superseded: branch {first} \
                     removed",
                    workspace.at.branch
                ),
            );
        }
        end
    }

    /// Journals and tells where a result went: onto the user's branch (with how), or, with why
    /// not, onto its own branch to wait.
    async fn told_landed(
        &mut self,
        task: &Task,
        workspace: &Workspace,
        tip: &str,
        landed: Result<String, String>,
    ) {
        let branch = &workspace.at.branch;
        let (merged, message) = match landed {
            Ok(how) => {
                *self.shared.integration.borrow_mut() = None;
                (
                    true,
                    format!(
                        "{}: the result is on your branch, fast-forwarded to {}{how}",
                        task.id,
                        short_sha(tip)
                    ),
                )
            }
            Err(why) => {
                *self.shared.integration.borrow_mut() = Some(tip.to_string());
                let ahead = worktree::commits_ahead(&workspace.top, &workspace.at.start, tip).await;
                let message = format!(
                    "{}: the result stays on branch {branch} ({ahead}) because {why}; the next \
                     task starts from it, and `git merge {branch}` takes it",
                    task.id
                );
                self.shared.to_merge.borrow_mut().push(BlockedTask {
                    id: task.id.clone(),
                    reason: message.clone(),
                });
                (false, message)
            }
        };
        self.emit(Event::TaskLanded {
            task: task_ref(task),
            branch: branch.clone(),
            sha: tip.to_string(),
            merged,
            message,
        });
    }

    /// Replays the task's commits on top of `onto` (the user's newer commits) in the worktree,
    /// left on no branch, and runs the task's checks again on that tree. When they pass, the
    /// task's branch moves to the replayed result, which is returned; otherwise the branch keeps
    /// the result as it was verified, and why is returned.
    async fn integrate(
        &mut self,
        task: &Task,
        workspace: &Workspace,
        onto: &str,
        changed: &[String],
    ) -> Result<String, NotLanded> {
        let root = &workspace.at.root;
        worktree::detach(root)
            .await
            .map_err(|e| NotLanded::Refused(e.to_string()))?;
        let checked = self.replay_and_check(task, workspace, onto, changed).await;
        let moved = match &checked {
            Ok(_) => worktree::check_out_branch(root, &workspace.at.branch, true).await,
            Err(_) => worktree::check_out_branch(root, &workspace.at.branch, false).await,
        };
        match (checked, moved) {
            (Ok(tip), Ok(())) => Ok(tip),
            (Err(why), _) => Err(why),
            (Ok(_), Err(why)) => Err(NotLanded::Refused(format!(
                "its branch could not be moved ({why})"
            ))),
        }
    }

    async fn replay_and_check(
        &mut self,
        task: &Task,
        workspace: &Workspace,
        onto: &str,
        changed: &[String],
    ) -> Result<String, NotLanded> {
        let refused = |why: String| NotLanded::Refused(why);
        match worktree::replay(&workspace.at.root, &workspace.at.start, onto).await {
            Ok(Ok(())) => {}
            Ok(Err(conflict)) => return Err(NotLanded::Conflict(conflict)),
            Err(why) => {
                return Err(refused(format!(
                    "it could not be replayed on your newer commits ({why})"
                )));
            }
        }
        // The tree at work is the worktree, where the result was replayed.
        let plan = self.plan(task);
        let log = self
            .step_log(task, "integration")
            .map_err(|e| refused(e.to_string()))?;
        let ran = self.checks_logged(task, &plan, &log).await;
        let Some(runs) = ran.map_err(|e| refused(e.to_string()))? else {
            return Err(refused(
                "a signal stopped its checks on top of your newer commits".into(),
            ));
        };
        let gate = crate::gate::judge(&plan, changed, &runs, None, true);
        if !gate.passed {
            let first = gate.errors.first().map_or("", |e| super::first_line(e));
            return Err(refused(format!(
                "its checks fail on top of your newer commits ({first})"
            )));
        }
        git::head(&workspace.at.root)
            .await
            .map_err(|e| refused(e.to_string()))
    }
}
