//! `autodev status`: the run and queue at a glance, and live vs. stale run status.

use std::process::{Child, Command};

use serde_json::{Value, json};

use crate::harness::{MIXED_QUEUE, Project};

fn write_run_status(project: &Project, status: &str, task: &str, writer_pid: Option<u32>) {
    let mut run = json!({
        "status": status,
        "message": format!("Task {task} attempt 2/3"),
        "current_epoch": 1, "max_epochs": 2,
        "current_task_id": task, "current_task_title": "Write the guide",
        "current_attempt": 2, "max_attempts": 3,
        "execution_mode": "delivery", "execution_strategy": "single_pass",
        "completion_kind": "boolean", "completion_name": "gate",
        "completion_target_summary": "all_checks_pass"
    });
    if let Some(pid) = writer_pid {
        run["writer"] = json!({"pid": pid});
    }
    project.write(
        "logs/runtime-status.json",
        &serde_json::to_string_pretty(&json!({"run": run, "events": []})).unwrap(),
    );
}

/// A stand-in for a running `autodev run`: any live process.
fn live_process() -> Child {
    Command::new("sleep").arg("30").spawn().unwrap()
}

#[test]
fn idle_project_status() {
    let project = Project::new(MIXED_QUEUE);
    let run = project.run(&["status"]);
    crate::common::redacted(project.path(), || {
        insta::assert_snapshot!("status_idle", run.transcript());
    });
}

#[test]
fn a_live_run_shows_its_task_running_or_waiting() {
    let project = Project::new(MIXED_QUEUE);
    let mut writer = live_process();
    write_run_status(&project, "running", "T3", Some(writer.id()));
    let run = project.run(&["status"]);
    crate::common::redacted(project.path(), || {
        insta::assert_snapshot!("status_live", run.transcript());
    });
    let list = project.run(&["task", "list"]);
    assert!(
        list.stdout.contains("T3           [RUNNING]"),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("Running: 1"));

    write_run_status(&project, "waiting", "T3", Some(writer.id()));
    let list = project.run(&["task", "list"]);
    assert!(
        list.stdout.contains("T3           [WAITING]"),
        "{}",
        list.stdout
    );

    // The writer dies without finishing: the task must not show as running any more.
    writer.kill().unwrap();
    writer.wait().unwrap();
    let list = project.run(&["task", "list"]);
    assert!(
        list.stdout.contains("T3           [RETRY]"),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("Running: 0"));
    let status = project.run(&["status"]);
    let expected = format!(
        "Run: [INTERRUPTED] the run (pid {}) ended without finishing; its last message: Task T3 attempt 2/3",
        writer.id()
    );
    assert!(status.stdout.contains(&expected), "{}", status.stdout);
}

#[test]
fn a_status_file_without_a_writer_is_stale() {
    let project = Project::new(MIXED_QUEUE);
    write_run_status(&project, "validating", "T3", None);
    let list = project.run(&["task", "list"]);
    assert!(!list.stdout.contains("[RUNNING]"), "{}", list.stdout);
}

#[test]
fn a_corrupt_status_file_is_a_warning_not_a_failure() {
    let project = Project::new(MIXED_QUEUE);
    project.write("logs/runtime-status.json", "{\"run\": ");
    let run = project.run(&["status"]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("warning: ") && run.stderr.contains("not valid run status"));
    assert!(run.stdout.contains("Run: [IDLE] No active run yet"));
}

#[test]
fn status_json_is_the_full_snapshot() {
    let project = Project::new(MIXED_QUEUE);
    let run = project.run(&["status", "--json"]);
    assert_eq!(run.code, 0);
    let snapshot: Value = serde_json::from_str(&run.stdout).unwrap();
    insta::assert_json_snapshot!("status_json", snapshot, {
        ".generated_at" => "[TIME]",
    });
}
