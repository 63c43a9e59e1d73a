//! Where a worker's attempts run: the [`Executor`] interface (a tree at a commit on the
//! task's branch, made ready, found again after a crash, handed back as a commit) and its first
//! implementation, [`LocalWorktree`], the worker's linked worktree in the user's repository.
//! The dispatcher, the journal, the budget and the merge queue do not depend on which executor
//! runs an attempt; `docs/architecture.md` has the plan for the next ones (an SSH pool,
//! containers, Kubernetes Jobs).

use std::path::{Path, PathBuf};

use crate::git::{self, worktree};

/// What clearing a tree put aside: work an earlier task or run left uncommitted there, now a
/// commit on the branch it was on.
pub(super) struct PutAside {
    pub sha: String,
    pub branch: String,
}

/// A place where a worker works one task at a time.
pub(super) trait Executor {
    /// Clears the tree for the next task: a replay a killed run left is undone, work left
    /// uncommitted on a task's branch is committed there (returned), and the branch is left.
    async fn clear(&mut self) -> Option<PutAside>;

    /// The tree at commit `start` on the new branch `branch`: the directory the agent and the
    /// checks work in. `Err` says why it cannot be had.
    async fn prepare(&mut self, branch: &str, start: &str) -> Result<PathBuf, String>;

    /// The tree a cut-off task was worked in, back on its `branch` with its edits kept: the
    /// directory to work in, or `None` when it is gone or holds another branch.
    async fn reopen(&mut self, branch: &str) -> Option<PathBuf>;

    /// Commits what the tree holds uncommitted on its branch (a blocked task's unfinished
    /// work): the new commit, or `None` when there was nothing.
    async fn keep_unfinished(&mut self, message: &str) -> Result<Option<String>, String>;

    /// The commit the task's branch ended at: its result.
    async fn hand_back(&self) -> Result<String, String>;

    /// Leaves the task's branch (so it can be merged, deleted or checked out elsewhere); the
    /// tree stays for the next task.
    async fn release(&mut self) -> Result<(), String>;
}

/// A worker's linked worktree in the user's repository (`.git/autodev/worktrees/worker-N`),
/// reused from task to task: moving it to the next start writes only the files that differ.
pub(super) struct LocalWorktree {
    /// The worktree's root.
    root: PathBuf,
    /// The directory in it that corresponds to the user's code directory.
    dir: PathBuf,
    /// The user's code directory (where the worktree is added from), and the top of their
    /// repository.
    user: PathBuf,
    top: PathBuf,
}

impl LocalWorktree {
    /// The worktree at `root` of the repository laid out as `layout`, whose code directory is
    /// `user`.
    pub(super) fn new(root: &Path, user: &Path, layout: &worktree::Layout) -> LocalWorktree {
        LocalWorktree {
            root: root.to_path_buf(),
            dir: layout.inside(root),
            user: user.to_path_buf(),
            top: layout.top.clone(),
        }
    }

    /// The worktree a task is worked in, known from its journalled place.
    pub(super) fn at(root: &Path, dir: &Path, user: &Path, top: &Path) -> LocalWorktree {
        LocalWorktree {
            root: root.to_path_buf(),
            dir: dir.to_path_buf(),
            user: user.to_path_buf(),
            top: top.to_path_buf(),
        }
    }
}

impl Executor for LocalWorktree {
    async fn clear(&mut self) -> Option<PutAside> {
        if !worktree::usable(&self.root).await {
            return None;
        }
        worktree::abort_replay(&self.root).await;
        let put_aside = match worktree::head_ref(&self.root).await {
            Some(branch) => {
                let message = "autodev: work left in the worker's worktree, put aside";
                match worktree::commit_everything(&self.root, message).await {
                    Ok(Some(sha)) => Some(PutAside {
                        sha,
                        branch: branch.trim_start_matches("refs/heads/").to_string(),
                    }),
                    _ => None,
                }
            }
            None => None,
        };
        let _ = worktree::detach(&self.root).await;
        put_aside
    }

    async fn prepare(&mut self, branch: &str, start: &str) -> Result<PathBuf, String> {
        let made = if worktree::usable(&self.root).await {
            worktree::switch_to(&self.root, branch, start).await
        } else {
            match worktree::remove(&self.user, &self.root).await {
                Ok(()) => {
                    let checkout = worktree::Checkout::NewBranch(branch);
                    worktree::add(&self.user, &self.root, checkout, start).await
                }
                Err(why) => Err(why),
            }
        };
        made.map_err(|why| why.to_string())?;
        Ok(self.dir.clone())
    }

    async fn reopen(&mut self, branch: &str) -> Option<PathBuf> {
        if !worktree::usable(&self.root).await {
            return None;
        }
        // Killed while its result was replayed on newer commits: the worktree goes back to the
        // task's branch, which holds the result as it was verified.
        worktree::abort_replay(&self.root).await;
        let on = worktree::head_ref(&self.root).await;
        if on.is_none() {
            worktree::branch_tip(&self.top, branch).await?;
            worktree::check_out_branch(&self.root, branch, false)
                .await
                .ok()?;
        } else if on.as_deref() != Some(format!("refs/heads/{branch}").as_str()) {
            return None;
        }
        git::clean_commit_leftovers(&self.dir);
        Some(self.dir.clone())
    }

    async fn keep_unfinished(&mut self, message: &str) -> Result<Option<String>, String> {
        worktree::commit_everything(&self.root, message)
            .await
            .map_err(|why| why.to_string())
    }

    async fn hand_back(&self) -> Result<String, String> {
        git::head(&self.dir).await.map_err(|why| why.to_string())
    }

    async fn release(&mut self) -> Result<(), String> {
        worktree::detach(&self.root)
            .await
            .map_err(|why| why.to_string())
    }
}
