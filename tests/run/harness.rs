//! A project in a temporary git repository, a fake `codex` on a private PATH, and ways to run
//! `autodev run` in it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use crate::common::Run;
use crate::common::git;

pub const BIN: &str = env!("CARGO_BIN_EXE_autodev");
pub const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/clis");

pub struct Repo {
    pub dir: tempfile::TempDir,
    /// The fake agent's state and bin directories, outside the project.
    pub state: PathBuf,
    bin: PathBuf,
    _outside: tempfile::TempDir,
}

impl Repo {
    /// A committed project with this `task.json`; runs pause 0 s between attempts.
    pub fn new(tasks: &str, extra_toml: &str) -> Repo {
        let dir = tempfile::tempdir().expect("temp dir");
        let outside = tempfile::tempdir().expect("temp dir");
        let state = outside.path().join("fake");
        let bin = outside.path().join("bin");
        fs::create_dir_all(&state).expect("state");
        fs::create_dir_all(&bin).expect("bin");
        crate::common::install_fake(&bin, "codex");
        let repo = Repo {
            dir,
            state,
            bin,
            _outside: outside,
        };
        repo.write(
            "autodev.toml",
            &format!("[project]\nname = \"demo\"\n[run]\ndelay_between_tasks = 0\n{extra_toml}"),
        );
        repo.write("task.json", tasks);
        repo.write(".gitignore", "logs/\n");
        git(repo.path(), &["init", "-q"]);
        git(repo.path(), &["add", "-A"]);
        git(repo.path(), &["commit", "-qm", "base"]);
        repo
    }

    /// Installs the git hook `name` (executable) with the shell script `body`.
    pub fn hook(&self, name: &str, body: &str) {
        let hook = self.path().join(".git/hooks").join(name);
        fs::write(&hook, format!("#!/bin/sh\n{body}")).expect("hook");
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&hook)
            .status()
            .expect("chmod");
    }

    /// Puts the fake agent on the private PATH under another CLI's name too.
    pub fn install(&self, name: &str) {
        crate::common::install_fake(&self.bin, name);
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    /// Creates a marker file in the fake agent's state directory, outside the project.
    pub fn write_outside(&self, name: &str) {
        fs::write(self.state.join(name), "").expect("marker");
    }

    /// A file of the fake agent's state (`call-1.pid`, `grandchild.pid`...).
    pub fn fake_file(&self, name: &str) -> String {
        fs::read_to_string(self.state.join(name)).unwrap_or_default()
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path().join(rel)).unwrap_or_default()
    }

    /// The steps of agent call `n` (1-based), or of every call when `n` is 0.
    pub fn script(&self, n: u32, steps: &str) {
        let name = if n == 0 {
            "script".to_string()
        } else {
            format!("script-{n}")
        };
        fs::write(self.state.join(name), steps).expect("script");
    }

    /// Copies a recorded CLI output into the fake's state directory.
    pub fn sample(&self, name: &str) {
        fs::copy(Path::new(SAMPLES).join(name), self.state.join(name)).expect("sample");
    }

    pub fn calls(&self) -> u32 {
        fs::read_to_string(self.state.join("calls"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        // This user's project registry: outside the project.
        crate::common::hermetic(
            &mut command,
            &self.bin,
            self.path(),
            &self.state.join("xdg-state"),
        )
        .args(args)
        .current_dir(self.path())
        .env("FAKE_AGENT_DIR", &self.state)
        // This test's runs keep quiet for measurements among themselves only.
        .env("AUTODEV_RUN_MEASURE_LOCK", self.state.join("measure.lock"));
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("run autodev").into()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn autodev")
    }

    pub fn queue(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("task.json")).expect("task.json")
    }

    pub fn task(&self, id: &str) -> serde_json::Value {
        self.queue()["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .expect("task")
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("logs/runtime-status.json")).expect("runtime-status.json")
    }

    pub fn attempt_logs(&self) -> Vec<PathBuf> {
        let mut logs: Vec<PathBuf> = fs::read_dir(self.path().join("logs/attempts/codex"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
        logs.sort();
        logs
    }

    /// Waits until the fake has been called `n` times.
    /// The pid of agent call `n`, once the fake agent has written it.
    pub fn agent_pid(&self, n: u32) -> i32 {
        self.pid_in(&format!("call-{n}.pid"))
    }

    /// The pid the fake agent writes in `name`, once it is there whole: a file can be seen
    /// before its number is written (the call counter moves first, and a file is made before it
    /// is filled), so a reader that only waited for it can find it empty.
    pub fn pid_in(&self, name: &str) -> i32 {
        for _ in 0..200 {
            if let Ok(pid) = self.fake_file(name).trim().parse() {
                return pid;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{name} never held a pid");
    }

    pub fn wait_for_calls(&self, n: u32) {
        for _ in 0..200 {
            if self.calls() >= n {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the agent was not called {n} time(s)");
    }
}
