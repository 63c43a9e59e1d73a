//! The morning story: a blocked task says why, in the check's and the agent's own words, in
//! `task.json`, `progress.txt` and the next prompt; the breaker stops only true repetition.

use crate::harness::Repo;

/// A codex turn whose last message is `message`.
fn says(message: &str) -> String {
    format!(
        "print {{\"type\":\"thread.started\",\"thread_id\":\"t\"}}\nprint {{\"type\":\"item.completed\",\"item\":{{\"id\":\"i\",\"type\":\"agent_message\",\"text\":\"{message}\"}}}}\nprint {{\"type\":\"turn.completed\",\"usage\":{{\"input_tokens\":100,\"cached_input_tokens\":0,\"output_tokens\":7}}}}\n"
    )
}

const CHECK: &str = "check_a.py";

fn project() -> Repo {
    let tasks = r#"{"tasks": [{"id": "T1", "title": "Publish the package",
      "verification": {"path_patterns": ["out/**"], "validate_commands": ["sh check_a.sh"]}}]}"#;
    let repo = Repo::new(tasks, "[reflection]\nenabled = false\n");
    repo.write(
        "check_a.sh",
        "echo 'checking the release'\necho 'Traceback (most recent call last):' >&2\necho '  File \"check_a.py\", line 3' >&2\necho 'AssertionError: expected 3 files, got 2' >&2\nexit 1\n",
    );
    crate::common::git(repo.path(), &["add", "-A"]);
    crate::common::git(repo.path(), &["commit", "-qm", CHECK]);
    repo
}

