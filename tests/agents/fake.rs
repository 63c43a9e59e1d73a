//! The scripted fake agent (`autodev __fake-agent`), installed under the names of the real
//! CLIs in a private bin directory, with its own state directory.

use std::fs;
use std::path::{Path, PathBuf};

use autodev::exec::{self, Cancel, Ignore, Limits, Observer, Outcome, Spec, Tee};

pub const NAMES: [&str; 5] = ["claude", "codex", "gemini", "opencode", "my-agent"];

pub struct Fake {
    pub state: tempfile::TempDir,
    pub bin: tempfile::TempDir,
    pub work: tempfile::TempDir,
}

impl Fake {
    pub fn new() -> Fake {
        let fake = Fake {
            state: tempfile::tempdir().expect("state dir"),
            bin: tempfile::tempdir().expect("bin dir"),
            work: tempfile::tempdir().expect("work dir"),
        };
        for name in NAMES {
            crate::common::install_fake(fake.bin.path(), name);
        }
        fake
    }

    /// The steps every call runs (unless a numbered script exists).
    pub fn script(&self, steps: &str) {
        fs::write(self.state.path().join("script"), steps).expect("write script");
    }

    pub fn put(&self, name: &str, bytes: &[u8]) {
        fs::write(self.state.path().join(name), bytes).expect("write state file");
    }

    pub fn recorded(&self, name: &str) -> Vec<u8> {
        fs::read(self.state.path().join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn argv(&self, call: u32) -> Vec<String> {
        String::from_utf8(self.recorded(&format!("call-{call}.argv")))
            .expect("utf-8 argv")
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn path_var(&self) -> String {
        format!("{}:/usr/bin:/bin", self.bin.path().display())
    }

    /// Points a spec at the fake: its program becomes the fake of the same name.
    pub fn adopt(&self, mut spec: Spec) -> Spec {
        spec.program = self
            .bin
            .path()
            .join(Path::new(&spec.program).file_name().expect("program name"))
            .to_string_lossy()
            .into_owned();
        spec.env.push((
            "FAKE_AGENT_DIR".into(),
            self.state.path().to_string_lossy().into_owned(),
        ));
        spec
    }

    /// A spec running the fake as `name` with no arguments and no stdin.
    pub fn spec(&self, name: &str) -> Spec {
        self.adopt(Spec::new(name, self.work.path()))
    }

    pub fn scratch(&self) -> PathBuf {
        self.work.path().join("attempt")
    }
}

pub fn run(spec: &Spec, limits: &Limits) -> Outcome {
    run_observed(spec, limits, &mut Ignore, &mut Tee::default())
}

pub fn run_observed(
    spec: &Spec,
    limits: &Limits,
    observer: &mut dyn Observer,
    tee: &mut Tee,
) -> Outcome {
    exec::run_blocking(spec, limits, tee, observer, &Cancel::default()).expect("spawn fake agent")
}

/// Generous limits for runs that are expected to end by themselves.
pub fn relaxed() -> Limits {
    Limits::from_seconds(60, 0, 2)
}

pub use crate::common::alive;
