//! Overnight runs in tmux, with a real tmux on a private socket directory (`TMUX_TMPDIR`) and
//! the project registry in a temporary state directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::alive;
use crate::harness::Repo;

/// A private tmux server and state directory; the server is killed when the test ends.
struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    fn new() -> Tmux {
        Tmux {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn tmpdir(&self) -> PathBuf {
        self.dir.path().join("tmux")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `tmux ARGS` on the private server.
    fn tmux(&self, args: &[&str]) -> std::process::Output {
        std::fs::create_dir_all(self.tmpdir()).expect("tmux dir");
        Command::new("tmux")
            .args(args)
            .env("TMUX_TMPDIR", self.tmpdir())
            .env_remove("TMUX")
            .output()
            .expect("tmux")
    }

    fn has(&self, name: &str) -> bool {
        self.tmux(&["has-session", "-t", &format!("={name}")])
            .status
            .success()
    }

    /// `autodev ARGS` in `repo`, on this server and state directory.
    fn autodev(&self, repo: &Repo, args: &[&str]) -> crate::common::Run {
        self.command(repo, args).output().expect("autodev").into()
    }

    fn command(&self, repo: &Repo, args: &[&str]) -> Command {
        std::fs::create_dir_all(self.tmpdir()).expect("tmux dir");
        let mut command = repo.command(args);
        command
            .env("TMUX_TMPDIR", self.tmpdir())
            .env("XDG_STATE_HOME", self.state());
        command
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

const ONE_TASK: &str = r#"{"tasks": [{"id": "T1", "title": "Create hello",
  "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]}"#;

fn repo(script: &str) -> Repo {
    let repo = Repo::new(ONE_TASK, "");
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(0, script);
    repo
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn journal_types(repo: &Repo) -> Vec<String> {
    repo.read("logs/events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            format!(
                "{} {}",
                v["type"].as_str().unwrap_or(""),
                v["end"].as_str().unwrap_or("")
            )
            .trim()
            .to_string()
        })
        .collect()
}

fn listed(tmux: &Tmux, repo: &Repo) -> serde_json::Value {
    let run = tmux.autodev(repo, &["list", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("list --json")
}

#[test]
fn a_detached_run_works_the_queue_in_tmux_and_is_listed() {
    let tmux = Tmux::new();
    let repo = repo("write hello.txt hello\nsleep 2\ncat codex-exec-json-success.jsonl\n");
    let run = tmux.autodev(&repo, &["run", "--detach", "--max-retries", "2"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("tmux session autodev-demo"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("autodev attach autodev-demo"),
        "{}",
        run.stdout
    );
    assert!(tmux.has("autodev-demo"));
    let list = listed(&tmux, &repo);
    let row = &list["sessions"][0];
    assert_eq!(row["session"], "autodev-demo");
    assert_eq!(row["live"], true);
    assert_eq!(
        Path::new(row["directory"].as_str().unwrap_or("")),
        repo.path()
            .canonicalize()
            .unwrap_or(repo.path().to_path_buf())
    );
    // The run goes on without us, with the same flags, and the session ends with it.
    wait_until("the task", Duration::from_secs(30), || {
        repo.read("task.json").contains("\"passes\": true")
    });
    wait_until("the session to end", Duration::from_secs(10), || {
        !tmux.has("autodev-demo")
    });
    let attempts = repo.task("T1")["attempt_history"][0]["attempt"].clone();
    assert_eq!(attempts, 1);
    let log = repo.read("logs/autodev.log");
    assert_eq!(
        log.matches("autodev run: backend codex").count(),
        1,
        "nothing doubled: {log}"
    );
    assert!(
        log.contains("2 attempt(s) each"),
        "the flags came along: {log}"
    );
    let after = listed(&tmux, &repo);
    assert_eq!(after["sessions"][0]["live"], false);
    assert_eq!(after["sessions"][0]["status"], "completed");
}

#[test]
fn a_second_run_is_refused_and_the_first_goes_on() {
    let tmux = Tmux::new();
    let repo = repo("write hello.txt hello\nsleep 4\ncat codex-exec-json-success.jsonl\n");
    assert_eq!(tmux.autodev(&repo, &["run", "--detach"]).code, 0);
    repo.wait_for_calls(1);
    let again = tmux.autodev(&repo, &["run", "--detach"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("already running in tmux session autodev-demo"),
        "{}",
        again.stderr
    );
    let foreground = tmux.autodev(&repo, &["run"]);
    assert_eq!(foreground.code, 1, "{}", foreground.stderr);
    assert!(
        foreground.stderr.contains("another autodev run (pid"),
        "{}",
        foreground.stderr
    );
    assert!(tmux.has("autodev-demo"), "the first run was not touched");
    wait_until("the task", Duration::from_secs(30), || {
        repo.read("task.json").contains("\"passes\": true")
    });
    assert_eq!(repo.calls(), 1);
}

#[test]
fn stop_records_the_interruption_and_leaves_no_agent_behind() {
    let tmux = Tmux::new();
    let repo = repo("write hello.txt hello\ngrandchild\nhang\n");
    assert_eq!(tmux.autodev(&repo, &["run", "--detach"]).code, 0);
    repo.wait_for_calls(1);
    wait_until("the grandchild", Duration::from_secs(10), || {
        repo.state.join("grandchild.pid").exists()
    });
    let agent = repo.agent_pid(1);
    let grandchild = repo.pid_in("grandchild.pid");
    let stop = tmux.autodev(&repo, &["stop", "autodev-demo"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(!tmux.has("autodev-demo"), "the session is gone");
    assert!(
        !alive(agent) && !alive(grandchild),
        "no agent process is left"
    );
    let types = journal_types(&repo);
    assert!(
        types.iter().any(|t| t == "run_ended interrupted"),
        "{types:?}"
    );
    let task = repo.task("T1");
    assert_eq!(task["attempt_history"][0]["status"], "interrupted");
    assert_eq!(repo.status()["run"]["status"], "interrupted");
}

#[test]
fn stop_all_stops_every_autodev_run_and_spares_the_users_sessions() {
    let tmux = Tmux::new();
    let one = repo("write hello.txt hello\nhang\n");
    assert_eq!(tmux.autodev(&one, &["run", "--detach"]).code, 0);
    // A user's own session, named like ours: never touched.
    assert!(
        tmux.tmux(&["new-session", "-d", "-s", "autodev-demo-mine", "sleep 60"])
            .status
            .success()
    );
    assert!(
        tmux.tmux(&["new-session", "-d", "-s", "mine", "sleep 60"])
            .status
            .success()
    );
    one.wait_for_calls(1);
    let stop = tmux.autodev(&one, &["stop", "--all"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(!tmux.has("autodev-demo"));
    assert!(tmux.has("mine") && tmux.has("autodev-demo-mine"));
    let unknown = tmux.autodev(&one, &["stop", "mine"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains("the sessions autodev started: autodev-demo"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn a_run_that_fails_at_once_is_reported_by_detach() {
    let tmux = Tmux::new();
    // claude is not installed here: the run inside stops at once.
    let repo = Repo::new(ONE_TASK, "[backend]\ndefault = \"claude\"\n");
    let run = tmux.autodev(&repo, &["run", "--detach"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("ended at once"), "{}", run.stderr);
    assert!(
        run.stderr.contains("the claude CLI is not installed"),
        "{}",
        run.stderr
    );
    assert!(!tmux.has("autodev-demo"), "nothing is left half-started");
}

#[test]
fn project_names_become_the_same_tmux_name_everywhere() {
    let tmux = Tmux::new();
    let repo = repo("write hello.txt hello\nhang\n");
    repo.write(
        "autodev.toml",
        "[project]\nname = \"Night shift: v2.1 über\"\n[run]\ndelay_between_tasks = 0\n",
    );
    let run = tmux.autodev(&repo, &["run", "--detach"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let name = "autodev-Night_shift_v2_1_ber";
    assert!(run.stdout.contains(name), "{}", run.stdout);
    assert!(tmux.has(name));
    assert_eq!(listed(&tmux, &repo)["sessions"][0]["session"], name);
    assert_eq!(tmux.autodev(&repo, &["stop", name]).code, 0);
}

#[test]
fn without_tmux_detached_commands_say_how_to_install_it() {
    let tmux = Tmux::new();
    let repo = repo("exit 0\n");
    // A PATH with git and sh but no tmux.
    let bin = crate::common::path_of_only(tmux.dir.path(), &["git", "sh"]);
    for args in [
        &["run", "--detach"][..],
        &["list"],
        &["attach", "x"],
        &["stop", "--all"],
    ] {
        let out = tmux
            .command(&repo, args)
            .env("PATH", &bin)
            .output()
            .expect("autodev");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("need tmux") && stderr.contains("apt-get install tmux"),
            "{stderr}"
        );
    }
    assert_eq!(repo.calls(), 0);
}

#[test]
fn a_run_with_nothing_to_do_is_no_failure() {
    let tmux = Tmux::new();
    let repo = Repo::new(
        r#"{"tasks": [{"id": "T1", "title": "Done", "passes": true}]}"#,
        "",
    );
    let run = tmux.autodev(&repo, &["run", "--detach"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("finished at once"), "{}", run.stdout);
    assert!(!tmux.has("autodev-demo"));
}

#[test]
fn two_projects_run_side_by_side_even_with_the_same_name() {
    let tmux = Tmux::new();
    let one = repo("write hello.txt hello\nsleep 2\ncat codex-exec-json-success.jsonl\n");
    let two = repo("write hello.txt hello\nsleep 2\ncat codex-exec-json-success.jsonl\n");
    assert_eq!(tmux.autodev(&one, &["run", "--detach"]).code, 0);
    let second = tmux.autodev(&two, &["run", "--detach"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stdout.contains("tmux session autodev-demo-2"),
        "{}",
        second.stdout
    );
    assert!(tmux.has("autodev-demo") && tmux.has("autodev-demo-2"));
    for repo in [&one, &two] {
        wait_until("both tasks", Duration::from_secs(30), || {
            repo.read("task.json").contains("\"passes\": true")
        });
    }
    let list = listed(&tmux, &one);
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(2), "{list}");
}

#[test]
fn attach_names_the_known_sessions_and_says_when_a_run_has_ended() {
    let tmux = Tmux::new();
    let repo = repo("write hello.txt hello\ncat codex-exec-json-success.jsonl\n");
    let none = tmux.autodev(&repo, &["attach", "autodev-demo"]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr
            .contains("none: start one with `autodev run --detach`"),
        "{}",
        none.stderr
    );
    assert_eq!(tmux.autodev(&repo, &["run", "--detach"]).code, 0);
    wait_until("the run to end", Duration::from_secs(30), || {
        !tmux.has("autodev-demo")
    });
    let ended = tmux.autodev(&repo, &["attach", "autodev-demo"]);
    assert_eq!(ended.code, 1);
    assert!(ended.stderr.contains("has ended"), "{}", ended.stderr);
    let wrong = tmux.autodev(&repo, &["attach", "autodev"]);
    assert!(
        wrong
            .stderr
            .contains("the sessions autodev started: autodev-demo"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn attach_fails_plainly_without_a_terminal_or_inside_tmux_and_a_project_name_works() {
    let tmux = Tmux::new();
    let repo = repo("write hello.txt hello\nhang\n");
    assert_eq!(tmux.autodev(&repo, &["run", "--detach"]).code, 0);
    repo.wait_for_calls(1);
    // The tests run with no terminal on stdin.
    let bare = tmux.autodev(&repo, &["attach", "autodev-demo"]);
    assert_eq!(bare.code, 1, "{}", bare.stderr);
    assert!(
        bare.stderr
            .contains("needs a terminal, and this command has none"),
        "{}",
        bare.stderr
    );
    // Inside tmux (on the same server, with no client to switch here) the client would switch;
    // tmux refusing is a failure, not exit 0.
    let socket = tmux
        .tmpdir()
        .join(format!("tmux-{}", nix::unistd::getuid()))
        .join("default");
    let inside = tmux
        .command(&repo, &["attach", "demo"])
        .env("TMUX", format!("{},1,0", socket.display()))
        .output()
        .expect("attach");
    let stderr = String::from_utf8_lossy(&inside.stderr);
    assert_eq!(inside.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("tmux could not attach to `autodev-demo`"),
        "{stderr}"
    );
    // `stop` takes the project's name as well as the session's.
    let stop = tmux.autodev(&repo, &["stop", "demo"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(!tmux.has("autodev-demo"), "the session is gone");
}
