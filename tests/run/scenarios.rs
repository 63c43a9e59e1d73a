//! The scenarios users meet overnight.

use std::time::{Duration, Instant};

use crate::common::{alive, git};
use crate::harness::Repo;

const ONE_TASK: &str = r#"{"tasks": [
  {"id": "T1", "title": "Create hello", "description": "Write hello.txt",
   "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}
]}"#;

const SUCCESS: &str = "write hello.txt hello\ncat codex-exec-json-success.jsonl\n";

/// Settings for tests about something other than reflection: failed attempts make no extra call.
const NO_REFLECTION: &str = "[reflection]\nenabled = false\n";

fn repo(tasks: &str, toml: &str) -> Repo {
    let repo = Repo::new(tasks, toml);
    repo.sample("codex-exec-json-success.jsonl");
    repo
}

#[test]
fn a_task_that_passes_first_time_is_completed_and_recorded() {
    let repo = repo(ONE_TASK, "");
    repo.script(0, SUCCESS);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("[COMPLETED] Task T1 completed on attempt 1"),
        "{}",
        run.stderr
    );
    let task = repo.task("T1");
    assert_eq!(task["passes"], true);
    assert_eq!(task["attempt_history"][0]["status"], "completed");
    assert_eq!(repo.calls(), 1);
    // The prompt reached the agent on stdin, and names the task.
    let prompt = std::fs::read_to_string(repo.state.join("call-1.stdin")).expect("stdin");
    assert!(prompt.starts_with("Task T1: Create hello"), "{prompt}");
    assert!(prompt.contains("Write hello.txt"));
    // The record for the morning.
    let progress = repo.read("progress.txt");
    assert!(progress.contains("T1 - Create hello"), "{progress}");
    assert!(progress.contains("### Status: completed"));
    assert!(progress.contains("- hello.txt"));
    let status = repo.status();
    assert_eq!(status["run"]["status"], "completed");
    assert_eq!(status["run"]["tokens_input"], 20697);
    assert_eq!(status["counts"]["completed"], 1);
    let logs = repo.attempt_logs();
    assert_eq!(logs.len(), 1);
    let log = std::fs::read_to_string(&logs[0]).expect("attempt log");
    assert!(
        log.contains("\"turn.completed\""),
        "the agent's output is in the attempt log"
    );
    assert!(
        log.contains("$ grep -q hello hello.txt"),
        "so are the checks"
    );
    assert!(
        repo.read("TASK.md")
            .contains("No task is being worked right now")
    );
}

#[test]
fn a_failed_attempt_is_retried_and_the_failure_reaches_the_next_prompt() {
    let repo = repo(ONE_TASK, NO_REFLECTION);
    repo.script(
        1,
        "write hello.txt goodbye\ncat codex-exec-json-success.jsonl\n",
    );
    repo.script(2, SUCCESS);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 2);
    let task = repo.task("T1");
    assert_eq!(task["passes"], true);
    assert_eq!(task["attempt_history"][0]["status"], "failed");
    assert_eq!(task["attempt_history"][1]["status"], "completed");
    let second = std::fs::read_to_string(repo.state.join("call-2.stdin")).expect("stdin");
    assert!(
        second.contains("Attempt 1 [failed]: check `grep -q hello hello.txt` failed"),
        "{second}"
    );
    assert_eq!(
        repo.attempt_logs().len(),
        2,
        "every attempt keeps its own log"
    );
}

