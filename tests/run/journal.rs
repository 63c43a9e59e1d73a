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
                    "sha" | "head" if v.is_string() => *v = Value::from("[sha]"),
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
