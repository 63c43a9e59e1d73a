//! Queue integrity end to end: what people and agents write into `task.json` is never lost or
//! misread, and no setting or queue makes autodev panic.

use crate::common::git;
use crate::harness::Repo;

const SUCCESS: &str = "write hello.txt hello\ncat codex-exec-json-success.jsonl\n";

fn repo(tasks: &str, toml: &str) -> Repo {
    let repo = Repo::new(tasks, toml);
    repo.sample("codex-exec-json-success.jsonl");
    repo
}

#[test]
fn duplicate_or_missing_ids_stop_the_run_before_any_agent_call() {
    let tasks = "{\"tasks\": [\n  {\"id\": \"T1\", \"title\": \"write a\"},\n  {\"id\": \"T1\", \"title\": \"write b\"},\n  {\"title\": \"no id\"}\n]}\n";
    let repo = repo(tasks, "");
    repo.script(0, SUCCESS);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(repo.calls(), 0, "no agent was called");
    assert!(
        run.stderr.contains(
            "line 3: task T1: the id T1 is already used by the task at line 2; ids must be unique"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 4: task #3 has no \"id\""),
        "{}",
        run.stderr
    );
    assert_eq!(repo.read("task.json"), tasks, "nothing was written");
    let check = repo.run(&["task", "check"]);
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(check.stderr.contains("already used"), "{}", check.stderr);
    let block = repo.run(&["task", "block", "T1", "stop"]);
    assert_eq!(block.code, 1);
    assert_eq!(
        repo.read("task.json"),
        tasks,
        "no command writes an invalid queue"
    );
}

#[test]
fn a_string_where_a_list_belongs_is_one_check_and_is_kept_as_written() {
    let tasks = "{\n  \"tasks\": [\n    {\n      \"id\": \"T1\",\n      \"title\": \"Create hello\",\n      \"verification\": {\n        \"path_patterns\": \"hello.txt\",\n        \"validate_commands\": \"false\"\n      },\n      \"owner_ticket\": 123456789012345678901234567890\n    }\n  ]\n}\n";
    let repo = repo(tasks, "[reflection]\nenabled = false\n");
    repo.script(0, SUCCESS);
    let run = repo.run(&["run", "--max-retries", "1"]);
    assert_eq!(run.code, 2, "the check `false` fails: {}", run.stderr);
    let text = repo.read("task.json");
    assert!(text.contains("\"validate_commands\": \"false\""), "{text}");
    assert!(text.contains("\"path_patterns\": \"hello.txt\""), "{text}");
    assert!(
        text.contains("\"owner_ticket\": 123456789012345678901234567890"),
        "big numbers keep every digit: {text}"
    );
    assert_eq!(repo.task("T1")["blocked"], true);
    let check = repo.run(&["task", "check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
}

#[test]
fn a_block_by_hand_during_an_attempt_is_not_undone_by_the_run() {
    let tasks = r#"{"tasks": [{"id": "T1", "title": "Create hello",
      "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]}"#;
    let repo = repo(tasks, "");
    repo.script(
        0,
        "write hello.txt hello\nsleep 1\ncat codex-exec-json-success.jsonl\n",
    );
    let child = repo.spawn(&["run"]);
    repo.wait_for_calls(1);
    let block = repo.run(&["task", "block", "T1", "not now, I am changing the API"]);
    assert_eq!(block.code, 0, "{}", block.stderr);
    let out = child.wait_with_output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("was blocked by hand"), "{stderr}");
    let task = repo.task("T1");
    assert_eq!(task["blocked"], true);
    crate::common::assert_off(&task, "passes");
    assert_eq!(task["block_reason"], "not now, I am changing the API");
    let log = git(repo.path(), &["log", "--format=%s"]);
    assert!(
        !log.contains("T1"),
        "nothing committed for a task blocked by hand: {log}"
    );
    assert_eq!(repo.calls(), 1);
}

#[test]
fn a_symlinked_queue_is_updated_through_its_link_and_keeps_its_mode() {
    let tasks = r#"{"tasks": [{"id": "T1", "title": "Create hello",
      "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]}"#;
    let repo = repo(tasks, "");
    repo.write("queues/night.json", tasks);
    std::fs::remove_file(repo.path().join("task.json")).expect("rm");
    std::os::unix::fs::symlink("queues/night.json", repo.path().join("task.json")).expect("link");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        repo.path().join("queues/night.json"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("mode");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "linked queue"]);
    repo.script(0, SUCCESS);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let meta = std::fs::symlink_metadata(repo.path().join("task.json")).expect("stat");
    assert!(meta.file_type().is_symlink(), "task.json is still a link");
    let target = repo.read("queues/night.json");
    assert!(target.contains("\"passes\": true"), "{target}");
    let mode = std::fs::metadata(repo.path().join("queues/night.json"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn absurd_settings_are_refused_by_name_and_never_panic() {
    let repo = repo(r#"{"tasks": []}"#, "");
    for (setting, key) in [
        (
            "[backend]\ntimeout_seconds = 9223372036854775807\n",
            "backend.timeout_seconds",
        ),
        (
            "[run]\ndelay_between_tasks = nan\n",
            "run.delay_between_tasks",
        ),
        (
            "[run]\ndelay_between_tasks = -inf\n",
            "run.delay_between_tasks",
        ),
        (
            "[circuit_breaker]\nmax_wait_seconds = 1e30\n",
            "circuit_breaker.max_wait_seconds",
        ),
        ("[run]\nmax_retries = 4294967296\n", "run.max_retries"),
    ] {
        repo.write(
            "autodev.toml",
            &format!("[project]\nname = \"demo\"\n{setting}"),
        );
        for command in [&["run"][..], &["status"], &["task", "list"]] {
            let run = repo.run(command);
            assert_eq!(run.code, 1, "{setting} {command:?}: {}", run.stderr);
            assert!(run.stderr.contains(key), "{setting}: {}", run.stderr);
        }
    }
    repo.write("autodev.toml", "[project]\nname = \"demo\"\n");
    let env = repo
        .command(&["status"])
        .env("AUTODEV_BACKEND_IDLE_TIMEOUT_SECONDS", "99999999999")
        .output()
        .expect("status");
    assert_eq!(env.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&env.stderr).contains("AUTODEV_BACKEND_IDLE_TIMEOUT_SECONDS"));
}

/// A task whose agent writes `files` (shell commands run in the project), checked by `done`.
fn many_files_task() -> &'static str {
    r#"{"tasks": [{"id": "T1", "title": "Generate", "description": "Write the files",
  "verification": {"validate_commands": ["test -f done"]}}]}"#
}