#[test]
fn a_blocked_task_says_why_in_the_checks_and_the_agents_own_words() {
    let repo = project();
    for n in 1..=2 {
        repo.script(
            n,
            &format!(
                "write out/attempt{n}.txt {n}\n{}",
                says("I cannot publish: there are no credentials")
            ),
        );
    }
    let run = repo.run(&["run", "--max-retries", "2"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let task = repo.task("T1");
    assert_eq!(
        task["block_reason"],
        "Failed 2 attempt(s); the last: check `sh check_a.sh` failed (exit 1): AssertionError: expected 3 files, got 2"
    );
    let last = &task["attempt_history"][1];
    assert_eq!(
        last["cause"],
        "check `sh check_a.sh` failed (exit 1): AssertionError: expected 3 files, got 2"
    );
    assert_eq!(
        last["agent_message"],
        "I cannot publish: there are no credentials"
    );
    assert!(
        last["check_output"].as_array().is_some_and(|o| o
            .iter()
            .any(|l| l == "AssertionError: expected 3 files, got 2")),
        "{last}"
    );
    assert_eq!(last["tokens"]["input"], 100);
    let progress = repo.read("progress.txt");
    assert!(
        progress.contains("### Block Reason\nFailed 2 attempt(s); the last: check `sh check_a.sh` failed (exit 1): AssertionError: expected 3 files, got 2"),
        "{progress}"
    );
    assert!(
        progress.contains("the agent said: I cannot publish: there are no credentials"),
        "{progress}"
    );
    // The second attempt's prompt carried the failing output.
    let second = std::fs::read_to_string(repo.state.join("call-2.stdin")).expect("prompt");
    assert!(
        second.contains("    AssertionError: expected 3 files, got 2"),
        "{second}"
    );
}

#[test]
fn a_different_change_failing_the_same_check_is_progress_not_repetition() {
    let repo = project();
    for n in 1..=5 {
        repo.script(
            n,
            &format!("write out/attempt{n}.txt {n}\n{}", says("trying")),
        );
    }
    let run = repo.run(&["run", "--max-retries", "5"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(repo.calls(), 5, "five different changes: five attempts");
    assert!(!run.stderr.contains("circuit breaker"), "{}", run.stderr);
}

#[test]
fn the_same_change_failing_the_same_way_trips_the_breaker_and_says_which_rule() {
    let repo = project();
    // The check cleans up after itself, so each attempt makes the very same change again.
    repo.write(
        "check_a.sh",
        "rm -rf out\necho 'AssertionError: expected 3 files, got 2' >&2\nexit 1\n",
    );
    crate::common::git(repo.path(), &["commit", "-qam", "cleaning check"]);
    repo.script(0, &format!("write out/same.txt same\n{}", says("trying")));
    let run = repo.run(&["run", "--max-retries", "5"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(repo.calls(), 3, "{}", run.stderr);
    let reason = repo.task("T1")["block_reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        reason.starts_with("Circuit breaker after 3 of 5 attempt(s) (the same change failed the same way 3 times in a row (circuit_breaker.repeated_error_threshold)); the last failure: check `sh check_a.sh` failed"),
        "{reason}"
    );
}

/// Times and paths a snapshot must not depend on.
fn redact(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut l = l.to_string();
            if let Some(i) = l.find("## [") {
                l = format!(
                    "{}## [time] {}",
                    &l[..i],
                    l[i..].split_once("] ").map_or("", |x| x.1)
                );
            }
            if let Some(i) = l.find(" blocked, ") {
                // "Summary: 0 completed, 1 blocked, 0 pending; 3s; …": the elapsed time varies.
                let rest = &l[i + 10..];
                if let Some((pending, after)) = rest.split_once("; ")
                    && let Some((_, spend)) = after.split_once("; ")
                {
                    l = format!("{}{pending}; [elapsed]; {spend}", &l[..i + 10]);
                }
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_end_of_run_summary_and_the_blocked_record_read_in_five_seconds() {
    let repo = project();
    repo.script(
        0,
        &format!(
            "write out/a.txt a\n{}",
            says("I cannot publish: there are no credentials")
        ),
    );
    let run = repo.run(&["run", "--max-retries", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let end = run
        .stderr
        .lines()
        .skip_while(|l| !l.contains("Run finished"))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("run_summary", redact(&end));
    let progress = repo.read("progress.txt");
    let blocked = progress
        .split("\n## ")
        .filter(|r| r.contains("### Status: blocked"))
        .last()
        .unwrap_or("");
    insta::assert_snapshot!("blocked_progress_record", redact(&format!("## {blocked}")));
}

#[test]
fn a_dry_run_shows_each_prompt_whole() {
    let steps: Vec<String> = (1..=40)
        .map(|i| format!("\"step {i}: a step long enough to push the checks far past six hundred characters\""))
        .collect();
    let tasks = format!(
        r#"{{"tasks": [{{"id": "T1", "title": "Long", "steps": [{}],
          "verification": {{"validate_commands": ["grep -q the-last-check out.txt"]}}}}]}}"#,
        steps.join(", ")
    );
    let repo = Repo::new(&tasks, "");
    let run = repo.run(&["run", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("step 40: a step long enough"), "{all}");
    assert!(all.contains("grep -q the-last-check out.txt"), "{all}");
    assert!(all.contains("[DRY RUN] end of the prompt of T1"), "{all}");
}

#[test]
fn an_exhausted_quota_halts_like_an_auth_failure_and_says_what_to_do() {
    let tasks = r#"{"tasks": [{"id": "T1", "title": "Create hello",
      "verification": {"path_patterns": ["hello.txt"]}}]}"#;
    for (sample, hint) in [
        (
            "codex-exec-json-quota.jsonl",
            "hint: the provider says the account has no quota or credit left",
        ),
        (
            "codex-exec-json-401.jsonl",
            "hint: log in with `codex login` (`codex login status` checks it), or set OPENAI_API_KEY",
        ),
    ] {
        let repo = Repo::new(tasks, "");
        repo.sample(sample);
        repo.script(0, &format!("cat {sample}\nexit 1\n"));
        let run = repo.run(&["run"]);
        assert_eq!(run.code, 1, "{sample}: {}", run.stderr);
        assert_eq!(repo.calls(), 1, "{sample}: one call, no retry");
        assert!(run.stderr.contains(hint), "{sample}: {}", run.stderr);
        let task = repo.task("T1");
        crate::common::assert_off(&task, "blocked");
        assert_eq!(
            task["attempt_history"].as_array().map_or(0, Vec::len),
            0,
            "{sample}: no attempt is counted"
        );
        assert_eq!(
            repo.read("task.json"),
            tasks,
            "{sample}: not even rewritten"
        );
    }
}

#[test]
fn the_terminal_shows_a_narrative_and_the_raw_events_stay_in_the_log() {
    let tasks = r#"{"tasks": [{"id": "T1", "title": "Create hello",
      "verification": {"path_patterns": ["hello.txt"]}}]}"#;
    let repo = Repo::new(tasks, "");
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(
        0,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("  → run: /bin/bash -lc"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  codex: Done: created hello.txt."),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("\"type\""),
        "no raw JSON on the terminal: {}",
        run.stdout
    );
    let log = std::fs::read_to_string(&repo.attempt_logs()[0]).expect("log");
    assert!(
        log.contains("\"turn.completed\""),
        "the attempt log keeps the raw events"
    );
}
