//! The only place autodev builds git commands. Each runs under [`crate::exec`] supervision with a
//! time limit; output is read from the bounded capture.

use std::path::Path;
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

/// The `count` newest commits of `dir`'s repository, newest first; none outside git.
pub async fn recent_commits(dir: &Path, count: usize) -> Vec<Commit> {
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
