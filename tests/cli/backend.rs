//! `autodev backend`: preflight of the agent CLI and a preview of the commands, with the fake
//! agent standing in for the real CLI.

use crate::harness::Project;

/// A project whose PATH holds a fake `gemini` and the system tools, nothing else.
fn project_with_fake_gemini() -> (Project, String) {
    let project = Project::new(r#"{"tasks": []}"#);
    project.write("autodev.toml", "[backend]\ndefault = \"gemini\"\n");
    let bin = project.file("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    crate::common::install_fake(&bin, "gemini");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    (project, path)
}

#[test]
fn shows_the_version_and_the_commands_it_would_run() {
    let (project, path) = project_with_fake_gemini();
    let run = project.run_env(&["backend"], &[("PATH", &path)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("backend   gemini (backend.default)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("version   fake-agent 1.0 (gemini)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "attempt   gemini --skip-trust --approval-mode yolo --output-format stream-json < PROMPT"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("--approval-mode plan"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("limits    wall 7200 s · idle 1800 s · grace 10 s")
    );
}

#[test]
fn a_missing_cli_is_an_error_naming_the_install_command() {
    let (project, path) = project_with_fake_gemini();
    let run = project.run_env(&["backend", "opencode"], &[("PATH", &path)]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("the opencode CLI is not installed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: install OpenCode: npm install -g opencode-ai"),
        "{}",
        run.stderr
    );
    // The preview is still shown, so the user sees what would have run.
    assert!(
        run.stdout.contains("opencode run --format json --auto"),
        "{}",
        run.stdout
    );
}

#[test]
fn json_output_lists_argv_and_limits() {
    let (project, path) = project_with_fake_gemini();
    let run = project.run_env(
        &[
            "backend",
            "--json",
            "--set",
            "backend.idle_timeout_seconds=60",
        ],
        &[("PATH", &path)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(value["installed"], true);
    assert_eq!(value["attempt"]["argv"][0], "gemini");
    assert_eq!(value["attempt"]["prompt"], "stdin");
    assert_eq!(value["limits"]["idle_timeout_seconds"], 60);
}

#[test]
fn retired_settings_warn_and_are_not_passed() {
    let (project, path) = project_with_fake_gemini();
    project.write(
        "autodev.toml",
        "[backend]\ndefault = \"gemini\"\n[backend.gemini]\nall_files = true\n",
    );
    let run = project.run_env(&["backend"], &[("PATH", &path)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("backend.gemini.all_files is ignored"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("--all-files"));
}

#[test]
fn an_unknown_backend_name_is_a_usage_error() {
    let (project, _) = project_with_fake_gemini();
    let run = project.run(&["backend", "aider"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("expected one of claude, codex, gemini, opencode, command")
    );
}