#[test]
fn a_task_that_always_fails_is_blocked_and_the_run_exits_2() {
    let repo = repo(ONE_TASK, NO_REFLECTION);
    repo.script(0, "cat codex-exec-json-success.jsonl\n");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let task = repo.task("T1");
    assert_eq!(task["blocked"], true);
    // The default breaker stops after three identical failures, and says so.
    assert_eq!(repo.calls(), 3);
    assert!(run.stderr.contains("circuit breaker"), "{}", run.stderr);
    assert!(
        task["block_reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("Circuit breaker")
    );
    assert!(repo.read("progress.txt").contains("### Status: blocked"));
    assert_eq!(repo.status()["run"]["status"], "blocked");
}

#[test]
fn max_retries_n_means_n_attempts() {
    let repo = repo(
        ONE_TASK,
        "[circuit_breaker]\nno_progress_threshold = 0\nrepeated_error_threshold = 0\n\
         [reflection]\nenabled = false\n",
    );
    repo.script(0, "cat codex-exec-json-success.jsonl\n");
    let run = repo.run(&["run", "--max-retries", "5"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(repo.calls(), 5);
    assert_eq!(
        repo.task("T1")["attempt_history"].as_array().map(Vec::len),
        Some(5)
    );
}

#[test]
fn a_hanging_agent_times_out_and_the_next_attempt_runs() {
    let repo = repo(
        ONE_TASK,
        "[backend]\ntimeout_seconds = 1\nkill_grace_seconds = 1\n[reflection]\nenabled = false\n",
    );
    repo.script(1, "print started\nhang\n");
    repo.script(2, SUCCESS);
    let started = Instant::now();
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(20));
    let task = repo.task("T1");
    assert_eq!(task["attempt_history"][0]["outcome"], "timed_out");
    assert_eq!(task["passes"], true);
}

#[test]
fn an_authentication_failure_halts_the_run_and_leaves_the_task_untouched() {
    let repo = repo(ONE_TASK, "");
    repo.sample("codex-exec-json-401.jsonl");
    repo.script(0, "cat codex-exec-json-401.jsonl\nexit 1\n");
    let before = repo.read("task.json");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(repo.calls(), 1, "no retries against a broken login");
    assert!(run.stderr.contains("401 Unauthorized"), "{}", run.stderr);
    assert!(
        run.stderr.contains("(attempted=0, completed=0, blocked=0)"),
        "a halt on the first call attempted nothing: {}",
        run.stderr
    );
    assert_eq!(repo.read("task.json"), before, "the task is untouched");
    assert_eq!(repo.status()["run"]["status"], "env_error");
}

#[test]
fn sigterm_stops_the_agent_and_exits_130() {
    let repo = repo(ONE_TASK, "");
    repo.script(0, "grandchild\nhang\n");
    let child = repo.spawn(&["run"]);
    repo.wait_for_calls(1);
    std::thread::sleep(Duration::from_millis(300));
    let agent = repo.agent_pid(1);
    let grandchild = repo.pid_in("grandchild.pid");
    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let out = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(agent), "the agent survived");
    assert!(!alive(grandchild), "the agent's child survived");
    assert_eq!(repo.status()["run"]["status"], "interrupted");
    crate::common::assert_off(&repo.task("T1"), "passes");
    crate::common::assert_off(&repo.task("T1"), "blocked");
}

#[test]
fn a_dry_run_calls_nothing_and_changes_nothing() {
    let tasks = r#"{"tasks": [
      {"id": "T1", "title": "First", "description": "one"},
      {"id": "T2", "title": "Second", "description": "two"}
    ]}"#;
    let repo = repo(tasks, "");
    let before = repo.read("task.json");
    let run = repo.run(&["run", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 0);
    assert!(run.stderr.contains("Task T1: First"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Task T2: Second"),
        "every pending task is shown"
    );
    assert!(
        run.stderr.contains("would run: codex exec --json"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.read("task.json"), before);
    assert!(!repo.path().join("logs/runtime-status.json").exists());
    assert!(!repo.path().join("progress.txt").exists());
}

#[test]
fn a_second_run_on_the_same_project_is_refused() {
    let repo = repo(ONE_TASK, "");
    repo.script(0, "hang\n");
    let mut first = repo.spawn(&["run"]);
    repo.wait_for_calls(1);
    let second = repo.run(&["run"]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.code, 1);
    assert!(
        second
            .stderr
            .contains(&format!("another autodev run (pid {})", first.id())),
        "{}",
        second.stderr
    );
}

#[test]
fn after_kill_9_the_next_run_resumes_the_task() {
    let repo = repo(ONE_TASK, "");
    repo.script(1, "hang\n");
    repo.script(2, SUCCESS);
    let mut first = repo.spawn(&["run"]);
    repo.wait_for_calls(1);
    let agent = repo.agent_pid(1);
    first.kill().expect("kill -9");
    let _ = first.wait();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!alive(agent), "the orphaned agent was told to stop");
    let status = repo.run(&["status"]);
    assert!(status.stdout.contains("INTERRUPTED"), "{}", status.stdout);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.task("T1")["passes"], true);
    assert_eq!(
        repo.attempt_logs().len(),
        2,
        "the crashed attempt's log is kept"
    );
}

