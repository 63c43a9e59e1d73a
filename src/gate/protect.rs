//! Protected paths: the files an attempt must not change (its tests, the benchmark, the checks).
//! Their contents are kept before the agent runs; afterwards any change to them is undone.
//!
//! Besides `verification.protected_paths`, every task protects by default what its checks depend
//! on ([`check_files`]): a check the agent can edit is no check.

use std::path::{Path, PathBuf};

use crate::durable;
use crate::error::{Error, Result};
use crate::snapshot::{PathPatterns, Snapshot};

/// Extensions of files a check runs as a program or a test, wherever they appear in its command.
const SCRIPT_EXTENSIONS: [&str; 14] = [
    "sh", "bash", "zsh", "py", "js", "mjs", "cjs", "ts", "rb", "pl", "php", "lua", "jl", "r",
];

/// The files a task's checks depend on, as keys relative to `root` (the code directory), each
/// a file inside `root` resolved from `workdir` (where the checks run):
/// - what a check runs as a program (`./run_tests.sh`, `checks/top`), the first word of each of
///   its commands;
/// - every word that names a script or test file (`bash checks/top.sh`, `python3
///   bench/measure.py`, `pytest tests/test_api.py`), by its extension;
/// - the makefile of a `make` check;
/// - the project's configuration files `config` (`autodev.toml`, the prompt template).
///
/// Data files a check only reads (`grep -q hello hello.txt`) are not included, and neither
/// are directories: a task may well have to write those, or add tests.
pub fn check_files(
    commands: &[String],
    workdir: &Path,
    root: &Path,
    config: &[PathBuf],
) -> Vec<String> {
    let Ok(top) = root.canonicalize() else {
        return Vec::new();
    };
    let inside = |path: &Path| -> Option<String> {
        let real = path.canonicalize().ok()?;
        if !real.is_file() {
            return None;
        }
        let rel = real.strip_prefix(&top).ok()?;
        Some(crate::snapshot::key::of_os(rel.as_os_str()))
    };
    let mut files: Vec<String> = config.iter().filter_map(|p| inside(p)).collect();
    for command in commands {
        // Each simple command of the line, split at the shell's operators.
        let spaced: String = command
            .chars()
            .map(|c| if ";|&()`\n".contains(c) { '\n' } else { c })
            .collect();
        for simple in spaced.split('\n') {
            let words: Vec<&str> = simple
                .split_whitespace()
                .map(|w| w.trim_matches(|c| c == '\'' || c == '"'))
                .filter(|w| !w.is_empty() && !w.starts_with('<') && !w.starts_with('>'))
                .collect();
            // Leading assignments (`CI=1 ./check.sh`) are not the program.
            let program = words.iter().position(|w| !w.contains('='));
            for (i, word) in words.iter().enumerate() {
                if word.starts_with('-') || word.contains('$') || word.contains('=') {
                    continue;
                }
                let runs = Some(i) == program && word.contains('/');
                let script = Path::new(word)
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| SCRIPT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
                if (runs || script)
                    && let Some(key) = inside(&workdir.join(word))
                {
                    files.push(key);
                }
            }
            if program.is_some_and(|i| words[i] == "make") {
                for name in ["GNUmakefile", "makefile", "Makefile"] {
                    files.extend(inside(&workdir.join(name)));
                }
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

/// The protected files of a project as they were before an attempt.
#[derive(Debug, Clone)]
pub struct Guard {
    root: PathBuf,
    patterns: PathPatterns,
    kept: Vec<(String, Vec<u8>)>,
}

impl Guard {
    /// Reads every tracked file of `snapshot` that `patterns` protect.
    pub fn capture(root: PathBuf, patterns: PathPatterns, snapshot: &Snapshot) -> Result<Guard> {
        let mut kept = Vec::new();
        for rel in snapshot.paths_matching(&patterns) {
            let path = crate::snapshot::key::path(&root, rel);
            // A link or special file is compared by the snapshot but not kept.
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
            kept.push((rel.to_string(), bytes));
        }
        Ok(Guard {
            root,
            patterns,
            kept,
        })
    }

    pub fn patterns(&self) -> &PathPatterns {
        &self.patterns
    }

    /// Puts every changed protected file back as it was (removing protected files the attempt
    /// added); returns the paths it touched, sorted.
    pub fn restore(&self, changed: &[String]) -> Result<Vec<String>> {
        let mut touched = Vec::new();
        for rel in changed.iter().filter(|p| self.patterns.matches(p)) {
            let path = crate::snapshot::key::path(&self.root, rel);
            match self.kept.iter().find(|(k, _)| k == rel) {
                Some((_, bytes)) => {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
                    }
                    durable::write_atomic(&path, bytes)
                        .map_err(|e| Error::io("restore", &path, e))?;
                }
                None => match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &path, e)),
                },
            }
            touched.push(rel.clone());
        }
        touched.sort();
        Ok(touched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_a_check_runs_are_found_and_the_files_it_reads_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "checks/top.sh",
            "run_tests",
            "bench/measure.py",
            "tests/test_api.py",
            "hello.txt",
            "Makefile",
            "autodev.toml",
        ] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "x").unwrap();
        }
        let commands = [
            "bash checks/top.sh --fast && grep -q hello hello.txt".to_string(),
            "CI=1 ./run_tests | tee out.log".to_string(),
            "python3 bench/measure.py; pytest -q tests/test_api.py tests/".to_string(),
            "make check".to_string(),
            "sh missing.sh".to_string(),
        ];
        let found = check_files(&commands, root, root, &[root.join("autodev.toml")]);
        assert_eq!(
            found,
            [
                "Makefile",
                "autodev.toml",
                "bench/measure.py",
                "checks/top.sh",
                "run_tests",
                "tests/test_api.py"
            ]
        );
    }
}
