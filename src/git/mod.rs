//! The only place autodev builds git commands. Each runs under [`crate::exec`] supervision with a
//! time limit; output is read from the bounded capture.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::exec::{self, Spec};

pub(crate) mod worktree;

/// A git command that failed: which one (`commit`, `worktree add`, …) and what it said, or why
/// autodev would not go on with it. Its text names the command: `git commit: fatal: …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.told())]
pub struct GitError {
    /// The git subcommand, or empty when the failure is autodev's own finding.
    pub command: String,
    pub detail: String,
}

impl GitError {
    /// A failure of the git command run with `args`.
    fn of(args: &[String], detail: String) -> GitError {
        let mut words = args.iter().filter(|a| !a.starts_with('-'));
        let mut command = words.next().cloned().unwrap_or_default();
        if command == "worktree"
            && let Some(sub) = words.next()
        {
            command = format!("worktree {sub}");
        }
        GitError { command, detail }
    }

    /// A finding of autodev's about the repository (not a command that failed).
    pub fn finding(detail: impl Into<String>) -> GitError {
        GitError {
            command: String::new(),
            detail: detail.into(),
        }
    }

    fn told(&self) -> String {
        if self.command.is_empty() {
            self.detail.clone()
        } else {
            format!("git {}: {}", self.command, self.detail)
        }
    }
}

/// For the callers that still carry failures as text (the experiment's block reasons).
impl From<GitError> for String {
    fn from(e: GitError) -> String {
        e.to_string()
    }
}

/// What the git helpers return.
pub type GitResult<T> = std::result::Result<T, GitError>;

const GIT_TIMEOUT: Duration = Duration::from_secs(60);
/// A commit runs the project's hooks (formatters, linters, tests), which may take a while.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(600);
/// The private index an auto-commit is built in, inside the git directory.
const COMMIT_INDEX: &str = "autodev-commit.index";
/// The pathspec magic that matches a path exactly (no globbing).
const LITERAL: &str = ":(literal)";

/// Runs `git ARGS` in `dir`; stdout on success, the reason otherwise.
async fn git(dir: &Path, args: &[&str]) -> GitResult<String> {
    let args = args.iter().map(|a| a.to_string()).collect();
    git_raw(dir, args, Extra::default())
        .await
        .map(|out| lossy(&out))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A git command that runs the project's hooks (`commit`, `merge`, `checkout`, `worktree add`),
/// with `env`: under a keeper (hooks are the project's programs and must not outlive a killed
/// run) and with the commit time limit.
async fn git_with_hooks(
    dir: &Path,
    args: Vec<String>,
    env: Vec<(String, String)>,
) -> GitResult<String> {
    let mut spec = Spec::new("git", dir);
    spec.args = args.clone();
    spec.env = env;
    let limits = exec::Limits {
        wall: Some(COMMIT_TIMEOUT),
        idle: None,
        grace: Duration::from_secs(5),
    };
    let cancel = exec::Cancel::default();
    finish(
        &args,
        exec::run(
            &spec,
            &limits,
            &mut exec::Tee::default(),
            &mut exec::Ignore,
            &cancel,
        )
        .await,
    )
}

fn finish(
    args: &[String],
    ran: std::result::Result<exec::Outcome, exec::SpawnError>,
) -> GitResult<String> {
    match ran {
        Ok(outcome) if outcome.exit.success() && outcome.stopped.is_none() => {
            Ok(outcome.stdout.text())
        }
        Ok(outcome) => Err(GitError::of(args, failure_text(&outcome.stderr.text()))),
        Err(e) => Err(GitError::of(args, e.to_string())),
    }
}

/// What a failed git command said, in one line: its `fatal:` and `error:` lines when it printed
/// any (they name the file, such as a stale `.lock`), else the end of what it printed.
fn failure_text(stderr: &str) -> String {
    let said: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .take(3)
        .collect();
    if !said.is_empty() {
        return said.join(" ");
    }
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    lines[lines.len().saturating_sub(3)..]
        .join(" ")
        .trim()
        .to_string()
}

/// What `git` is handed besides its arguments: paths on stdin, and a private index.
#[derive(Default)]
struct Extra<'a> {
    input: Option<Vec<u8>>,
    index: Option<&'a Path>,
}

