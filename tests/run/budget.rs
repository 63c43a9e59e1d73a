//! Budgets: a run that spends what it was allowed and stops cleanly at its cap.

use crate::harness::Repo;

const THREE: &str = r#"{"tasks": [
  {"id": "T1", "title": "One", "verification": {"path_patterns": ["one.txt"]}},
  {"id": "T2", "title": "Two", "verification": {"path_patterns": ["two.txt"]}},
  {"id": "T3", "title": "Three", "verification": {"path_patterns": ["three.txt"]}}
]}"#;

/// codex reports tokens only (20697 in, 50 out a call); at $1000 per million tokens each call is
/// estimated at $20.75.
const PRICED: &str = "[pricing]\ninput_per_million = 1000\noutput_per_million = 1000\n";

fn repo(tasks: &str, toml: &str) -> Repo {
    let repo = Repo::new(tasks, toml);
    repo.sample("codex-exec-json-success.jsonl");
    for (n, file) in [(1, "one"), (2, "two"), (3, "three"), (4, "four")] {
        repo.script(
            n,
            &format!("write {file}.txt {file}\ncat codex-exec-json-success.jsonl\n"),
        );
    }
    repo
}

#[test]
fn a_cost_cap_stops_the_run_before_the_call_that_would_pass_it() {
    let repo = repo(THREE, PRICED);
    let run = repo.run(&["run", "--max-cost", "30"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(repo.calls(), 1, "the second call would have passed $30");
    assert!(
        run.stderr.contains("(attempted=1, completed=1, blocked=0)"),
        "T2, refused before its call, was not attempted: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("stopped: budget of $30.00 reached ($20.75 spent; the next call would likely pass it, at about $20.75 a call)"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.task("T1")["passes"], true);
    for id in ["T2", "T3"] {
        let task = repo.task(id);
        assert_ne!(task["passes"], true, "{id} stays pending");
        assert_ne!(task["blocked"], true, "{id} stays pending");
        assert_eq!(
            task["attempt_history"].as_array().map_or(0, Vec::len),
            0,
            "{id}: no attempt counted"
        );
    }
    let status = repo.status();
    assert_eq!(status["run"]["status"], "budget_stopped");
    assert!(
        status["run"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("budget of $30.00")
    );
    assert_eq!(status["run"]["cost_estimated"], true);
    assert!((status["run"]["cost_usd"].as_f64().unwrap_or(0.0) - 20.7470).abs() < 0.001);
    let json = repo.run(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(json["run"]["status"], "budget_stopped");
}

#[test]
fn a_warning_comes_at_80_percent_and_a_token_cap_counts_tokens() {
    let repo = repo(THREE, "");
    // 20747 tokens a call: the second call brings the run past 80% of 50000.
    let run = repo.run(&["run", "--max-tokens", "50000"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(repo.calls(), 2);
    assert!(
        run.stderr
            .contains("80% of the token budget is used: 41494 of 50000"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("token budget of 50000 reached (41494 used)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_cap_that_cannot_be_enforced_is_refused_unless_forced() {
    // codex reports no cost, and no price is set to estimate it.
    let repo = repo(THREE, "");
    let run = repo.run(&["run", "--max-cost", "5"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(repo.calls(), 0);
    assert!(
        run.stderr
            .contains("codex reports no cost, so a cost cap cannot be enforced"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: pass --force"), "{}", run.stderr);
    let forced = repo.run(&["run", "--max-cost", "5", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced.stderr.contains("running anyway (--force)"),
        "{}",
        forced.stderr
    );
}

#[test]
fn a_tasks_own_budget_stops_only_that_task() {
    let tasks = r#"{"tasks": [
      {"id": "T1", "title": "Costly", "max_cost_usd": 10,
       "verification": {"path_patterns": ["one.txt"], "validate_commands": ["false"]}},
      {"id": "T2", "title": "Two", "verification": {"path_patterns": ["two.txt"]}}
    ]}"#;
    let repo = repo(tasks, &format!("{PRICED}[reflection]\nenabled = false\n"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let t1 = repo.task("T1");
    assert_eq!(t1["blocked"], true);
    assert!(
        t1["block_reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("Stopped by the task's budget of $10.00 reached ($20.75 spent)"),
        "{t1}"
    );
    assert_eq!(
        repo.task("T2")["passes"],
        true,
        "the run went on with the next task"
    );
    assert_eq!(repo.calls(), 2);
}

fn types_of(repo: &Repo) -> Vec<serde_json::Value> {
    repo.read("logs/events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

#[test]
fn a_budget_stop_is_no_attempt_and_a_plain_run_goes_on_from_it() {
    let repo = repo(THREE, PRICED);
    let run = repo.run(&["run", "--max-cost", "30"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(repo.calls(), 1);
    let events = types_of(&repo);
    let stop = events
        .iter()
        .find(|e| e["type"] == "budget_stopped")
        .expect("a budget_stopped event");
    assert_eq!(stop["task"]["id"], "T2");
    assert!((stop["spent"]["cost_usd"].as_f64().unwrap_or(0.0) - 20.747).abs() < 0.001);
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "attempt_started" && e["task"]["id"] == "T2"),
        "no attempt was started for the task the budget stopped"
    );
    assert_eq!(
        repo.attempt_logs().len(),
        1,
        "no attempt log for a call never made"
    );

    // A budget stop ends its night: a plain run works the rest.
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("budget"), "{}", run.stderr);
    assert_eq!(repo.calls(), 3);
    for id in ["T1", "T2", "T3"] {
        assert_eq!(repo.task(id)["passes"], true, "{id}");
    }
}

#[test]
fn a_higher_cap_after_a_budget_stop_goes_on() {
    let repo = repo(THREE, PRICED);
    assert_eq!(repo.run(&["run", "--max-cost", "30"]).code, 3);
    let run = repo.run(&["run", "--max-cost", "100"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 3);
}

#[test]
fn a_killed_night_resumed_counts_what_it_had_spent() {
    let repo = repo(THREE, PRICED);
    repo.script(
        2,
        "write two.txt two\nsh touch \"$FAKE_AGENT_DIR/working\"\nsleep 30\n",
    );
    repo.script(3, "write two.txt two\ncat codex-exec-json-success.jsonl\n");
    repo.script(
        4,
        "write three.txt three\ncat codex-exec-json-success.jsonl\n",
    );
    let mut child = repo.spawn(&["run", "--max-cost", "50"]);
    let working = repo.state.join("working");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !working.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the second call never began"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // $20.75 was spent before the kill; with it, one more call reaches $41.49 and the next
    // would pass $50. Counted afresh, the run would have made two.
    let run = repo.run(&["run", "--max-cost", "50"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("resumes an interrupted night that had already spent $20.75"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.calls(), 3, "one call in the resumed run");
    assert_eq!(repo.task("T2")["passes"], true);
    assert_ne!(repo.task("T3")["passes"], true);
    let status = repo.status();
    assert!(
        run.stderr
            .contains("budget of $50.00 reached ($41.49 spent"),
        "{}\n{status}",
        run.stderr
    );
}

/// One opencode step: 1,000 tokens in, 10 out, at $0.30.
const STEP: &str = r#"{"type":"step_finish","timestamp":1,"sessionID":"s","part":{"type":"step-finish","reason":"tool-calls","tokens":{"total":1010,"input":1000,"output":10,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0.3}}"#;

#[test]
fn a_call_is_stopped_when_what_it_streams_reaches_the_cap() {
    let repo = Repo::new(
        r#"{"tasks": [{"id": "T1", "title": "One", "verification": {"path_patterns": ["one.txt"]}}]}"#,
        "[backend]\ndefault = \"opencode\"\n",
    );
    repo.install("opencode");
    std::fs::write(repo.state.join("step.jsonl"), format!("{STEP}\n")).expect("step");
    repo.sample("opencode-run-json-success.jsonl");
    repo.script(
        1,
        "write one.txt one\ncat step.jsonl\nsleep 0.3\ncat step.jsonl\nsleep 0.3\ncat step.jsonl\nsleep 30\n",
    );
    repo.script(
        2,
        "write one.txt one\ncat opencode-run-json-success.jsonl\n",
    );
    let started = std::time::Instant::now();
    let run = repo.run(&["run", "--max-cost", "0.5"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the call was stopped, not waited for"
    );
    assert!(
        run.stderr.contains(
            "stopped during the call: budget of $0.50 reached ($0.60 spent, $0.60 of it by this call)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("(attempted=1, completed=0, blocked=0)"),
        "the task its money went to was attempted: {}",
        run.stderr
    );
    let status = repo.status();
    let cost = status["run"]["cost_usd"].as_f64().expect("a cost");
    assert!(
        (cost - 0.6).abs() < 1e-9,
        "counted at what it streamed: {status}"
    );
    assert_ne!(repo.task("T1")["passes"], true, "the task stays pending");
    assert_ne!(repo.task("T1")["blocked"], true);

    // The task was left resumable: a plain run finishes it, and what the cut call wrote counts.
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.task("T1")["passes"], true);
}
