//! Runs killed with SIGKILL at each phase, and what the next run makes of it: the morning state
//! of tasks, git history, the index, processes and temporary files.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::{alive, git};
use crate::harness::Repo;

pub(crate) const SUCCESS: &str = "write hello.txt hello\ncat codex-exec-json-success.jsonl\n";

/// One task whose check is slow while `$STATE/slow` exists (and says so in `$STATE/checking`).
pub(crate) fn slow_check_task(state: &Path) -> String {
    let s = state.display();
    format!(
        r#"{{"tasks": [
  {{"id": "T1", "title": "Create hello", "description": "Write hello.txt",
   "verification": {{"path_patterns": ["hello.txt"], "validate_commands": [
     "test ! -f {s}/slow || {{ echo $$ > {s}/check.pid; touch {s}/checking; sleep 30; }}; grep -q hello hello.txt"]}}}}
]}}"#
    )
}

pub(crate) fn project(tasks: impl FnOnce(&Path) -> String) -> Repo {
    // The state directory is known only once the repository exists: write the queue after.
    let repo = Repo::new(r#"{"tasks": []}"#, "");
    repo.sample("codex-exec-json-success.jsonl");
    repo.write("task.json", &tasks(&repo.state));
    git(repo.path(), &["commit", "-qam", "queue"]);
    repo
}

pub(crate) fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn kill9(mut child: Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

/// Every pid is gone within 2 s of the kill.
fn gone(pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "still running 2 s after the kill: {:?}",
            pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid(repo: &Repo, name: &str) -> i32 {
    repo.pid_in(name)
}

/// Nothing a user's `git add -A` would pick up by accident, and nothing staged.
fn no_leftovers(repo: &Repo) {
    let status = git(
        repo.path(),
        &["status", "--porcelain", "--untracked-files=all"],
    );
    assert!(!status.contains(".tmp"), "temporary files left: {status}");
    let staged = git(repo.path(), &["diff", "--cached", "--name-only"]);
    assert_eq!(staged, "", "the index holds: {staged}");
}

/// Installs git hook `name`: while `$STATE/slow` exists it records its pid, touches
/// `$STATE/hooking` and sleeps 30 s ignoring TERM.
fn slow_hook(repo: &Repo, name: &str) {
    let s = repo.state.display();
    repo.hook(
        name,
        &format!(
            "test ! -f {s}/slow || {{ echo $$ > {s}/hook.pid; touch {s}/hooking; trap '' TERM; sleep 30; }}\n"
        ),
    );
}

fn committed(repo: &Repo, rel: &str) -> String {
    git(repo.path(), &["show", &format!("HEAD:{rel}")])
}

#[test]
fn killed_during_the_agent_every_descendant_dies_and_the_task_is_redone() {
    let repo = project(|_| {
        r#"{"tasks": [{"id": "T1", "title": "Create hello", "description": "Write hello.txt",
  "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]}"#
            .into()
    });
    repo.script(1, "write hello.txt hello\ngrandchild\nignore-term\nhang\n");
    repo.script(2, SUCCESS);
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join("grandchild.pid"));
    kill9(child);
    gone(&[pid(&repo, "call-1.pid"), pid(&repo, "grandchild.pid")]);
    no_leftovers(&repo);
    crate::common::assert_off(&repo.task("T1"), "passes");
    // The cut-off attempt's opening snapshot sits beside the log its journalled start names.
    let journal = repo.read("logs/events.jsonl");
    let started: serde_json::Value = journal
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["type"] == "attempt_started")
        .expect("the attempt's start is journalled");
    let log = std::path::PathBuf::from(started["log"].as_str().expect("its log"));
    assert!(
        log.with_extension("snapshot").is_file(),
        "{}",
        log.display()
    );
    assert!(!repo.path().join("logs/attempt-opening.snapshot").exists());

    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("attempt 1 was cut off before the agent finished"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.task("T1")["passes"], true);
    assert_eq!(committed(&repo, "hello.txt"), "hello\n");
    no_leftovers(&repo);
    // One attempt runs at a time: only the last one's snapshot is kept.
    let kept: Vec<_> = std::fs::read_dir(log.parent().expect("the logs' folder"))
        .expect("logs")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "snapshot"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
}

/// A project whose run was killed by SIGKILL while its one task's check ran (the agent's work
/// done and journalled), with the checks made fast again for the next run.
fn killed_in_the_checks() -> Repo {
    let repo = project(slow_check_task);
    repo.script(0, SUCCESS);
    repo.write_outside("slow");
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join("checking"));
    kill9(child);
    gone(&[pid(&repo, "check.pid")]);
    std::fs::remove_file(repo.state.join("slow")).expect("fast checks");
    repo
}