/// Runs `git ARGS` in `dir` with `extra`; all of stdout on success (however long the list),
/// the reason otherwise.
async fn git_raw(dir: &Path, args: Vec<String>, extra: Extra<'_>) -> GitResult<Vec<u8>> {
    let mut spec = Spec::new("git", dir);
    spec.args = args.clone();
    spec.whole_stdout = true;
    if let Some(bytes) = extra.input {
        spec.stdin = exec::Input::Bytes(bytes);
    }
    if let Some(index) = extra.index {
        spec.env = vec![("GIT_INDEX_FILE".into(), index.display().to_string())];
    }
    match exec::quick(&spec, GIT_TIMEOUT).await {
        Ok(outcome) if outcome.exit.success() && outcome.stopped.is_none() => {
            Ok(outcome.stdout.bytes())
        }
        Ok(outcome) => Err(GitError::of(&args, failure_text(&outcome.stderr.text()))),
        Err(e) => Err(GitError::of(&args, e.to_string())),
    }
}

/// The paths of a NUL-separated list git printed, as keys ([`crate::snapshot::key`]).
fn keys(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(crate::snapshot::key::of_bytes)
        .collect()
}

/// `paths` as a NUL-separated list of exact bytes, each behind `magic` (such as
/// `:(literal)`): what `--pathspec-from-file=- --pathspec-file-nul` and `--stdin -z` read. No
/// argument list limits how many paths there are, and a name that is not UTF-8 is passed as
/// it is.
fn nul_input<'a>(magic: &str, paths: impl IntoIterator<Item = &'a String>) -> Vec<u8> {
    let mut out = Vec::new();
    for path in paths {
        out.extend_from_slice(magic.as_bytes());
        out.extend(crate::snapshot::key::bytes(path));
        out.push(0);
    }
    out
}

/// The arguments that make git read its pathspecs from stdin, NUL-separated.
const PATHSPECS_ON_STDIN: [&str; 2] = ["--pathspec-from-file=-", "--pathspec-file-nul"];

/// `git HEAD... --pathspec-from-file=-` with `paths` (behind `magic`) on stdin.
async fn git_paths<'a>(
    dir: &Path,
    head: &[&str],
    magic: &str,
    paths: impl IntoIterator<Item = &'a String>,
    index: Option<&Path>,
) -> GitResult<()> {
    let args = head
        .iter()
        .chain(PATHSPECS_ON_STDIN.iter())
        .map(|s| s.to_string())
        .collect();
    let input = Some(nul_input(magic, paths));
    git_raw(dir, args, Extra { input, index }).await.map(|_| ())
}

/// `git ARGS` whose output is a NUL-separated list of paths; the paths, as keys.
async fn git_keys(dir: &Path, args: &[&str]) -> GitResult<Vec<String>> {
    let args = args.iter().map(|a| a.to_string()).collect();
    git_raw(dir, args, Extra::default())
        .await
        .map(|out| keys(&out))
}

