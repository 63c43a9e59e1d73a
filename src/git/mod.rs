//! The only place autodev builds git commands. Each runs under [`crate::exec`] supervision with a
//! time limit; output is read from the bounded capture.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::exec::{self, Spec};

const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `git ARGS` in `dir`; stdout on success, the reason otherwise.
async fn git(dir: &Path, args: &[&str]) -> std::result::Result<String, String> {
    let mut spec = Spec::new("git", dir);
    spec.args = args.iter().map(|a| a.to_string()).collect();
    match exec::quick(&spec, GIT_TIMEOUT).await {
        Ok(outcome) if outcome.exit.success() && outcome.stopped.is_none() => {
            Ok(outcome.stdout.text())
        }
        Ok(outcome) => Err(outcome
            .stderr
            .tail_lines(3)
            .trim()
            .to_string()
            .replace('\n', " ")),
        Err(e) => Err(e.to_string()),
    }
}

fn nul_list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Files of the working tree under `dir` that differ from `HEAD` (staged or not, deleted
/// included) plus untracked files that are not ignored, relative to `dir`, sorted.
pub async fn changed_files(dir: &Path) -> Result<Vec<String>> {
    let not_a_repo = |why: String| Error::Setup {
        message: format!(
            "cannot list the changes in {}: it is not inside a git work tree ({why})",
            dir.display()
        ),
        hint: "pass the changed files with --changed-file PATH (repeatable)".into(),
    };
    git(dir, &["rev-parse", "--is-inside-work-tree"])
        .await
        .map_err(not_a_repo)?;
    let tracked = match git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"]).await {
        // A repository with commits: what differs from HEAD.
        Ok(_) => {
            git(
                dir,
                &[
                    "diff",
                    "--name-only",
                    "--no-renames",
                    "--relative",
                    "-z",
                    "HEAD",
                ],
            )
            .await
        }
        // No commit yet: everything in the index is new.
        Err(_) => git(dir, &["ls-files", "-z"]).await,
    }
    .map_err(not_a_repo)?;
    let untracked = git(dir, &["ls-files", "--others", "--exclude-standard", "-z"])
        .await
        .map_err(not_a_repo)?;
    let mut files: Vec<String> = nul_list(&tracked).chain(nul_list(&untracked)).collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// One commit, as shown to the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub sha: String,
    pub subject: String,
    pub committed_at: String,
}

/// The git directory of the repository holding `dir` (a `.git` directory, or the one a `.git`
/// file points at, as in linked worktrees and submodules), found without running git.
fn git_dir_of(dir: &Path) -> Option<PathBuf> {
    for at in dir.ancestors() {
        let dot = at.join(".git");
        if dot.is_dir() {
            return Some(dot);
        }
        if dot.is_file() {
            let text = std::fs::read_to_string(&dot).ok()?;
            let target = text.strip_prefix("gitdir:")?.trim();
            return Some(at.join(target));
        }
    }
    None
}

/// A token that changes whenever `HEAD` of `dir`'s repository points at another commit, read
/// from the ref files without running git. `None` when it cannot be told that way (no
/// repository, the reftable format, anything unexpected): the caller then asks git.
pub fn head_marker(dir: &Path) -> Option<String> {
    let git_dir = git_dir_of(dir)?;
    // Linked worktrees keep their own HEAD but share the refs of the main git directory.
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(rel) => git_dir.join(rel.trim()),
        Err(_) => git_dir.clone(),
    };
    if common.join("reftable").exists() {
        return None;
    }
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(name) = head.strip_prefix("ref:").map(str::trim) else {
        // Detached: HEAD holds the commit id itself.
        return Some(head.to_string());
    };
    let loose = [&git_dir, &common]
        .iter()
        .find_map(|d| std::fs::read_to_string(d.join(name)).ok());
    let id = match loose {
        Some(id) => id.trim().to_string(),
        None => {
            // Packed refs: "<id> <name>" lines. A branch with no commit yet has no line.
            let packed = std::fs::read_to_string(common.join("packed-refs")).unwrap_or_default();
            packed
                .lines()
                .find_map(|line| {
                    let (id, rest) = line.split_once(' ')?;
                    (rest == name).then(|| id.to_string())
                })
                .unwrap_or_default()
        }
    };
    Some(format!("{name} {id}"))
}

/// The newest commits for prompts, read from git again only when `HEAD` has moved.
#[derive(Debug, Default)]
pub struct RecentCommits {
    /// The `HEAD` marker the list was read at (`None`: unknown, so read each time).
    at: Option<String>,
    commits: Vec<Commit>,
}

impl RecentCommits {
    /// The `count` newest commits of `dir`'s repository, newest first.
    pub async fn get(&mut self, dir: &Path, count: usize) -> &[Commit] {
        let marker = head_marker(dir);
        if marker.is_none() || marker != self.at {
            self.commits = recent_commits(dir, count).await;
            self.at = marker;
        }
        &self.commits
    }
}

/// The `count` newest commits of `dir`'s repository, newest first; none outside git.
async fn recent_commits(dir: &Path, count: usize) -> Vec<Commit> {
    let limit = format!("-n{count}");
    let Ok(text) = git(dir, &["log", &limit, "--format=%h%x1f%s%x1f%cI"]).await else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split('\u{1f}');
            Some(Commit {
                sha: parts.next()?.to_string(),
                subject: parts.next()?.to_string(),
                committed_at: parts.next()?.to_string(),
            })
        })
        .collect()
}

/// What an auto-commit did.
#[derive(Debug, Clone, PartialEq)]
pub enum Committed {
    /// A commit was made: its full sha, and the changed paths left out because git ignores them.
    Made { sha: String, ignored: Vec<String> },
    /// Nothing of the task's paths differed from HEAD.
    Nothing,
    /// Not done, and why (a warning for the log).
    Skipped(String),
}

