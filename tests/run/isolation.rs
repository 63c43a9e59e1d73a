//! `run.isolation = "worktree"`: each delivery task worked in the worker's worktree on a branch
//! of its own; the result fast-forwarded onto the user's branch when that is safe; a blocked
//! task's work kept on its branch and out of the next task; a killed run resumed in the
//! worktree.

use crate::common::git;
use crate::harness::Repo;
use crate::recovery::{kill9, wait_for};

const WORKTREE: &str = "isolation = \"worktree\"\n[reflection]\nenabled = false\n";

const TWO_TASKS: &str = r#"{"tasks": [
  {"id": "T1", "title": "Create hello", "description": "Write hello.txt",
   "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}},
  {"id": "T2", "title": "Create world", "description": "Write world.txt",
   "verification": {"path_patterns": ["world.txt"], "validate_commands": ["grep -q world world.txt"]}}
]}"#;

/// An agent call that does T1's work, and one that does T2's.
const HELLO: &str = "write hello.txt hello\ncat codex-exec-json-success.jsonl";
const WORLD: &str = "write world.txt world\ncat codex-exec-json-success.jsonl";

fn repo(tasks: &str) -> Repo {
    let repo = Repo::new(tasks, WORKTREE);
    repo.sample("codex-exec-json-success.jsonl");
    repo
}

/// An agent call that notes where it ran and what it saw, then runs `steps`.
fn noting(repo: &Repo, n: u32, steps: &str) -> String {
    let s = repo.state.display();
    format!("sh pwd > {s}/cwd-{n}; ls -a > {s}/ls-{n}\n{steps}")
}

fn noted(repo: &Repo, what: &str, n: u32) -> String {
    std::fs::read_to_string(repo.state.join(format!("{what}-{n}"))).unwrap_or_default()
}

fn worker(repo: &Repo) -> std::path::PathBuf {
    repo.path().join(".git/autodev/worktrees/worker-1")
}

fn branches(repo: &Repo) -> String {
    git(repo.path(), &["branch", "--list", "autodev/*"])
}

#[test]
fn a_task_is_worked_in_its_worktree_and_fast_forwarded_around_your_uncommitted_work() {
    let repo = repo(TWO_TASKS);
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    // Your uncommitted work, in a file the tasks do not touch.
    repo.write("notes.md", "mine, not committed\n");
    repo.script(1, &noting(&repo, 1, HELLO));
    repo.script(2, &noting(&repo, 2, WORLD));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The agent worked in the worker's worktree, which never had your uncommitted file.
    let cwd = noted(&repo, "cwd", 1);
    assert!(
        cwd.trim().ends_with(".git/autodev/worktrees/worker-1"),
        "{cwd}"
    );
    assert!(!noted(&repo, "ls", 1).contains("notes.md"));
    assert!(
        run.stderr.contains("T1 is worked in the worktree"),
        "{}",
        run.stderr
    );
    // Both results are on your branch, one commit each, by fast-forward; your file is as it
    // was, still uncommitted.
    assert_eq!(
        git(
            repo.path(),
            &["rev-list", "--count", &format!("{start}..HEAD")]
        )
        .trim(),
        "2"
    );
    assert_eq!(repo.read("hello.txt"), "hello\n");
    assert_eq!(repo.read("world.txt"), "world\n");
    assert_eq!(repo.read("notes.md"), "mine, not committed\n");
    assert_eq!(
        git(repo.path(), &["status", "--porcelain", "--", "notes.md"]),
        "?? notes.md\n"
    );
    // The second task started from the first one's result.
    assert!(noted(&repo, "ls", 2).contains("hello.txt"));
    assert_eq!(repo.task("T1")["passes"], true);
    assert_eq!(repo.task("T2")["passes"], true);
    // No task branch is left; the worker's worktree stays, on no branch, for the next run.
    assert_eq!(branches(&repo), "");
    assert!(worker(&repo).join("world.txt").exists());
    assert_eq!(
        git(&worker(&repo), &["status", "--porcelain"]),
        "",
        "the worker's worktree is clean"
    );
}

