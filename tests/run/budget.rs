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
