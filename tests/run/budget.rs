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
        crate::common::assert_off(&task, "passes");
        crate::common::assert_off(&task, "blocked");
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
            .contains("token budget of 50000 reached (41494 used; the next call would likely pass it, at about 20747 a call)"),
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
    crate::common::assert_off(&repo.task("T3"), "passes");
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
    crate::common::assert_off(&repo.task("T1"), "passes");
    crate::common::assert_off(&repo.task("T1"), "blocked");

    // The task was left resumable: a plain run finishes it, and what the cut call wrote counts.
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.task("T1")["passes"], true);
}

/// What one agent message costs in the trials below, in tokens.
const MESSAGE: u64 = 10_000;
/// The cap of the trials: five messages.
const CAP: u64 = 50_000;

/// One streamed message of `backend`'s output, the `i`-th of its call, and the line that ends a
/// call of `n` messages. claude reports usage per message and opencode per step, as they go;
/// codex and gemini report only at the end of the call.
fn message(backend: &str, i: u32) -> String {
    match backend {
        "claude" => format!(
            r#"{{"type":"assistant","message":{{"id":"m{i}","type":"message","role":"assistant","content":[{{"type":"text","text":"working"}}],"usage":{{"input_tokens":{MESSAGE},"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}},"session_id":"s"}}"#
        ),
        "opencode" => format!(
            r#"{{"type":"step_finish","timestamp":1,"sessionID":"s","part":{{"type":"step-finish","reason":"tool-calls","tokens":{{"total":{MESSAGE},"input":{MESSAGE},"output":0,"reasoning":0,"cache":{{"write":0,"read":0}}}},"cost":0.01}}}}"#
        ),
        "codex" => {
            r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"working"}}"#
                .into()
        }
        _ => r#"{"type":"message","role":"assistant","content":"working","delta":true}"#.into(),
    }
}

fn end_of_call(backend: &str, n: u32) -> String {
    let total = MESSAGE * u64::from(n);
    match backend {
        "claude" => format!(
            r#"{{"type":"result","subtype":"success","is_error":false,"result":"done","num_turns":1,"session_id":"s","total_cost_usd":0.5,"usage":{{"input_tokens":{total},"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}}"#
        ),
        "opencode" => r#"{"type":"step_finish","timestamp":1,"sessionID":"s","part":{"type":"step-finish","reason":"stop","tokens":{"total":0,"input":0,"output":0,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0}}"#.into(),
        "codex" => format!(
            r#"{{"type":"turn.completed","usage":{{"input_tokens":{total},"cached_input_tokens":0,"output_tokens":0}}}}"#
        ),
        _ => format!(
            r#"{{"type":"result","status":"success","stats":{{"total_tokens":{total},"input_tokens":{total},"output_tokens":0,"cached":0,"input":{total},"duration_ms":1,"tool_calls":0}}}}"#
        ),
    }
}

/// A call of `backend` that writes `file`, streams `n` messages (each first counted as used in
/// the fake's `used` file, then printed), and then ends, or with `hang`, falls silent.
fn streaming_call(repo: &Repo, backend: &str, file: &str, n: u32, hang: bool) -> String {
    let mut script = format!("write {file} {file}\n");
    for i in 1..=n {
        let name = format!("msg-{i}.jsonl");
        std::fs::write(repo.state.join(&name), format!("{}\n", message(backend, i))).expect("msg");
        script.push_str(&format!(
            "sh echo {MESSAGE} >> \"$FAKE_AGENT_DIR/used\"\ncat {name}\nsleep 0.1\n"
        ));
    }
    if hang {
        script.push_str("hang\n");
    } else {
        std::fs::write(
            repo.state.join("end.jsonl"),
            format!("{}\n", end_of_call(backend, n)),
        )
        .expect("end");
        script.push_str("cat end.jsonl\n");
    }
    script
}