/// `git HEAD... -- :(literal)path...`: pathspecs that match exactly these paths.
fn with_paths(head: &[&str], paths: &[&String]) -> Vec<String> {
    head.iter()
        .map(|s| s.to_string())
        .chain(std::iter::once("--".to_string()))
        .chain(paths.iter().map(|p| format!(":(literal){p}")))
        .collect()
}

async fn git_owned(dir: &Path, args: Vec<String>) -> std::result::Result<String, String> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    git(dir, &refs).await
}

/// Commits exactly `paths` (relative to `dir`) with `message`, whatever else is staged or
/// modified: `git commit -- <paths>` takes those paths' working-tree contents and leaves the
/// rest of the index as it was. Untracked paths are added first and unstaged again if the commit
/// fails, so the index is never left half-staged. Gitignored paths and a held `index.lock` are
/// reported, not forced.
pub async fn commit_paths(dir: &Path, paths: &[String], message: &str) -> Committed {
    // One call answers both: inside a work tree ("true"), and where its git directory is.
    let probe = git(
        dir,
        &["rev-parse", "--is-inside-work-tree", "--absolute-git-dir"],
    )
    .await;
    let mut lines = probe.as_deref().unwrap_or("").lines();
    if lines.next() != Some("true") {
        return Committed::Skipped("not inside a git repository".into());
    }
    if let Some(git_dir) = lines.next()
        && Path::new(git_dir.trim()).join("index.lock").exists()
    {
        return Committed::Skipped(
            "another git process holds .git/index.lock; finish it (or remove a stale lock), \
             then commit the task's files by hand"
                .into(),
        );
    }
    // Ignored paths are left out (and said so): committing them would need --force. check-ignore
    // takes plain paths (not pathspecs), one per output line; its exit 1 means "none ignored".
    let mut args = vec!["check-ignore".to_string(), "--".to_string()];
    args.extend(paths.iter().cloned());
    let ignored: Vec<String> = git_owned(dir, args)
        .await
        .map(|text| text.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let kept: Vec<&String> = paths.iter().filter(|p| !ignored.contains(p)).collect();
    if kept.is_empty() {
        return if ignored.is_empty() {
            Committed::Nothing
        } else {
            Committed::Skipped(format!(
                "every changed path is gitignored ({}); nothing committed",
                ignored.join(", ")
            ))
        };
    }
    let untracked: Vec<String> = match git_owned(
        dir,
        with_paths(&["ls-files", "--others", "--exclude-standard", "-z"], &kept),
    )
    .await
    {
        Ok(text) => nul_list(&text).collect(),
        Err(e) => return Committed::Skipped(format!("git ls-files failed: {e}")),
    };
    match git_owned(dir, with_paths(&["status", "--porcelain", "-z"], &kept)).await {
        Ok(text) if text.is_empty() => return Committed::Nothing,
        Ok(_) => {}
        Err(e) => return Committed::Skipped(format!("git status failed: {e}")),
    }
    let untracked: Vec<&String> = untracked.iter().collect();
    if !untracked.is_empty()
        && let Err(e) = git_owned(dir, with_paths(&["add"], &untracked)).await
    {
        return Committed::Skipped(format!("git add failed: {e}"));
    }
    match git_owned(dir, with_paths(&["commit", "-q", "-m", message], &kept)).await {
        Ok(_) => Committed::Made {
            sha: head(dir).await.unwrap_or_default(),
            ignored,
        },
        Err(e) => {
            if !untracked.is_empty() {
                let _ = git_owned(dir, with_paths(&["reset", "-q"], &untracked)).await;
            }
            Committed::Skipped(format!("git commit failed: {e}"))
        }
    }
}

/// The first characters of a commit id, as people read it.
pub fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

/// The full id of `HEAD`, or why there is none (not a repository, no commit yet).
pub async fn head(dir: &Path) -> std::result::Result<String, String> {
    git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"])
        .await
        .map(|s| s.trim().to_string())
        .and_then(|s| {
            if s.is_empty() {
                Err("the repository has no commit yet".into())
            } else {
                Ok(s)
            }
        })
}

/// Points `name` (such as `refs/autodev/experiments/T1/3`) at `sha`, creating it if needed.
pub async fn set_ref(dir: &Path, name: &str, sha: &str) -> std::result::Result<(), String> {
    git(dir, &["update-ref", name, sha]).await.map(|_| ())
}

/// Takes `candidate` (the current `HEAD`, a child of `kept`) off the branch: the branch goes
/// back to `kept`, and exactly the paths the candidate changed are put back as they are in
/// `kept`, in the index and the working tree. Every other file, tracked or not, is left alone
/// (autodev's own files included, even when they are tracked). No revert commit is made.
pub async fn discard(dir: &Path, kept: &str, candidate: &str) -> std::result::Result<(), String> {
    let now = head(dir).await?;
    if now != candidate {
        return Err(format!(
            "HEAD moved to {} while the experiment expected {}; nothing was reset",
            short_sha(&now),
            short_sha(candidate)
        ));
    }
    let changed = git(
        dir,
        &["diff", "--name-only", "--no-renames", "-z", kept, candidate],
    )
    .await?;
    let paths: Vec<String> = nul_list(&changed)
        .map(|p| format!(":(top,literal){p}"))
        .collect();
    git(dir, &["reset", "-q", "--soft", kept]).await?;
    if paths.is_empty() {
        return Ok(());
    }
    let mut args = vec![
        "restore".to_string(),
        format!("--source={kept}"),
        "--staged".to_string(),
        "--worktree".to_string(),
        "--".to_string(),
    ];
    args.extend(paths);
    git_owned(dir, args).await.map(|_| ())
}
