//! Test harness: a temporary autodev project and a way to run the real binary inside it with a
//! clean environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use crate::common::Run;

pub const BIN: &str = env!("CARGO_BIN_EXE_autodev");

pub struct Project {
    pub dir: tempfile::TempDir,
    /// This user's state directory (the project registry), outside the project.
    state: tempfile::TempDir,
}

impl Project {
    /// A project with a minimal autodev.toml and the given task.json text.
    pub fn new(tasks: &str) -> Project {
        let project = Project::empty();
        project.write("autodev.toml", "[project]\nname = \"demo\"\n");
        project.write("task.json", tasks);
        project
    }

    pub fn empty() -> Project {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
            state: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) {
        let path = self.file(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, text).expect("write");
    }

    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.file(name)).expect("read")
    }

    /// A command for the binary in the project directory, with only PATH and HOME inherited.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("XDG_STATE_HOME", self.state.path())
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("run autodev").into()
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().expect("run autodev").into()
    }

    /// Names of the files in the project directory (not recursive), sorted.
    pub fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The `task.json.bak.*` files, sorted.
    pub fn backups(&self) -> Vec<String> {
        self.listing()
            .into_iter()
            .filter(|n| n.starts_with("task.json.bak."))
            .collect()
    }
}

/// A queue with one task in each stored state, for listings.
pub const MIXED_QUEUE: &str = r#"{
  "project": "demo",
  "tasks": [
    {"id": "T1", "title": "Add the parser", "passes": true,
     "verification": {"validate_commands": ["cargo test"]}},
    {"id": "T2", "title": "Wire the CLI", "blocked": true, "block_reason": "tests fail on CI"},
    {"id": "T3", "title": "Write the guide", "steps": ["draft README", "add examples"],
     "attempt_history": [{"attempt": 1, "status": "failed"}]},
    {"id": "T4", "title": "Speed up startup",
     "completion": {"kind": "numeric", "name": "startup_ms", "direction": "lower_is_better",
                    "json_path": "$.ms", "target": 50},
     "execution": {"strategy": "iterative", "max_iterations": 4}},
    {"id": "T5", "name": "Legacy named task"}
  ]
}
"#;
