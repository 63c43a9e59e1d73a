//! Polite stops (Ctrl-C, `autodev stop`, SIGTERM, SIGHUP) at each phase, once or twice in a
//! row, and what one plain `autodev run` makes of them: the queue finished, the work committed
//! once, nothing left for the run after. Also the signals a run must not stop for: a hangup that
//! `nohup` ignores, and a reader of its output that goes away.

use std::path::Path;
use std::process::{Child, Stdio};

use nix::sys::signal::Signal;

use crate::common::git;
use crate::harness::Repo;
use crate::recovery::{SUCCESS, project, slow_check_task, wait_for};

/// An agent that writes its file, says so, and answers a second later.
const TALKS_LATE: &str = "write hello.txt hello\nsh touch \"$FAKE_AGENT_DIR/working\"\nsleep 1\ncat codex-exec-json-success.jsonl\n";
/// An agent that writes its file, says so, then works on for 30 s.
const SLOW: &str = "write hello.txt hello\nsh touch \"$FAKE_AGENT_DIR/working\"\nsleep 30\n";

fn hello_task(_: &Path) -> String {
    r#"{"tasks": [{"id": "T1", "title": "Create hello", "description": "Write hello.txt",
  "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]}"#
        .into()
}

fn signal(child: &Child, signal: Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).expect("signal");
}

/// Sends `sig` once `marker` (in the fake's state) exists; the run's exit code and stderr.
fn stop_when(repo: &Repo, marker: &str, sig: Signal) -> (Option<i32>, String) {
    let _ = std::fs::remove_file(repo.state.join(marker));
    let child = repo.spawn(&["run"]);
    wait_for(&repo.state.join(marker));
    signal(&child, sig);
    let out = child.wait_with_output().expect("exit");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// How many commits changed `rel`.
fn commits_of(repo: &Repo, rel: &str) -> usize {
    git(repo.path(), &["log", "--format=%h", "--", rel])
        .lines()
        .count()
}

/// The task is done, its file committed once, no attempt of it recorded as failed, and a run
/// after it has nothing to do (no agent call, exit 0).
fn finished_once(repo: &Repo) {
    let task = repo.task("T1");
    assert_eq!(task["passes"], true, "{task}");
    assert_eq!(commits_of(repo, "hello.txt"), 1, "committed once");
    let history = task["attempt_history"].as_array().expect("history");
    assert!(
        history.iter().all(|h| h["status"] != "failed"),
        "an interrupted attempt is no failure: {history:?}"
    );
    let calls = repo.calls();
    let after = repo.run(&["run"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert_eq!(repo.calls(), calls, "nothing left to do");
    assert!(after.stderr.contains("All tasks done"), "{}", after.stderr);
}

#[test]
fn a_polite_stop_during_the_agent_is_finished_by_one_plain_run() {
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        let repo = project(hello_task);
        repo.script(1, SLOW);
        repo.script(2, SUCCESS);
        let (code, stderr) = stop_when(&repo, "working", sig);
        assert_eq!(code, Some(130), "{sig}: {stderr}");
        assert!(
            stderr.contains("[INTERRUPTED] Agent finished: task=T1 attempt=1 outcome=interrupted"),
            "{sig}: a stopped turn is not labelled as validating: {stderr}"
        );
        crate::common::assert_off(&repo.task("T1"), "passes");

        let run = repo.run(&["run"]);
        assert_eq!(run.code, 0, "{sig}: {}", run.stderr);
        assert!(
            run.stderr.contains("resuming T1: attempt 1 was cut off"),
            "{sig}: {}",
            run.stderr
        );
        assert_eq!(repo.calls(), 2, "{sig}: the attempt is run again once");
        finished_once(&repo);
    }
}

#[test]
fn two_polite_stops_in_a_row_then_one_plain_run_finishes() {
    let repo = project(hello_task);
    repo.script(1, SLOW);
    repo.script(2, SLOW);
    repo.script(3, SUCCESS);
    let (code, stderr) = stop_when(&repo, "working", Signal::SIGINT);
    assert_eq!(code, Some(130), "{stderr}");
    let (code, stderr) = stop_when(&repo, "working", Signal::SIGTERM);
    assert_eq!(code, Some(130), "{stderr}");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 3);
    finished_once(&repo);
}

#[test]
fn a_polite_stop_during_the_checks_is_finished_without_asking_the_agent_again() {
    let repo = project(slow_check_task);
    repo.script(0, SUCCESS);
    repo.write_outside("slow");
    let (code, stderr) = stop_when(&repo, "checking", Signal::SIGHUP);
    assert_eq!(code, Some(130), "{stderr}");
    std::fs::remove_file(repo.state.join("slow")).expect("fast checks");
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 1, "the agent is not asked again");
    finished_once(&repo);
}

#[test]
fn a_hangup_ignored_by_nohup_does_not_stop_the_run() {
    let repo = project(hello_task);
    repo.script(1, TALKS_LATE);
    let mut command = repo.command(&["run"]);
    // What `nohup` does before it runs a program.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            nix::sys::signal::signal(Signal::SIGHUP, nix::sys::signal::SigHandler::SigIgn)
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(&repo.state.join("working"));
    signal(&child, Signal::SIGHUP);
    let out = child.wait_with_output().expect("exit");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    finished_once(&repo);
}

#[test]
fn a_reader_that_goes_away_does_not_stop_the_run() {
    let repo = project(hello_task);
    // The agent talks after the reader is gone: the narrative has somewhere closed to go.
    repo.script(1, TALKS_LATE);
    let mut child = repo
        .command(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // `autodev run 2>&1 | head -n 1`: the reader takes a line and leaves.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().expect("exit");
    assert_eq!(status.code(), Some(0), "no panic, no halt: {status:?}");
    let log = repo.read("logs/autodev.log");
    assert!(log.contains("All tasks done"), "the log goes on: {log}");
    finished_once(&repo);
}
