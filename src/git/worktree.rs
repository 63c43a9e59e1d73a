//! Linked worktrees for experiments and for the workers that work delivery tasks: where they
//! live, creating, reusing and removing them, and bringing a branch to the user's branch by a
//! fast-forward.
//!
//! An experiment's trees live under the repository's common git directory
//! (`.git/autodev/worktrees/`), so they are outside the user's working tree: nothing the user's
//! `git status` or autodev's snapshot of it can see. This module only runs git; what to do when
//! is the runner's.

use std::path::{Path, PathBuf};

use super::{GitError, GitResult, git, git_keys, git_with_hooks, short_sha};

/// Where a repository's work tree and git directory are, seen from a directory inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The top of the work tree holding the directory.
    pub top: PathBuf,
    /// The directory relative to `top` (empty at the top), as git prints it (with a trailing `/`).
    pub prefix: String,
    /// The common git directory (the main repository's, even from a linked worktree).
    pub common: PathBuf,
}

impl Layout {
    /// Where the worktree named `name` of the experiments lives.
    pub fn tree(&self, name: &str) -> PathBuf {
        self.common.join("autodev").join("worktrees").join(name)
    }

    /// The directory in worktree `root` that corresponds to the asked-about directory.
    pub fn inside(&self, root: &Path) -> PathBuf {
        let prefix = self.prefix.trim_end_matches('/');
        if prefix.is_empty() {
            root.to_path_buf()
        } else {
            root.join(prefix)
        }
    }
}

/// The layout of the repository holding `dir`.
pub async fn layout(dir: &Path) -> GitResult<Layout> {
    let text = git(
        dir,
        &[
            "rev-parse",
            "--path-format=absolute",
            "--show-toplevel",
            "--git-common-dir",
            "--show-prefix",
        ],
    )
    .await?;
    let mut lines = text.lines();
    let (Some(top), Some(common)) = (lines.next(), lines.next()) else {
        return Err(GitError::finding("git did not say where the work tree is"));
    };
    Ok(Layout {
        top: PathBuf::from(top),
        common: PathBuf::from(common),
        prefix: lines.next().unwrap_or("").to_string(),
    })
}

/// A worktree's checkout writes every file of the tree; with several writers at once it takes a
/// quarter of the time on a filesystem where creating files is slow (`bench/worktree.sh`).
const PARALLEL_CHECKOUT: [&str; 2] = ["-c", "checkout.workers=8"];

/// What a new worktree has checked out.
#[derive(Debug, Clone, Copy)]
pub enum Checkout<'a> {
    /// A new branch of this name (it must not exist) at the start commit.
    NewBranch(&'a str),
    /// This existing branch (the start commit is not used).
    Branch(&'a str),
    /// The start commit, detached.
    Detached,
}

/// Creates a worktree at `path` with `checkout`.
pub async fn add(dir: &Path, path: &Path, checkout: Checkout<'_>, start: &str) -> GitResult<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| GitError::finding(format!("cannot create {}: {e}", parent.display())))?;
    }
    let at = path.display().to_string();
    let mut args = vec![
        PARALLEL_CHECKOUT[0],
        PARALLEL_CHECKOUT[1],
        "worktree",
        "add",
        "-q",
    ];
    match checkout {
        Checkout::NewBranch(name) => args.extend(["-b", name, at.as_str(), start]),
        Checkout::Branch(name) => args.extend([at.as_str(), name]),
        Checkout::Detached => args.extend(["--detach", at.as_str(), start]),
    }
    hooked(dir, &args).await
}

/// Removes the worktree at `path` whatever it holds (it is autodev's), and what git knows of it;
/// a directory git no longer knows is removed as well. Absent is fine.
pub async fn remove(dir: &Path, path: &Path) -> GitResult<()> {
    let at = path.display().to_string();
    if path.exists() {
        // Twice --force: also when it is locked or has changes.
        let _ = git(dir, &["worktree", "remove", "--force", "--force", &at]).await;
        if path.exists() {
            std::fs::remove_dir_all(path)
                .map_err(|e| GitError::finding(format!("cannot remove {}: {e}", path.display())))?;
        }
    }
    prune(dir).await
}

/// Forgets worktrees whose directories are gone (`git worktree prune`).
pub async fn prune(dir: &Path) -> GitResult<()> {
    git(dir, &["worktree", "prune"]).await.map(|_| ())
}

/// Whether `path` is a worktree git knows, checked out and usable.
pub async fn usable(path: &Path) -> bool {
    path.is_dir()
        && git(path, &["rev-parse", "--is-inside-work-tree"])
            .await
            .is_ok_and(|t| t.trim() == "true")
}