#[test]
fn a_blocked_tasks_work_stays_on_its_branch_and_never_reaches_the_next_task() {
    let repo = repo(TWO_TASKS);
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    // T1 leaves a half-done file and fails its check, every attempt; T2 looks around.
    repo.script(
        1,
        "write half-done.txt x\ncat codex-exec-json-success.jsonl",
    );
    repo.script(2, &noting(&repo, 2, WORLD));
    let run = repo.run(&["run", "--max-retries", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(repo.task("T1")["blocked"], true);
    assert_eq!(repo.task("T2")["passes"], true);
    // The next task's agent never saw it, and neither did your tree or branch.
    assert!(!noted(&repo, "ls", 2).contains("half-done.txt"));
    assert!(!repo.path().join("half-done.txt").exists());
    assert_eq!(
        git(
            repo.path(),
            &["log", "--format=%s", &format!("{start}..HEAD")]
        ),
        "autodev: T2 - Create world\n"
    );
    // It waits on its branch, and the run says how to look at it.
    assert_eq!(
        git(repo.path(), &["show", "autodev/T1:half-done.txt"]),
        "x\n"
    );
    assert!(
        run.stderr
            .contains("the work of blocked task T1 stays on branch autodev/T1"),
        "{}",
        run.stderr
    );
    assert_eq!(branches(&repo), "  autodev/T1\n");
}

/// An agent call that, before `steps`, commits `file` with `text` on your branch, as you would
/// while the task runs.
fn you_commit_then(repo: &Repo, file: &str, text: &str, steps: &str) -> String {
    format!(
        "sh cd {} && printf '{text}' > {file} && git add {file} && git commit -qm 'yours: {file}'\n{steps}",
        repo.path().display()
    )
}

#[test]
fn when_you_commit_during_a_task_its_result_is_replayed_on_top_checked_again_and_lands() {
    let repo = repo(TWO_TASKS);
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    repo.script(1, &you_commit_then(&repo, "mine.txt", "mine\\n", HELLO));
    repo.script(2, &noting(&repo, 2, WORLD));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("replayed on your newer commits and checked again there"),
        "{}",
        run.stderr
    );
    // Your commit first, then each task's, on your branch; the second task saw both.
    assert_eq!(
        git(
            repo.path(),
            &["log", "--format=%s", &format!("{start}..HEAD")]
        ),
        "autodev: T2 - Create world\nautodev: T1 - Create hello\nyours: mine.txt\n"
    );
    assert_eq!(repo.read("hello.txt"), "hello\n");
    assert!(noted(&repo, "ls", 2).contains("mine.txt"));
    assert!(
        repo.attempt_logs()
            .iter()
            .any(|l| l.to_string_lossy().contains("integration")),
        "the checks run again have a log of their own"
    );
    assert_eq!(branches(&repo), "");
}

#[test]
fn a_result_that_conflicts_with_your_newer_commits_is_done_again_on_top_of_them() {
    let repo = repo(TWO_TASKS);
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    // While T1's agent works, you write hello.txt yourself and commit it.
    repo.script(1, &you_commit_then(&repo, "hello.txt", "yours\\n", HELLO));
    // The second attempt starts from your commit, and builds on it.
    repo.script(2, &noting(&repo, 2, HELLO));
    repo.script(3, WORLD);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The prompt of the attempt done again says what conflicted, with the hunks.
    let prompt = std::fs::read_to_string(repo.state.join("call-2.stdin")).expect("stdin");
    assert!(
        prompt.contains("conflicts with newer commits on the user's branch in hello.txt"),
        "{prompt}"
    );
    assert!(prompt.contains("yours"), "the hunks: {prompt}");
    assert!(
        noted(&repo, "ls", 2).contains("hello.txt"),
        "the attempt done again starts from your commit"
    );
    assert_eq!(
        git(
            repo.path(),
            &["log", "--format=%s", &format!("{start}..HEAD")]
        ),
        "autodev: T2 - Create world\nautodev: T1 - Create hello\nyours: hello.txt\n"
    );
    assert_eq!(repo.read("hello.txt"), "hello\n");
    assert_eq!(repo.task("T1")["passes"], true);
    assert_eq!(repo.task("T1")["attempt_history"][0]["status"], "failed");
    assert_eq!(repo.task("T1")["attempt_history"][1]["status"], "completed");
    // The first result, superseded, is gone with its branch.
    assert_eq!(branches(&repo), "", "{}", run.stderr);
}

#[test]
fn a_second_conflict_blocks_the_task_with_both_results_kept() {
    let repo = repo(TWO_TASKS);
    repo.script(1, &you_commit_then(&repo, "hello.txt", "yours\\n", HELLO));
    repo.script(
        2,
        &you_commit_then(&repo, "hello.txt", "yours again\\n", HELLO),
    );
    repo.script(3, WORLD);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let reason = repo.task("T1")["block_reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("conflicted with your newer commits twice, last in hello.txt")
            && reason.contains("autodev/T1 and autodev/T1-2"),
        "{reason}"
    );
    assert_eq!(repo.read("hello.txt"), "yours again\n");
    assert_eq!(
        git(repo.path(), &["show", "autodev/T1:hello.txt"]),
        "hello\n"
    );
    assert_eq!(
        git(repo.path(), &["show", "autodev/T1-2:hello.txt"]),
        "hello\n"
    );
    assert_eq!(repo.task("T2")["passes"], true);
}

#[test]
fn a_result_whose_checks_fail_on_top_of_your_newer_commits_is_not_landed() {
    let tasks = r#"{"tasks": [
  {"id": "T1", "title": "Create hello", "description": "Write hello.txt",
   "verification": {"path_patterns": ["hello.txt"],
                    "validate_commands": ["grep -q hello hello.txt && test ! -f broken.txt"]}}
]}"#;
    let repo = repo(tasks);
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    repo.script(1, &you_commit_then(&repo, "broken.txt", "oops\\n", HELLO));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("because its checks fail on top of your newer commits"),
        "{}",
        run.stderr
    );
    assert!(
        !repo.path().join("hello.txt").exists(),
        "nothing unverified landed"
    );
    // The branch keeps the result as it was verified, on the commit it began from.
    assert_eq!(
        git(repo.path(), &["rev-parse", "autodev/T1~1"]).trim(),
        start
    );
    assert_eq!(
        git(repo.path(), &["show", "autodev/T1:hello.txt"]),
        "hello\n"
    );
}

