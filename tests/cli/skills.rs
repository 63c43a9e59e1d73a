//! `autodev init`, `install-skills` and `skills list|recommend|doctor` in temporary folders,
//! checked the way a user would look at the result.

use std::fs;
use std::path::Path;

use crate::harness::Project;

const TOOLS: [(&str, &str, &str); 4] = [
    ("claude", ".claude", "CLAUDE.md"),
    ("codex", ".codex", "AGENTS.md"),
    ("gemini", ".gemini", "GEMINI.md"),
    ("opencode", ".opencode", "AGENTS.md"),
];

const SKILLS: [&str; 5] = [
    "autodev-runtime",
    "coca-spec",
    "spec-driven-develop",
    "find-skills",
    "skill-creator",
];

fn toml(path: &Path) -> toml::Table {
    toml::from_str(&fs::read_to_string(path).expect("read")).expect("valid TOML")
}

#[test]
fn init_builds_the_layout_of_each_tool() {
    for (tool, root, guide) in TOOLS {
        let p = Project::empty();
        let run = p.run(&["init", "app", "--use", tool, "--name", "Shop \"v2\""]);
        assert_eq!(run.code, 0, "{tool}: {}", run.stderr);
        let app = p.file("app");
        assert!(run.stdout.contains("autodev.toml"), "{}", run.stdout);

        let config = toml(&app.join("autodev.toml"));
        assert_eq!(config["project"]["name"].as_str(), Some("Shop \"v2\""));
        assert_eq!(config["backend"]["default"].as_str(), Some(tool));
        let queue: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(app.join("task.json")).expect("queue"))
                .expect("json");
        assert_eq!(queue["tasks"], serde_json::json!([]));
        assert_eq!(queue["project"], "Shop \"v2\"");
        for file in ["AGENT.md", "TASK.md", "progress.txt"] {
            assert!(app.join(file).is_file(), "{tool}: {file}");
        }
        assert!(app.join("logs/attempts").is_dir());
        for skill in SKILLS {
            assert!(app.join(".skills").join(skill).join("SKILL.md").is_file());
        }
        assert!(
            app.join(".skills/autodev-runtime/references/task-lifecycle.md")
                .is_file()
        );
        assert!(
            app.join(".skills/spec-driven-develop/references/doc-templates.md")
                .is_file()
        );

        let link = app.join(root).join("skills");
        assert_eq!(
            fs::read_link(&link).expect("a symlink").to_str(),
            Some("../.skills"),
            "{tool}"
        );
        assert!(
            link.join("coca-spec/SKILL.md").is_file(),
            "the link resolves"
        );
        let guide_text = fs::read_to_string(app.join(root).join(guide)).expect("guide");
        assert!(
            guide_text.contains("AGENT.md"),
            "{tool}: the guide points home"
        );
        assert!(app.join(root).join("rules/core.md").is_file());

        // The other tools' folders are not created.
        for (other, other_root, _) in TOOLS {
            if other != tool {
                assert!(!app.join(other_root).exists(), "{tool} made {other_root}");
            }
        }
        // The project works with the rest of autodev at once.
        let status = p.run(&[
            "-c",
            app.join("autodev.toml").to_str().expect("utf-8"),
            "task",
            "list",
        ]);
        assert_eq!(status.code, 0, "{}", status.stderr);
    }
}

#[test]
fn tool_specific_files_are_written() {
    let p = Project::empty();
    assert_eq!(p.run(&["init", "--use", "claude"]).code, 0);
    let plugin: serde_json::Value =
        serde_json::from_str(&p.read(".claude-plugin/plugin.json")).expect("plugin json");
    assert_eq!(plugin["skills"], "./.skills/");
    let market: serde_json::Value =
        serde_json::from_str(&p.read(".claude-plugin/marketplace.json")).expect("market json");
    assert_eq!(market["name"], plugin["name"]);
    assert!(
        p.read(".claude/commands/spec-dev.md")
            .contains("$ARGUMENTS")
    );
    assert!(
        p.read(".claude/commands/coca-spec.md")
            .contains(".skills/coca-spec/SKILL.md")
    );

    assert_eq!(p.run(&["init", "--use", "gemini"]).code, 0);
    let ext: serde_json::Value =
        serde_json::from_str(&p.read(".gemini/extensions/autodev-local/gemini-extension.json"))
            .expect("extension json");
    assert_eq!(ext["contextFileName"], "GEMINI.md");
    for command in [
        ".gemini/commands/autodev/spec-dev.toml",
        ".gemini/extensions/autodev-local/commands/autodev/coca-spec.toml",
    ] {
        let table: toml::Table = toml::from_str(&p.read(command)).expect("command TOML");
        assert!(
            table["prompt"]
                .as_str()
                .expect("prompt")
                .contains("{{args}}")
        );
    }
    assert!(p.file(".gemini/settings.json").is_file());
    assert!(
        p.read(".gemini/INSTALL.md")
            .contains("gemini extensions link")
    );
}

