//! Pieces shared by the integration test crates (each includes this file as a module).
// Each test crate uses only some of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Installs the scripted stand-in agent (`autodev __fake-agent`, the same one `autodev demo`
/// runs) in `bin` under the name of the CLI it stands in for.
pub fn install_fake(bin: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = bin.join(name);
    let shim = format!(
        "#!/bin/sh\nexec '{}' __fake-agent {name} \"$@\"\n",
        env!("CARGO_BIN_EXE_autodev")
    );
    std::fs::write(&path, shim).expect("fake agent");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A folder holding links to exactly these programs (found on this PATH), to be a whole PATH:
/// proof that nothing else is needed.
pub fn path_of_only(dir: &Path, tools: &[&str]) -> std::path::PathBuf {
    let bin = dir.join("only-bin");
    std::fs::create_dir_all(&bin).expect("bin");
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .expect("which");
        let real = String::from_utf8_lossy(&found.stdout).trim().to_string();
        std::os::unix::fs::symlink(real, bin.join(tool)).expect("link");
    }
    bin
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The whole output, as a snapshot holds it: the exit status, stdout and stderr together,
    /// so a message that moves from one stream to the other, or a changed exit status, shows.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `check` (an `insta` assertion) with the redactions every whole-output snapshot shares:
/// what differs from one run to the next — the project's temporary folder, times, durations,
/// commit ids — becomes a placeholder, the same way in every test.
pub fn redacted(root: &Path, check: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&escape(&root.display().to_string()), "[project]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[time]");
    settings.add_filter(r"\b\d+(\.\d+)? ?ms\b", "[ms]");
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[sha]");
    settings.bind(check);
}

/// `text` as a regular expression that matches only itself.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether a process is still running (a zombie or a missing pid is not).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Runs git in `dir` with a fixed identity and no user configuration; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that `task` (an object of task.json) is there and that its flag `field` (`passes`,
/// `blocked`) is off: false, or absent as a queue written by hand leaves it (autodev reads an
/// absent flag as false). A task that is not there at all fails, rather than passing for want
/// of the field.
pub fn assert_off(task: &serde_json::Value, field: &str) {
    assert!(task["id"].is_string(), "no such task: {task}");
    let flag = task.get(field).unwrap_or(&serde_json::Value::Bool(false));
    assert_eq!(flag, false, "{field} is on: {task}");
}

/// The one test environment for running the binary: nothing of the host's environment
/// inherited (no PATH of the developer's, where a real agent CLI could be found), `PATH` of
/// `bin` then the system's own folders, `HOME` and the state directory given, and git with no
/// user configuration and a fixed identity.
pub fn hermetic<'a>(
    command: &'a mut std::process::Command,
    bin: &Path,
    home: &Path,
    state: &Path,
) -> &'a mut std::process::Command {
    command
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", home)
        .env("XDG_STATE_HOME", state)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .stdin(std::process::Stdio::null())
}