/// Files of the working tree under `dir` that differ from `HEAD` (staged or not, deleted
/// included) plus untracked files that are not ignored, relative to `dir`, sorted.
pub async fn changed_files(dir: &Path) -> Result<Vec<String>> {
    let not_a_repo = |why: GitError| Error::Setup {
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
            git_keys(
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
        Err(_) => git_keys(dir, &["ls-files", "-z"]).await,
    }
    .map_err(not_a_repo)?;
    let untracked = git_keys(dir, &["ls-files", "--others", "--exclude-standard", "-z"])
        .await
        .map_err(not_a_repo)?;
    let mut files: Vec<String> = tracked.into_iter().chain(untracked).collect();
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
pub(crate) fn git_dir_of(dir: &Path) -> Option<PathBuf> {
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

/// The ref files of the repository holding a directory, read without running git: refs are
/// asked for many times per task, and a git process costs milliseconds. Every answer it cannot
/// give for certain is `None`, and the caller then asks git.
struct RefFiles {
    /// The worktree's own git directory (its `HEAD`).
    git_dir: PathBuf,
    /// The git directory whose refs every worktree shares.
    common: PathBuf,
}

impl RefFiles {
    /// `None` where git itself might see another repository or another format: `GIT_DIR` and
    /// its kin in the environment, no `.git` found, or refs kept as a reftable.
    fn of(dir: &Path) -> Option<RefFiles> {
        const REDIRECTS: [&str; 4] = [
            "GIT_DIR",
            "GIT_COMMON_DIR",
            "GIT_WORK_TREE",
            "GIT_CEILING_DIRECTORIES",
        ];
        if REDIRECTS.iter().any(|v| std::env::var_os(v).is_some()) {
            return None;
        }
        let git_dir = git_dir_of(dir)?;
        // Linked worktrees keep their own HEAD but share the refs of the main git directory.
        let common = match std::fs::read_to_string(git_dir.join("commondir")) {
            Ok(rel) => git_dir.join(rel.trim()),
            Err(_) => git_dir.clone(),
        };
        if common.join("reftable").exists() || !common.join("refs").is_dir() {
            return None;
        }
        Some(RefFiles { git_dir, common })
    }

    /// What `HEAD` holds: `Ok(name)` when it is on a branch, `Err(id)` when detached.
    fn head(&self) -> Option<std::result::Result<String, String>> {
        let head = std::fs::read_to_string(self.git_dir.join("HEAD")).ok()?;
        let head = head.trim();
        match head.strip_prefix("ref:").map(str::trim) {
            Some(name) if name.starts_with("refs/") => Some(Ok(name.to_string())),
            Some(_) => None,
            None => object_id(head).map(|id| Err(id.to_string())),
        }
    }

    /// The commit the ref `name` (`refs/...`) points at: `Some(None)` when there is no such
    /// ref.
    fn resolve(&self, name: &str) -> Option<Option<String>> {
        if !name.starts_with("refs/") || name.split('/').any(|part| part.is_empty() || part == "..")
        {
            return None;
        }
        // Refs of one worktree (bisect, worktree) live in its own directory.
        let own = ["refs/bisect/", "refs/worktree/", "refs/rewritten/"]
            .iter()
            .any(|p| name.starts_with(p));
        let home = if own { &self.git_dir } else { &self.common };
        match std::fs::read_to_string(home.join(name)) {
            // A symbolic ref, or anything but an id, is left to git.
            Ok(text) => return object_id(text.trim()).map(|id| Some(id.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
        // Packed refs: "<id> <name>" lines (a ref is packed before its loose file is removed,
        // so a ref being packed is found in one or the other).
        let packed = match std::fs::read_to_string(self.common.join("packed-refs")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(None),
            Err(_) => return None,
        };
        Some(packed.lines().find_map(|line| {
            let (id, rest) = line.split_once(' ')?;
            (rest == name).then(|| object_id(id).map(str::to_string))?
        }))
    }
}

/// `text` if it is a full object id (SHA-1 or SHA-256, lower-case hex).
fn object_id(text: &str) -> Option<&str> {
    ((text.len() == 40 || text.len() == 64)
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    .then_some(text)
}

/// The commit `HEAD` of `dir` is at, read from the ref files: `Some(None)` on a branch with no
/// commit yet; `None` when the files cannot tell.
fn head_from_files(dir: &Path) -> Option<Option<String>> {
    let refs = RefFiles::of(dir)?;
    match refs.head()? {
        Ok(name) => refs.resolve(&name),
        Err(id) => Some(Some(id)),
    }
}

/// The commit the ref `name` points at, from the ref files (see [`head_from_files`]).
pub(crate) fn ref_from_files(dir: &Path, name: &str) -> Option<Option<String>> {
    RefFiles::of(dir)?.resolve(name)
}

/// The branch `HEAD` of `dir` is on (`Some(None)`: detached), from the ref files.
pub(crate) fn head_ref_from_files(dir: &Path) -> Option<Option<String>> {
    Some(RefFiles::of(dir)?.head()?.ok())
}

/// A token that changes whenever `HEAD` of `dir`'s repository points at another commit, read
/// from the ref files without running git. `None` when it cannot be told that way (no
/// repository, the reftable format, anything unexpected): the caller then asks git.
pub fn head_marker(dir: &Path) -> Option<String> {
    let refs = RefFiles::of(dir)?;
    Some(match refs.head()? {
        Ok(name) => format!("{name} {}", refs.resolve(&name)?.unwrap_or_default()),
        Err(id) => id,
    })
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
    /// Not applicable here, and why (not a repository, every path ignored): a note for the log.
    Skipped(String),
    /// It should have been made and was not (a held lock, a failing hook): the task's files are
    /// still uncommitted.
    Failed(String),
}

/// Runs `git ARGS` with the private commit index instead of the user's.
async fn git_private(dir: &Path, index: &Path, args: Vec<String>) -> GitResult<String> {
    let extra = Extra {
        input: None,
        index: Some(index),
    };
    git_raw(dir, args, extra).await.map(|out| lossy(&out))
}

/// Fills the private commit index with `HEAD`'s tree (empty without a commit). It starts as a
/// copy of the work tree's own index, so that every entry that matches `HEAD` keeps the file
/// facts git recorded for it: a commit from an index without them would read and hash every
/// file of the project again (a quarter of a task's time at 1,000 files, seconds at 100,000).
/// Where that cannot be done (no index yet, an unfinished merge), the tree is read plainly.
async fn start_private_index(
    dir: &Path,
    git_dir: &Path,
    index: &Path,
    has_head: bool,
) -> GitResult<()> {
    if !has_head {
        return git_private(dir, index, vec!["read-tree".into(), "--empty".into()])
            .await
            .map(drop);
    }
    let seeded = copy_index(&git_dir.join("index"), index).is_ok()
        && git_private(
            dir,
            index,
            ["read-tree", "-m", "HEAD"].map(String::from).to_vec(),
        )
        .await
        .is_ok();
    if seeded {
        return Ok(());
    }
    let _ = std::fs::remove_file(index);
    git_private(dir, index, vec!["read-tree".into(), "HEAD".into()])
        .await
        .map(drop)
}

/// Copies an index file with its modification time: git trusts an entry's file facts only when
/// the file changed before the index was written (an entry as recent as the index is checked by
/// content), so a copy must not look newer than the index it copies.
fn copy_index(from: &Path, to: &Path) -> std::io::Result<()> {
    let written = std::fs::metadata(from)?.modified()?;
    std::fs::copy(from, to)?;
    std::fs::File::options()
        .write(true)
        .open(to)?
        .set_modified(written)
}

/// Commits exactly `paths` (relative to `dir`) with `message`, whatever else is staged or
/// modified. The commit is built in a private index that starts from `HEAD` and takes those
/// paths' working-tree contents (additions and deletions alike), so the user's index is never
/// staged with autodev's paths, even by a run killed half-way. Once the commit exists, the
/// user's index entries of exactly those paths are set to the new `HEAD`, so `git status` shows
/// them clean; every other entry stays as the user left it. Gitignored paths and a held
/// `index.lock` are reported, not forced; the commit runs the project's hooks.
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
    let Some(git_dir) = lines.next().map(|l| PathBuf::from(l.trim())) else {
        return Committed::Failed("git did not say where its directory is".into());
    };
    if git_dir.join("index.lock").exists() {
        return Committed::Failed(
            "another git process holds .git/index.lock; finish it (or remove a stale lock), \
             then run again to commit the task's files"
                .into(),
        );
    }
    // Ignored paths are left out (and said so): committing them would need --force. check-ignore
    // takes plain paths (not pathspecs); its exit 1 means "none ignored".
    let args = ["check-ignore", "--stdin", "-z"].map(String::from).to_vec();
    let input = Some(nul_input("", paths));
    let ignored: Vec<String> = git_raw(dir, args, Extra { input, index: None })
        .await
        .map(|out| keys(&out))
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
    let index = git_dir.join(COMMIT_INDEX);
    let _ = std::fs::remove_file(&index);
    let _ = std::fs::remove_file(index.with_extension("index.lock"));
    let has_head = head(dir).await.is_ok();
    if let Err(e) = start_private_index(dir, &git_dir, &index, has_head).await {
        return Committed::Failed(e.to_string());
    }
    let made: GitResult<Option<String>> = async {
        git_paths(
            dir,
            &["add", "-A"],
            LITERAL,
            kept.iter().copied(),
            Some(&index),
        )
        .await?;
        let mut diff = vec!["diff".to_string(), "--cached".to_string(), "--quiet".into()];
        if has_head {
            diff.push("HEAD".into());
        }
        if has_head && git_private(dir, &index, diff).await.is_ok() {
            return Ok(None);
        }
        git_with_hooks(
            dir,
            vec!["commit".into(), "-q".into(), "-m".into(), message.into()],
            vec![("GIT_INDEX_FILE".into(), index.display().to_string())],
        )
        .await?;
        Ok(Some(head(dir).await.unwrap_or_default()))
    }
    .await;
    let _ = std::fs::remove_file(&index);
    match made {
        Ok(None) => Committed::Nothing,
        Ok(Some(sha)) => {
            let paths: Vec<String> = kept.iter().map(|p| p.to_string()).collect();
            if let Err(e) = sync_index(dir, &paths).await {
                return Committed::Failed(format!(
                    "the commit {} was made, but the index could not be updated for its paths \
                     ({e}); run `git reset -q -- <paths>`",
                    short_sha(&sha)
                ));
            }
            Committed::Made { sha, ignored }
        }
        Err(e) => Committed::Failed(e.to_string()),
    }
}

/// Sets the user's index entries of `paths` to what `HEAD` has (after a commit made in the
/// private index), leaving every other entry alone.
pub async fn sync_index(dir: &Path, paths: &[String]) -> GitResult<()> {
    // With no pathspec at all, reset would reset every entry.
    if paths.is_empty() {
        return Ok(());
    }
    git_paths(dir, &["reset", "-q"], LITERAL, paths, None).await
}

/// Whether the commit a crashed run was making landed: `HEAD` is a child of `before` with this
/// message's first line as its subject. Its sha when it did.
pub async fn landed(dir: &Path, before: &str, message: &str) -> Option<String> {
    let text = git(dir, &["log", "-1", "--format=%H%x1f%P%x1f%s", "HEAD"])
        .await
        .ok()?;
    let mut parts = text.trim_end().split('\u{1f}');
    let (sha, parent, subject) = (parts.next()?, parts.next()?, parts.next()?);
    let wanted = message.lines().next().unwrap_or("");
    (sha != before && parent == before && subject == wanted).then(|| sha.to_string())
}

/// Removes what a killed auto-commit may have left in the git directory of `dir`.
pub fn clean_commit_leftovers(dir: &Path) {
    if let Some(git_dir) = git_dir_of(dir) {
        let index = git_dir.join(COMMIT_INDEX);
        let _ = std::fs::remove_file(index.with_extension("index.lock"));
        let _ = std::fs::remove_file(index);
    }
}

/// The environment that makes git independent of this user's configuration: no global or
/// system config (hooks, signing, templates), and a fixed identity. For `autodev demo`.
pub fn hermetic_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_AUTHOR_NAME", "autodev demo"),
        ("GIT_AUTHOR_EMAIL", "demo@autodev.invalid"),
        ("GIT_COMMITTER_NAME", "autodev demo"),
        ("GIT_COMMITTER_EMAIL", "demo@autodev.invalid"),
    ]
}

/// Makes `dir` a git repository with everything in it as the first commit, with `env`.
/// Makes `dir` a git repository (`git init`), with nothing committed.
pub async fn init(dir: &Path) -> GitResult<()> {
    git(dir, &["init", "-q"]).await.map(|_| ())
}

pub async fn init_repo(dir: &Path, message: &str, env: &[(&str, &str)]) -> GitResult<()> {
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["add", "-A"],
        vec!["commit", "-q", "-m", message],
    ] {
        let mut spec = Spec::new("git", dir);
        spec.args = args.iter().map(|a| a.to_string()).collect();
        spec.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        finish(&spec.args, exec::quick(&spec, GIT_TIMEOUT).await)?;
    }
    Ok(())
}

/// The subjects of the newest `count` commits of `dir`, newest first.
pub async fn subjects(dir: &Path, count: usize) -> Vec<String> {
    let limit = format!("-n{count}");
    git(dir, &["log", &limit, "--format=%s"])
        .await
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The first characters of a commit id, as people read it.
pub fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

/// The full id of `HEAD`, or why there is none (not a repository, no commit yet). Read from
/// the ref files when they tell, else from git.
pub async fn head(dir: &Path) -> GitResult<String> {
    match head_from_files(dir) {
        Some(Some(id)) => return Ok(id),
        Some(None) => return Err(GitError::finding("the repository has no commit yet")),
        None => {}
    }
    git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"])
        .await
        .map(|s| s.trim().to_string())
        .and_then(|s| {
            if s.is_empty() {
                Err(GitError::finding("the repository has no commit yet"))
            } else {
                Ok(s)
            }
        })
}

/// Points `name` (such as `refs/autodev/experiments/T1/3`) at `sha`, creating it if needed.
pub async fn set_ref(dir: &Path, name: &str, sha: &str) -> GitResult<()> {
    git(dir, &["update-ref", name, sha]).await.map(|_| ())
}

/// Takes `candidate` (the current `HEAD`, a child of `kept`) off the branch: the branch goes
/// back to `kept`, and exactly the paths the candidate changed are put back as they are in
/// `kept`, in the index and the working tree. Every other file, tracked or not, is left alone
/// (autodev's own files included, even when they are tracked). No revert commit is made.
///
/// It is idempotent: when `HEAD` is already back at `kept` (a discard cut short after its
/// reset), only the candidate's paths are put back.
pub async fn discard(dir: &Path, kept: &str, candidate: &str) -> GitResult<()> {
    let now = head(dir).await?;
    if now != candidate && now != kept {
        return Err(GitError::finding(format!(
            "HEAD moved to {} while the experiment expected {}; nothing was reset",
            short_sha(&now),
            short_sha(candidate)
        )));
    }
    let paths = worktree::changed_between(dir, kept, candidate).await?;
    if now == candidate {
        git(dir, &["reset", "-q", "--soft", kept]).await?;
    }
    if paths.is_empty() {
        return Ok(());
    }
    let source = format!("--source={kept}");
    let head = ["restore", &source, "--staged", "--worktree"];
    git_paths(dir, &head, ":(top,literal)", &paths, None).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failure_names_what_git_could_not_do() {
        let lock = "fatal: Unable to create '/r/.git/refs/heads/main.lock': File exists.\n\n\
                    Another git process seems to be running in this repository, e.g.\n\
                    an editor opened by 'git commit'. Please make sure all processes\n\
                    are terminated then try again. If it still fails, a git process\n\
                    may have crashed in this repository earlier:\n\
                    remove the file manually to continue.\n";
        assert_eq!(
            super::failure_text(lock),
            "fatal: Unable to create '/r/.git/refs/heads/main.lock': File exists."
        );
        assert_eq!(
            super::failure_text("hook says no\nsecond\nthird\nfourth\n"),
            "second third fourth"
        );
    }

    #[test]
    fn an_error_names_the_git_command_that_failed() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = crate::exec::runtime().unwrap();
        // Not a repository: `set_ref` is `git update-ref`, and says so.
        let err = runtime
            .block_on(super::set_ref(dir.path(), "refs/x", "0123"))
            .unwrap_err();
        assert_eq!(err.command, "update-ref");
        assert!(
            err.to_string().starts_with("git update-ref: fatal:"),
            "{err}"
        );
        // A two-word command keeps both words.
        let args: Vec<String> = ["worktree", "add", "-q", "/x"].map(String::from).to_vec();
        let err = super::GitError::of(&args, "fatal: no".into());
        assert_eq!(err.to_string(), "git worktree add: fatal: no");
        // A finding of autodev's own is told as it is.
        assert_eq!(
            super::GitError::finding("the repository has no commit yet").to_string(),
            "the repository has no commit yet"
        );
    }

    /// Git run directly in `dir` (not through autodev), independent of this user's settings.
    fn git_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
        std::process::Command::new("git")
            .current_dir(dir)
            .args(args)
            .envs(super::hermetic_env())
            .output()
            .unwrap()
    }

    /// Runs git in `dir` for a test's set-up; its output.
    fn run(dir: &std::path::Path, args: &[&str]) -> String {
        let out = git_in(dir, args);
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// What git itself says `HEAD` is at (`None`: no commit), and the branch it is on.
    fn git_says(dir: &std::path::Path) -> (Option<String>, Option<String>) {
        let ask = |args: &[&str]| {
            let out = git_in(dir, args);
            Some(String::from_utf8(out.stdout).unwrap().trim().to_string())
                .filter(|s| out.status.success() && !s.is_empty())
        };
        (
            ask(&["rev-parse", "--verify", "--quiet", "HEAD"]),
            ask(&["symbolic-ref", "-q", "HEAD"]),
        )
    }

    /// The ref files answer as git does, in every state a run meets: no commit yet, on a
    /// branch, detached, refs packed, a linked worktree; and they step aside (leaving it to git)
    /// for a symbolic ref they do not follow.
    #[test]
    fn ref_files_answer_as_git_does() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("repo");
        std::fs::create_dir(&dir).unwrap();
        run(&dir, &["init", "-q", "-b", "main"]);
        let files = |d: &std::path::Path| {
            (
                super::head_from_files(d).expect("told by the files"),
                super::head_ref_from_files(d).expect("told by the files"),
            )
        };
        // No commit yet.
        assert_eq!(files(&dir), git_says(&dir));
        assert_eq!(git_says(&dir).0, None);
        std::fs::write(dir.join("a"), "a").unwrap();
        run(&dir, &["add", "a"]);
        run(&dir, &["commit", "-qm", "one"]);
        run(&dir, &["branch", "side"]);
        assert_eq!(files(&dir), git_says(&dir));
        // Packed: the loose files are gone.
        run(&dir, &["pack-refs", "--all"]);
        assert!(!dir.join(".git/refs/heads/main").exists());
        assert_eq!(files(&dir), git_says(&dir));
        let main = run(&dir, &["rev-parse", "main"]);
        assert_eq!(
            super::ref_from_files(&dir, "refs/heads/side"),
            Some(Some(main.clone()))
        );
        assert_eq!(super::ref_from_files(&dir, "refs/heads/gone"), Some(None));
        // A new commit on top of the packed ref: the loose file wins.
        std::fs::write(dir.join("a"), "b").unwrap();
        run(&dir, &["commit", "-qam", "two"]);
        assert_eq!(files(&dir), git_says(&dir));
        assert_ne!(files(&dir).0, Some(main.clone()));
        // Detached.
        run(&dir, &["checkout", "-q", "--detach", "side"]);
        assert_eq!(files(&dir), git_says(&dir));
        assert_eq!(files(&dir).1, None);
        // A linked worktree: its own HEAD, the shared refs; from a folder inside it.
        let linked = top.path().join("linked");
        run(
            &dir,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "wt",
                linked.to_str().unwrap(),
                "main",
            ],
        );
        std::fs::create_dir(linked.join("deep")).unwrap();
        assert_eq!(files(&linked.join("deep")), git_says(&linked.join("deep")));
        assert_eq!(files(&linked).1.as_deref(), Some("refs/heads/wt"));
        run(
            &linked,
            &["commit", "-q", "--allow-empty", "-m", "in the worktree"],
        );
        assert_eq!(files(&linked), git_says(&linked));
        assert_eq!(
            super::ref_from_files(&dir, "refs/heads/wt"),
            Some(git_says(&linked).0)
        );
        // A branch that is a symbolic ref to another: left to git.
        run(
            &dir,
            &["symbolic-ref", "refs/heads/alias", "refs/heads/main"],
        );
        run(&dir, &["checkout", "-q", "alias"]);
        assert_eq!(super::head_from_files(&dir), None);
        let runtime = crate::exec::runtime().unwrap();
        assert_eq!(
            runtime.block_on(super::head(&dir)).ok(),
            git_says(&dir).0,
            "head() asks git when the files cannot tell"
        );
        // Outside any repository: left to git, which says why.
        let outside = tempfile::tempdir().unwrap();
        assert!(super::head_from_files(outside.path()).is_none());
        assert!(runtime.block_on(super::head(outside.path())).is_err());
    }
}