#[test]
fn a_change_of_thousands_of_files_and_names_that_are_not_utf8_is_committed() {
    // 12,000 files under a 200-character directory: their paths alone are over 2.4 MB, more
    // than an argument list may hold; and two names that are not UTF-8, one in a directory
    // whose name is not either.
    let long = "d".repeat(200);
    let repo = repo(many_files_task(), "");
    repo.script(
        1,
        &format!(
            "sh mkdir {long} && cd {long} && seq 1 12000 | xargs touch\n\
             sh printf latin1 > \"$(printf 'caf\\351.txt')\"\n\
             sh mkdir \"$(printf '\\377dir')\" && printf x > \"$(printf '\\377dir/\\376')\"\n\
             write done yes\ncat codex-exec-json-success.jsonl\n"
        ),
    );
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.task("T1")["passes"], true);
    let listed = std::process::Command::new("git")
        .args(["ls-tree", "-r", "-z", "--name-only", "HEAD"])
        .current_dir(repo.path())
        .output()
        .expect("git");
    let names: Vec<&[u8]> = listed.stdout.split(|&b| b == 0).collect();
    let under_long = names
        .iter()
        .filter(|n| n.starts_with(long.as_bytes()))
        .count();
    assert_eq!(under_long, 12_000);
    assert!(
        names.contains(&&b"caf\xe9.txt"[..]),
        "the Latin-1 name is committed"
    );
    assert!(
        names.contains(&&b"\xffdir/\xfe"[..]),
        "the raw-byte path is committed"
    );
    assert_eq!(
        git(
            repo.path(),
            &[
                "status",
                "--porcelain",
                "--",
                ".",
                ":!task.json",
                ":!TASK.md",
                ":!progress.txt"
            ]
        )
        .trim(),
        "",
        "nothing but autodev's own files is left uncommitted"
    );
    let again = repo.run(&["run"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(repo.calls(), 1, "the run after has nothing to do");
}
