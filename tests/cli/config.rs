//! Configuration as users meet it: discovery, errors with positions, layering, `config show`.

use crate::harness::{MIXED_QUEUE, Project};

#[test]
fn help_lists_the_commands() {
    let project = Project::empty();
    let run = project.run(&["--help"]);
    crate::common::redacted(project.path(), || {
        insta::assert_snapshot!("help", run.transcript());
    });
    let bare = project.run(&[]);
    assert_eq!(bare.code, 0, "no command prints help");
    assert_eq!(bare.stdout.trim(), project.run(&["-h"]).stdout.trim());
}

#[test]
fn version_is_the_package_version() {
    let run = Project::empty().run(&["--version"]);
    assert_eq!(
        run.stdout.trim(),
        format!("autodev {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn config_is_found_in_a_parent_directory() {
    let project = Project::new(MIXED_QUEUE);
    project.write("src/deep/keep", "");
    let run = project
        .command(&["task", "list"])
        .current_dir(project.file("src/deep"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
}

#[test]
fn missing_config_is_an_error_with_a_hint() {
    let project = Project::empty();
    let run = project.run(&["status"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("error: autodev.toml not found in "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: "));
    let run = project.run(&["--config", "elsewhere.toml", "status"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("config file not found: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("elsewhere.toml"));
}

#[test]
fn a_config_that_is_not_a_file_is_named_not_reported_missing() {
    let project = Project::empty();
    std::fs::create_dir(project.path().join("autodev.toml")).expect("a directory");
    let run = project.run(&["status"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("autodev.toml is a directory, not a config file"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: move "), "{}", run.stderr);
    let run = project.run(&["-c", "/dev/null", "status"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "error: /dev/null is not a regular file (a device, a pipe or a socket), not a config file"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: point --config at an autodev.toml file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_type_error_names_file_line_column_and_key() {
    let project = Project::new(MIXED_QUEUE);
    project.write(
        "autodev.toml",
        "[project]\nname = \"demo\"\n\n[run]\nmax_retries = \"3\"\n",
    );
    let run = project.run(&["task", "list"]);
    assert_eq!(run.code, 1);
    let toml = project.file("autodev.toml").display().to_string();
    let first = run.stderr.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "error: {toml}:5:15: `run.max_retries`: invalid type: string \"3\""
        )),
        "{first}"
    );
}

#[test]
fn a_syntax_error_names_the_line() {
    let project = Project::new(MIXED_QUEUE);
    project.write("autodev.toml", "[project\nname = 1\n");
    let run = project.run(&["status"]);
    assert_eq!(run.code, 1);
    let toml = project.file("autodev.toml").display().to_string();
    assert!(
        run.stderr.starts_with(&format!("error: {toml}:1:")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("invalid TOML"));
}

#[test]
fn an_unknown_key_is_a_warning_not_silence() {
    let project = Project::new(MIXED_QUEUE);
    project.write("autodev.toml", "[run]\nmax_retires = 5\n");
    let run = project.run(&["task", "list"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("autodev.toml:2:1: unknown key `run.max_retires` is ignored (did you mean `run.max_retries`?)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_misspelt_verification_section_is_suggested_and_stops_a_run() {
    let project = Project::new(MIXED_QUEUE);
    project.write(
        "autodev.toml",
        "[project]\nname = \"p\"\n\n[verfication]\nprotected_paths = [\"tests/**\"]\n",
    );
    let list = project.run(&["task", "list"]);
    assert_eq!(list.code, 0, "reading commands only warn: {}", list.stderr);
    assert!(
        list.stderr.contains(
            "autodev.toml:4:2: unknown key `verfication` is ignored (did you mean `verification`?)"
        ),
        "{}",
        list.stderr
    );
    let run = project.run(&["run"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("a misspelt verification setting would let the run go without it"),
        "{}",
        run.stderr
    );
    assert!(
        !project.file("logs/events.jsonl").exists(),
        "nothing was started"
    );
}

#[test]
fn show_reports_each_layer() {
    let project = Project::new(MIXED_QUEUE);
    project.write(
        "autodev.toml",
        "[project]\nname = \"demo\"\n\n[run]\nmax_retries = 5\nmax_tasks = 10\n",
    );
    let run = project.run_env(
        &["config", "show", "--set", "run.max_tasks=2"],
        &[
            ("AUTODEV_RUN_MAX_RETRIES", "6"),
            ("AUTODEV_SNAPSHOT_IGNORE_DIRS", ".git,target"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} missing in {}", run.stdout))
            .to_string()
    };
    assert!(
        line("name").ends_with("# autodev.toml:2"),
        "{}",
        line("name")
    );
    assert!(line("max_retries").starts_with("max_retries = 6 "));
    assert!(line("max_retries").ends_with("# env AUTODEV_RUN_MAX_RETRIES"));
    assert!(line("max_tasks").starts_with("max_tasks = 2 "));
    assert!(line("max_tasks").ends_with("# flag --set run.max_tasks=2"));
    assert!(line("ignore_dirs").starts_with("ignore_dirs = [\".git\", \"target\"]"));
    assert!(line("max_epochs").ends_with("# default"));

    let json = project.run(&["config", "show", "--json"]);
    let body: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(body["settings"]["run"]["max_retries"], 5);
    assert_eq!(body["sources"]["run.max_retries"], "autodev.toml:5");
    assert_eq!(body["sources"]["run.max_epochs"], "default");
}

#[test]
fn env_and_flag_errors_name_their_origin() {
    let project = Project::new(MIXED_QUEUE);
    let run = project.run_env(&["status"], &[("AUTODEV_GIT_AUTO_COMMIT", "sometimes")]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.starts_with(
        "error: environment variable AUTODEV_GIT_AUTO_COMMIT: `git.auto_commit`: expected true or false"
    ), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hint: fix or unset AUTODEV_GIT_AUTO_COMMIT")
    );

    let run = project.run(&["status", "--set", "backend.default=bogus"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("flag --set backend.default=bogus: `backend.default`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("claude"));

    let run = project.run(&["status", "--set", "run.retries=1"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("`run.retries` is not a setting"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_example_config_documents_every_key_and_loads_cleanly() {
    let example = include_str!("../../autodev.toml.example");
    let project = Project::new(MIXED_QUEUE);
    project.write("autodev.toml", example);
    let run = project.run(&["config", "show"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "", "the example has no unknown keys");
    for line in run.stdout.lines().filter(|l| l.contains(" = ")) {
        let key = line.split(" = ").next().unwrap();
        assert!(
            line.contains("# autodev.toml:"),
            "the example sets `{key}` explicitly: {line}"
        );
    }
}

#[test]
fn the_demo_project_loads_cleanly_and_its_tasks_pass_the_audit() {
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let project = Project::empty();
    for name in ["autodev.toml", "task.json"] {
        project.write(name, &std::fs::read_to_string(demo.join(name)).unwrap());
    }
    let run = project.run(&["status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let root: serde_json::Value = serde_json::from_str(&project.read("task.json")).unwrap();
    for task in root["tasks"].as_array().unwrap() {
        let issues = autodev::task::audit::audit_task(task.as_object().unwrap(), false);
        assert!(issues.is_empty(), "{issues:?}");
    }
}