#[test]
fn killed_during_the_checks_the_next_run_verifies_without_asking_the_agent() {
    let repo = killed_in_the_checks();
    no_leftovers(&repo);
    crate::common::assert_off(&repo.task("T1"), "passes");

    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "resuming T1: the agent had finished attempt 1 before the last run stopped; verifying its changes"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(repo.calls(), 1, "the agent is not called again");
    let task = repo.task("T1");
    assert_eq!(task["passes"], true);
    assert_eq!(task["attempt_history"][0]["changed_files"][0], "hello.txt");
    assert_eq!(committed(&repo, "hello.txt"), "hello\n");
    no_leftovers(&repo);
    // The journal tells the story: the recovery, then the verdict and the commit.
    let journal = repo.read("logs/events.jsonl");
    let types: Vec<String> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["type"].as_str().unwrap_or("").to_string())
        .collect();
    let after = types
        .iter()
        .position(|t| t == "recovered")
        .expect("a recovered event");
    for wanted in [
        "gate_verdict",
        "commit_started",
        "commit_made",
        "task_completed",
    ] {
        assert!(
            types[after..].iter().any(|t| t == wanted),
            "{wanted} after the recovery: {types:?}"
        );
    }
}

/// Appends `bytes` worth of heartbeat lines of task T1 to the journal, numbered on from its last
/// line: what a long attempt (or a long experiment) leaves after its start.
fn pad_journal(repo: &Repo, bytes: usize) {
    let journal = repo.path().join("logs/events.jsonl");
    let text = std::fs::read_to_string(&journal).expect("journal");
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("json");
    let mut seq = last["seq"].as_u64().expect("seq");
    let run = last["run_id"].as_str().expect("run id").to_string();
    let mut pad = String::new();
    while pad.len() < bytes {
        seq += 1;
        pad.push_str(&format!(
            "{{\"seq\":{seq},\"time\":\"2026-12-07T00:00:00Z\",\"run_id\":\"{run}\",\"type\":\"heartbeat\",\"task\":{{\"id\":\"T1\",\"title\":\"Create hello\"}},\"attempt\":1,\"max_attempts\":3,\"elapsed_seconds\":{seq},\"active\":true}}\n"
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .expect("journal");
    std::io::Write::write_all(&mut file, pad.as_bytes()).expect("pad");
}

#[test]
fn a_task_with_megabytes_of_events_after_its_start_is_resumed_not_redone() {
    let repo = killed_in_the_checks();
    // Six megabytes of the task's own events after its start: more than any fixed window.
    pad_journal(&repo, 6 << 20);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("resuming T1: the agent had finished attempt 1"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.calls(), 1, "the agent is not called again");
    assert_eq!(repo.task("T1")["passes"], true);
    assert_eq!(committed(&repo, "hello.txt"), "hello\n");
}

#[test]
fn killed_in_a_slow_pre_commit_hook_the_task_stays_pending_and_is_committed_next_run() {
    let repo = project(|_| {
        r#"{"tasks": [{"id": "T1", "title": "Create hello", "description": "Write hello.txt",
  "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]}"#
            .into()
    });
    repo.script(0, SUCCESS);
    slow_hook(&repo, "pre-commit");
    repo.write_outside("slow");
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join("hooking"));
    kill9(child);
    gone(&[pid(&repo, "hook.pid")]);
    no_leftovers(&repo);
    crate::common::assert_off(&repo.task("T1"), "passes");
    assert_eq!(
        git(repo.path(), &["log", "--format=%s"]).lines().count(),
        2,
        "no commit was made"
    );

    std::fs::remove_file(repo.state.join("slow")).expect("fast hook");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("committing its files"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.calls(), 1);
    assert_eq!(repo.task("T1")["passes"], true);
    assert_eq!(committed(&repo, "hello.txt"), "hello\n");
    no_leftovers(&repo);
    let status = git(repo.path(), &["status", "--porcelain"]);
    assert!(!status.contains("hello.txt"), "{status}");
}

/// An experiment over `speed.txt` whose benchmark is slow for the value 130 while
/// `$STATE/slow` exists.
fn experiment(repo_state: &Path) -> String {
    let _ = repo_state;
    r#"{"tasks": [{"id": "E1", "title": "Make it faster", "description": "Lower the latency",
  "verification": {"path_patterns": ["speed.txt"], "validate_commands": ["sh bench.sh"]},
  "completion": {"kind": "numeric", "source": "metric_lines", "name": "latency",
                 "direction": "lower_is_better"},
  "execution": {"strategy": "iterative", "max_iterations": 1}}]}"#
        .into()
}