/// The commit branch `name` points at, if the branch exists.
pub async fn branch_tip(dir: &Path, name: &str) -> Option<String> {
    let full = format!("refs/heads/{name}");
    if let Some(tip) = super::ref_from_files(dir, &full) {
        return tip;
    }
    git(dir, &["rev-parse", "--verify", "--quiet", &full])
        .await
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Whether `ancestor` is `descendant` or one of its ancestors.
pub async fn is_ancestor(dir: &Path, ancestor: &str, descendant: &str) -> bool {
    git(dir, &["merge-base", "--is-ancestor", ancestor, descendant])
        .await
        .is_ok()
}

/// Deletes branch `name` (its commits stay reachable from any other ref that holds them).
pub async fn delete_branch(dir: &Path, name: &str) -> GitResult<()> {
    to_the_end(dir, &["branch", "-q", "-D", name]).await
}

/// The branches under `refs/heads/<under>`, by their short names.
pub async fn branches_under(dir: &Path, under: &str) -> Vec<String> {
    let refs = format!("refs/heads/{under}");
    git(dir, &["for-each-ref", "--format=%(refname:short)", &refs])
        .await
        .map(|names| {
            names
                .lines()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Deletes branch `name` if it holds nothing `HEAD` does not and no worktree has it checked
/// out (`git branch -d`); whether it did.
pub async fn delete_if_merged(dir: &Path, name: &str) -> bool {
    to_the_end(dir, &["branch", "-q", "-d", name]).await.is_ok()
}

/// `git ARGS` without the project's hooks, run to its end even if autodev is killed meanwhile:
/// for a step that holds a lock of the whole repository while it works (deleting a branch
/// rewrites `packed-refs` under `packed-refs.lock`), which, stopped half way, would be left
/// behind and refuse every later branch deletion, yours too. With no hook it starts nothing
/// that could outlive the run.
async fn to_the_end(dir: &Path, args: &[&str]) -> GitResult<()> {
    let mut spec = crate::exec::Spec::new("git", dir);
    spec.args = ["-c", "core.hooksPath=/dev/null"]
        .iter()
        .chain(args)
        .map(|a| a.to_string())
        .collect();
    super::finish(
        &spec.args,
        crate::exec::quick_to_the_end(&spec, super::GIT_TIMEOUT).await,
    )
    .map(|_| ())
}

/// What `HEAD` of `dir` is on: the branch's full ref name, or `None` when detached.
pub async fn head_ref(dir: &Path) -> Option<String> {
    if let Some(name) = super::head_ref_from_files(dir) {
        return name;
    }
    git(dir, &["symbolic-ref", "-q", "HEAD"])
        .await
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The paths (relative to the top of the work tree) that differ between commits `a` and `b`.
pub async fn changed_between(dir: &Path, a: &str, b: &str) -> GitResult<Vec<String>> {
    git_keys(dir, &["diff", "--name-only", "--no-renames", "-z", a, b]).await
}

/// Moves the branch checked out in `dir` forward to `target`, updating exactly the paths that
/// differ (`git merge --ff-only`); refused by git when it is not a fast-forward.
///
/// It runs without a keeper and without the project's merge hooks: a fast-forward stopped half
/// way would leave the user's files updated and their branch not, so once begun it must finish
/// even if autodev is killed, and with no hook it has nothing that could outlive the run. The
/// commits it brings are autodev's own, made with the project's commit hooks in the worktree.
pub async fn fast_forward(dir: &Path, target: &str) -> GitResult<()> {
    to_the_end(dir, &["merge", "--ff-only", "-q", target]).await
}

/// Points the detached worktree `dir` at `sha`, whatever it held.
pub async fn check_out(dir: &Path, sha: &str) -> GitResult<()> {
    let [c, workers] = PARALLEL_CHECKOUT;
    hooked(dir, &[c, workers, "checkout", "-q", "-f", "--detach", sha]).await
}

/// `git ARGS`, which may run the project's hooks.
async fn hooked(dir: &Path, args: &[&str]) -> GitResult<()> {
    let args = args.iter().map(|a| a.to_string()).collect();
    git_with_hooks(dir, args, Vec::new()).await.map(|_| ())
}

/// Puts the worktree `dir` back to exactly `sha`: the branch, the index and the tracked files,
/// and removes untracked files that are not ignored (ignored files, such as build caches, stay).
pub async fn reset_to(dir: &Path, sha: &str) -> GitResult<()> {
    git(dir, &["reset", "-q", "--hard", sha]).await?;
    git(dir, &["clean", "-q", "-f", "-d"]).await.map(|_| ())
}

/// Moves the worker's worktree `dir` to a new branch `branch` at `start`, whatever it held
/// (its work must have been put aside first): only the files that differ are written, so a
/// reused worktree costs what changed, not a checkout of everything. Ignored files (build
/// caches) stay.
pub async fn switch_to(dir: &Path, branch: &str, start: &str) -> GitResult<()> {
    let [c, workers] = PARALLEL_CHECKOUT;
    hooked(
        dir,
        &[c, workers, "checkout", "-q", "-f", "-B", branch, start],
    )
    .await?;
    git(dir, &["clean", "-q", "-f", "-d"]).await.map(|_| ())
}

/// Where a replay conflicts: the files, and the conflicting hunks as `git diff` shows them
/// (cut to the first lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub files: Vec<String>,
    pub hunks: String,
}

/// The most lines of conflicting hunks kept.
const HUNK_LINES: usize = 60;

/// Replays the commits of worktree `dir` since `upstream` on top of `onto` (`git rebase`),
/// without the project's hooks: autodev's own commits, whose commit hooks ran when they were
/// made. `Ok(Err(conflict))`: the replay conflicts, and was undone.
pub async fn replay(dir: &Path, upstream: &str, onto: &str) -> GitResult<Result<(), Conflict>> {
    let args = [
        "-c",
        "core.hooksPath=/dev/null",
        "rebase",
        "-q",
        "--onto",
        onto,
        upstream,
    ];
    match git(dir, &args).await {
        Ok(_) => Ok(Ok(())),
        Err(why) => {
            let files = git_keys(dir, &["diff", "--name-only", "--diff-filter=U", "-z"])
                .await
                .unwrap_or_default();
            let hunks = git(dir, &["diff", "--no-color"])
                .await
                .unwrap_or_default()
                .lines()
                .take(HUNK_LINES)
                .collect::<Vec<_>>()
                .join("\n");
            abort_replay(dir).await;
            if files.is_empty() {
                Err(why)
            } else {
                Ok(Err(Conflict { files, hunks }))
            }
        }
    }
}

/// Undoes a replay under way in worktree `dir`, if there is one (a killed run's). A replay
/// killed while it was setting out leaves a state `--abort` cannot read; `--quit` then
/// forgets it, and the caller checks out what it wants.
pub async fn abort_replay(dir: &Path) {
    if git(dir, &["rebase", "--abort"]).await.is_err() {
        let _ = git(dir, &["rebase", "--quit"]).await;
    }
}

/// Checks out branch `name` in worktree `dir`, whatever it held; with `here`, the branch is
/// first moved to what `dir` has checked out.
pub async fn check_out_branch(dir: &Path, name: &str, here: bool) -> GitResult<()> {
    let flag = if here { "-B" } else { "-f" };
    git(dir, &["checkout", "-q", flag, name]).await.map(|_| ())
}

/// Leaves the branch checked out in worktree `dir` (its files stay), so the branch can be
/// deleted or checked out elsewhere.
pub async fn detach(dir: &Path) -> GitResult<()> {
    git(dir, &["checkout", "-q", "--detach"]).await.map(|_| ())
}

/// Commits everything the worktree `dir` holds that is not committed (ignored files aside) on
/// what it has checked out, without the project's hooks: autodev's own record of unfinished
/// work on its own branch. The new commit, or `None` when there was nothing to commit.
pub async fn commit_everything(dir: &Path, message: &str) -> GitResult<Option<String>> {
    git(dir, &["add", "-A"]).await?;
    if git(dir, &["diff", "--cached", "--quiet"]).await.is_ok() {
        return Ok(None);
    }
    git(dir, &["commit", "-q", "--no-verify", "-m", message]).await?;
    super::head(dir).await.map(Some)
}

/// How many commits `tip` has that `base` does not, as people read it.
pub async fn commits_ahead(dir: &Path, base: &str, tip: &str) -> String {
    let range = format!("{base}..{tip}");
    match git(dir, &["rev-list", "--count", &range]).await {
        Ok(n) => format!("{} commit(s) on top of {}", n.trim(), short_sha(base)),
        Err(_) => format!("on top of {}", short_sha(base)),
    }
}

/// The commits `tip` has that `base` does not, oldest first.
pub async fn commits_between(dir: &Path, base: &str, tip: &str) -> GitResult<Vec<String>> {
    let range = format!("{base}..{tip}");
    git(dir, &["rev-list", "--reverse", &range])
        .await
        .map(|out| out.lines().map(|l| l.trim().to_string()).collect())
}

/// Whether `onto` has the change from `base` to `tip` already, whatever commits brought it
/// (the same commits, copies replayed elsewhere, one squashed commit): every path the change
/// touches is in `onto` as `tip` has it. False when it cannot be told.
pub async fn has_change(dir: &Path, base: &str, tip: &str, onto: &str) -> bool {
    let Ok(paths) = changed_between(dir, base, tip).await else {
        return false;
    };
    // The paths are the top's (`git diff --name-only`), wherever `dir` is below it. A name that
    // is not UTF-8 cannot be handed to git as text: not told.
    if paths
        .iter()
        .any(|p| p.as_bytes() != crate::snapshot::key::bytes(p).as_slice())
    {
        return false;
    }
    let literal: Vec<String> = paths.iter().map(|p| format!(":(top,literal){p}")).collect();
    let mut args = vec!["diff", "--quiet", "--no-renames", tip, onto, "--"];
    args.extend(literal.iter().map(String::as_str));
    // `--quiet` exits non-zero when they differ.
    paths.is_empty() || git(dir, &args).await.is_ok()
}

/// The newest commit `a` and `b` both have.
pub async fn merge_base(dir: &Path, a: &str, b: &str) -> GitResult<String> {
    git(dir, &["merge-base", a, b])
        .await
        .map(|s| s.trim().to_string())
}

/// Stages in worktree `dir` the change `tip` brings since its common commit with what `dir` has
/// checked out (`git merge --squash`), without committing. `Ok(Err(files))`: it conflicts there.
pub async fn squash(dir: &Path, tip: &str) -> GitResult<Result<(), Vec<String>>> {
    match git(
        dir,
        &[
            "-c",
            "core.hooksPath=/dev/null",
            "merge",
            "--squash",
            "-q",
            tip,
        ],
    )
    .await
    {
        Ok(_) => Ok(Ok(())),
        Err(why) => {
            let files = git_keys(dir, &["diff", "--name-only", "--diff-filter=U", "-z"])
                .await
                .unwrap_or_default();
            if files.is_empty() {
                Err(why)
            } else {
                Ok(Err(files))
            }
        }
    }
}

/// Commits what is staged in `dir` with `message` (the project's commit hooks run): the commit.
pub async fn commit_staged(dir: &Path, message: &str) -> GitResult<String> {
    hooked(dir, &["commit", "-q", "-m", message]).await?;
    super::head(dir).await
}

/// Commits only `paths` of worktree `dir`, as they are there, with `message` (`git commit
/// --only`; the project's commit hooks run): the commit.
pub async fn commit_only(dir: &Path, paths: &[String], message: &str) -> GitResult<String> {
    let literal: Vec<String> = paths.iter().map(|p| format!(":(top,literal){p}")).collect();
    let mut args = vec!["commit", "-q", "-m", message, "--only", "--"];
    args.extend(literal.iter().map(String::as_str));
    hooked(dir, &args).await?;
    super::head(dir).await
}

/// A new commit with `tip`'s tree whose parent is `parent`, with `message` (`git commit-tree`:
/// no hook, no branch moved): the commits from `parent` to `tip` as one.
pub async fn squashed(dir: &Path, tip: &str, parent: &str, message: &str) -> GitResult<String> {
    let tree = format!("{tip}^{{tree}}");
    git(dir, &["commit-tree", &tree, "-p", parent, "-m", message])
        .await
        .map(|sha| sha.trim().to_string())
}

/// The tree of commit `rev` and its first parent (`None` for a root commit or no commit).
pub async fn tree_and_parent(dir: &Path, rev: &str) -> Option<(String, String)> {
    let (tree, parent) = (format!("{rev}^{{tree}}"), format!("{rev}^"));
    let out = git(dir, &["rev-parse", &tree, &parent]).await.ok()?;
    let mut lines = out.lines().map(str::trim);
    Some((lines.next()?.to_string(), lines.next()?.to_string()))
}

/// Creates branch `name` at `sha`; git refuses one that exists.
pub async fn create_branch(dir: &Path, name: &str, sha: &str) -> GitResult<()> {
    git(dir, &["branch", name, sha]).await.map(|_| ())
}

/// The lines `to` adds and removes against `from` (`git diff --numstat`; binary files count
/// none).
pub async fn lines_changed(dir: &Path, from: &str, to: &str) -> GitResult<(u64, u64)> {
    let out = git(dir, &["diff", "--numstat", "--no-renames", from, to]).await?;
    Ok(out.lines().fold((0, 0), |(added, removed), line| {
        let mut fields = line.split('\t');
        let mut count = || {
            fields
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let (a, r) = (count(), count());
        (added + a, removed + r)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_directory_maps_into_each_worktree() {
        let at_top = Layout {
            top: "/r".into(),
            prefix: String::new(),
            common: "/r/.git".into(),
        };
        assert_eq!(
            at_top.tree("E1"),
            PathBuf::from("/r/.git/autodev/worktrees/E1")
        );
        assert_eq!(at_top.inside(Path::new("/w")), PathBuf::from("/w"));
        let below = Layout {
            prefix: "services/api/".into(),
            ..at_top
        };
        assert_eq!(
            below.inside(Path::new("/w")),
            PathBuf::from("/w/services/api")
        );
    }
}
