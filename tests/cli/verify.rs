//! `autodev verify`: the gate of one task, run now, in a real git repository.

use crate::common::git;
use crate::harness::Project;

const QUEUE: &str = r#"{"tasks": [
  {"id": "T1", "title": "Add greeting",
   "verification": {"path_patterns": ["src/**/*.py"],
                    "validate_commands": ["test -f src/hello.py && echo found it",
                                          "echo 'style: line too long' >&2; exit 3"]}},
  {"id": "T2", "title": "Make it fast",
   "verification": {"validate_commands": ["printf 'METRIC ms=42\\n'"]},
   "completion": {"kind": "numeric", "source": "metric_lines", "name": "ms",
                  "direction": "lower_is_better", "target": 50}}
]}"#;

/// A committed project; then the "agent" adds a source file, edits a protected test and rewrites
/// task.json (a runtime file, never counted).
fn worked_project() -> Project {
    let project = Project::new(QUEUE);
    project.write(
        "autodev.toml",
        "[project]\nname = \"demo\"\n[verification]\nprotected_paths = [\"tests/**\"]\n",
    );
    project.write("tests/test_app.py", "assert True\n");
    git(project.path(), &["init", "-q"]);
    git(project.path(), &["add", "-A"]);
    git(
        project.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "base",
        ],
    );
    project.write("src/hello.py", "print('hello')\n");
    project.write("tests/test_app.py", "assert 1\n");
    project.write(
        "task.json",
        &QUEUE.replace("Add greeting", "Add a greeting"),
    );
    project
}

#[test]
fn shows_every_check_and_fails_when_one_fails() {
    let project = worked_project();
    let run = project.run(&["verify", "T1"]);
    crate::common::redacted(project.path(), || {
        insta::assert_snapshot!("verify_failing", run.transcript());
    });
}

#[test]
fn passes_with_the_given_changed_files_and_a_met_target() {
    let project = worked_project();
    let run = project.run(&["verify", "T2", "--changed-file", "./src/speed.py"]);
    crate::common::redacted(project.path(), || {
        insta::assert_snapshot!("verify_passing", run.transcript());
    });
}

#[test]
fn json_carries_the_whole_gate_report() {
    let project = worked_project();
    let run = project.run(&["verify", "T1", "--json"]);
    assert_eq!(run.code, 1);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(value["changed_from"], "git");
    assert_eq!(value["gate"]["passed"], false);
    assert_eq!(
        value["gate"]["changed_files"],
        serde_json::json!(["src/hello.py", "tests/test_app.py"])
    );
    assert_eq!(
        value["gate"]["tampered"],
        serde_json::json!(["tests/test_app.py"])
    );
    let failed: Vec<&str> = value["gate"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        failed,
        [
            "protected paths",
            "check: echo 'style: line too long' >&2; exit 3"
        ]
    );
}

#[test]
fn outside_git_the_changed_files_must_be_given() {
    let project = Project::new(QUEUE);
    let run = project.run(&["verify", "T1"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("not inside a git work tree"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: pass the changed files with --changed-file")
    );
}

#[test]
fn an_unknown_task_is_named() {
    let project = Project::new(QUEUE);
    let run = project.run(&["verify", "T9", "--changed-file", "a"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("task T9 not found"), "{}", run.stderr);
}