/// What the fake agent used, and what autodev counted for the night (its last `spent` or
/// `budget_stopped` total).
fn used_and_counted(repo: &Repo) -> (u64, u64) {
    let used = std::fs::read_to_string(repo.state.join("used"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    let counted = repo
        .read("logs/events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| match v["type"].as_str() {
            Some("spent") => v["total"]["tokens"].as_u64(),
            Some("budget_stopped") => v["spent"]["tokens"].as_u64(),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    (used, counted)
}

/// Budget trials with each CLI's way of reporting usage: a call that streams past the cap, calls
/// cut short by the idle limit, and a call stopped by SIGTERM and resumed under the same cap.
/// Prints what each used against the cap. claude and opencode report as they go, so the cap
/// holds to within one message; codex and gemini report only when a call ends, so the cap holds
/// between calls, a call running past it is bounded only by its time limits, and a call cut
/// short that reported nothing counts as the average call so far (nothing, for the first).
#[test]
fn budget_trials_per_backend_report_spend_against_the_cap() {
    let tasks = r#"{"tasks": [
  {"id": "T1", "title": "One", "verification": {"path_patterns": ["one.txt"]}},
  {"id": "T2", "title": "Two", "verification": {"path_patterns": ["two.txt"]}}
]}"#;
    let mut rows = Vec::new();
    for backend in ["claude", "opencode", "codex", "gemini"] {
        let streams = matches!(backend, "claude" | "opencode");
        let setup = |toml: &str| {
            let repo = Repo::new(
                tasks,
                &format!(
                    "[backend]\ndefault = \"{backend}\"\n{toml}[reflection]\nenabled = false\n"
                ),
            );
            repo.install(backend);
            repo
        };
        let cap = CAP.to_string();

        // A call that streams 12 messages: past the cap after its fifth.
        let repo = setup("");
        repo.script(1, &streaming_call(&repo, backend, "one.txt", 12, false));
        let run = repo.run(&["run", "--max-tokens", &cap]);
        let (used, counted) = used_and_counted(&repo);
        rows.push((
            backend,
            "one call streams past the cap",
            run.code,
            used,
            counted,
        ));
        // Streamed usage stops the call at the cap; usage reported at the end lets the call
        // finish (12 messages) and stops the run before the next.
        let bound = if streams { CAP + MESSAGE } else { 12 * MESSAGE };
        assert_eq!(run.code, 3, "{backend}: {}", run.stderr);
        assert!(used <= bound, "{backend}: used {used} against {CAP}");
        assert!(
            counted + MESSAGE >= used,
            "{backend}: counted {counted} of {used}"
        );

        // Calls that stream two messages each, then fall silent until the idle limit.
        let repo = setup("[backend]\n");
        repo.write(
            "autodev.toml",
            &format!(
                "[project]\nname = \"demo\"\n[run]\ndelay_between_tasks = 0\n[backend]\ndefault = \"{backend}\"\nidle_timeout_seconds = 1\nkill_grace_seconds = 1\n[reflection]\nenabled = false\n"
            ),
        );
        repo.script(0, &streaming_call(&repo, backend, "one.txt", 2, true));
        let run = repo.run(&["run", "--max-tokens", &cap]);
        let (used, counted) = used_and_counted(&repo);
        rows.push((
            backend,
            "calls cut short by the idle limit",
            run.code,
            used,
            counted,
        ));
        assert_eq!(run.code, 3, "{backend}: {}", run.stderr);
        assert!(
            used <= CAP + MESSAGE,
            "{backend}: used {used} against {CAP}"
        );
        assert!(
            counted >= used || (!streams && run.stderr.contains("cut short before it reported")),
            "{backend}: counted {counted} of {used}, and did not say it could not: {}",
            run.stderr
        );

        // A long call stopped by SIGTERM after its second message, then a plain run with the
        // same cap: the night's spend carries over.
        let repo = setup("");
        repo.script(1, &streaming_call(&repo, backend, "one.txt", 12, true));
        repo.script(2, &streaming_call(&repo, backend, "one.txt", 12, false));
        let child = repo.spawn(&["run", "--max-tokens", &cap]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while used_and_counted(&repo).0 < 2 * MESSAGE && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = child.wait_with_output();
        let run = repo.run(&["run", "--max-tokens", &cap]);
        let (used, counted) = used_and_counted(&repo);
        rows.push((
            backend,
            "stopped by SIGTERM, resumed",
            run.code,
            used,
            counted,
        ));
        // Streamed: the night's cap holds across both runs. At the end only: the resumed call
        // runs to its end, and the stopped one's messages were never reported.
        let (bound, unseen) = if streams {
            (CAP + 2 * MESSAGE, MESSAGE)
        } else {
            (14 * MESSAGE, 2 * MESSAGE)
        };
        assert!(used <= bound, "{backend}: used {used} against {CAP}");
        assert!(
            counted + unseen >= used,
            "{backend}: counted {counted} of {used}"
        );
    }
    println!(
        "{:<9} {:<36} {:>4} {:>8} {:>8} {:>8} {:>8}",
        "backend", "trial", "exit", "cap", "used", "counted", "over"
    );
    for (backend, trial, code, used, counted) in rows {
        println!(
            "{backend:<9} {trial:<36} {code:>4} {CAP:>8} {used:>8} {counted:>8} {:>8}",
            used.saturating_sub(CAP)
        );
    }
}
