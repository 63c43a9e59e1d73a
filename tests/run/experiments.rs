//! Iterative tasks: experiments over a metric, kept or discarded in git.
//!
//! The project measures `latency` with a checked-in `bench.sh` that prints the number in
//! `speed.txt` (starting at 120, lower is better); the fake agent "optimises" by writing a new
//! number there.

use serde_json::Value;

use crate::common::git;
use crate::harness::Repo;

const AGENT_OK: &str = "cat codex-exec-json-success.jsonl\n";

fn tasks(completion_extra: &str, execution_extra: &str) -> String {
    format!(
        r#"{{"tasks": [{{"id": "E1", "title": "Make it faster", "description": "Lower the latency",
  "verification": {{"path_patterns": ["speed.txt"], "validate_commands": ["sh bench.sh"]}},
  "completion": {{"kind": "numeric", "source": "metric_lines", "name": "latency",
                  "direction": "lower_is_better"{completion_extra}}},
  "execution": {{"strategy": "iterative", "max_iterations": 3{execution_extra}}}}}]}}"#
    )
}

/// A committed project with the benchmark; `toml` is added to autodev.toml.
fn project(tasks: &str, toml: &str) -> Repo {
    let repo = Repo::new(tasks, toml);
    repo.sample("codex-exec-json-success.jsonl");
    repo.write("speed.txt", "120\n");
    repo.write("bench.sh", "echo \"METRIC latency=$(cat speed.txt)\"\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "benchmark"]);
    repo
}

/// The agent's steps for one iteration: set the latency to `value`.
fn sets(value: &str) -> String {
    format!("write speed.txt {value}\n{AGENT_OK}")
}

fn records(repo: &Repo) -> Vec<Value> {
    repo.read("logs/experiments.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// `(iteration, outcome, action)` of every record.
fn outcomes(repo: &Repo) -> Vec<(u64, String, String)> {
    records(repo)
        .iter()
        .map(|r| {
            (
                r["iteration"].as_u64().unwrap_or(99),
                r["outcome"].as_str().unwrap_or("").to_string(),
                r["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn head_file(repo: &Repo, rel: &str) -> String {
    git(repo.path(), &["show", &format!("HEAD:{rel}")])
}

fn subjects(repo: &Repo) -> Vec<String> {
    git(repo.path(), &["log", "--format=%s"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn row(iteration: u64, outcome: &str, action: &str) -> (u64, String, String) {
    (iteration, outcome.to_string(), action.to_string())
}

#[test]
fn improvements_are_kept_and_regressions_discarded_without_revert_commits() {
    let repo = project(&tasks("", ""), "");
    repo.script(1, &sets("100"));
    repo.script(2, &sets("130"));
    repo.script(3, &sets("90"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 3);

    assert_eq!(
        outcomes(&repo),
        [
            row(0, "baseline", ""),
            row(1, "improved", "keep"),
            row(1, "baseline", ""),
            row(2, "regressed", "discard"),
            row(3, "improved", "keep"),
            row(3, "baseline", ""),
        ]
    );
    // The branch holds the two kept candidates and nothing else: no revert commits.
    assert_eq!(
        subjects(&repo),
        [
            "experiment(E1): Make it faster [iteration 3]",
            "experiment(E1): Make it faster [iteration 1]",
            "benchmark",
            "base",
        ]
    );
    assert_eq!(head_file(&repo, "speed.txt"), "90\n");
    assert_eq!(repo.read("speed.txt"), "90\n");
    // The discarded candidate is still reachable under its ref.
    let discarded = &records(&repo)[3];
    let git_ref = discarded["ref"].as_str().expect("ref");
    assert!(
        git_ref.starts_with("refs/autodev/experiments/E1/") && git_ref.ends_with("/2"),
        "{git_ref}"
    );
    assert_eq!(
        git(repo.path(), &["show", &format!("{git_ref}:speed.txt")]),
        "130\n"
    );
    assert_eq!(discarded["reverted_sha"], discarded["commit_sha"]);
    assert_eq!(discarded["best_before"], 100.0);
    assert_eq!(discarded["measured_value"], 130.0);

    let task = repo.task("E1");
    assert_eq!(task["passes"], true);
    let summary = task["attempt_history"][0]["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("Improved latency from 120 to 90 (25.0%)"),
        "{summary}"
    );
    assert!(
        summary.contains("kept 2, discarded 1, invalid 0"),
        "{summary}"
    );
    // task.json is tracked in this repository; moving the branch never touched it.
    assert_eq!(repo.task("E1")["passes"], true);

    let status = repo.status();
    let run_state = &status["run"];
    assert_eq!(run_state["execution_mode"], "experiment");
    assert_eq!(run_state["baseline_metric"], "latency=120");
    assert_eq!(run_state["best_metric"], "latency=90");
    assert_eq!(run_state["kept_count"], 2);
    assert_eq!(run_state["reverted_count"], 1);
    assert_eq!(run_state["current_iteration"], 3);
    assert_eq!(run_state["max_iterations"], 3);
    assert!(
        run.stderr
            .contains("[DISCARDED] Experiment E1 iteration 2/3"),
        "{}",
        run.stderr
    );
}

#[test]
fn iteration_prompts_carry_the_experiment_so_far() {
    let repo = project(&tasks("", ""), "");
    repo.script(1, &sets("100"));
    repo.script(2, &sets("130"));
    repo.script(3, &sets("125"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let third = std::fs::read_to_string(repo.state.join("call-3.stdin")).expect("stdin");
    for expected in [
        "iteration: 3 of 3",
        "baseline: latency=120",
        "best kept so far: latency=100",
        "iterations without improvement: 1",
        "#1 improved, keep: latency=100 against 120: better by 20",
        "#2 regressed, discard: latency=130 against 100: worse by 30",
        "experiment(E1): Make it faster [iteration 1]",
    ] {
        assert!(
            third.contains(expected),
            "missing {expected:?} in:\n{third}"
        );
    }
}

#[test]
fn reaching_the_target_completes_the_task_at_once() {
    // The original blocked any task whose baseline missed the target.
    let repo = project(&tasks(r#", "target": 95"#, ""), "");
    repo.script(1, &sets("90"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.calls(), 1, "the loop ends at the target");
    assert_eq!(
        outcomes(&repo),
        [row(0, "baseline", ""), row(1, "target_met", "keep")]
    );
    let task = repo.task("E1");
    assert_eq!(task["passes"], true);
    let summary = task["attempt_history"][0]["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("Reached the target: latency=90"),
        "{summary}"
    );
}

#[test]
fn no_improvement_blocks_the_task_with_the_reason() {
    let repo = project(
        &tasks("", r#", "stop_after_no_improvement": 2"#),
        "[reflection]\nenabled = false\n",
    );
    repo.script(0, &sets("121"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(repo.calls(), 2);
    let task = repo.task("E1");
    assert_eq!(task["blocked"], true);
    let reason = task["block_reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("no improvement over baseline latency=120 after 2 iteration(s)"),
        "{reason}"
    );
    assert!(
        reason.contains("2 iteration(s) in a row without improvement"),
        "{reason}"
    );
    // Both candidates were taken off the branch.
    assert_eq!(head_file(&repo, "speed.txt"), "120\n");
    assert_eq!(repo.read("speed.txt"), "120\n");
    assert_eq!(subjects(&repo), ["benchmark", "base"]);
}

#[test]
fn a_broken_measurement_is_invalid_and_discarded() {
    let repo = project(&tasks("", r#", "stop_after_invalid": 1"#), "");
    repo.script(1, &sets("fast"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let all = records(&repo);
    assert_eq!(all[1]["outcome"], "invalid");
    assert_eq!(all[1]["action"], "discard");
    assert!(
        all[1]["notes"]
            .as_str()
            .unwrap_or("")
            .contains("`METRIC latency=fast` is not a number"),
        "{}",
        all[1]
    );
    assert_eq!(repo.read("speed.txt"), "120\n");
    let reason = repo.task("E1")["block_reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(reason.contains("1 invalid result(s)"), "{reason}");
}

#[test]
fn a_broken_baseline_blocks_before_the_agent_runs() {
    let repo = project(&tasks("", ""), "");
    repo.write("speed.txt", "slow\n");
    git(repo.path(), &["commit", "-qam", "break it"]);
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(repo.calls(), 0);
    let reason = repo.task("E1")["block_reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        reason.starts_with("Experiment baseline failed:"),
        "{reason}"
    );
    assert!(reason.contains("is not a number"), "{reason}");
}

#[test]
fn uncommitted_work_makes_the_experiment_refuse_to_start() {
    let repo = project(&tasks("", ""), "");
    repo.write("notes.md", "my unsaved thoughts\n");
    repo.write(
        "bench.sh",
        "echo \"METRIC latency=$(cat speed.txt)\" # tuned\n",
    );
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(repo.calls(), 0);
    assert!(
        run.stderr
            .contains("uncommitted changes: bench.sh, notes.md"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("git stash -u"), "{}", run.stderr);
    // Nothing of the user's was touched, and the task waits.
    assert_eq!(repo.read("notes.md"), "my unsaved thoughts\n");
    assert!(repo.read("bench.sh").contains("# tuned"));
    let task = repo.task("E1");
    assert_ne!(task["passes"], true);
    assert_ne!(task["blocked"], true);
}

#[test]
fn tampering_with_the_benchmark_is_discarded_and_restored() {
    let repo = project(
        &tasks("", r#", "stop_after_invalid": 1"#),
        "[verification]\nprotected_paths = [\"bench.sh\"]\n",
    );
    repo.script(
        1,
        &format!("write bench.sh echo METRIC latency=1\nwrite speed.txt 100\n{AGENT_OK}"),
    );
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let all = records(&repo);
    assert_eq!(all[1]["outcome"], "invalid");
    assert!(
        all[1]["notes"].as_str().unwrap_or("").contains("tampering"),
        "{}",
        all[1]
    );
    assert!(repo.read("bench.sh").contains("cat speed.txt"), "restored");
    assert_eq!(repo.read("speed.txt"), "120\n");
    assert_eq!(head_file(&repo, "bench.sh"), repo.read("bench.sh"));
}

#[test]
fn repeated_samples_are_recorded_and_judged_against_noise() {
    // Each run of the benchmark prints the next value of a noisy sequence around speed.txt.
    let repo = project(
        &tasks(r#", "repeats": 3"#, "").replace(r#""max_iterations": 3"#, r#""max_iterations": 2"#),
        "",
    );
    repo.write(
        "bench.sh",
        "n=$(cat .count 2>/dev/null || echo 0); echo $((n + 1)) > .count\n\
         jitter=$(( (n % 3) - 1 ))\n\
         echo \"METRIC latency=$(( $(cat speed.txt) + jitter ))\"\n",
    );
    repo.write(".gitignore", "logs/\n.count\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "noisy benchmark"]);
    // A clear gain, then one smaller than the noise.
    repo.script(1, &sets("100"));
    repo.script(2, &sets("99"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = records(&repo);
    assert_eq!(all[0]["samples"].as_array().map(Vec::len), Some(3));
    assert_eq!(all[0]["measured_value"], 120.0);
    assert_eq!(all[1]["outcome"], "improved");
    assert!(
        all[1]["confidence"].as_f64().unwrap_or(0.0) >= 0.95,
        "{}",
        all[1]
    );
    assert_eq!(all[3]["outcome"], "unchanged", "{}", all[3]);
    assert!(
        all[3]["notes"]
            .as_str()
            .unwrap_or("")
            .contains("which noise could explain"),
        "{}",
        all[3]
    );
    assert_eq!(repo.read("speed.txt"), "100\n");
}