#[test]
fn killed_during_the_agent_the_next_run_resumes_in_the_worktree_and_lands_once() {
    let repo = repo(TWO_TASKS);
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    // The first agent writes half of T1 and is killed; the next one finishes it.
    repo.script(1, "write hello.txt hel\nhang");
    repo.script(2, HELLO);
    repo.script(3, WORLD);
    let child = repo.spawn(&["run"]);
    repo.wait_for_calls(1);
    wait_for(&worker(&repo).join("hello.txt"));
    kill9(child);
    // The half-done work is in the worktree, not in your tree.
    assert_eq!(
        std::fs::read_to_string(worker(&repo).join("hello.txt")).expect("in the worktree"),
        "hel\n"
    );
    assert!(!repo.path().join("hello.txt").exists());
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("resuming T1: attempt 1 was cut off"),
        "{}",
        run.stderr
    );
    assert_eq!(
        git(
            repo.path(),
            &["log", "--format=%s", &format!("{start}..HEAD")]
        ),
        "autodev: T2 - Create world\nautodev: T1 - Create hello\n",
        "each task committed exactly once"
    );
    assert_eq!(repo.read("hello.txt"), "hello\n");
    assert_eq!(branches(&repo), "");
}

#[test]
fn killed_after_the_commit_the_next_run_lands_it_without_the_agent() {
    let repo = repo(TWO_TASKS);
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    repo.script(1, HELLO);
    repo.script(2, WORLD);
    // The commit in the worktree runs its hooks: the post-commit one waits to be killed.
    let s = repo.state.display();
    repo.hook("post-commit", &format!("touch {s}/committed; sleep 30\n"));
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join("committed"));
    kill9(child);
    std::fs::remove_file(repo.path().join(".git/hooks/post-commit")).expect("hook");
    let calls = repo.calls();
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), calls + 1, "only T2's agent is called");
    assert_eq!(
        git(
            repo.path(),
            &["log", "--format=%s", &format!("{start}..HEAD")]
        ),
        "autodev: T2 - Create world\nautodev: T1 - Create hello\n"
    );
    assert_eq!(repo.task("T1")["passes"], true);
    assert_eq!(branches(&repo), "");
}

#[test]
fn a_budget_stop_before_the_next_task_leaves_no_branch_behind() {
    let repo = repo(TWO_TASKS);
    repo.script(1, HELLO);
    repo.script(2, WORLD);
    // One call of the fake codex reports about 20,700 tokens: the second does not fit.
    let stopped = repo.run(&["run", "--max-tokens", "30000"]);
    assert_eq!(stopped.code, 3, "{}", stopped.stderr);
    crate::common::assert_off(&repo.task("T2"), "passes");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.task("T2")["passes"], true);
    assert_eq!(repo.read("world.txt"), "world\n");
    assert_eq!(branches(&repo), "", "{}", run.stderr);
}