fn experiment_project() -> Repo {
    let repo = project(experiment);
    let s = repo.state.display();
    repo.write("speed.txt", "120\n");
    repo.write(
        "bench.sh",
        &format!(
            "if [ \"$(cat speed.txt)\" = 130 ] && [ -f {s}/slow ]; then echo $$ > {s}/bench.pid; touch {s}/measuring; sleep 30; fi\necho \"METRIC latency=$(cat speed.txt)\"\n"
        ),
    );
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "benchmark"]);
    repo
}

fn baselines(repo: &Repo) -> Vec<f64> {
    repo.read("logs/experiments.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["outcome"] == "baseline")
        .filter_map(|r| r["measured_value"].as_f64())
        .collect()
}

/// The experiment's worktree.
fn worktree(repo: &Repo) -> std::path::PathBuf {
    repo.path().join(".git/autodev/worktrees/E1")
}

/// Kills the run while it measures a worse candidate (130); the head it started from.
fn kill_while_measuring(repo: &Repo) -> String {
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    repo.script(
        1,
        "write speed.txt 130\ncat codex-exec-json-success.jsonl\n",
    );
    repo.script(
        2,
        "write speed.txt 100\ncat codex-exec-json-success.jsonl\n",
    );
    repo.write_outside("slow");
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join("measuring"));
    kill9(child);
    gone(&[pid(repo, "bench.pid")]);
    assert_eq!(
        git(repo.path(), &["show", "autodev/E1:speed.txt"]),
        "130\n",
        "the candidate was committed on the experiment's branch"
    );
    // The user's branch and tree never saw it.
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]).trim(), start);
    assert_eq!(repo.read("speed.txt"), "120\n");
    std::fs::remove_file(repo.state.join("slow")).expect("fast bench");
    start
}

/// After the resumed run: the kept 100 is on the user's branch by a fast-forward from `start`,
/// and no worktree or branch of the experiment is left.
fn resumed_and_landed(repo: &Repo, start: &str, run: &crate::common::Run) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Experiment E1 resumes in its own worktree"),
        "{}",
        run.stderr
    );
    // The baseline is always a measured kept commit: 120, never the unmeasured 130.
    assert_eq!(baselines(repo)[..2], [120.0, 120.0]);
    assert_eq!(committed(repo, "speed.txt"), "100\n");
    assert_eq!(repo.read("speed.txt"), "100\n");
    let parent = git(repo.path(), &["rev-parse", "HEAD~1"]);
    assert_eq!(
        parent.trim(),
        start,
        "the dropped candidate is not in the history"
    );
    assert_eq!(repo.task("E1")["passes"], true);
    assert!(!worktree(repo).exists());
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
    no_leftovers(repo);
}

#[test]
fn an_unmeasured_candidate_is_dropped_before_the_experiment_goes_on() {
    let repo = experiment_project();
    let start = kill_while_measuring(&repo);
    let run = repo.run(&["run"]);
    assert!(
        run.stderr.contains("was not decided, so it is dropped"),
        "{}",
        run.stderr
    );
    resumed_and_landed(&repo, &start, &run);
}

#[test]
fn a_resumed_experiment_replays_its_baseline_from_the_journal_when_its_log_is_gone() {
    let repo = experiment_project();
    let start = kill_while_measuring(&repo);
    // The experiments' own log is lost; the journal still has every measurement.
    std::fs::remove_file(repo.path().join("logs/experiments.jsonl")).expect("experiments log");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Experiment E1: the kept commit measured again"),
        "the journal's baseline was taken up, not a new one measured:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("is neither in the journal"),
        "{}",
        run.stderr
    );
    assert_eq!(committed(&repo, "speed.txt"), "100\n");
    assert_eq!(
        git(repo.path(), &["rev-parse", "HEAD~1"]).trim(),
        start,
        "the dropped candidate is not in the history"
    );
    assert_eq!(repo.task("E1")["passes"], true);
    no_leftovers(&repo);
}