#[test]
fn auto_commit_takes_only_the_tasks_files_and_leaves_the_users_work_alone() {
    let repo = repo(ONE_TASK, "");
    repo.write("notes.txt", "mine\n");
    repo.write("draft.txt", "v1\n");
    repo.write(".gitignore", "logs/\n*.log\n");
    crate::common::git(repo.path(), &["add", "-A"]);
    crate::common::git(repo.path(), &["commit", "-qm", "user files"]);
    // The user's own work in progress: one staged edit, one unstaged edit.
    repo.write("notes.txt", "mine, edited and staged\n");
    crate::common::git(repo.path(), &["add", "notes.txt"]);
    repo.write("draft.txt", "v2, not staged\n");
    // The agent also writes a file git ignores.
    repo.script(0, &format!("{SUCCESS}write debug.log noise\n"));

    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("Committed "), "{}", run.stderr);
    let files = crate::common::git(repo.path(), &["show", "--name-only", "--format=%s", "HEAD"]);
    assert_eq!(files.trim(), "autodev: T1 - Create hello\n\nhello.txt");
    let status = crate::common::git(repo.path(), &["status", "--porcelain"]);
    assert!(
        status.contains("M  notes.txt"),
        "the staged edit stays staged: {status}"
    );
    assert!(
        status.contains(" M draft.txt"),
        "the unstaged edit stays unstaged: {status}"
    );
    assert!(
        run.stderr
            .contains("not committed because git ignores them: debug.log"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_next_prompt_lists_the_commit_made_for_the_task_before() {
    let tasks = r#"{"tasks": [
      {"id": "T1", "title": "Create hello", "verification": {"path_patterns": ["hello.txt"]}},
      {"id": "T2", "title": "Create world", "verification": {"path_patterns": ["world.txt"]}}
    ]}"#;
    let repo = repo(tasks, "");
    repo.script(1, SUCCESS);
    repo.script(
        2,
        "write world.txt world\ncat codex-exec-json-success.jsonl\n",
    );
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = std::fs::read_to_string(repo.state.join("call-1.stdin")).expect("stdin");
    assert!(first.contains(" base "), "{first}");
    assert!(!first.contains("autodev: T1"), "{first}");
    let second = std::fs::read_to_string(repo.state.join("call-2.stdin")).expect("stdin");
    assert!(second.contains("autodev: T1 - Create hello"), "{second}");
}

#[test]
fn files_written_by_checks_are_not_counted_as_the_next_tasks_changes() {
    // T1's check writes a file into the tree; T2's agent writes only world.txt. Whether or not
    // autodev reuses a snapshot between tasks, and whether the tasks share your tree or a
    // worktree, T2 must be credited with world.txt alone.
    let tasks = r#"{"tasks": [
      {"id": "T1", "title": "Create hello", "verification": {"path_patterns": ["hello.txt"],
       "validate_commands": ["echo generated > report.txt"]}},
      {"id": "T2", "title": "Create world", "verification": {"path_patterns": ["world.txt"]}},
      {"id": "T3", "title": "Create again", "verification": {"path_patterns": ["again.txt"]}}
    ]}"#;
    for isolation in ["in-place", "worktree"] {
        let toml = format!("isolation = \"{isolation}\"\n[git]\nauto_commit = false\n");
        let repo = repo(tasks, &toml);
        repo.script(1, SUCCESS);
        repo.script(
            2,
            "write world.txt world\ncat codex-exec-json-success.jsonl\n",
        );
        repo.script(
            3,
            "write again.txt again\ncat codex-exec-json-success.jsonl\n",
        );
        let run = repo.run(&["run"]);
        assert_eq!(run.code, 0, "{isolation}: {}", run.stderr);
        if isolation == "in-place" {
            assert_eq!(repo.read("report.txt"), "generated\n");
        }
        let changed = |id: &str| repo.task(id)["attempt_history"][0]["changed_files"].clone();
        assert_eq!(
            changed("T1"),
            serde_json::json!(["hello.txt"]),
            "{isolation}"
        );
        assert_eq!(
            changed("T2"),
            serde_json::json!(["world.txt"]),
            "{isolation}"
        );
        assert_eq!(
            changed("T3"),
            serde_json::json!(["again.txt"]),
            "{isolation}"
        );
    }
}

#[test]
fn a_commit_that_fails_halts_and_the_next_run_commits_without_the_agent() {
    // In your tree, where the commit uses your repository's index.
    let repo = repo(ONE_TASK, "isolation = \"in-place\"\n");
    repo.script(0, SUCCESS);
    repo.write(".git/index.lock", "");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("another git process holds .git/index.lock"),
        "{}",
        run.stderr
    );
    // Never COMPLETED with its work uncommitted, and nothing of autodev's in the index.
    crate::common::assert_off(&repo.task("T1"), "passes");
    crate::common::assert_off(&repo.task("T1"), "blocked");
    std::fs::remove_file(repo.path().join(".git/index.lock")).expect("unlock");
    let status = crate::common::git(repo.path(), &["status", "--porcelain"]);
    assert!(status.contains("?? hello.txt"), "{status}");

    let again = repo.run(&["run"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("resuming T1: its checks had passed before the last run stopped"),
        "{}",
        again.stderr
    );
    assert_eq!(repo.calls(), 1, "the agent is not asked again");
    assert_eq!(repo.task("T1")["passes"], true);
    let status = crate::common::git(repo.path(), &["status", "--porcelain"]);
    assert!(!status.contains("hello.txt"), "{status}");
    let log = crate::common::git(repo.path(), &["log", "--format=%s", "-n1"]);
    assert!(log.contains("T1"), "{log}");
}

