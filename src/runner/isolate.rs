//! A delivery task's own worktree (`run.isolation = "worktree"`): the worker's worktree under
//! `.git/autodev/worktrees/`, moved to a branch `autodev/<task>` at the commit the run
//! integrates onto, where the agent, the checks and the commit work; the result brought to the
//! user's branch by a fast-forward when that touches nothing of the user's (the rule
//! experiments follow too), else left on its branch for the next task to build on; a blocked
//! task's unfinished work committed on its branch, so it never reaches the next task. The user's
//! tree, index and uncommitted work are only read, to see whether a fast-forward is safe.
//!
//! The worker's worktree is kept between tasks and runs: moving it to the next task's start
//! writes only the files that differ, and its ignored files (build caches) stay.

use std::path::{Path, PathBuf};

use super::{Runner, TaskEnd, task_ref};
use crate::git::{self, short_sha, worktree};
use crate::journal::event::{BlockedTask, Event, Level};
use crate::task::{Task, safe_id};
use crate::ui::preview;

/// The worktree a delivery task is worked in.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Workspace {
    /// The worker's worktree (its root).
    pub root: PathBuf,
    /// The code directory inside it: where the agent, the checks and git run.
    pub dir: PathBuf,
    /// The top of the user's work tree.
    pub top: PathBuf,
    pub branch: String,
    /// The commit the task started from, and the user's branch then (`None`: detached).
    pub start: String,
    pub start_ref: Option<String>,
}

/// Where a workspace stood, as journalled: what a restarted run finds it again from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WorkspaceAt {
    pub root: PathBuf,
    pub branch: String,
    pub start: String,
    pub start_ref: Option<String>,
}

impl Workspace {
    /// Where its result is to land: the user's branch as it was when the task began.
    fn line(&self) -> Line<'_> {
        Line {
            top: &self.top,
            start: &self.start,
            start_ref: self.start_ref.as_deref(),
            branch: &self.branch,
        }
    }
}

/// Where a result made in a worktree is to land: the user's branch as it was when the work
/// began.
pub(super) struct Line<'a> {
    pub top: &'a Path,
    pub start: &'a str,
    pub start_ref: Option<&'a str>,
    pub branch: &'a str,
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

/// The worker's worktree, as a name among the repository's autodev worktrees.
const WORKER: &str = "worker-1";

