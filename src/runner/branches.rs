//! autodev's branches and worktrees in the user's repository, whoever made them (a delivery
//! task's worktree, an experiment's): where the repository's worktrees are (read once a run),
//! the names of autodev's branches and worktrees, bringing a result onto the user's branch by a
//! fast-forward when that touches nothing of the user's, and tidying what a killed run left:
//! branches whose work is on the user's branch, and lock files a killed git command left.

use std::path::{Path, PathBuf};

use super::Runner;
use crate::git::{self, GitResult, short_sha, worktree};
use crate::journal::event::Level;
use crate::task::safe_id;
use crate::ui::preview;

/// Where a result made in a worktree is to land: the user's branch as it was when the work
/// began.
pub(super) struct Line<'a> {
    pub top: &'a Path,
    pub start: &'a str,
    pub start_ref: Option<&'a str>,
    pub branch: &'a str,
}

impl Runner<'_> {
    /// Where the repository holding the project is, and its worktrees: asked of git once a
    /// run (it does not change while the run holds the project's lock).
    pub(super) async fn layout(&mut self) -> GitResult<worktree::Layout> {
        if let Some(layout) = &self.layout {
            return Ok(layout.clone());
        }
        let layout = worktree::layout(&self.settings.paths.code_dir).await?;
        self.layout = Some(layout.clone());
        Ok(layout)
    }

    /// Whether the user's branch has `sha` (it is `HEAD` or one of its ancestors).
    pub(super) async fn on_your_branch(&self, sha: &str) -> bool {
        let user = &self.settings.paths.code_dir;
        match git::head(user).await {
            Ok(head) => worktree::is_ancestor(user, sha, &head).await,
            Err(_) => false,
        }
    }

    /// Deletes this project's `autodev/` branches whose every commit is on the user's branch
    /// and that no worktree has checked out (`autodev/<task>`, or `autodev/<project>/<task>`
    /// below the top of the repository), and says which.
    pub(super) async fn delete_merged_branches(&mut self, layout: &worktree::Layout) {
        let mine = self.tree_name(layout, "");
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
            self.note(
                Level::Info,
                format!(
                    "removed branches left behind whose work is on your branch: {}",
                    deleted.join(", ")
                ),
            );
        }
    }

    /// Removes the lock files git leaves when it is killed half way through updating one of
    /// this project's `autodev/` branches or one of its worktrees' own files (its `HEAD`, index,
    /// or the refs of a replay: a run killed during a reset, a commit or a replay in a
    /// worktree): left there, the next git command on it fails with "File exists", an
    /// experiment could not resume and a result could not be replayed. Safe because this run holds
    /// the project's lock, and only this project's runs touch those branches and worktrees.
    pub(super) async fn clear_stale_locks(&mut self) {
        let Ok(layout) = self.layout().await else {
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
            // Its index, HEAD and the refs of a replay (CHERRY_PICK_HEAD, ORIG_HEAD), its logs:
            // every lock in there is of this worktree alone.
            for lock in files_ending(&admin, ".lock", false) {
                if std::fs::remove_file(&lock).is_ok() {
                    removed.push(lock);
                }
            }
        }
        if !removed.is_empty() {
            let shown: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
            self.note(
                Level::Warn,
                format!(
                    "removed lock files a killed git command had left: {}",
                    shown.join(", ")
                ),
            );
        }
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
        clear_of_your_edits(&user, line.top, line.start, tip).await?;
        worktree::fast_forward(&user, line.branch)
            .await
            .map_err(|e| format!("git refused the fast-forward ({e})"))
    }

    /// The user's `HEAD`, when their branch only went forward since the work of `line` began
    /// (commits of their own on top of its start, the same branch checked out) and does not
    /// have `tip` yet: what the result is to be replayed on.
    pub(super) async fn moved_on(&self, line: &Line<'_>, tip: &str) -> Option<String> {
        let user = &self.settings.paths.code_dir;
        let now = git::head(user).await.ok()?;
        let forward = now != line.start
            && worktree::head_ref(user).await.as_deref() == line.start_ref
            && worktree::is_ancestor(user, line.start, &now).await
            && !worktree::is_ancestor(user, tip, &now).await;
        forward.then_some(now)
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

/// Refuses, saying which, when uncommitted changes of the user's (in the repository whose top
/// is `top`, seen from `user`) touch a path that the commits from `from` to `to` change.
pub(super) async fn clear_of_your_edits(
    user: &Path,
    top: &Path,
    from: &str,
    to: &str,
) -> Result<(), String> {
    let changed = worktree::changed_between(user, from, to).await?;
    // The top's view: paths relative to the top, as the changed paths are.
    let dirty = git::changed_files(top).await.map_err(|e| e.to_string())?;
    let overlap: Vec<String> = dirty
        .into_iter()
        .filter(|p| {
            changed
                .iter()
                .any(|c| c == p || c.starts_with(&format!("{p}/")))
        })
        .collect();
    if overlap.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "your uncommitted changes touch what it changed ({}); commit or stash them first",
            preview(&overlap, 10)
        ))
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
