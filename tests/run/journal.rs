//! The run journal `logs/events.jsonl` as other tools read it: a canned run, pinned whole with
//! the times, ids, paths and shas redacted.

use serde_json::Value;

use crate::harness::Repo;

const TASKS: &str = r#"{"tasks": [
  {"id": "T1", "title": "Create hello", "description": "Write hello.txt",
   "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}
]}"#;

fn redact(value: &mut Value, repo: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match key.as_str() {
                    "time" | "run_id" | "writer" | "version" => *v = Value::from("[redacted]"),
                    "sha" | "head" | "start" if v.is_string() => *v = Value::from("[sha]"),
                    // Names a short commit id.
                    "message" if v.as_str().is_some_and(|m| m.contains("fast-forwarded to")) => {
                        let m = v.as_str().unwrap_or_default();
                        let cut = m.find("fast-forwarded to").unwrap_or(m.len());
                        *v = Value::from(format!("{}fast-forwarded to [sha]", &m[..cut]));
                    }
                    "elapsed_ms" | "elapsed_seconds" => *v = Value::from(0),
                    "log" => *v = Value::from("[attempt log]"),
                    _ => redact(v, repo),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, repo)),
        Value::String(s) if s.contains(repo) => *s = s.replace(repo, "[repo]"),
        _ => {}
    }
}

#[test]
fn a_canned_run_journals_every_step_in_order() {
    let repo = Repo::new(TASKS, "");
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(
        0,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let root = repo.path().display().to_string();
    let lines: Vec<String> = repo
        .read("logs/events.jsonl")
        .lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).expect("every line is JSON");
            redact(&mut value, &root);
            serde_json::to_string(&value).expect("json")
        })
        .collect();
    // The agent's full report is long: its fields are pinned by the backend tests.
    let shown: Vec<String> = lines
        .iter()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("json");
            if v["type"] == "agent_finished" {
                let outcome = v["report"]["outcome"].clone();
                v["report"] = serde_json::json!({"outcome": outcome});
            }
            if v["type"] == "gate_verdict" || v["type"] == "task_completed" {
                let passed = v["gate"]["passed"].clone();
                v["gate"] = serde_json::json!({"passed": passed});
            }
            serde_json::to_string(&v).expect("json")
        })
        .collect();
    insta::assert_snapshot!("events_jsonl", shown.join("\n"));
}

#[test]
fn a_run_leaves_a_dashboard_derived_from_the_same_events() {
    let repo = Repo::new(TASKS, "");
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(
        0,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page = repo.read("logs/dashboard.html");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<td class=\"id\">T1</td>"), "{page}");
    assert!(page.contains(">COMPLETED</span>"), "{page}");
    assert!(
        page.contains("20697 in / 50 out"),
        "the run's tokens: {page}"
    );
    assert!(
        !page.contains("http-equiv=\"refresh\""),
        "a finished run's page stays still"
    );
}

#[test]
fn the_dashboard_shows_the_task_from_its_first_event() {
    let repo = Repo::new(TASKS, "");
    repo.script(
        0,
        "write hello.txt hello\nsh touch \"$FAKE_AGENT_DIR/working\"\nsleep 30\n",
    );
    let mut child = repo.spawn(&["run"]);
    crate::recovery::wait_for(&repo.state.join("working"));
    // The agent has barely started; no heartbeat has come yet (the default is every 20 s).
    let page = repo.read("logs/dashboard.html");
    let _ = child.kill();
    let _ = child.wait();
    assert!(page.contains("<h2>Now: T1 · Create hello</h2>"), "{page}");
    assert!(page.contains("<dt>Attempt</dt><dd>1/3</dd>"), "{page}");
}

/// Folds the journal's events through the run view alone, as `autodev web` or a remote reader
/// could, and compares the result with the status file the run wrote as it went.
fn assert_status_is_the_fold_of_the_journal(repo: &Repo) {
    let mut view = autodev::report::run_view::RunView::default();
    for line in repo.read("logs/events.jsonl").lines() {
        // The header is not an event; every other line must read back.
        if line.contains("\"type\":\"journal_opened\"") {
            continue;
        }
        let entry: autodev::journal::Entry = serde_json::from_str(line).expect("an event");
        // One clock for every sink: the status file's seconds are the journal's, cut.
        let at = format!("{}Z", &entry.time[..19]);
        view.apply(&entry.event, &at);
    }
    let written: Value =
        serde_json::from_str(&repo.read("logs/runtime-status.json")).expect("status file");
    let mut folded = serde_json::to_value(&view.run).expect("json");
    let mut run = written["run"].clone();
    // Who wrote the file and when it was last written are the writer's, not the events'.
    for field in ["writer", "updated_at"] {
        run.as_object_mut().expect("run").remove(field);
        folded.as_object_mut().expect("run").remove(field);
    }
    assert_eq!(folded, run);
    let events = serde_json::to_value(&view.events).expect("json");
    assert_eq!(events, written["events"]);
}

#[test]
fn the_status_file_is_the_fold_of_the_journal_for_a_done_a_blocked_and_a_retried_run() {
    // Done at the first attempt.
    let done = Repo::new(TASKS, "");
    done.sample("codex-exec-json-success.jsonl");
    done.script(
        0,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    assert_eq!(done.run(&["run"]).code, 0);
    assert_status_is_the_fold_of_the_journal(&done);

    // Blocked: the agent never changes the file the task is about.
    let blocked = Repo::new(TASKS, "max_retries = 2\n[reflection]\nenabled = false\n");
    blocked.sample("codex-exec-json-success.jsonl");
    for n in 0..2 {
        blocked.script(n, "cat codex-exec-json-success.jsonl\n");
    }
    assert_eq!(blocked.run(&["run"]).code, 2);
    assert_status_is_the_fold_of_the_journal(&blocked);

    // Failed once, then done.
    let retried = Repo::new(TASKS, "[reflection]\nenabled = false\n");
    retried.sample("codex-exec-json-success.jsonl");
    retried.script(0, "cat codex-exec-json-success.jsonl\n");
    retried.script(
        1,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    assert_eq!(retried.run(&["run"]).code, 0);
    assert_status_is_the_fold_of_the_journal(&retried);
}