impl Runner<'_> {
    /// Works a delivery task in its own worktree, from the start of its story: the worktree
    /// made ready, the task worked there, and what it left brought out.
    pub(super) async fn deliver_isolated(&mut self, task: Task) -> crate::error::Result<TaskEnd> {
        if let Some(why) = self.why_in_place().await {
            if !self.told_in_place {
                self.told_in_place = true;
                self.sinks.note(
                    Level::Warn,
                    format!("run.isolation = \"worktree\": {why}; tasks are worked in your tree"),
                );
            }
            return self.deliver(task, None).await;
        }
        let workspace = match self.open_workspace(&task).await {
            Ok(workspace) => workspace,
            Err(why) => return self.block(&task, why),
        };
        let user_tree = self.enter(workspace);
        let end = match self.set_up(&task).await {
            Ok(()) => self.deliver(task.clone(), None).await,
            Err(why) => Ok(TaskEnd::Halt(why)),
        };
        self.leave(&task, user_tree, end.as_ref().ok()).await;
        end
    }

    /// Why tasks cannot be worked in a worktree here, if they cannot: no commit to start from
    /// (a repository with none yet, or none at all), or submodules, which a worktree does not
    /// check out.
    async fn why_in_place(&self) -> Option<&'static str> {
        let user = &self.settings.paths.code_dir;
        if git::head(user).await.is_err() {
            return Some("there is no commit to start each task from yet");
        }
        let layout = worktree::layout(user).await.ok()?;
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
        let paths = &self.settings.paths;
        let mut plan = crate::gate::Plan::new(task, &self.settings.config, paths)
            .in_tree(&paths.code_dir, &self.tree.dir);
        plan.commands = vec![command.clone()];
        let log = self.step_log(task, "setup").map_err(|e| e.to_string())?;
        let sink = super::append(&log).map_err(|e| e.to_string())?;
        let mut tee = crate::exec::Tee::new(vec![Box::new(sink)]);
        let runs = self.checks(task, &plan, &mut tee).await;
        if self.cancel.level() != crate::exec::CancelLevel::None {
            return Err("a signal stopped the worktree setup".into());
        }
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
        let user = self.settings.paths.code_dir.clone();
        let layout = worktree::layout(&user)
            .await
            .map_err(|why| format!("cannot find the repository's worktrees: {why}"))?;
        let start = match &self.integration {
            Some(tip) => tip.clone(),
            None => git::head(&user).await.map_err(|why| why.to_string())?,
        };
        let start_ref = worktree::head_ref(&user).await;
        let root = layout.tree(&self.tree_name(&layout, WORKER));
        let reused = worktree::usable(&root).await;
        if reused {
            // What it holds is put aside, and the branch it is on freed, before a branch is
            // chosen: the task's own old branch may be the one checked out there.
            worktree::abort_replay(&root).await;
            self.put_aside(&root).await;
            let _ = worktree::detach(&root).await;
        }
        let name = self.tree_name(&layout, &safe_id(&task.id));
        let branch = self.free_branch(&layout, &name, &start).await;
        if reused {
            worktree::switch_to(&root, &branch, &start).await
        } else {
            match worktree::remove(&user, &root).await {
                Ok(()) => {
                    let checkout = worktree::Checkout::NewBranch(&branch);
                    worktree::add(&user, &root, checkout, &start).await
                }
                Err(why) => Err(why),
            }
        }
        .map_err(|why| {
            format!(
                "could not make the worktree {} ready for {}: {why}",
                root.display(),
                task.id
            )
        })?;
        let workspace = Workspace {
            dir: layout.inside(&root),
            root,
            top: layout.top,
            branch,
            start,
            start_ref,
        };
        self.sinks.emit(Event::WorkspaceOpened {
            task: task_ref(task),
            branch: workspace.branch.clone(),
            worktree: workspace.root.clone(),
            start: workspace.start.clone(),
            start_ref: workspace.start_ref.clone(),
        });
        Ok(workspace)
    }

    /// The workspace a cut-off task was worked in, found again as it was (its edits kept);
    /// `None` when it is gone or holds another branch.
    pub(super) async fn reopen_workspace(&mut self, at: &WorkspaceAt) -> Option<Workspace> {
        let user = self.settings.paths.code_dir.clone();
        let layout = worktree::layout(&user).await.ok()?;
        if !worktree::usable(&at.root).await {
            return None;
        }
        // Killed while its result was replayed on newer commits: the worktree goes back to the
        // task's branch, which holds the result as it was verified.
        worktree::abort_replay(&at.root).await;
        let on = worktree::head_ref(&at.root).await;
        if on.is_none() {
            worktree::branch_tip(&layout.top, &at.branch).await?;
            worktree::check_out_branch(&at.root, &at.branch, false)
                .await
                .ok()?;
        } else if on.as_deref() != Some(format!("refs/heads/{}", at.branch).as_str()) {
            return None;
        }
        let dir = layout.inside(&at.root);
        git::clean_commit_leftovers(&dir);
        Some(Workspace {
            dir,
            root: at.root.clone(),
            top: layout.top,
            branch: at.branch.clone(),
            start: at.start.clone(),
            start_ref: at.start_ref.clone(),
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
        let user = self.settings.paths.code_dir.clone();
        let Ok(layout) = worktree::layout(&user).await else {
            return;
        };
        let root = layout.tree(&self.tree_name(&layout, WORKER));
        if worktree::usable(&root).await
            && worktree::head_ref(&root).await.is_some()
            && git::changed_files(&root).await.is_ok_and(|c| c.is_empty())
            && let (Ok(head), Ok(tip)) = (git::head(&user).await, git::head(&root).await)
            && worktree::is_ancestor(&user, &tip, &head).await
        {
            let _ = worktree::detach(&root).await;
        }
        // This project's branches: `autodev/<task>`, or `autodev/<project>/<task>` below the
        // top of the repository.
        let mine = self.tree_name(&layout, "");
        let under = format!("autodev/{mine}");
        let mut deleted = Vec::new();
        for name in worktree::branches_under(&layout.top, &under).await {
            // Below the top, another project's branches have a `/` more than this one's.
            let own = !name[under.len()..].contains('/');
            if own && worktree::delete_if_merged(&layout.top, &name).await {
                deleted.push(name);
            }
        }
        if !deleted.is_empty() {
            self.sinks.note(
                Level::Info,
                format!(
                    "removed branches left behind whose work is on your branch: {}",
                    deleted.join(", ")
                ),
            );
        }
    }

    /// Removes the lock files git leaves when it is killed half way through updating one of
    /// this project's `autodev/` branches or one of its worktrees' `HEAD` or index (a run
    /// killed during a reset or a commit in a worktree): left there, the next git command on it
    /// fails with "File exists", and an experiment could not resume. Safe because this run holds
    /// the project's lock, and only this project's runs touch those branches and worktrees.
    pub(super) async fn clear_stale_locks(&mut self) {
        let user = self.settings.paths.code_dir.clone();
        let Ok(layout) = worktree::layout(&user).await else {
            return;
        };
        let mine = self.tree_name(&layout, "");
        let mut removed = Vec::new();
        let refs = layout.common.join("refs/heads/autodev").join(&mine);
        for lock in files_ending(&refs, ".lock", mine.is_empty()) {
            if std::fs::remove_file(&lock).is_ok() {
                removed.push(lock);
            }
        }
        let trees = layout.common.join("autodev/worktrees").join(&mine);
        for tree in std::fs::read_dir(&trees).into_iter().flatten().flatten() {
            let Some(admin) = worktree_admin(&tree.path()) else {
                continue;
            };
            for name in ["index.lock", "HEAD.lock"] {
                let lock = admin.join(name);
                if std::fs::remove_file(&lock).is_ok() {
                    removed.push(lock);
                }
            }
        }
        if !removed.is_empty() {
            let shown: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
            self.sinks.note(
                Level::Warn,
                format!(
                    "removed lock files a killed git command had left: {}",
                    shown.join(", ")
                ),
            );
        }
    }

    /// What an earlier run left uncommitted in the worker's worktree while it was on a task's
    /// branch (a task it could not resume), committed on that branch, so that moving the
    /// worktree on loses nothing. A worktree on no branch holds nothing of a task's: each task's
    /// work was committed before it was left, and what remains (files its checks wrote) goes.
    async fn put_aside(&mut self, root: &Path) {
        let Some(branch) = worktree::head_ref(root).await else {
            return;
        };
        let message = "autodev: work left in the worker's worktree, put aside";
        if let Ok(Some(sha)) = worktree::commit_everything(root, message).await {
            self.sinks.note(
                Level::Warn,
                format!(
                    "what an earlier run left in {} is kept as commit {} on {}",
                    root.display(),
                    short_sha(&sha),
                    branch.trim_start_matches("refs/heads/")
                ),
            );
        }
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
        self.tree = user_tree;
        let Some(workspace) = self.workspace.take() else {
            return;
        };
        match end {
            Some(TaskEnd::Blocked) => self.park(task, &workspace).await,
            Some(TaskEnd::Completed) => {}
            _ => return,
        }
        if let Err(why) = worktree::detach(&workspace.root).await {
            self.sinks.note(
                Level::Warn,
                format!(
                    "could not free the worktree {}: {why}",
                    workspace.root.display()
                ),
            );
        }
        // The branch goes when nothing on it is unique: nothing was committed, or it is on
        // your branch now. A result waiting to be merged keeps it.
        let user = self.settings.paths.code_dir.clone();
        let tip = worktree::branch_tip(&workspace.top, &workspace.branch).await;
        let merged = match (&tip, git::head(&user).await) {
            (Some(tip), Ok(head)) => {
                *tip == workspace.start || worktree::is_ancestor(&user, tip, &head).await
            }
            _ => false,
        };
        if merged {
            let _ = worktree::delete_branch(&workspace.top, &workspace.branch).await;
        }
    }

    /// A blocked task's unfinished work, committed on its branch and told where to find it.
    async fn park(&mut self, task: &Task, workspace: &Workspace) {
        let message = format!("autodev: {} blocked, its unfinished work", task.id);
        let told = match worktree::commit_everything(&workspace.root, &message).await {
            Ok(_)
                if worktree::branch_tip(&workspace.top, &workspace.branch).await
                    == Some(workspace.start.clone()) =>
            {
                return;
            }
            Ok(_) => format!(
                "the work of blocked task {} stays on branch {} (`git diff {}...{}` shows it); \
                 your branch and the next task do not have it",
                task.id,
                workspace.branch,
                short_sha(&workspace.start),
                workspace.branch
            ),
            Err(why) => format!(
                "the unfinished work of blocked task {} could not be committed on branch {} \
                 ({why}); it is left in {}",
                task.id,
                workspace.branch,
                workspace.root.display()
            ),
        };
        self.sinks.note(Level::Warn, told);
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
        let workspace = self.workspace.clone()?;
        let mut tip = git::head(&workspace.dir).await.ok()?;
        if tip == workspace.start {
            return None;
        }
        let user = self.settings.paths.code_dir.clone();
        let on_your_branch = match git::head(&user).await {
            Ok(head) => worktree::is_ancestor(&user, &workspace.start, &head).await,
            Err(_) => false,
        };
        let landed = if !self.settings.config.git.auto_commit {
            Err("git.auto_commit is false".to_string())
        } else if !on_your_branch {
            Err(
                "it builds on work your branch does not have (an earlier result waiting to be \
                 merged, or history you rewrote)"
                    .to_string(),
            )
        } else if let Some(now) = self.moved_on(&workspace, &tip).await {
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
                workspace.branch
            );
            return self.block(&task, why).map(Err);
        }
        let summary = format!(
            "the result conflicts with newer commits on the user's branch in {files}, so the \
             task is done again on top of them (the first result stays on branch {}). The \
             conflicting hunks:\n{}",
            workspace.branch, conflict.hunks
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
        self.sinks.emit(Event::AttemptFailed {
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
        let _ = worktree::detach(&workspace.root).await;
        self.integration = None;
        match self.open_workspace(&task).await {
            Ok(next) => {
                self.tree.carry = None;
                self.workspace = Some(next);
                Ok(Ok((task, workspace.branch)))
            }
            Err(why) => self.block(&task, why).map(Err),
        }
    }

    /// After a task done again for a conflict ends as `end`: the first result's branch goes
    /// once the second result is on the user's branch.
    pub(super) async fn superseded(&mut self, end: TaskEnd, first: Option<&str>) -> TaskEnd {
        let (Some(first), Some(workspace)) = (first, self.workspace.clone()) else {
            return end;
        };
        let user = self.settings.paths.code_dir.clone();
        if let (Ok(tip), Ok(head)) = (git::head(&workspace.dir).await, git::head(&user).await)
            && worktree::is_ancestor(&user, &tip, &head).await
            && worktree::delete_branch(&workspace.top, first).await.is_ok()
        {
            self.sinks.note(
                Level::Info,
                format!(
                    "the first result of {}, which conflicted, is superseded: branch {first} \
                     removed",
                    workspace.branch
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
        let branch = &workspace.branch;
        let (merged, message) = match landed {
            Ok(how) => {
                self.integration = None;
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
                self.integration = Some(tip.to_string());
                let ahead = worktree::commits_ahead(&workspace.top, &workspace.start, tip).await;
                let message = format!(
                    "{}: the result stays on branch {branch} ({ahead}) because {why}; the next \
                     task starts from it, and `git merge {branch}` takes it",
                    task.id
                );
                self.to_merge.push(BlockedTask {
                    id: task.id.clone(),
                    reason: message.clone(),
                });
                (false, message)
            }
        };
        self.sinks.emit(Event::TaskLanded {
            task: task_ref(task),
            branch: branch.clone(),
            sha: tip.to_string(),
            merged,
            message,
        });
    }

    /// The user's `HEAD`, when their branch only went forward since the task began (commits of
    /// their own on top of its start, the same branch checked out) and does not have the
    /// result yet: what the result is to be replayed on.
    async fn moved_on(&mut self, workspace: &Workspace, tip: &str) -> Option<String> {
        let user = self.settings.paths.code_dir.clone();
        let now = git::head(&user).await.ok()?;
        let forward = now != workspace.start
            && worktree::head_ref(&user).await == workspace.start_ref
            && worktree::is_ancestor(&user, &workspace.start, &now).await
            && !worktree::is_ancestor(&user, tip, &now).await;
        forward.then_some(now)
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
        let root = &workspace.root;
        worktree::detach(root)
            .await
            .map_err(|e| NotLanded::Refused(e.to_string()))?;
        let checked = self.replay_and_check(task, workspace, onto, changed).await;
        let moved = match &checked {
            Ok(_) => worktree::check_out_branch(root, &workspace.branch, true).await,
            Err(_) => worktree::check_out_branch(root, &workspace.branch, false).await,
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
        match worktree::replay(&workspace.root, &workspace.start, onto).await {
            Ok(Ok(())) => {}
            Ok(Err(conflict)) => return Err(NotLanded::Conflict(conflict)),
            Err(why) => {
                return Err(refused(format!(
                    "it could not be replayed on your newer commits ({why})"
                )));
            }
        }
        let paths = &self.settings.paths;
        let plan = crate::gate::Plan::new(task, &self.settings.config, paths)
            .in_tree(&paths.code_dir, &workspace.dir);
        let log = self
            .step_log(task, "integration")
            .map_err(|e| refused(e.to_string()))?;
        let sink = super::append(&log).map_err(|e| refused(e.to_string()))?;
        let mut tee = crate::exec::Tee::new(vec![Box::new(sink)]);
        let runs = self.checks(task, &plan, &mut tee).await;
        if self.cancel.level() != crate::exec::CancelLevel::None {
            return Err(refused(
                "a signal stopped its checks on top of your newer commits".into(),
            ));
        }
        let gate = crate::gate::judge(&plan, changed, &runs, None, true);
        if !gate.passed {
            let first = gate.errors.first().map_or("", |e| super::first_line(e));
            return Err(refused(format!(
                "its checks fail on top of your newer commits ({first})"
            )));
        }
        git::head(&workspace.root)
            .await
            .map_err(|e| refused(e.to_string()))
    }

    /// Fast-forwards the user's branch to `tip` if it has not moved since the work began and
    /// no uncommitted change of the user's touches the changed paths; otherwise says why not.
    pub(super) async fn fast_forward(&mut self, line: &Line<'_>, tip: &str) -> Result<(), String> {
        let user = self.settings.paths.code_dir.clone();
        let now = git::head(&user).await?;
        let on = worktree::head_ref(&user).await;
        // Already there: a run killed after its fast-forward, or a merge made by hand.
        if worktree::is_ancestor(&user, tip, &now).await {
            return Ok(());
        }
        if now != line.start || on.as_deref() != line.start_ref {
            let name = |r: Option<&str>| {
                r.map(|r| r.trim_start_matches("refs/heads/").to_string())
                    .unwrap_or_else(|| "a detached HEAD".into())
            };
            return Err(format!(
                "your branch moved while it ran (it began at {} on {}, and HEAD is now {} on {})",
                short_sha(line.start),
                name(line.start_ref),
                short_sha(&now),
                name(on.as_deref())
            ));
        }
        let changed = worktree::changed_between(&user, line.start, tip).await?;
        // The top's view: paths relative to the top, as the changed paths are.
        let dirty = git::changed_files(line.top)
            .await
            .map_err(|e| e.to_string())?;
        let overlap: Vec<String> = dirty
            .into_iter()
            .filter(|p| {
                changed
                    .iter()
                    .any(|c| c == p || c.starts_with(&format!("{p}/")))
            })
            .collect();
        if !overlap.is_empty() {
            return Err(format!(
                "your uncommitted changes touch what it changed ({}); commit or stash them first",
                preview(&overlap, 10)
            ));
        }
        worktree::fast_forward(&user, line.branch)
            .await
            .map_err(|e| format!("git refused the fast-forward ({e})"))
    }

    /// What names `leaf` (a task's id, the worker) among this repository's autodev worktrees
    /// and branches: itself, behind the project's directory when the project is not at the top
    /// of the repository (two projects of one repository may both have a task `E1`).
    pub(super) fn tree_name(&self, layout: &worktree::Layout, leaf: &str) -> String {
        let root = &self.settings.paths.root;
        let top = std::fs::canonicalize(&layout.top).unwrap_or_else(|_| layout.top.clone());
        let here = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        let project: Vec<String> = here
            .strip_prefix(&top)
            .map(|rel| {
                rel.components()
                    .map(|c| safe_id(&c.as_os_str().to_string_lossy()))
                    .collect()
            })
            .unwrap_or_default();
        if project.is_empty() {
            leaf.to_string()
        } else {
            format!("{}/{leaf}", project.join("_"))
        }
    }

    /// `autodev/<name>`, or the first `autodev/<name>-N` free of unmerged work: an old branch
    /// that holds nothing beyond `start` is reused, one with commits of its own is kept.
    pub(super) async fn free_branch(
        &mut self,
        layout: &worktree::Layout,
        name: &str,
        start: &str,
    ) -> String {
        let dir = layout.top.clone();
        let mut n = 1;
        loop {
            let branch = if n == 1 {
                format!("autodev/{name}")
            } else {
                format!("autodev/{name}-{n}")
            };
            match worktree::branch_tip(&dir, &branch).await {
                None => return branch,
                Some(tip) if worktree::is_ancestor(&dir, &tip, start).await => {
                    if worktree::delete_branch(&dir, &branch).await.is_ok() {
                        return branch;
                    }
                }
                Some(_) => {}
            }
            n += 1;
        }
    }
}

/// The files under `dir` whose names end with `suffix`, in its subfolders too unless `top`
/// (this project's branches at the top of the repository have no `/` of their own; deeper ones
/// are other projects').
fn files_ending(dir: &Path, suffix: &str, top: bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() && !top => found.extend(files_ending(&path, suffix, false)),
            Ok(t) if t.is_file() && path.to_string_lossy().ends_with(suffix) => found.push(path),
            _ => {}
        }
    }
    found
}

/// The administrative folder git keeps for the linked worktree at `tree` (its `.git` file says
/// where).
fn worktree_admin(tree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(tree.join(".git")).ok()?;
    let dir = text.strip_prefix("gitdir:")?.trim();
    Some(tree.join(dir))
}
