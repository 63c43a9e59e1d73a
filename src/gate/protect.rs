//! Protected paths: the files an attempt must not change (its tests, the benchmark, the checks).
//! Their contents are kept before the agent runs; afterwards any change to them is undone.

use std::path::PathBuf;

use crate::durable;
use crate::error::{Error, Result};
use crate::snapshot::{PathPatterns, Snapshot};

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
        for rel in snapshot.paths().filter(|p| patterns.matches(p)) {
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
