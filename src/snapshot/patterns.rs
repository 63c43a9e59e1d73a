//! The one glob dialect of autodev: `path_patterns`, `protected_paths` and the snapshot's ignore
//! and include globs are all globs over project-relative paths, anchored at the project root.
//!
//! `src/**/*.py` matches `src/main.py` and `src/a/b.py`; `README.md` means the top-level file
//! only; `*` and `?` stay within one directory; a leading `./` or `/` is ignored; a pattern that
//! names a directory (`src`, `src/`) also matches everything below it.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// A compiled list of path patterns.
#[derive(Debug, Clone)]
pub struct PathPatterns {
    set: GlobSet,
    patterns: Vec<String>,
    /// What every matching path starts with, one of these (see [`literal_start`]); `None`
    /// when a pattern begins with a wildcard and any path may match.
    starts: Option<Vec<String>>,
}

/// A pattern as matched (trimmed, no leading `./` or `/`, no trailing `/`).
fn clean(pattern: &str) -> &str {
    pattern
        .trim()
        .trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
}

/// What comes before a pattern's first wildcard (or escape): every path it matches starts so.
fn literal_start(pattern: &str) -> &str {
    let clean = clean(pattern);
    match clean.find(['*', '?', '[', '{', '\\']) {
        Some(at) => &clean[..at],
        None => clean,
    }
}

impl PathPatterns {
    /// Compiles `patterns`; the error names the pattern that is not a valid glob.
    pub fn new(patterns: &[String]) -> Result<PathPatterns, String> {
        let mut builder = GlobSetBuilder::new();
        let mut kept = Vec::new();
        for pattern in patterns {
            let clean = clean(pattern);
            if clean.is_empty() {
                continue;
            }
            for form in [clean.to_string(), format!("{clean}/**")] {
                let glob = GlobBuilder::new(&form)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| {
                        format!("path pattern {pattern:?} is not a valid glob: {}", e.kind())
                    })?;
                builder.add(glob);
            }
            kept.push(pattern.trim().to_string());
        }
        let set = builder
            .build()
            .map_err(|e| format!("path patterns could not be compiled: {e}"))?;
        let starts = kept
            .iter()
            .map(|p| Some(literal_start(p).to_string()).filter(|s| !s.is_empty()))
            .collect();
        Ok(PathPatterns {
            set,
            patterns: kept,
            starts,
        })
    }

    /// Compiles the patterns of setting `key`; a bad one is an error naming the setting.
    pub fn setting(patterns: &[String], key: &str) -> crate::error::Result<PathPatterns> {
        PathPatterns::new(patterns).map_err(|message| crate::error::Error::Setting {
            key: key.to_string(),
            message,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    pub fn matches(&self, path: &str) -> bool {
        self.set.is_match(path.trim_start_matches("./"))
    }

    /// What every path these patterns match starts with, one of these; `None` when any path
    /// may match (a pattern that begins with a wildcard). For looking at the few candidates of
    /// a long sorted list instead of every path.
    pub(crate) fn literal_starts(&self) -> Option<&[String]> {
        self.starts.as_deref()
    }
}

/// Whether some path could match both pattern lists (two tasks' `path_patterns`): judged on
/// each pattern's literal start (what comes before its first wildcard), so it errs towards
/// "they may": `src/a/**` and `src/*.rs` may overlap, `src/a/**` and `docs/*` cannot. An empty
/// list claims no path, and overlaps nothing.
pub fn may_overlap(a: &[String], b: &[String]) -> bool {
    let starts = |list: &[String]| -> Vec<String> {
        list.iter()
            .filter(|p| !clean(p).is_empty())
            .map(|p| literal_start(p).to_string())
            .collect()
    };
    let (a, b) = (starts(a), starts(b));
    a.iter().any(|x| {
        b.iter()
            .any(|y| x.starts_with(y.as_str()) || y.starts_with(x.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_lists_overlap_when_one_literal_start_extends_the_other() {
        let list = |s: &str| -> Vec<String> { s.split_whitespace().map(str::to_string).collect() };
        let table = [
            ("src/a/**", "src/a/b.rs", true),
            ("src/a/**", "src/*.rs", true),
            ("src/a/**", "docs/*", false),
            ("src/a.rs", "src/b.rs", false),
            ("src/a.rs", "./src/a.rs", true),
            ("**/*.rs", "docs/x.md", true),
            ("", "src/**", false),
            ("docs/a.md src/x.rs", "src/x.rs", true),
            ("tests/t1.txt", "tests/t2.txt", false),
        ];
        for (a, b, overlap) in table {
            assert_eq!(may_overlap(&list(a), &list(b)), overlap, "{a:?} vs {b:?}");
            assert_eq!(may_overlap(&list(b), &list(a)), overlap, "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn patterns_are_anchored_and_double_star_spans_directories() {
        let table = [
            ("src/**/*.py", "src/main.py", true),
            ("src/**/*.py", "src/a/b/c.py", true),
            ("src/**/*.py", "lib/src/main.py", false),
            ("README.md", "README.md", true),
            ("README.md", "docs/README.md", false),
            ("*.md", "notes.md", true),
            ("*.md", "docs/notes.md", false),
            ("**/*.md", "docs/notes.md", true),
            ("src", "src/deep/file.rs", true),
            ("src/", "src/file.rs", true),
            ("./src/*.rs", "src/lib.rs", true),
            ("/Cargo.toml", "Cargo.toml", true),
            ("tests/test_?.py", "tests/test_a.py", true),
            ("tests/test_?.py", "tests/test_ab.py", false),
        ];
        for (pattern, path, expected) in table {
            let p = PathPatterns::new(&[pattern.to_string()]).unwrap();
            assert_eq!(p.matches(path), expected, "{pattern} vs {path}");
        }
    }

    #[test]
    fn an_invalid_pattern_is_named() {
        let err = PathPatterns::new(&["src/[a".to_string()]).unwrap_err();
        assert!(err.contains("src/[a"), "{err}");
    }
}