#[test]
fn a_lock_a_killed_git_left_on_the_experiments_branch_does_not_stop_its_resume() {
    let repo = experiment_project();
    let start = kill_while_measuring(&repo);
    // What a git command killed while it moved the branch leaves: the ref's lock file.
    std::fs::write(repo.path().join(".git/refs/heads/autodev/E1.lock"), "").expect("lock");
    let run = repo.run(&["run"]);
    assert!(
        run.stderr
            .contains("removed lock files a killed git command had left"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("could not be resumed"),
        "{}",
        run.stderr
    );
    resumed_and_landed(&repo, &start, &run);
    assert_eq!(git(repo.path(), &["branch", "--list", "autodev/*"]), "");
}

#[test]
fn a_discard_cut_short_is_finished_by_the_next_run() {
    let repo = experiment_project();
    let start = kill_while_measuring(&repo);
    // What a discard killed after its reset leaves in the worktree: HEAD back, the candidate
    // still staged.
    git(&worktree(&repo), &["reset", "-q", "--soft", &start]);
    assert_eq!(
        git(&worktree(&repo), &["diff", "--cached", "--name-only"]),
        "speed.txt\n"
    );
    let run = repo.run(&["run"]);
    resumed_and_landed(&repo, &start, &run);
}

#[test]
fn an_experiment_killed_while_its_agent_works_leaves_the_users_tree_alone() {
    let repo = experiment_project();
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    // The user has uncommitted work; the agent is killed half-way through its change.
    repo.write("notes.md", "mine\n");
    repo.script(
        1,
        "write speed.txt 110\nwrite half-done.txt x\ngrandchild\nhang\n",
    );
    repo.script(
        2,
        "write speed.txt 100\ncat codex-exec-json-success.jsonl\n",
    );
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join("grandchild.pid"));
    kill9(child);
    gone(&[pid(&repo, "call-1.pid"), pid(&repo, "grandchild.pid")]);
    // Nothing of the agent's reached the user's tree (TASK.md is autodev's brief).
    let status = git(
        repo.path(),
        &["status", "--porcelain", "--untracked-files=all"],
    );
    let theirs: Vec<&str> = status.lines().filter(|l| !l.ends_with("TASK.md")).collect();
    assert_eq!(theirs, ["?? notes.md"], "{status}");
    assert!(worktree(&repo).join("half-done.txt").exists());

    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Experiment E1 resumes in its own worktree"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.calls(), 2);
    assert_eq!(committed(&repo, "speed.txt"), "100\n");
    assert_eq!(
        git(repo.path(), &["rev-parse", "HEAD~1"]).trim(),
        start,
        "the killed agent's edits were dropped, not committed"
    );
    assert!(!repo.path().join("half-done.txt").exists());
    assert_eq!(repo.read("notes.md"), "mine\n");
    assert!(!worktree(&repo).exists());
}

#[test]
fn the_fast_forward_runs_no_hook_that_could_be_cut_short() {
    let repo = experiment_project();
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    repo.script(
        1,
        "write speed.txt 100\ncat codex-exec-json-success.jsonl\n",
    );
    // A post-merge hook would run in the middle of bringing the result over; a run killed
    // there would leave the user's files updated and their branch not.
    let marker = repo.state.join("post-merge-ran");
    repo.hook("post-merge", &format!("touch {}\n", marker.display()));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(committed(&repo, "speed.txt"), "100\n");
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD~1"]).trim(), start);
    assert!(!marker.exists(), "the fast-forward ran the post-merge hook");
    no_leftovers(&repo);
}

/// Whether process `pid` has a handler for SIGTERM (`SigCgt` in its status).
fn catches_sigterm(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (15 - 1)) != 0)
}

