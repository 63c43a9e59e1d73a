//! `autodev task …`: listings, selection, backups, malformed files and concurrent writers.

use std::fs;

use serde_json::Value;

use crate::harness::{MIXED_QUEUE, Project};

fn tasks_of(project: &Project) -> Vec<Value> {
    let root: Value = serde_json::from_str(&project.read("task.json")).unwrap();
    root["tasks"].as_array().unwrap().clone()
}

#[test]
fn list_shows_badges_counts_and_block_reasons_plainly_when_piped() {
    let project = Project::new(MIXED_QUEUE);
    let run = project.run(&["task", "list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains('\x1b'), "no colour when piped");
    crate::common::redacted(project.path(), || {
        insta::assert_snapshot!("task_list_mixed", run.transcript());
    });
}

#[test]
fn list_colours_with_color_always_and_on_a_terminal_unless_no_color() {
    let project = Project::new(MIXED_QUEUE);
    let run = project.run(&["--color", "always", "task", "list"]);
    assert!(run.stdout.contains("\x1b[0;32m[COMPLETED]\x1b[0m"));
    assert!(run.stdout.contains("\x1b[0;31m[BLOCKED]\x1b[0m"));

    // A real pseudo-terminal through script(1): auto colour turns on, NO_COLOR turns it off.
    let on_tty = |no_color: bool| {
        let mut script = std::process::Command::new("script");
        script
            .args([
                "-qec",
                &format!("{} task list", crate::harness::BIN),
                "/dev/null",
            ])
            .current_dir(project.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TERM", "xterm");
        if no_color {
            script.env("NO_COLOR", "1");
        }
        let output = script.output().expect("script(1) is available");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(on_tty(false).contains("\x1b[0;32m[COMPLETED]"));
    let plain = on_tty(true);
    assert!(plain.contains("[COMPLETED]") && !plain.contains("\x1b[0;32m"));
}

#[test]
fn list_json_has_counts_and_normalised_booleans() {
    let project = Project::new(MIXED_QUEUE);
    let run = project.run(&["task", "list", "--json"]);
    assert_eq!(run.code, 0);
    let body: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(body["counts"]["total"], 5);
    assert_eq!(body["counts"]["completed"], 1);
    assert_eq!(body["counts"]["blocked"], 1);
    assert_eq!(body["counts"]["pending"], 3);
    assert_eq!(body["tasks"][1]["status"], "blocked");
    assert_eq!(body["tasks"][1]["block_reason"], "tests fail on CI");
    assert_eq!(body["tasks"][2]["status"], "retry");
    assert_eq!(body["tasks"][4]["title"], "Legacy named task");
}

#[test]
fn list_of_an_empty_queue() {
    let project = Project::new("{\"tasks\": []}\n");
    let run = project.run(&["task", "list"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.starts_with("Project: demo\n"),
        "the configured name when the queue has none"
    );
    assert!(
        run.stdout.ends_with("No tasks defined.\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn read_commands_never_write_files() {
    let project = Project::new(MIXED_QUEUE);
    let before = project.listing();
    for args in [
        vec!["task", "list"],
        vec!["task", "list", "--json"],
        vec!["task", "next"],
        vec!["status"],
        vec!["status", "--json"],
    ] {
        project.run(&args);
    }
    assert_eq!(project.listing(), before);
    assert_eq!(project.read("task.json"), MIXED_QUEUE);
}

#[test]
fn next_prints_the_first_pending_task_and_exits_1_when_none() {
    let project = Project::new(MIXED_QUEUE);
    let run = project.run(&["task", "next"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "Next task: T3 - Write the guide\nSteps:\n  - draft README\n  - add examples\n"
    );
    let json: Value =
        serde_json::from_str(&project.run(&["task", "next", "--json"]).stdout).unwrap();
    assert_eq!(json["task"]["id"], "T3");
    assert_eq!(json["task"]["execution_mode"], "delivery");

    let done = Project::new(r#"{"tasks": [{"id": "a", "passes": true}]}"#);
    let run = done.run(&["task", "next"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "No pending tasks remaining.\n");
    let run = done.run(&["task", "next", "--json"]);
    assert_eq!(run.code, 1);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["task"], Value::Null);
}

#[test]
fn reset_with_ids_changes_only_those_and_backs_up_first() {
    let project = Project::new(MIXED_QUEUE);
    // An unknown id changes nothing and exits 1, as `task block NOPE` does.
    let wrong = project.run(&["task", "reset", "--ids", "T1, T2,nope"]);
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("task nope not found"),
        "{}",
        wrong.stderr
    );
    assert_eq!(project.read("task.json"), MIXED_QUEUE);
    assert!(project.backups().is_empty());
    let run = project.run(&["task", "reset", "--ids", "T1, T2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("Reset 2 task(s) to pending: T1, T2"),
        "{}",
        run.stdout
    );
    let backups = project.backups();
    assert_eq!(backups.len(), 1);
    assert!(run.stdout.contains(&backups[0]));
    assert_eq!(
        project.read(&backups[0]),
        MIXED_QUEUE,
        "backup holds the old queue"
    );

    let tasks = tasks_of(&project);
    assert_eq!(tasks[0]["passes"], false);
    assert_eq!(tasks[1]["blocked"], false);
    assert_eq!(tasks[1]["block_reason"], "");
    assert_eq!(tasks[2]["attempt_history"].as_array().unwrap().len(), 1);
    assert_eq!(
        tasks[3]["execution"]["max_iterations"], 4,
        "others untouched"
    );

    let again = project.run(&["task", "reset", "--ids", "T1,T2"]);
    assert_eq!(again.stdout, "Nothing to reset\n");
    assert_eq!(project.backups().len(), 1, "no backup when nothing changes");
}

#[test]
fn dry_runs_change_nothing() {
    let project = Project::new(MIXED_QUEUE);
    let reset = project.run(&["task", "reset", "--dry-run"]);
    assert_eq!(
        reset.stdout,
        "[DRY RUN] Would reset 2 task(s) to pending: T1, T2\n"
    );
    let retry = project.run(&["task", "retry", "--dry-run"]);
    assert_eq!(
        retry.stdout,
        "[DRY RUN] Would retry 1 blocked task(s): T2\n"
    );
    assert_eq!(project.read("task.json"), MIXED_QUEUE);
    assert!(project.backups().is_empty());
}

#[test]
fn retry_only_touches_blocked_tasks_and_keeps_unknown_fields() {
    let queue = r#"{"project": "p", "owner": "ana", "tasks": [
        {"id": "a", "blocked": "yes", "block_reason": "x", "refinement_count": 3, "priority": 1},
        {"id": "b", "passes": true},
        {"id": "c", "blocked": true}
    ]}"#;
    let project = Project::new(queue);
    let run = project.run(&["task", "retry", "--ids", "a,b"]);
    assert_eq!(
        run.stdout.lines().last(),
        Some("Retried 1 blocked task(s): a")
    );
    let root: Value = serde_json::from_str(&project.read("task.json")).unwrap();
    assert_eq!(root["owner"], "ana");
    let tasks = root["tasks"].as_array().unwrap();
    assert_eq!(tasks[0]["blocked"], false);
    assert_eq!(tasks[0]["priority"], 1);
    assert_eq!(tasks[0]["refinement_count"], 0);
    assert_eq!(tasks[1]["passes"], true);
    assert_eq!(tasks[2]["blocked"], true, "not selected");
    assert_eq!(root["statistics"]["blocked"], 1);
    let text = project.read("task.json");
    assert!(text.starts_with("{\n  \"project\""), "2-space pretty JSON");
    assert!(text.ends_with("}\n"));

    let none = project.run(&["task", "retry", "--ids", "b"]);
    assert_eq!(none.stdout, "No blocked tasks to retry\n");
}

#[test]
fn block_records_reason_time_and_statistics_without_backup() {
    let project = Project::new(MIXED_QUEUE);
    let run = project.run(&["task", "block", "T3", "waiting on API keys"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "Task T3 marked as blocked: waiting on API keys\n"
    );
    let root: Value = serde_json::from_str(&project.read("task.json")).unwrap();
    let task = &root["tasks"][2];
    assert_eq!(task["blocked"], true);
    assert_eq!(task["block_reason"], "waiting on API keys");
    let at = task["blocked_at"].as_str().unwrap();
    assert!(
        at.len() == 32 && at.ends_with("+00:00") && at.as_bytes()[19] == b'.',
        "ISO-8601 with microseconds: {at}"
    );
    assert_eq!(root["statistics"]["blocked"], 2);
    assert!(project.backups().is_empty());

    let missing = project.run(&["task", "block", "T9", "x"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.starts_with("error: task T9 not found in "),
        "{}",
        missing.stderr
    );
    assert!(missing.stderr.contains("hint: "));
}

#[test]
fn malformed_task_json_is_reported_with_position_and_never_rewritten() {
    let broken = "{\n  \"tasks\": [\n    {\"id\": \"a\",}\n  ]\n}\n";
    let project = Project::new(broken);
    for args in [
        vec!["task", "list"],
        vec!["task", "reset"],
        vec!["task", "retry"],
        vec!["task", "block", "a", "x"],
        vec!["status"],
    ] {
        let run = project.run(&args);
        assert_eq!(run.code, 1, "{args:?}");
        let expected = format!(
            "error: {}:3:16: invalid JSON: trailing comma",
            project.file("task.json").display()
        );
        assert!(
            run.stderr.starts_with(&expected),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("hint: the file was left unchanged"));
        assert_eq!(
            project.read("task.json"),
            broken,
            "{args:?} left the file as it was"
        );
    }
    assert!(project.backups().is_empty());
}

#[test]
fn structurally_wrong_task_json_names_the_field() {
    let project = Project::new(r#"{"tasks": [{"id": "a"}, 42]}"#);
    let run = project.run(&["task", "reset"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("tasks[1] is a number, but every task must be an object"),
        "{}",
        run.stderr
    );
    assert_eq!(project.read("task.json"), r#"{"tasks": [{"id": "a"}, 42]}"#);
}

#[test]
fn missing_task_json_is_a_clear_error() {
    let project = Project::empty();
    project.write("autodev.toml", "");
    let run = project.run(&["task", "list"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("task file not found"), "{}", run.stderr);
}

#[test]
fn concurrent_writers_never_lose_each_others_changes() {
    let tasks: Vec<String> = (0..16)
        .map(|i| format!(r#"{{"id": "t{i}", "title": "task {i}"}}"#))
        .collect();
    let project = Project::new(&format!("{{\"tasks\": [{}]}}", tasks.join(",")));
    let children: Vec<_> = (0..16)
        .map(|i| {
            project
                .command(&["task", "block", &format!("t{i}"), "parallel"])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let blocked = tasks_of(&project)
        .iter()
        .filter(|t| t["blocked"] == true)
        .count();
    assert_eq!(blocked, 16, "every writer's change survived");
    let leftovers: Vec<String> = project
        .listing()
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = fs::metadata(project.file("logs/task.json.lock")).unwrap();
}

#[test]
fn task_without_subcommand_prints_help() {
    let project = Project::new(MIXED_QUEUE);
    let run = project.run(&["task"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Show all tasks"));
    let bad = project.run(&["task", "frobnicate"]);
    assert_eq!(bad.code, 2, "usage errors exit 2");
}

#[test]
fn a_misspelt_check_or_dependency_field_fails_task_check_with_a_suggestion() {
    let queue = r#"{"tasks": [
  {"id": "T1", "title": "One", "verification": {"validate_command": ["make test"]}},
  {"id": "T2", "title": "Two", "depend_on": ["T1"], "priority": 2}
]}"#;
    let project = Project::new(queue);
    let run = project.run(&["task", "check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "line 2: task T1: field \"verification.validate_command\" is not a field autodev knows: did you mean \"validate_commands\"?"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "line 3: task T2: field \"depend_on\" is not a field autodev knows: did you mean \"depends_on\"?"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("priority"),
        "a field of its own that is no near miss is kept quietly: {}",
        run.stderr
    );
    assert_eq!(project.read("task.json"), queue, "nothing rewritten");
}

#[test]
fn a_queue_that_cannot_be_read_is_refused_whole_naming_the_line_and_the_field() {
    let project = Project::new(
        r#"{"tasks": [{"id": "T1", "title": "One", "depends_on": 5, "verfication": {}}]}"#,
    );
    let wrong_fields = project.run(&["task", "list"]);
    project.write(
        "task.json",
        "{\"tasks\": [{\"id\": \"T1\", \"title\": \"One\"},\n",
    );
    let cut_off = project.run(&["task", "list"]);
    crate::common::redacted(project.path(), || {
        insta::assert_snapshot!("task_list_wrong_fields", wrong_fields.transcript());
        insta::assert_snapshot!("task_list_cut_off", cut_off.transcript());
    });
}