#[test]
fn reflection_refines_the_task_read_only_and_the_next_attempt_uses_it() {
    let repo = repo(ONE_TASK, "");
    repo.script(
        1,
        "write hello.txt goodbye\ncat codex-exec-json-success.jsonl\n",
    );
    // The reflection call answers with a refinement, as codex would (an agent message).
    let answer = serde_json::json!({
        "summary": "hello.txt must contain the word hello",
        "steps": ["write the word hello into hello.txt"],
        "learning_notes": ["the check greps for hello"]
    })
    .to_string();
    let event = serde_json::json!({"type": "item.completed",
        "item": {"id": "i1", "type": "agent_message", "text": answer}});
    std::fs::write(repo.state.join("reflection.jsonl"), format!("{event}\n")).expect("write");
    repo.script(2, "cat reflection.jsonl\n");
    repo.script(3, SUCCESS);

    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Reflecting on failed attempt 1/3 of T1"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.calls(), 3);
    let reflection_argv = std::fs::read_to_string(repo.state.join("call-2.argv")).expect("argv");
    assert!(
        reflection_argv.contains("read-only"),
        "reflection cannot edit: {reflection_argv}"
    );
    let task = repo.task("T1");
    assert_eq!(
        task["steps"],
        serde_json::json!(["write the word hello into hello.txt"])
    );
    assert_eq!(task["refinement_count"], 1);
    assert!(
        task["learning_notes"]
            .as_array()
            .expect("notes")
            .iter()
            .any(|n| n == "the check greps for hello")
    );
    let third = std::fs::read_to_string(repo.state.join("call-3.stdin")).expect("stdin");
    assert!(
        third.contains("- write the word hello into hello.txt"),
        "{third}"
    );
    assert!(
        repo.read("progress.txt")
            .contains("- the check greps for hello")
    );
}

#[test]
fn a_reflection_that_tries_to_change_the_scope_is_not_applied() {
    let repo = repo(ONE_TASK, "");
    repo.script(1, "cat codex-exec-json-success.jsonl\n");
    repo.script(2, "print I refuse to answer in JSON\n");
    repo.script(3, SUCCESS);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("reflection skipped"), "{}", run.stderr);
    assert_eq!(repo.task("T1")["refinement_count"].as_u64().unwrap_or(0), 0);
}