#[test]
fn a_sigterm_at_once_still_exits_130() {
    let repo = project(|_| {
        r#"{"tasks": [{"id": "T1", "title": "Create hello", "description": "Write hello.txt"}]}"#
            .into()
    });
    repo.script(0, "sleep 5\n");
    for _ in 0..5 {
        let child = repo.spawn(&["run"]);
        let pid = child.id();
        // The moment the handler exists (before that, the loader is still mapping the binary;
        // the handler comes before argument parsing, so before any work).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !catches_sigterm(pid) {
            assert!(Instant::now() < deadline, "no SIGTERM handler");
            std::thread::yield_now();
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        let out = child.wait_with_output().expect("exit");
        assert_eq!(
            out.status.code(),
            Some(130),
            "{:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    no_leftovers(&repo);
}

#[test]
fn the_agent_starts_with_no_signal_blocked() {
    let repo = project(|_| {
        r#"{"tasks": [{"id": "T1", "title": "Create hello", "description": "Write hello.txt"}]}"#
            .into()
    });
    repo.script(0, "hang\n");
    let child = repo.spawn(&["run"]);
    repo.wait_for_calls(1);
    let agent = pid(&repo, "call-1.pid");
    let status = std::fs::read_to_string(format!("/proc/{agent}/status")).unwrap_or_default();
    let blocked = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .map(str::trim)
        .unwrap_or("?")
        .to_string();
    kill9(child);
    gone(&[agent]);
    // Otherwise a graceful stop (SIGTERM to the group) would not reach it.
    assert_eq!(blocked, "0000000000000000");
}

#[test]
fn autodev_state_in_a_project_at_home_is_never_committed() {
    // The project is $HOME and XDG_STATE_HOME is unset: the project registry goes to
    // .local/state/autodev inside it. Another autodev (of another project) rewrites it while
    // the resumed attempt works.
    let repo = project(|_| {
        r#"{"tasks": [{"id": "T1", "title": "Create hello", "description": "Write hello.txt",
  "verification": {"validate_commands": ["grep -q hello hello.txt"]}}]}"#
            .into()
    });
    repo.script(
        1,
        "write hello.txt hello\nsh touch \"$FAKE_AGENT_DIR/working\"\nhang\n",
    );
    repo.script(
        2,
        &format!("sh printf ' ' >> \"$HOME/.local/state/autodev/projects.json\"\n{SUCCESS}"),
    );
    let at_home = |args: &[&str]| {
        let mut command = repo.command(args);
        command.env_remove("XDG_STATE_HOME");
        command
    };
    let child = at_home(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run");
    wait_for(&repo.state.join("working"));
    kill9(child);
    let run: crate::common::Run = at_home(&["run"]).output().expect("run").into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.task("T1")["passes"], true);
    assert!(
        repo.path()
            .join(".local/state/autodev/projects.json")
            .is_file(),
        "the registry is inside the project"
    );
    let tree = git(repo.path(), &["ls-tree", "-r", "--name-only", "HEAD"]);
    assert!(tree.lines().any(|l| l == "hello.txt"), "{tree}");
    assert!(
        !tree.contains(".local"),
        "autodev's registry was committed:\n{tree}"
    );
}

#[test]
fn a_settings_change_between_a_kill_and_the_resume_is_yours_not_the_agents() {
    for isolation in ["in-place", "worktree"] {
        let repo = project(|_| {
            r#"{"tasks": [{"id": "T1", "title": "Create hello", "description": "Write hello.txt",
  "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]}"#
                .into()
        });
        let toml = repo
            .read("autodev.toml")
            .replace("[run]\n", &format!("[run]\nisolation = \"{isolation}\"\n"));
        repo.write("autodev.toml", &toml);
        git(repo.path(), &["commit", "-qam", "isolation"]);
        repo.script(
            1,
            "write hello.txt hello\nsh touch \"$FAKE_AGENT_DIR/working\"\nhang\n",
        );
        repo.script(2, SUCCESS);
        let child = repo.spawn(&["run"]);
        wait_for(&repo.state.join("working"));
        kill9(child);
        // Between the runs you change a setting (autodev.toml is protected from the agent).
        repo.write("autodev.toml", &format!("{toml}# tuned between the runs\n"));
        git(repo.path(), &["commit", "-qam", "tune"]);

        let run = repo.run(&["run"]);
        assert_eq!(run.code, 0, "{isolation}: {}", run.stderr);
        assert!(
            !run.stderr.contains("protected files were changed"),
            "{isolation}: {}",
            run.stderr
        );
        assert_eq!(repo.task("T1")["passes"], true);
        // In a worktree, the result is replayed on top of your commit and lands after it.
        assert_eq!(committed(&repo, "hello.txt"), "hello\n", "{isolation}");
        if isolation == "worktree" {
            assert!(
                run.stderr
                    .contains("replayed on your newer commits and checked again there"),
                "{}",
                run.stderr
            );
        }
        assert!(
            repo.read("autodev.toml")
                .ends_with("# tuned between the runs\n")
        );
    }
}
