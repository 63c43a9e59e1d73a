//! Iterative tasks: experiments over a metric, kept or discarded in git.
//!
//! The project measures `latency` with a checked-in `bench.sh` that prints the number in
//! `speed.txt` (starting at 120, lower is better); the fake agent "optimises" by writing a new
//! number there.

use serde_json::Value;

use crate::common::git;
use crate::harness::{Repo, Run};

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

/// [`tasks`] with `max_iterations` set to `n`.
fn tasks_n(n: u32, completion_extra: &str, execution_extra: &str) -> String {
    tasks(completion_extra, execution_extra).replace(
        r#""max_iterations": 3"#,
        &format!(r#""max_iterations": {n}"#),
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

/// [`sets`], after noting where the agent works (read back with [`agent_cwd`]).
fn sets_noting_cwd(repo: &Repo, value: &str) -> String {
    format!(
        "sh pwd > {}/agent-cwd\n{}",
        repo.state.display(),
        sets(value)
    )
}

fn agent_cwd(repo: &Repo) -> String {
    std::fs::read_to_string(repo.state.join("agent-cwd")).expect("the agent noted its cwd")
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
        summary.contains("Improved latency from 120 to 90 (25%)"),
        "{summary}"
    );
    assert!(
        summary.contains("kept 2, discarded 1, invalid 0"),
        "{summary}"
    );
    // The dashboard's events badge each decision as the decision, not as "running".
    let page = repo.read("logs/dashboard.html");
    assert!(
        page.contains(r#"<span class="badge completed">Kept</span>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<span class="badge warning">Discarded</span>"#),
        "{page}"
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

/// What `git status` and the index say of the user's tree, for byte-for-byte comparisons.
fn user_state(repo: &Repo) -> (String, String) {
    (
        git(
            repo.path(),
            &["status", "--porcelain", "--untracked-files=all"],
        ),
        git(repo.path(), &["diff", "--cached"]),
    )
}

#[test]
fn a_dirty_tree_is_never_touched_and_the_result_is_fast_forwarded() {
    let repo = project(&tasks_n(1, "", ""), "");
    // A tracked edit, an untracked file and a staged file of the user's.
    repo.write(
        "bench.sh",
        "echo \"METRIC latency=$(cat speed.txt)\" # tuned by hand\n",
    );
    repo.write("notes.md", "my unsaved thoughts\n");
    repo.write("staged.txt", "staged, not committed\n");
    git(repo.path(), &["add", "staged.txt"]);
    let before = user_state(&repo);
    let start = git(repo.path(), &["rev-parse", "HEAD"]);
    // The agent also checks where it works: in its own tree, not the user's.
    repo.script(1, &sets_noting_cwd(&repo, "100"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let cwd = agent_cwd(&repo);
    assert!(
        cwd.trim().ends_with(".git/autodev/worktrees/E1"),
        "the agent worked in {cwd}"
    );
    // The user's edits are as they were, byte for byte, and still uncommitted.
    assert_eq!(
        repo.read("bench.sh"),
        "echo \"METRIC latency=$(cat speed.txt)\" # tuned by hand\n"
    );
    assert_eq!(repo.read("notes.md"), "my unsaved thoughts\n");
    assert_eq!(
        git(repo.path(), &["diff", "--cached"]),
        before.1,
        "the staged change is still staged, and nothing else is"
    );
    let status = user_state(&repo).0;
    for line in [" M bench.sh", "?? notes.md", "A  staged.txt"] {
        assert!(status.contains(line), "{line:?} in:\n{status}");
    }
    // The kept result came to the user's branch by a fast-forward.
    assert_eq!(head_file(&repo, "speed.txt"), "100\n");
    assert_eq!(repo.read("speed.txt"), "100\n");
    assert_eq!(
        git(repo.path(), &["rev-parse", "HEAD~1"]),
        start,
        "a fast-forward: the candidate's parent is where the user was"
    );
    assert!(
        run.stderr
            .contains("the result is on your branch: fast-forwarded"),
        "{}",
        run.stderr
    );
    // The worktree and the branch are gone; the candidate stays under its ref.
    let worktrees = git(repo.path(), &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{worktrees}");
    assert!(!repo.path().join(".git/autodev/worktrees/E1").exists());
    assert_eq!(git(repo.path(), &["branch", "--list", "autodev/*"]), "");
    let task = repo.task("E1");
    assert_eq!(task["passes"], true);
    let summary = task["attempt_history"][0]["summary"].as_str().unwrap_or("");
    assert!(summary.contains("fast-forwarded"), "{summary}");
}

#[test]
fn overlapping_uncommitted_changes_leave_the_result_on_its_branch() {
    let repo = project(&tasks_n(1, "", ""), "");
    // The user is editing the very file the experiment changes.
    repo.write("speed.txt", "118\n");
    let start = git(repo.path(), &["rev-parse", "HEAD"]);
    repo.script(1, &sets("100"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The baseline was the committed 120, not the user's edit.
    assert_eq!(records(&repo)[0]["measured_value"], 120.0);
    assert_eq!(repo.read("speed.txt"), "118\n", "the user's edit stands");
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), start);
    let told = "the result stays on branch autodev/E1 (1 commit(s) on top of";
    assert!(run.stderr.contains(told), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("your uncommitted changes touch what it changed (speed.txt)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("merge it with `git merge autodev/E1`"),
        "{}",
        run.stderr
    );
    // The end-of-run summary repeats it for the morning.
    let summary_at = run.stderr.find("Summary:").expect("a summary");
    assert!(
        run.stderr[summary_at..].contains("to merge E1: the result stays on branch autodev/E1"),
        "{}",
        run.stderr
    );
    assert_eq!(git(repo.path(), &["show", "autodev/E1:speed.txt"]), "100\n");
    let summary = repo.task("E1")["attempt_history"][0]["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(summary.contains("git merge autodev/E1"), "{summary}");
    // The worktree is removed; the branch is what is left to merge.
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
}

/// The fake agent's step that commits on the user's own branch while it works: `bench.sh` then
/// prints `latency=90` whatever `speed.txt` says (`None`: an empty commit).
fn user_commits(repo: &Repo, bench_90: bool) -> String {
    let dir = repo.path().display();
    if bench_90 {
        format!(
            "sh printf 'echo METRIC latency=90\\n' > {dir}/bench.sh && git -C {dir} commit -qam 'new bench'\n"
        )
    } else {
        format!("sh git -C {dir} commit -q --allow-empty -m 'late-night fix'\n")
    }
}

#[test]
fn a_branch_that_moved_gets_the_result_replayed_and_measured_again_on_its_new_tip() {
    for repeats in ["", r#", "repeats": 3"#] {
        let repo = project(&tasks_n(1, repeats, ""), "");
        // While the agent works, the person commits on their branch.
        repo.script(1, &format!("{}{}", user_commits(&repo, false), sets("100")));
        let run = repo.run(&["run"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        // The result is on top of the person's commit, measured there against it.
        assert_eq!(subjects(&repo)[1], "late-night fix", "{repeats}");
        assert_eq!(repo.read("speed.txt"), "100\n", "{repeats}: {}", run.stderr);
        for told in [
            "your branch moved to",
            "so it was replayed onto",
            "where it still wins (latency=100 against 120",
        ] {
            assert!(
                run.stderr.contains(told),
                "{repeats}: {told}: {}",
                run.stderr
            );
        }
        assert_eq!(git(repo.path(), &["branch", "--list", "autodev/*"]), "");
        assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
        let log = std::fs::read_dir(repo.path().join("logs/attempts/codex"))
            .expect("attempt logs")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("__promotion_"));
        assert!(log, "the re-measurement has its own log");
    }
}

#[test]
fn a_polite_stop_while_the_result_is_measured_on_the_new_tip_is_landed_by_the_next_run() {
    let repo = project(&tasks_n(1, "", ""), "");
    // Each sample takes a moment: long enough to be stopped in the re-measurement.
    repo.write(
        "bench.sh",
        "sleep 0.3\necho \"METRIC latency=$(cat speed.txt)\"\n",
    );
    git(repo.path(), &["commit", "-qam", "slow benchmark"]);
    repo.script(1, &format!("{}{}", user_commits(&repo, false), sets("100")));
    let child = repo.spawn(&["run"]);
    // The re-measurement has a log of its own: once it exists, the run is measuring there.
    let logs = repo.path().join("logs/attempts/codex");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_dir(&logs)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains("__promotion_"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no re-measurement began"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal");
    let out = child.wait_with_output().expect("exit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // Not recorded as ended: the task is still to do, nothing landed.
    assert!(
        stderr.contains("0 completed, 0 blocked, 1 pending"),
        "{stderr}"
    );
    assert_ne!(repo.task("E1")["passes"], true, "{stderr}");
    assert_eq!(head_file(&repo, "speed.txt"), "120\n");
    let calls = repo.calls();
    let again = repo.run(&["run"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(repo.calls(), calls, "the agent is not asked again");
    assert_eq!(repo.task("E1")["passes"], true);
    assert_eq!(head_file(&repo, "speed.txt"), "100\n", "{}", again.stderr);
    assert_eq!(subjects(&repo)[1], "late-night fix");
    assert!(
        again
            .stderr
            .contains("where it still wins (latency=100 against 120"),
        "{}",
        again.stderr
    );
    assert_eq!(git(repo.path(), &["branch", "--list", "autodev/*"]), "");
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn a_result_whose_gain_is_gone_on_the_new_tip_stays_on_its_branch_as_it_was() {
    let repo = project(&tasks_n(1, "", ""), "");
    let start = git(repo.path(), &["rev-parse", "HEAD"]);
    // The person's commit makes the benchmark print 90 whatever the code does.
    repo.script(1, &format!("{}{}", user_commits(&repo, true), sets("100")));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(subjects(&repo)[0], "new bench");
    assert_eq!(repo.read("speed.txt"), "120\n", "nothing landed");
    assert!(
        run.stderr
            .contains("its gain is gone on your tip: latency=90 against 90"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("`git merge autodev/E1` takes it anyway"),
        "{}",
        run.stderr
    );
    // The branch holds the result as it was measured in the experiment, not as replayed.
    let parent = git(repo.path(), &["rev-parse", "autodev/E1^"]);
    assert_eq!(parent, start);
    assert_eq!(git(repo.path(), &["show", "autodev/E1:speed.txt"]), "100\n");
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn a_manual_promotion_waits_for_autodev_promote_which_measures_it_on_your_tip_first() {
    let repo = project(
        &tasks_n(1, r#", "repeats": 3"#, r#", "promotion": "manual""#),
        "",
    );
    let start = git(repo.path(), &["rev-parse", "HEAD"]);
    repo.script(1, &sets("100"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), start, "it waits");
    let told = "the result waits for your review on branch autodev/E1";
    assert!(run.stderr.contains(told), "{}", run.stderr);
    let summary_at = run.stderr.find("Summary:").expect("a summary");
    assert!(
        run.stderr[summary_at..].contains("`autodev promote E1`"),
        "{}",
        run.stderr
    );
    let summary = repo.task("E1")["attempt_history"][0]["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(summary.contains("`autodev promote E1`"), "{summary}");
    // The views say so: `autodev status` and the dashboard's queue.
    let status = repo.run(&["status"]);
    assert!(
        status.stdout.contains(
            "Waiting on its branch: E1: Experiment E1: the result waits for your review on branch \
             autodev/E1"
        ),
        "{}",
        status.stdout
    );
    let dashboard = repo.read("logs/dashboard.html");
    assert!(
        dashboard.contains("`autodev promote E1` measures it again on top of your branch"),
        "{dashboard}"
    );
    // Meanwhile the person commits something else; promotion measures the result on top of it.
    repo.write("notes.txt", "later\n");
    git(repo.path(), &["add", "notes.txt"]);
    git(repo.path(), &["commit", "-qm", "notes"]);
    let promoted = repo.run(&["promote", "E1"]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert!(
        promoted
            .stderr
            .contains("promoted. Measured on your tip it still wins (latency=100 against 120"),
        "{}",
        promoted.stderr
    );
    assert_eq!(repo.read("speed.txt"), "100\n");
    assert_eq!(head_file(&repo, "speed.txt"), "100\n");
    assert_eq!(subjects(&repo)[1], "notes");
    assert_eq!(git(repo.path(), &["branch", "--list", "autodev/*"]), "");
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
    let notes = repo.task("E1")["implementation_notes"].to_string();
    assert!(notes.contains("Promoted onto your branch"), "{notes}");
    // Nothing waits any more.
    let again = repo.run(&["promote", "E1"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("no result of experiment E1 waits on a branch"),
        "{}",
        again.stderr
    );
}

/// A project whose experiment's result (latency 120 → 100) waits on `autodev/E1` for
/// `autodev promote` (`promotion = "manual"`), and that branch's tip.
fn waiting_for_promotion() -> (Repo, String) {
    let repo = project(
        &tasks_n(1, "", ""),
        "[experiments]\npromotion = \"manual\"\n",
    );
    repo.script(1, &sets("100"));
    assert_eq!(repo.run(&["run"]).code, 0);
    let waiting = git(repo.path(), &["rev-parse", "autodev/E1"]);
    (repo, waiting)
}

/// Commits `text` as `file` on your branch (`message`), then runs `autodev promote E1`: what it
/// did, and your `HEAD` before it.
fn promote_after_your_commit(repo: &Repo, file: &str, text: &str, message: &str) -> (Run, String) {
    repo.write(file, text);
    git(repo.path(), &["commit", "-qam", message]);
    let head = git(repo.path(), &["rev-parse", "HEAD"]);
    (repo.run(&["promote", "E1"]), head)
}

#[test]
fn autodev_promote_refuses_a_result_whose_gain_is_gone_on_your_tip() {
    let (repo, waiting) = waiting_for_promotion();
    // The person's newer commit makes the benchmark print 90 whatever the code does.
    let (promoted, head) =
        promote_after_your_commit(&repo, "bench.sh", "echo METRIC latency=90\n", "new bench");
    assert_eq!(promoted.code, 1, "{}", promoted.stderr);
    assert!(
        promoted
            .stderr
            .contains("not promoted: its gain is gone on your tip: latency=90 against 90"),
        "{}",
        promoted.stderr
    );
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), head);
    assert_eq!(git(repo.path(), &["rev-parse", "autodev/E1"]), waiting);
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
    // Uncommitted edits of the person's that touch the result: refused before measuring.
    repo.write("speed.txt", "119\n");
    let dirty = repo.run(&["promote", "E1"]);
    assert_eq!(dirty.code, 1, "{}", dirty.stderr);
    assert!(
        dirty
            .stderr
            .contains("your uncommitted changes touch what it changed (speed.txt)"),
        "{}",
        dirty.stderr
    );
    assert_eq!(repo.read("speed.txt"), "119\n");
}

#[test]
fn a_second_experiment_of_the_task_keeps_an_unmerged_branch() {
    let repo = project(&tasks_n(1, "", ""), "");
    repo.write("speed.txt", "118\n");
    repo.script(1, &sets("100"));
    assert_eq!(repo.run(&["run"]).code, 0);
    // Again, after a reset: the first result still waits on autodev/E1.
    assert_eq!(repo.run(&["task", "reset", "--ids", "E1"]).code, 0);
    repo.script(2, &sets("90"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(git(repo.path(), &["show", "autodev/E1:speed.txt"]), "100\n");
    assert_eq!(
        git(repo.path(), &["show", "autodev/E1-2:speed.txt"]),
        "90\n"
    );
}

#[test]
fn the_build_step_runs_once_per_tree_and_commit() {
    // The benchmark measures what the build made; the build counts itself.
    let repo = project(
        &tasks_n(
            2,
            r#", "repeats": 3"#,
            r#", "build_command": "sh build.sh""#,
        ),
        "",
    );
    let builds = repo.state.join("builds");
    repo.write(
        "build.sh",
        &format!(
            "cp speed.txt built.txt\necho \"$(basename $(pwd)) $(cat speed.txt)\" >> {}\n",
            builds.display()
        ),
    );
    repo.write("bench.sh", "echo \"METRIC latency=$(cat built.txt)\"\n");
    repo.write(".gitignore", "logs/\nbuilt.txt\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "build step"]);
    repo.script(1, &sets("100"));
    repo.script(2, &sets("130"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = std::fs::read_to_string(&builds).expect("builds");
    let lines: Vec<&str> = log.lines().collect();
    // A/A: each tree builds the start; iteration 1: the candidate builds its commit (the
    // reference is already built); iteration 2: the reference builds the newly kept commit and
    // the candidate builds its own. Never once per sample.
    assert_eq!(
        lines,
        [
            "E1.reference 120",
            "E1 120",
            "E1 100",
            "E1.reference 100",
            "E1 130",
        ],
        "{log}"
    );
    assert_eq!(repo.read("speed.txt"), "100\n");
}

#[test]
fn a_failing_build_makes_the_candidate_invalid() {
    let repo = project(
        &tasks(
            "",
            r#", "stop_after_invalid": 1, "build_command": "test \"$(cat speed.txt)\" != 99""#,
        ),
        "",
    );
    repo.script(1, &sets("99"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let all = records(&repo);
    assert_eq!(all[1]["outcome"], "invalid");
    let notes = all[1]["notes"].as_str().unwrap_or("");
    assert!(notes.starts_with("the build `test"), "{notes}");
    assert!(notes.contains("failed: exit 1"), "{notes}");
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

/// A committed benchmark that adds `jitter` (shell arithmetic over `n`, the number of samples
/// taken so far in either tree) to the value in `speed.txt`.
fn noisy_bench(repo: &Repo, jitter: &str) {
    let count = repo.state.join("count");
    let c = count.display();
    repo.write(
        "bench.sh",
        &format!(
            "n=$(cat {c} 2>/dev/null || echo 0); echo $((n + 1)) > {c}\n\
             jitter=$(( {jitter} ))\n\
             echo \"METRIC latency=$(( $(cat speed.txt) + jitter ))\"\n"
        ),
    );
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "noisy benchmark"]);
}

#[test]
fn repeated_samples_are_measured_in_interleaved_pairs() {
    // Each run of the benchmark prints the next value of a noisy sequence around speed.txt.
    let repo = project(
        &tasks(r#", "repeats": 3"#, "").replace(r#""max_iterations": 3"#, r#""max_iterations": 2"#),
        "",
    );
    // A one-step sawtooth: what a drifting machine looks like to alternating pairs.
    noisy_bench(&repo, "n % 2");
    // A clear gain, then a change that measures the same.
    repo.script(1, &sets("100"));
    repo.script(2, &sets("+100"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = records(&repo);
    assert_eq!(all.len(), 3, "no separate re-measurements: {all:?}");
    // The A/A measurement of the start: both trees, in ABBA order, and a noise floor.
    assert_eq!(all[0]["outcome"], "baseline");
    assert_eq!(all[0]["order"], "ABBAAB");
    assert_eq!(all[0]["samples"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        all[0]["reference_samples"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(all[0]["measured_value"], 120.5);
    let floor = all[0]["noise_floor"].as_f64().expect("a noise floor");
    assert!(floor > 0.0 && floor < 10.0, "{floor}");
    assert!(run.stderr.contains("noise floor of E1"), "{}", run.stderr);
    // The clear gain is kept, paired and sure.
    assert_eq!(all[1]["outcome"], "improved", "{}", all[1]);
    assert_eq!(all[1]["order"], "ABBAAB");
    assert_eq!(
        all[1]["reference_samples"].as_array().map(Vec::len),
        Some(3)
    );
    assert!(
        all[1]["confidence"].as_f64().unwrap_or(0.0) >= 0.95,
        "{}",
        all[1]
    );
    assert!(
        all[1]["notes"].as_str().unwrap_or("").contains("(paired)"),
        "{}",
        all[1]
    );
    // A candidate equal to the kept commit is equivalent, and discarded.
    assert_eq!(all[2]["outcome"], "equivalent", "{}", all[2]);
    assert_eq!(all[2]["action"], "discard");
    assert!(
        all[2]["notes"]
            .as_str()
            .unwrap_or("")
            .contains("inside the noise floor"),
        "{}",
        all[2]
    );
    assert_eq!(repo.read("speed.txt"), "100\n");
}

#[test]
fn a_noise_floor_above_min_improvement_is_reported_before_any_agent_call() {
    let repo = project(
        &tasks_n(1, r#", "repeats": 3, "min_improvement": 1"#, ""),
        "",
    );
    // Swings of ±3 around the value, above the 1 asked for.
    noisy_bench(&repo, "n * 37 % 7 - 3");
    repo.script(1, &sets("119"));
    let run = repo.run(&["run"]);
    let warning = run
        .stderr
        .find("that is above min_improvement 1")
        .unwrap_or_else(|| panic!("no warning in:\n{}", run.stderr));
    let first_call = run.stderr.find("iteration 1/1").expect("the iteration");
    assert!(warning < first_call, "{}", run.stderr);
    assert!(
        run.stderr.contains("set completion.repeats to"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_code_directory_below_the_top_works_in_the_same_place_of_the_worktree() {
    let repo = Repo::new(&tasks_n(1, "", ""), "");
    let toml = repo
        .read("autodev.toml")
        .replace("[project]\n", "[project]\ncode_dir = \"app\"\n");
    repo.write("autodev.toml", &toml);
    repo.sample("codex-exec-json-success.jsonl");
    repo.write("app/speed.txt", "120\n");
    repo.write("app/bench.sh", "echo \"METRIC latency=$(cat speed.txt)\"\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "benchmark in app/"]);
    repo.script(1, &sets_noting_cwd(&repo, "100"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cwd = agent_cwd(&repo);
    assert!(
        cwd.trim().ends_with(".git/autodev/worktrees/E1/app"),
        "{cwd}"
    );
    assert_eq!(head_file(&repo, "app/speed.txt"), "100\n");
    assert!(!repo.path().join("speed.txt").exists());
}

#[test]
fn two_projects_of_one_repository_run_experiments_side_by_side() {
    let repo = project(&tasks_n(1, "", ""), "");
    let toml = repo.read("autodev.toml");
    for p in ["svc1", "svc2"] {
        repo.write(&format!("{p}/autodev.toml"), &toml.replace("demo", p));
        repo.write(&format!("{p}/task.json"), &tasks_n(1, "", ""));
        repo.write(&format!("{p}/speed.txt"), "120\n");
        // Slow enough that the two experiments overlap.
        repo.write(
            &format!("{p}/bench.sh"),
            "sleep 0.3; echo \"METRIC latency=$(cat speed.txt)\"\n",
        );
    }
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "two projects"]);
    repo.script(0, &sets("100"));
    let one = repo.spawn(&["run", "--config", "svc1/autodev.toml"]);
    let two = repo.spawn(&["run", "--config", "svc2/autodev.toml"]);
    let (one, two) = (
        one.wait_with_output().expect("svc1"),
        two.wait_with_output().expect("svc2"),
    );
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(two.status.code(), Some(0), "{}", stderr(&two));
    // Each had its own worktree and branch; each result is on the user's branch or, when the
    // other one moved it first, waits on its own branch.
    for (p, out) in [("svc1", &one), ("svc2", &two)] {
        let text = stderr(out);
        assert!(
            text.contains(&format!(
                ".git/autodev/worktrees/{p}/E1 on branch autodev/{p}/E1"
            )),
            "{text}"
        );
        let merged = git(repo.path(), &["show", &format!("HEAD:{p}/speed.txt")]) == "100\n";
        let waiting = text.contains(&format!("git merge autodev/{p}/E1"))
            && git(
                repo.path(),
                &["show", &format!("autodev/{p}/E1:{p}/speed.txt")],
            ) == "100\n";
        assert!(merged || waiting, "{p}: {text}");
    }
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
}

/// [`project`] with `n` iterations, `execution_extra`, and a committed `lib.txt` holding `lib`
/// that the task may change too.
fn with_lib(n: u32, execution_extra: &str, lib: &str) -> Repo {
    let tasks = tasks_n(n, "", execution_extra).replace(
        r#""path_patterns": ["speed.txt"]"#,
        r#""path_patterns": ["speed.txt", "lib.txt"]"#,
    );
    let repo = project(&tasks, "");
    repo.write("lib.txt", lib);
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "lib"]);
    repo
}

#[test]
fn an_equivalent_change_that_removes_lines_is_kept_as_a_simplification_and_a_larger_one_is_not() {
    let long: String = (1..=10).map(|n| format!("line {n}\n")).collect();
    let repo = with_lib(2, "", &long);
    // Iteration 1 shortens lib.txt to 3 lines; iteration 2 makes it 20. Neither moves the
    // latency.
    repo.script(
        1,
        &format!("sh printf 'a\\nb\\nc\\n' > lib.txt\n{AGENT_OK}"),
    );
    repo.script(2, &format!("sh seq 1 20 > lib.txt\n{AGENT_OK}"));
    let run = repo.run(&["run"]);
    // (The reference is measured again after a keep: a baseline record between the two.)
    let decided: Vec<_> = outcomes(&repo)
        .into_iter()
        .filter(|o| o.1 != "baseline")
        .collect();
    assert_eq!(
        decided,
        [
            (1, "simplification".to_string(), "keep".to_string()),
            (2, "unchanged".to_string(), "discard".to_string()),
        ],
        "{}",
        run.stderr
    );
    let kept = records(&repo)[1]["notes"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        kept.contains("7 line(s) shorter (3 added, 10 removed): kept as a simplification"),
        "{kept}"
    );
    // Kept, but no improvement: the experiment does not claim a gain.
    assert!(
        run.stderr.contains("(1 as simplifications)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        git(repo.path(), &["show", "autodev/E1:lib.txt"]),
        "a\nb\nc\n"
    );
}

#[test]
fn simplifications_are_not_kept_when_the_task_turns_them_off() {
    let repo = with_lib(1, r#", "keep_simplifications": false"#, "1\n2\n3\n4\n");
    repo.script(1, &format!("sh printf '1\\n' > lib.txt\n{AGENT_OK}"));
    let run = repo.run(&["run"]);
    assert_eq!(
        outcomes(&repo)[1..],
        [(1, "unchanged".to_string(), "discard".to_string())],
        "{}",
        run.stderr
    );
}

/// How many commits `to` has that `from` has not.
fn commits_between(repo: &Repo, from: &str, to: &str) -> String {
    git(
        repo.path(),
        &["rev-list", "--count", &format!("{from}..{to}")],
    )
    .trim()
    .to_string()
}

/// The tree of `rev`.
fn tree_of(repo: &Repo, rev: &str) -> String {
    git(repo.path(), &["rev-parse", &format!("{rev}^{{tree}}")])
}

/// The agent's steps for one iteration: set the latency to `value`, and say `said`.
fn sets_saying(value: &str, said: &str) -> String {
    let message = serde_json::json!({"type": "item.completed",
        "item": {"id": "m", "type": "agent_message", "text": said}});
    let done = serde_json::json!({"type": "turn.completed",
        "usage": {"input_tokens": 100, "output_tokens": 10}});
    format!("write speed.txt {value}\nprint {message}\nprint {done}\n")
}

#[test]
fn the_ideas_backlog_records_each_iteration_and_later_prompts_show_its_digest_across_runs() {
    let repo = project(&tasks_n(2, "", ""), "");
    repo.script(1, &sets_saying("100", "Cached the parsed config"));
    repo.script(2, &sets_saying("130", "Unrolled the inner loop"));
    let run = repo.run(&["run"]);
    assert_eq!(repo.calls(), 2, "{}", run.stderr);
    let backlog = repo.read("logs/ideas/E1.md");
    assert!(
        backlog.starts_with("# Ideas backlog of E1: Make it faster"),
        "{backlog}"
    );
    assert!(
        backlog.contains("## Iteration 1 · kept (improved)")
            && backlog.contains("- tried: Cached the parsed config")
            && backlog.contains("- files: speed.txt")
            && backlog.contains("- measured: latency=100 against 120 (baseline 120)"),
        "{backlog}"
    );
    assert!(
        backlog.contains("## Iteration 2 · discarded (regressed)")
            && backlog.contains("- tried: Unrolled the inner loop"),
        "{backlog}"
    );
    // The second iteration's prompt has the digest of the first.
    let second = std::fs::read_to_string(repo.state.join("call-2.stdin")).expect("prompt");
    assert!(
        second.contains("- worked: iteration 1 kept (improved): Cached the parsed config"),
        "{second}"
    );
    assert!(!second.contains("Unrolled"), "{second}");
    // The dashboard lists the backlog beside the chart.
    let page = repo.read("logs/dashboard.html");
    assert!(
        page.contains("<li>iteration 1 kept (improved): Cached the parsed config"),
        "{page}"
    );
    // Another run of the task, another night: its first prompt knows both.
    let reset = repo.run(&["task", "reset", "--ids", "E1"]);
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    repo.script(3, &sets_saying("95", "Tried a smaller buffer"));
    repo.script(4, &sets_saying("95", "Nothing more"));
    repo.run(&["run"]);
    let third = std::fs::read_to_string(repo.state.join("call-3.stdin")).expect("prompt");
    assert!(
        third.contains("Cached the parsed config")
            && third.contains(
                "- did not work: iteration 2 discarded (regressed): Unrolled the inner loop"
            ),
        "{third}"
    );
    assert!(third.contains("logs/ideas/E1.md"), "{third}");
}

#[test]
fn a_task_can_turn_the_ideas_backlog_off() {
    let repo = project(&tasks_n(2, "", r#", "ideas": false"#), "");
    repo.script(1, &sets_saying("100", "Cached the parsed config"));
    repo.script(2, &sets_saying("90", "Something else"));
    repo.run(&["run"]);
    assert_eq!(repo.calls(), 2);
    assert!(!repo.path().join("logs/ideas").exists());
    let second = std::fs::read_to_string(repo.state.join("call-2.stdin")).expect("prompt");
    assert!(
        !second.contains("What earlier iterations tried"),
        "{second}"
    );
}

#[test]
fn stagnation_is_warned_of_at_two_thirds_and_the_stop_says_what_was_tried() {
    let repo = project(&tasks_n(5, "", r#", "stop_after_no_improvement": 3"#), "");
    repo.script(1, &sets_saying("130", "Inlined the hash"));
    repo.script(2, &sets_saying("125", "Swapped the allocator"));
    repo.script(3, &sets_saying("140", "Parallelised the loop"));
    let run = repo.run(&["run"]);
    assert_eq!(repo.calls(), 3, "{}", run.stderr);
    let warned = "experiment E1: 2 iteration(s) in a row without improvement; it stops at 3";
    assert_eq!(run.stderr.matches(warned).count(), 1, "{}", run.stderr);
    let journal = repo.read("logs/events.jsonl");
    assert!(journal.contains(warned), "the warning is journalled");
    let reason = repo.task("E1")["block_reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("3 iteration(s) in a row without improvement")
            && reason.contains(
                "tried meanwhile: Inlined the hash; Swapped the allocator; Parallelised the loop"
            ),
        "{reason}\n{}",
        run.stderr
    );
}

#[test]
fn an_experiment_without_gains_walks_from_explore_to_refine_to_pivot_and_halts() {
    let repo = project(
        &tasks_n(
            10,
            "",
            r#", "stop_after_no_improvement": 10, "refine_after": 1, "pivot_after": 2, "halt_after_pivots": 2"#,
        ),
        "",
    );
    let tried = [
        "Inlined the hash",
        "Tuned the hash",
        "Rewrote it in SIMD",
        "Dropped the cache",
    ];
    for (n, text) in tried.iter().enumerate() {
        repo.script(n as u32 + 1, &sets_saying("130", text));
    }
    let run = repo.run(&["run"]);
    assert_eq!(repo.calls(), 4, "{}", run.stderr);
    let prompt = |n: u32| {
        std::fs::read_to_string(repo.state.join(format!("call-{n}.stdin"))).expect("prompt")
    };
    assert!(prompt(1).contains("- stage: explore"), "{}", prompt(1));
    assert!(
        prompt(2).contains("- stage: refine")
            && prompt(2).contains("Refine: build on the best kept change"),
        "{}",
        prompt(2)
    );
    let pivot = prompt(3);
    assert!(
        pivot.contains("- stage: pivot")
            && pivot.contains("Pivot: try an approach unlike everything the ideas backlog lists")
            && pivot.contains("Inlined the hash")
            && pivot.contains("Tuned the hash"),
        "{pivot}"
    );
    // Each move is journalled, and told.
    let stages: Vec<String> = repo
        .read("logs/events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "experiment_stage")
        .map(|e| e["stage"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(stages, ["explore", "refine", "pivot"]);
    assert!(
        run.stderr
            .contains("Experiment E1: stage refine: 1 iteration(s) in a row without improvement"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.status()["run"]["experiment_stage"], "pivot");
    let json = repo.run(&["status", "--json"]).stdout;
    assert!(json.contains("\"experiment_stage\": \"pivot\""), "{json}");
    assert!(
        repo.read("logs/dashboard.html")
            .contains("<dt>Stage</dt><dd>pivot</dd>")
    );
    let reason = repo.task("E1")["block_reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("halted after 2 pivot(s) without a gain")
            && reason.contains(
                "tried meanwhile: Inlined the hash; Tuned the hash; Rewrote it in SIMD; Dropped the cache"
            ),
        "{reason}"
    );
}

#[test]
fn finalize_turns_the_kept_changes_into_one_commit_on_a_new_branch_with_a_backup_of_the_history() {
    let tasks = tasks_n(3, "", "").replace(
        r#""path_patterns": ["speed.txt"]"#,
        r#""path_patterns": ["speed.txt", "notes.txt"]"#,
    );
    let repo = project(&tasks, "");
    // You are editing the very file the experiment changes: its result waits on its branch.
    repo.write("speed.txt", "118\n");
    repo.script(1, &format!("write notes.txt cached\n{}", sets("100")));
    repo.script(2, &sets("130"));
    repo.script(3, &sets("90"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let head = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    let tip = git(repo.path(), &["rev-parse", "autodev/E1"])
        .trim()
        .to_string();
    // A dry run says what it would do, and does nothing.
    let dry = repo.run(&["finalize", "E1", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains("(2 kept change(s); 2 file(s): notes.txt, speed.txt)")
            && dry.stdout.contains("on a new branch autodev/E1-final")
            && dry.stdout.contains("latency 120 → 90 (-25.0%)")
            && dry.stdout.contains("[DRY RUN] nothing was changed"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        git(repo.path(), &["branch", "--list", "autodev/E1-final"]),
        ""
    );
    assert_eq!(
        git(repo.path(), &["for-each-ref", "refs/autodev/finalized"]),
        ""
    );
    // The real thing: one commit on top of your HEAD, whose tree is the last kept commit's.
    let done = repo.run(&["finalize", "E1"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(commits_between(&repo, &head, "autodev/E1-final"), "1");
    assert_eq!(tree_of(&repo, "autodev/E1-final"), tree_of(&repo, &tip));
    let message = git(
        repo.path(),
        &["log", "-1", "--format=%B", "autodev/E1-final"],
    );
    assert!(
        message.starts_with("E1: Make it faster\n\nlatency 120 → 90 (-25.0%)")
            && message.contains("measured by experiment E1 (2 kept change(s))"),
        "{message}"
    );
    // The experiment's history is kept under the backup ref the message names.
    let backup = git(
        repo.path(),
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/autodev/finalized",
        ],
    );
    let (name, sha) = backup.trim().split_once(' ').expect("a backup ref");
    assert_eq!(sha, tip);
    assert!(message.contains(name), "{message}");
    // Your branch, your edit and your tree are as they were; no worktree is left.
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]).trim(), head);
    assert_eq!(repo.read("speed.txt"), "118\n");
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
    // Again: the branch exists, and finalize never moves a branch it did not make.
    let again = repo.run(&["finalize", "E1"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("branch autodev/E1-final exists already"),
        "{}",
        again.stderr
    );
}

#[test]
fn finalize_makes_one_commit_per_group_of_files_the_kept_changes_do_not_share() {
    let tasks = tasks_n(3, "", r#", "promotion": "manual""#).replace(
        r#""path_patterns": ["speed.txt"]"#,
        r#""path_patterns": ["speed.txt", "bonus.txt"]"#,
    );
    let repo = project(&tasks, "");
    // The latency is speed.txt less bonus.txt: two files that each make it better.
    repo.write(
        "bench.sh",
        "echo \"METRIC latency=$(($(cat speed.txt) - $(cat bonus.txt 2>/dev/null || echo 0)))\"\n",
    );
    git(repo.path(), &["commit", "-qam", "bonus-aware benchmark"]);
    repo.script(1, &sets("100"));
    repo.script(2, &format!("write bonus.txt 10\n{AGENT_OK}"));
    repo.script(3, &sets("95"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        outcomes(&repo)
            .iter()
            .filter(|(_, _, action)| action == "keep")
            .count(),
        3,
        "{}",
        run.stderr
    );
    let head = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    let tip = git(repo.path(), &["rev-parse", "autodev/E1"])
        .trim()
        .to_string();
    let dry = repo.run(&["finalize", "E1", "--dry-run"]);
    assert!(
        dry.stdout
            .contains("becomes 2 commits, one per group of files no kept change shares"),
        "{}",
        dry.stdout
    );
    let done = repo.run(&["finalize", "E1"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(commits_between(&repo, &head, "autodev/E1-final"), "2");
    assert_eq!(tree_of(&repo, "autodev/E1-final"), tree_of(&repo, &tip));
    // Each commit holds one group, in the order the experiment made them, and says which
    // iterations made it and what each measured.
    let files = |rev: &str| git(repo.path(), &["show", "--format=", "--name-only", rev]);
    assert_eq!(files("autodev/E1-final~1").trim(), "speed.txt");
    assert_eq!(files("autodev/E1-final").trim(), "bonus.txt");
    let first = git(
        repo.path(),
        &["log", "-1", "--format=%B", "autodev/E1-final~1"],
    );
    assert!(
        first.starts_with("E1: Make it faster (1 of 2: speed.txt)")
            && first.contains(
                "Kept as iteration 1: latency 120 → 100 (-16.7%); iteration 3: latency 90 → 85"
            )
            && first.contains("The whole change: latency 120 → 85 (-29.2%)"),
        "{first}"
    );
    let second = git(
        repo.path(),
        &["log", "-1", "--format=%B", "autodev/E1-final"],
    );
    assert!(
        second.starts_with("E1: Make it faster (2 of 2: bonus.txt)")
            && second.contains("Kept as iteration 2: latency 100 → 90 (-10.0%)"),
        "{second}"
    );
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]).trim(), head);
}

#[test]
fn finalize_refuses_an_experiment_whose_result_is_already_on_your_branch() {
    let repo = project(&tasks_n(1, "", ""), "");
    repo.script(1, &sets("100"));
    assert_eq!(repo.run(&["run"]).code, 0);
    let run = repo.run(&["finalize", "E1"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("are already on your branch"),
        "{}",
        run.stderr
    );
}

#[test]
fn with_experiments_finalize_the_result_lands_as_one_commit_stating_its_effect() {
    let repo = project(&tasks_n(3, "", ""), "[experiments]\nfinalize = true\n");
    let start = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    repo.script(1, &sets("100"));
    repo.script(2, &sets("130"));
    repo.script(3, &sets("90"));
    let run = repo.run(&["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // One commit on your branch, with the kept tree and the measured effect.
    assert_eq!(
        commits_between(&repo, &start, "HEAD"),
        "1",
        "{}",
        run.stderr
    );
    let message = git(repo.path(), &["log", "-1", "--format=%B"]);
    assert!(
        message.starts_with("E1: Make it faster\n\nImproved latency from 120 to 90"),
        "{message}"
    );
    assert_eq!(repo.read("speed.txt"), "90\n");
    // The experiment's two kept commits stay under the backup ref the message names.
    let backup = git(
        repo.path(),
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/autodev/finalized",
        ],
    );
    let backup = backup.trim();
    assert!(message.contains(backup), "{message}");
    assert_eq!(commits_between(&repo, &start, backup), "2");
    assert_eq!(tree_of(&repo, "HEAD"), tree_of(&repo, backup));
    assert_eq!(git(repo.path(), &["branch", "--list", "autodev/*"]), "");
}

#[test]
fn sequential_pairs_stop_as_soon_as_the_evidence_is_clear() {
    // From six repeats sequential pairs are the default; a task can turn them off.
    for (extra, pairs) in [
        (r#", "repeats": 6"#, 3),
        (r#", "repeats": 6, "sequential": true"#, 3),
        (r#", "repeats": 6, "sequential": false"#, 6),
    ] {
        let repo = project(&tasks_n(2, extra, ""), "");
        repo.script(1, &sets("100"));
        repo.script(2, &sets("101"));
        let run = repo.run(&["run"]);
        let records = records(&repo);
        let count = |r: &Value, key: &str| r[key].as_array().map_or(0, Vec::len);
        // The A/A baseline takes all six pairs: the noise floor needs them.
        assert_eq!(count(&records[0], "samples"), 6, "{}", run.stderr);
        // A clear gain is kept after the first three pairs; a loss stops there too.
        let decided: Vec<(String, usize)> = records
            .iter()
            .filter(|r| r["iteration"].as_u64().unwrap_or(0) > 0 && r["outcome"] != "baseline")
            .map(|r| {
                (
                    r["outcome"].as_str().unwrap_or("").to_string(),
                    count(r, "samples"),
                )
            })
            .collect();
        assert_eq!(
            decided,
            [
                ("improved".to_string(), pairs),
                ("regressed".to_string(), pairs)
            ],
            "{extra}: {}",
            run.stderr
        );
        let told = repo.attempt_logs().iter().any(|l| {
            std::fs::read_to_string(l)
                .unwrap_or_default()
                .contains("clear after 3 pair(s)")
        });
        assert_eq!(told, pairs == 3, "{extra}");
    }
}

#[test]
fn autodev_promote_finds_a_result_you_took_by_hand_already_on_your_branch() {
    let (repo, _) = waiting_for_promotion();
    // You made the same change yourself, as a commit of your own.
    let (promoted, head) =
        promote_after_your_commit(&repo, "speed.txt", "100\n", "same idea, by hand");
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert!(
        promoted
            .stderr
            .contains("your branch has the changes of autodev/E1 already; nothing to promote"),
        "{}",
        promoted.stderr
    );
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), head);
    assert_eq!(
        git(repo.path(), &["branch", "--list", "autodev/*"]),
        "",
        "{}",
        promoted.stderr
    );
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn autodev_promote_of_a_project_below_the_top_of_the_repository_measures_and_lands() {
    let repo = project(&tasks_n(1, "", ""), "");
    let toml = repo.read("autodev.toml").replace("demo", "svc");
    repo.write(
        "svc/autodev.toml",
        &format!("{toml}\n[experiments]\npromotion = \"manual\"\n"),
    );
    repo.write("svc/task.json", &tasks_n(1, "", ""));
    repo.write("svc/speed.txt", "120\n");
    repo.write("svc/bench.sh", "echo \"METRIC latency=$(cat speed.txt)\"\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "a project below the top"]);
    repo.script(1, &sets("100"));
    let config = ["--config", "svc/autodev.toml"];
    let run = repo.run(&["run", config[0], config[1]]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let promoted = repo.run(&["promote", "E1", config[0], config[1]]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert!(
        promoted
            .stderr
            .contains("promoted. Measured on your tip it still wins"),
        "{}",
        promoted.stderr
    );
    assert_eq!(head_file(&repo, "svc/speed.txt"), "100\n");
}

#[test]
fn a_promotion_stopped_with_ctrl_c_leaves_the_branch_and_your_tree_as_they_were() {
    let (repo, waiting) = waiting_for_promotion();
    // The benchmark now says when it runs, and takes its time.
    let marker = repo.state.join("measuring");
    repo.write(
        "bench.sh",
        &format!(
            "touch {}\nsleep 20\necho \"METRIC latency=$(cat speed.txt)\"\n",
            marker.display()
        ),
    );
    git(repo.path(), &["commit", "-qam", "slow bench"]);
    let head = git(repo.path(), &["rev-parse", "HEAD"]);
    let status = git(repo.path(), &["status", "--porcelain"]);
    let child = repo.spawn(&["promote", "E1"]);
    crate::recovery::wait_for(&marker);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal");
    let out = child.wait_with_output().expect("exit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("the promotion was interrupted; autodev/E1 waits as it was"),
        "{stderr}"
    );
    assert_eq!(git(repo.path(), &["rev-parse", "autodev/E1"]), waiting);
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), head);
    assert_eq!(git(repo.path(), &["worktree", "list"]).lines().count(), 1);
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), status);
}
