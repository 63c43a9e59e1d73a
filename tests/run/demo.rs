//! `autodev demo`: the whole loop on the embedded example project, with nothing on PATH but git
//! and sh, so the run provably needs no other program (and no network: nothing here speaks
//! to one).

use std::path::Path;
use std::process::Command;

use crate::harness::BIN;

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn the_demo_shows_every_behaviour_once_and_says_where_to_look() {
    let outside = tempfile::tempdir().expect("temp dir");
    let bin = crate::common::path_of_only(outside.path(), &["git", "sh"]);
    let dir = outside.path().join("demo");
    let out = Command::new(BIN)
        .args(["demo", "--keep"])
        .arg(&dir)
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", outside.path())
        .output()
        .expect("demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("scripted stand-in (autodev __fake-agent)"),
        "{stdout}"
    );
    assert!(stdout.contains("The demo ran as designed."), "{stdout}");
    for place in ["progress.txt", "logs/events.jsonl", "logs/dashboard.html"] {
        assert!(stdout.contains(place), "{place}: {stdout}");
    }
    // Kept with --keep: listed like any project of yours.
    let registry =
        std::fs::read_to_string(outside.path().join(".local/state/autodev/projects.json"))
            .expect("registry");
    assert!(registry.contains("quickstart"), "{registry}");

    // The tasks.
    let queue: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("task.json")).expect("queue"))
            .expect("json");
    let task = |id: &str| {
        queue["tasks"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["id"] == id).cloned())
            .expect("task")
    };
    assert_eq!(task("Q1")["passes"], true);
    assert_eq!(
        task("Q1")["attempt_history"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(task("Q2")["passes"], true);
    assert_eq!(task("Q2")["attempt_history"][0]["status"], "failed");
    assert!(
        task("Q2")["refinement_count"].as_u64() >= Some(1),
        "Q2 was reflected on"
    );
    assert_eq!(task("Q3")["blocked"], true);
    assert!(
        task("Q3")["block_reason"]
            .as_str()
            .unwrap_or("")
            .contains("DEMO_PUBLISH_TOKEN is not set"),
        "{}",
        task("Q3")
    );
    assert_eq!(task("Q4")["passes"], true);

    // progress.txt tells each task's story.
    let progress = std::fs::read_to_string(dir.join("progress.txt")).expect("progress");
    assert_eq!(
        progress.matches("### Status: completed").count(),
        3,
        "{progress}"
    );
    assert!(progress.contains("### Status: blocked"), "{progress}");
    assert!(
        progress.contains("the agent said: Still no DEMO_PUBLISH_TOKEN"),
        "{progress}"
    );

    // The experiment: a baseline of five samples, one keep, one discard.
    let records = json_lines(&dir.join("logs/experiments.jsonl"));
    assert_eq!(records[0]["outcome"], "baseline");
    assert_eq!(records[0]["samples"].as_array().map(Vec::len), Some(5));
    assert_eq!(records.iter().filter(|r| r["action"] == "keep").count(), 1);
    assert_eq!(
        records.iter().filter(|r| r["action"] == "discard").count(),
        1
    );

    // The history: each task's commit, the kept candidate, never the discarded one.
    let log = Command::new("git")
        .args(["log", "--format=%s"])
        .current_dir(&dir)
        .output()
        .expect("git log");
    let subjects = String::from_utf8_lossy(&log.stdout);
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        [
            "experiment(Q4): Make the greeting faster [iteration 1]",
            "autodev: Q2 - Count the words",
            "autodev: Q1 - Add a greeting",
            "quickstart: the example project",
        ]
    );
    let speed = std::fs::read_to_string(dir.join("speed.txt")).expect("speed");
    assert_eq!(speed, "90\n", "the kept value is in the tree");

    // The journal and the dashboard.
    let events = json_lines(&dir.join("logs/events.jsonl"));
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for wanted in [
        "candidate_kept",
        "candidate_discarded",
        "reflecting",
        "task_blocked",
        "run_ended",
    ] {
        assert!(types.contains(&wanted), "{wanted}: {types:?}");
    }
    let page = std::fs::read_to_string(dir.join("logs/dashboard.html")).expect("dashboard");
    assert!(
        page.contains("<td class=\"id\">Q3</td>") && page.contains(">BLOCKED</span>"),
        "{page}"
    );
    assert!(page.contains("class=\"dot-kept\"") && page.contains("class=\"dot-discarded\""));
}

#[test]
fn the_demo_refuses_a_folder_that_is_not_empty() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("mine.txt"), "keep me").expect("write");
    let out = Command::new(BIN)
        .args(["demo", "--keep"])
        .arg(dir.path())
        .output()
        .expect("demo");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("mine.txt")).expect("read"),
        "keep me"
    );
}

#[test]
fn a_throwaway_demo_leaves_no_project_in_the_registry() {
    let outside = tempfile::tempdir().expect("temp dir");
    let bin = crate::common::path_of_only(outside.path(), &["git", "sh"]);
    let out = Command::new(BIN)
        .arg("demo")
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", outside.path())
        .env("TMPDIR", outside.path())
        .output()
        .expect("demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("is not added to `autodev list` and `autodev web`"),
        "{stdout}"
    );
    let registry =
        std::fs::read_to_string(outside.path().join(".local/state/autodev/projects.json"))
            .unwrap_or_default();
    assert!(!registry.contains("quickstart"), "{registry}");
}