#[test]
fn a_worktree_left_on_a_finished_tasks_branch_is_released_by_the_next_run() {
    let repo = repo(TWO_TASKS);
    repo.script(1, HELLO);
    repo.script(2, WORLD);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // What a kill between T2's end and the worktree's release leaves: the worktree on T2's
    // branch, everything on it already on your branch.
    git(&worker(&repo), &["checkout", "-q", "-b", "autodev/T2"]);
    // And one left on T1's branch, which your branch has too; and a result still to be
    // merged, on another branch, which stays.
    git(repo.path(), &["branch", "autodev/T1", "HEAD~1"]);
    let waiting = git(
        repo.path(),
        &[
            "commit-tree",
            "HEAD~1^{tree}",
            "-p",
            "HEAD~1",
            "-m",
            "waiting",
        ],
    );
    git(repo.path(), &["branch", "autodev/keep", waiting.trim()]);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(branches(&repo), "  autodev/keep\n", "{}", run.stderr);
    assert!(
        run.stderr.contains("autodev/T1, autodev/T2"),
        "{}",
        run.stderr
    );
    assert_eq!(
        git(&worker(&repo), &["branch", "--show-current"]),
        "",
        "the worktree is on no branch"
    );
}

#[test]
fn killed_while_its_result_is_checked_again_the_next_run_lands_it_once() {
    // The check is slow only on top of your newer commit (mine.txt), while $STATE/slow exists.
    let repo = crate::recovery::project(|state| {
        let s = state.display();
        format!(
            r#"{{"tasks": [
  {{"id": "T1", "title": "Create hello", "description": "Write hello.txt",
   "verification": {{"path_patterns": ["hello.txt"], "validate_commands": [
     "grep -q hello hello.txt && {{ test ! -f mine.txt || test ! -f {s}/slow || {{ touch {s}/again; sleep 30; }}; }}"]}}}}
]}}"#
        )
    });
    let toml = repo
        .read("autodev.toml")
        .replace("[run]\n", "[run]\nisolation = \"worktree\"\n");
    repo.write("autodev.toml", &toml);
    git(repo.path(), &["commit", "-qam", "worktree"]);
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    repo.write_outside("slow");
    repo.script(1, &you_commit_then(&repo, "mine.txt", "mine\\n", HELLO));
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join("again"));
    kill9(child);
    std::fs::remove_file(repo.state.join("slow")).expect("fast again");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 1, "the agent is not called again");
    assert!(
        run.stderr
            .contains("resuming T1: its commit was made before the last run stopped"),
        "{}",
        run.stderr
    );
    assert_eq!(
        git(
            repo.path(),
            &["log", "--format=%s", &format!("{start}..HEAD")]
        ),
        "autodev: T1 - Create hello\nyours: mine.txt\n",
        "landed once, on top of your commit"
    );
    assert_eq!(repo.task("T1")["passes"], true);
    assert_eq!(branches(&repo), "");
}

#[test]
fn the_worktree_setup_runs_before_each_task_and_a_failing_one_stops_the_run() {
    let tasks = r#"{"tasks": [
  {"id": "T1", "title": "Create hello", "description": "Write hello.txt",
   "verification": {"path_patterns": ["hello.txt"],
                    "validate_commands": ["grep -q hello hello.txt && test -f deps/ready"]}}
]}"#;
    // What `npm ci` would do: make what the checks need, in a folder git ignores.
    let repo = Repo::new(
        tasks,
        "isolation = \"worktree\"\nworktree_setup = \"mkdir -p deps && touch deps/ready\"\n",
    );
    repo.sample("codex-exec-json-success.jsonl");
    repo.write(".gitignore", "logs/\ndeps/\n");
    git(repo.path(), &["commit", "-qam", "deps are ignored"]);
    repo.script(1, &noting(&repo, 1, HELLO));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(worker(&repo).join("deps/ready").exists());
    assert!(
        !repo.path().join("deps").exists(),
        "your tree is not touched"
    );
    assert_eq!(
        repo.task("T1")["attempt_history"][0]["changed_files"],
        serde_json::json!(["hello.txt"])
    );

    let failing = Repo::new(
        tasks,
        "isolation = \"worktree\"\nworktree_setup = \"echo no network >&2; exit 7\"\n",
    );
    failing.sample("codex-exec-json-success.jsonl");
    failing.script(0, HELLO);
    let run = failing.run(&["run"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("run.worktree_setup `echo no network >&2; exit 7` failed"),
        "{}",
        run.stderr
    );
    assert_eq!(failing.calls(), 0, "no agent was called");
    crate::common::assert_off(&failing.task("T1"), "passes");
    crate::common::assert_off(&failing.task("T1"), "blocked");
}