#[test]
fn init_defaults_to_codex_and_the_folder_name_and_creates_the_folder() {
    let p = Project::empty();
    let run = p.run(&["init", "deep/new-project"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = toml(&p.file("deep/new-project/autodev.toml"));
    assert_eq!(config["project"]["name"].as_str(), Some("new-project"));
    assert_eq!(config["backend"]["default"].as_str(), Some("codex"));
    assert!(p.file("deep/new-project/.codex/AGENTS.md").is_file());
}

#[test]
fn a_rerun_never_overwrites_and_another_tool_adds_its_files() {
    let p = Project::empty();
    assert_eq!(p.run(&["init", "--use", "codex"]).code, 0);
    let edited = "# My own guide\n\nHand-written.\n";
    p.write("AGENT.md", edited);
    p.write(".skills/coca-spec/SKILL.md", "my version\n");
    let config_before = p.read("autodev.toml");

    let again = p.run(&["init", "--use", "codex", "--name", "other"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("Nothing to create"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("  AGENT.md"), "{}", again.stdout);
    assert_eq!(p.read("AGENT.md"), edited, "byte for byte");
    assert_eq!(p.read(".skills/coca-spec/SKILL.md"), "my version\n");
    assert_eq!(p.read("autodev.toml"), config_before);

    let more = p.run(&["init", "--use", "opencode"]);
    assert_eq!(more.code, 0, "{}", more.stderr);
    assert!(
        more.stdout.contains(".opencode/AGENTS.md"),
        "{}",
        more.stdout
    );
    assert!(p.file(".opencode/skills/skill-creator/SKILL.md").is_file());
    assert!(p.file(".codex/AGENTS.md").is_file());
    assert_eq!(p.read("AGENT.md"), edited);
}

#[test]
fn a_bad_tool_is_refused_before_anything_is_written() {
    for bad in ["claude,codex", "all", "vim"] {
        let p = Project::empty();
        let run = p.run(&["init", "x", "--use", bad]);
        assert_eq!(run.code, 2, "a usage error: {bad}");
        assert!(run.stderr.contains("--use"), "{}", run.stderr);
        assert!(
            run.stderr.contains("claude, codex, gemini, opencode"),
            "{}",
            run.stderr
        );
        assert!(!p.file("x").exists());
    }
}

#[test]
fn doctor_passes_a_fresh_project_and_names_each_problem_with_a_fix() {
    let p = Project::empty();
    assert_eq!(p.run(&["init", "--use", "codex"]).code, 0);
    let home = tempfile::tempdir().expect("home");
    let env = [("HOME", home.path().to_str().expect("utf-8"))];
    let fresh = p.run_env(&["skills", "doctor"], &env);
    assert_eq!(fresh.code, 0, "{}{}", fresh.stdout, fresh.stderr);
    assert!(fresh.stdout.contains("0 error(s)"), "{}", fresh.stdout);
    assert!(
        fresh.stdout.contains("0/5 default skills are linked"),
        "{}",
        fresh.stdout
    );

    fs::remove_dir_all(p.file(".skills/find-skills")).expect("remove");
    let missing = p.run_env(&["skills", "doctor"], &env);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stdout.contains("[error] skill find-skills"),
        "{}",
        missing.stdout
    );
    assert!(
        missing
            .stdout
            .contains("fix: run `autodev init . --use codex`"),
        "{}",
        missing.stdout
    );

    assert_eq!(
        p.run(&["init", "--use", "codex"]).code,
        0,
        "init restores it"
    );
    fs::remove_file(p.file(".codex/skills")).expect("unlink");
    std::os::unix::fs::symlink("../nowhere", p.file(".codex/skills")).expect("link");
    let broken = p.run_env(&["skills", "doctor"], &env);
    assert_eq!(broken.code, 1);
    assert!(
        broken.stdout.contains("[error] skills link"),
        "{}",
        broken.stdout
    );
    assert!(broken.stdout.contains("fix: remove"), "{}", broken.stdout);
}

#[test]
fn install_skills_links_codex_and_opencode_skills_into_the_user_folders() {
    let p = Project::empty();
    assert_eq!(p.run(&["init", "--use", "codex"]).code, 0);
    let home = tempfile::tempdir().expect("home");
    let env = [("HOME", home.path().to_str().expect("utf-8"))];
    let run = p.run_env(&["install-skills"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for skill in SKILLS {
        let link = home.path().join(".agents/skills").join(skill);
        assert_eq!(
            link.canonicalize().expect("resolves"),
            p.file(".skills")
                .join(skill)
                .canonicalize()
                .expect("source")
        );
        assert!(
            run.stdout.contains(&format!("[linked] {skill}")),
            "{}",
            run.stdout
        );
    }
    let again = p.run_env(&["install-skills"], &env);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("[existing] coca-spec"),
        "{}",
        again.stdout
    );
    let doctor = p.run_env(&["skills", "doctor"], &env);
    assert!(
        doctor.stdout.contains("all 5 default skills are linked"),
        "{}",
        doctor.stdout
    );

    // Another project's skill under the same name is never replaced.
    let other = Project::empty();
    assert_eq!(other.run(&["init", "--use", "codex"]).code, 0);
    let clash = other.run_env(&["install-skills"], &env);
    assert_eq!(clash.code, 1);
    assert!(clash.stderr.contains("already exists"), "{}", clash.stderr);
    assert_eq!(
        home.path()
            .join(".agents/skills/coca-spec")
            .canonicalize()
            .expect("link"),
        p.file(".skills/coca-spec").canonicalize().expect("source")
    );

    let open = Project::empty();
    assert_eq!(open.run(&["init", "--use", "opencode"]).code, 0);
    let run = open.run_env(&["install-skills"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        home.path()
            .join(".config/opencode/skills/skill-creator/SKILL.md")
            .is_file()
    );
}

#[test]
fn install_skills_says_what_to_run_first() {
    let p = Project::new(r#"{"tasks": []}"#);
    let home = tempfile::tempdir().expect("home");
    let env = [("HOME", home.path().to_str().expect("utf-8"))];
    let run = p.run_env(&["install-skills"], &env);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("autodev init . --use codex"),
        "{}",
        run.stderr
    );

    p.write(
        "autodev.toml",
        "[project]\nname = \"demo\"\n[backend]\ndefault = \"claude\"\n",
    );
    let claude = p.run_env(&["install-skills"], &env);
    assert_eq!(claude.code, 1);
    assert!(
        claude.stderr.contains("plugin manifest"),
        "{}",
        claude.stderr
    );
    assert!(
        claude.stderr.contains("autodev init . --use claude"),
        "{}",
        claude.stderr
    );
}

#[test]
fn install_skills_drives_the_claude_and_gemini_clis() {
    let p = Project::empty();
    assert_eq!(p.run(&["init", "--use", "claude"]).code, 0);
    assert_eq!(p.run(&["init", "--use", "gemini"]).code, 0);
    let outside = tempfile::tempdir().expect("outside");
    let bin = outside.path().join("bin");
    let state = outside.path().join("state");
    fs::create_dir_all(&bin).expect("bin");
    fs::create_dir_all(&state).expect("state");
    crate::common::install_fake(&bin, "claude");
    crate::common::install_fake(&bin, "gemini");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PATH", path.as_str()),
        ("FAKE_AGENT_DIR", state.to_str().expect("utf-8")),
    ];
    let argv = |n: u32| fs::read_to_string(state.join(format!("call-{n}.argv"))).expect("argv");

    let run = p.run_env(&["install-skills"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(argv(1).starts_with("plugin\nvalidate\n") && argv(1).ends_with("plugin.json\n"));
    assert!(argv(2).ends_with("marketplace.json\n"));
    assert!(
        argv(3).starts_with("plugin\nmarketplace\nadd\n") && argv(3).ends_with("--scope\nlocal\n")
    );
    assert_eq!(
        argv(4),
        "plugin\ninstall\nautodev-local-skills@autodev-local-skills\n--scope\nlocal\n"
    );

    let gemini_config = p
        .read("autodev.toml")
        .replace("default = \"claude\"", "default = \"gemini\"");
    p.write("autodev.toml", &gemini_config);
    let run = p.run_env(&["install-skills"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(argv(5).starts_with("extensions\nvalidate\n"), "{}", argv(5));
    assert!(argv(6).starts_with("extensions\nlink\n") && argv(6).ends_with("--consent\n"));

    // A failing command stops the installation and is named.
    fs::write(state.join("script"), "eprint not logged in\nexit 3\n").expect("script");
    let failed = p.run_env(&["install-skills"], &env);
    assert_eq!(failed.code, 1);
    assert!(
        failed.stderr.contains("gemini extensions validate"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("not logged in"), "{}", failed.stderr);
}

#[test]
fn skills_list_and_recommend_read_the_nearest_catalog() {
    let p = Project::empty();
    let bundled = p.run(&["skills", "list"]);
    assert_eq!(bundled.code, 0, "{}", bundled.stderr);
    assert!(
        bundled.stdout.contains("built into autodev"),
        "{}",
        bundled.stdout
    );

    assert_eq!(p.run(&["init"]).code, 0);
    p.write(
        ".skills/release-notes/SKILL.md",
        "---\nname: release-notes\ndescription: |\n  Write release notes\n  from the changelog.\ncategory: docs\n---\n",
    );
    fs::create_dir_all(p.file("sub/dir")).expect("mkdir");
    let mut list = p.command(&["skills", "list"]);
    let list: crate::common::Run = list
        .current_dir(p.file("sub/dir"))
        .output()
        .expect("run")
        .into();
    assert_eq!(list.code, 0);
    assert!(
        list.stdout
            .contains("- release-notes [docs]: Write release notes from the changelog."),
        "{}",
        list.stdout
    );
    assert_eq!(
        list.stdout.lines().filter(|l| l.starts_with("- ")).count(),
        6
    );

    let ranked = p.run(&["skills", "recommend", "create a new skill", "--limit", "2"]);
    assert_eq!(ranked.code, 0);
    let first = ranked.stdout.lines().nth(1).unwrap_or_default();
    assert!(first.starts_with("- skill-creator:"), "{}", ranked.stdout);
    assert_eq!(
        ranked
            .stdout
            .lines()
            .filter(|l| l.starts_with("- "))
            .count(),
        2
    );

    let notes = p.run(&["skills", "recommend", "release", "notes"]);
    assert!(
        notes
            .stdout
            .lines()
            .nth(1)
            .unwrap_or_default()
            .starts_with("- release-notes:"),
        "{}",
        notes.stdout
    );

    let empty = p.run(&["skills", "recommend", "  "]);
    assert_eq!(empty.code, 1);
    assert!(empty.stderr.contains("needs a query"), "{}", empty.stderr);
}

#[test]
fn init_outside_git_makes_a_repository_or_says_what_that_means() {
    let p = Project::empty();
    let run = p.run(&["init", "app"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("Initialized a git repository in"),
        "{}",
        run.stdout
    );
    assert!(p.file("app/.git").is_dir());
    // Already a repository: nothing said, nothing made.
    let again = p.run(&["init", "app"]);
    assert!(!again.stdout.contains("Initialized"), "{}", again.stdout);

    let plain = p.run(&["init", "plain", "--no-git"]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(!p.file("plain/.git").exists());
    assert!(
        plain
            .stderr
            .contains("is not a git repository: autodev will not commit any task's work until it is one (`git init`)"),
        "{}",
        plain.stderr
    );
}

#[test]
fn init_for_any_agent_program_writes_a_project_that_runs() {
    let p = Project::empty();
    // The "agent": a script that reads the prompt from the file it is given and writes hello.txt.
    p.write(
        "app/agent.sh",
        "#!/bin/sh\ntest \"$1\" = --message-file && grep -q hello.txt \"$2\" && echo hello > hello.txt\n",
    );
    let run = p.run(&[
        "init",
        "app",
        "--use",
        "command",
        "--agent",
        "sh ./agent.sh --message-file {prompt_file}",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("(the command backend)"),
        "{}",
        run.stdout
    );
    assert!(
        !p.file("app/.codex").exists(),
        "no wrapper files of another CLI"
    );
    let config = toml(&p.file("app/autodev.toml"));
    assert_eq!(config["backend"]["default"].as_str(), Some("command"));
    assert_eq!(
        config["backend"]["command"]["argv"],
        toml::Value::try_from(vec!["sh", "./agent.sh", "--message-file", "{prompt_file}"]).unwrap()
    );
    p.write(
        "app/task.json",
        r#"{"tasks": [{"id": "T1", "title": "Say hello", "description": "Write hello.txt",
  "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q hello hello.txt"]}}]}"#,
    );
    let night = p
        .command(&["run"])
        .current_dir(p.file("app"))
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&night.stderr);
    assert_eq!(night.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Task T1 completed"), "{stderr}");

    // --agent belongs to --use command, and --use command needs it.
    let wrong = p.run(&["init", "other", "--agent", "aider"]);
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("--agent goes with --use command"),
        "{}",
        wrong.stderr
    );
    let missing = p.run(&["init", "other", "--use", "command"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("needs the agent's command line"),
        "{}",
        missing.stderr
    );
}