#[test]
fn a_rate_limit_is_waited_out_without_counting_an_attempt() {
    let repo = repo(ONE_TASK, "[circuit_breaker]\nrate_limit_cooldown = 1\n");
    let failed = serde_json::json!({"type": "turn.failed",
        "error": {"message": "unexpected status 429 Too Many Requests: slow down"}});
    std::fs::write(repo.state.join("429.jsonl"), format!("{failed}\n")).expect("write");
    repo.script(1, "cat 429.jsonl\nexit 1\n");
    repo.script(2, SUCCESS);
    let run = repo.run(&["run", "--max-retries", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("was rate-limited") && run.stderr.contains("waiting 1s"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.calls(), 2);
    let history = repo.task("T1")["attempt_history"].clone();
    assert_eq!(
        history.as_array().map(Vec::len),
        Some(1),
        "the wait is not an attempt"
    );
    assert_eq!(history[0]["status"], "completed");
}

#[test]
fn waiting_stops_at_the_cap_with_exit_1() {
    let repo = repo(
        ONE_TASK,
        "[circuit_breaker]\nrate_limit_cooldown = 1\nmax_wait_seconds = 2\n",
    );
    let failed = serde_json::json!({"type": "turn.failed",
        "error": {"message": "unexpected status 503 Service Unavailable"}});
    std::fs::write(repo.state.join("503.jsonl"), format!("{failed}\n")).expect("write");
    repo.script(0, "cat 503.jsonl\nexit 1\n");
    let before = repo.read("task.json");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("still unavailable"), "{}", run.stderr);
    assert_eq!(repo.read("task.json"), before);
}

#[test]
fn sighup_also_stops_the_run_cleanly() {
    let repo = repo(ONE_TASK, "");
    repo.script(0, "hang\n");
    let child = repo.spawn(&["run"]);
    repo.wait_for_calls(1);
    std::thread::sleep(Duration::from_millis(200));
    let agent = repo.agent_pid(1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("signal");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(agent));
    assert_eq!(repo.status()["run"]["status"], "interrupted");
}

#[test]
fn a_second_interrupt_kills_an_agent_that_ignores_the_first() {
    // The grace period is long: only the second Ctrl-C can end this quickly.
    let repo = repo(ONE_TASK, "[backend]\nkill_grace_seconds = 60\n");
    repo.script(0, "ignore-term\nhang\n");
    let child = repo.spawn(&["run"]);
    repo.wait_for_calls(1);
    std::thread::sleep(Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let started = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("first");
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("second");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_missing_agent_cli_stops_the_run_with_the_install_command() {
    let repo = repo(ONE_TASK, "");
    let run = repo.run(&["run", "--backend", "gemini"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the gemini CLI is not installed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("npm install -g @google/gemini-cli"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.calls(), 0);
}

/// A task checked by a script of the project: `checks/top.sh` must find "top" in `top.txt`.
const CHECKED_BY_SCRIPT: &str = r#"{"tasks": [
  {"id": "T1", "title": "Write top", "description": "Write top.txt",
   "verification": {"validate_commands": ["sh checks/top.sh"]}}
]}"#;

fn script_checked(toml: &str) -> Repo {
    let repo = repo(CHECKED_BY_SCRIPT, &format!("{NO_REFLECTION}{toml}"));
    repo.write("checks/top.sh", "grep -q top top.txt\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "check"]);
    repo
}

/// An agent that cannot do the work and rewrites the check instead.
const CHEATS: &str =
    "write top.txt nothing\nwrite checks/top.sh true\ncat codex-exec-json-success.jsonl\n";

#[test]
fn by_default_an_agent_that_rewrites_its_check_is_caught_and_the_check_put_back() {
    let repo = script_checked("");
    repo.script(0, CHEATS);
    let run = repo.run(&["run", "--max-retries", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("protected files were changed and have been put back: checks/top.sh"),
        "{}",
        run.stderr
    );
    assert_eq!(
        repo.read("checks/top.sh"),
        "grep -q top top.txt\n",
        "put back"
    );
    let task = repo.task("T1");
    assert_eq!(task["blocked"], true, "{task}");
    assert!(
        task["block_reason"].as_str().unwrap_or("").contains(
            "the agent changed files the checks depend on, which were put back: checks/top.sh"
        ),
        "{task}"
    );
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%s"]).trim(),
        "check",
        "nothing was committed"
    );
    // The agent was told which files the checks depend on.
    let prompt = repo.fake_file("call-1.stdin");
    assert!(prompt.contains("Must stay unchanged"), "{prompt}");
    assert!(prompt.contains("checks/top.sh"), "{prompt}");
}

#[test]
fn a_task_meant_to_change_its_check_may_and_protect_checks_false_turns_it_off() {
    // The task's own path_patterns name the script: it is the task's to change.
    let repo = repo(
        r#"{"tasks": [
  {"id": "T1", "title": "Loosen the check", "description": "Make checks/top.sh pass",
   "verification": {"path_patterns": ["checks/top.sh"], "validate_commands": ["sh checks/top.sh"]}}
]}"#,
        NO_REFLECTION,
    );
    repo.write("checks/top.sh", "false\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "check"]);
    repo.script(
        0,
        "write checks/top.sh true\ncat codex-exec-json-success.jsonl\n",
    );
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.read("checks/top.sh"), "true\n");

    // Turned off for the project: the cheat goes through, as it did before.
    let repo = script_checked("[verification]\nprotect_checks = false\n");
    repo.script(0, CHEATS);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.read("checks/top.sh"), "true\n");
}

#[test]
fn a_slow_check_is_never_silent_the_heartbeat_names_it() {
    let repo = repo(
        r#"{"tasks": [{"id": "T1", "title": "Slow", "description": "Write hello.txt",
  "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["sleep 2.5; grep -q hello hello.txt"]}}]}"#,
        "heartbeat_interval = 1\n",
    );
    repo.script(0, SUCCESS);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "Task T1: check `sleep 2.5; grep -q hello hello.txt` still running, 1s so far"
        ),
        "{}",
        run.stderr
    );
    let beats = repo
        .read("logs/events.jsonl")
        .lines()
        .filter(|l| l.contains(r#""type":"check_running""#))
        .count();
    assert!(beats >= 2, "a beat each second of the check: {beats}");
}