#[test]
fn a_repository_with_submodules_is_worked_in_place_and_says_so() {
    let repo = repo(TWO_TASKS);
    repo.write(
        ".gitmodules",
        "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.invalid/lib.git\n",
    );
    git(repo.path(), &["add", ".gitmodules"]);
    git(repo.path(), &["commit", "-qm", "submodules"]);
    repo.script(1, &noting(&repo, 1, HELLO));
    repo.script(2, WORLD);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("the repository has submodules").count(),
        1,
        "said once: {}",
        run.stderr
    );
    let cwd = std::fs::canonicalize(noted(&repo, "cwd", 1).trim()).expect("cwd");
    assert_eq!(cwd, std::fs::canonicalize(repo.path()).expect("repo"));
    assert!(!worker(&repo).exists());
}

#[test]
fn status_says_which_worktree_and_branch_a_live_task_is_worked_in() {
    let repo = repo(TWO_TASKS);
    repo.script(
        1,
        "write hello.txt hello\nsh touch \"$FAKE_AGENT_DIR/working\"\nhang",
    );
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join("working"));
    let status = repo.run(&["status"]);
    kill9(child);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.contains(&format!(
            "Worked in: {} (branch autodev/T1)",
            worker(&repo).display()
        )),
        "{}",
        status.stdout
    );
    let json = repo.status();
    assert_eq!(json["run"]["branch"], "autodev/T1");
}

#[test]
fn a_result_your_uncommitted_work_is_in_the_way_of_waits_and_the_next_builds_on_it() {
    let repo = repo(TWO_TASKS);
    // Your own hello.txt, not committed: the result of T1 would overwrite it.
    repo.write("hello.txt", "mine, not committed\n");
    repo.script(1, HELLO);
    repo.script(2, &noting(&repo, 2, WORLD));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("T1: the result stays on branch autodev/T1 (1 commit(s) on top of")
            && run
                .stderr
                .contains("because your uncommitted changes touch what it changed (hello.txt)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("because it builds on work your branch does not have"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.read("hello.txt"), "mine, not committed\n");
    assert!(
        noted(&repo, "ls", 2).contains("hello.txt"),
        "T2 built on T1"
    );
    assert_eq!(
        git(repo.path(), &["show", "autodev/T2:hello.txt"]),
        "hello\n"
    );
    assert!(
        run.stderr.contains("git merge autodev/T2"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_conflict_found_when_a_killed_run_is_resumed_is_done_again_and_the_first_branch_goes() {
    let repo = repo(
        r#"{"tasks": [
  {"id": "T1", "title": "Create hello", "description": "Write hello.txt",
   "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}
]}"#,
    );
    // The commit of T1's result hangs while $STATE/slow exists: the run is killed there, its
    // checks passed and its files not yet committed.
    let s = repo.state.display();
    repo.hook(
        "pre-commit",
        &format!("if [ -f {s}/slow ]; then touch {s}/committing; sleep 30; fi\n"),
    );
    repo.write_outside("slow");
    repo.script(1, HELLO);
    repo.script(2, HELLO);
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join("committing"));
    kill9(child);
    std::fs::remove_file(repo.state.join("slow")).expect("fast again");
    // Meanwhile you wrote hello.txt yourself, and committed it.
    repo.write("hello.txt", "yours\n");
    git(repo.path(), &["add", "hello.txt"]);
    git(repo.path(), &["commit", "-qm", "yours: hello.txt"]);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("resuming T1: its checks had passed"),
        "{}",
        run.stderr
    );
    // Done again on top of your commit, landed, and the first result's branch removed.
    assert_eq!(repo.calls(), 2);
    assert_eq!(repo.read("hello.txt"), "hello\n");
    assert_eq!(repo.task("T1")["passes"], true);
    assert!(
        run.stderr
            .contains("is superseded: branch autodev/T1 removed"),
        "{}",
        run.stderr
    );
    assert_eq!(branches(&repo), "", "{}", run.stderr);
}
