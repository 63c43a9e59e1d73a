//! Test harness: a temporary autodev project and a way to run the real binary inside it with a
//! clean environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use crate::common::Run;

pub const BIN: &str = env!("CARGO_BIN_EXE_autodev");

pub struct Project {
    pub dir: tempfile::TempDir,
    /// This user's state directory (the project registry), outside the project.
    state: tempfile::TempDir,
    /// The first folder of the commands' PATH: private and empty, so that no agent CLI of the
    /// host's is ever found.
    bin: tempfile::TempDir,
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
            bin: tempfile::tempdir().expect("temp dir"),
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

    /// A command for the binary in the project directory, in the hermetic test environment
    /// (nothing of the host's inherited).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        crate::common::hermetic(
            &mut command,
            self.bin.path(),
            self.path(),
            self.state.path(),
        )
        .args(args)
        .current_dir(self.path());
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
