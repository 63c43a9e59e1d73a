//! The ideas backlog of an experiment: `logs/ideas/<task>.md`, one entry per iteration (what
//! the agent said it tried, the files, the numbers, the decision and why), appended as the
//! experiment goes and kept across runs; and the digest of it that the next iteration's prompt
//! shows, so that the agent builds on what worked and does not try again what did not. Pure:
//! the runner reads and appends the file.

use std::fmt::Write as _;

/// The most entries the digest shows (the newest), and the most characters of it.
const DIGEST_ENTRIES: usize = 12;
const DIGEST_CHARS: usize = 3000;
/// The most characters of what the agent said it tried.
const TRIED_CHARS: usize = 240;

/// One iteration, as the backlog records it.
pub struct Entry<'a> {
    pub iteration: u32,
    /// `kept`, `discarded` or `held`.
    pub action: &'a str,
    /// `improved`, `regressed`, `equivalent`, `simplification`, …
    pub outcome: &'a str,
    /// The agent's own summary of its change (its final message).
    pub tried: &'a str,
    pub files: &'a [String],
    /// The measurement in words (`latency 95 against 100`), empty when none was taken.
    pub measured: &'a str,
    pub why: &'a str,
    pub at: &'a str,
}

/// The first lines of a new backlog.
pub fn header(task: &str, title: &str) -> String {
    format!(
        "# Ideas backlog of {task}: {title}\n\n\
         What each iteration of the experiment tried and what came of it, oldest first. autodev \
         appends an entry after each iteration and shows a digest of the newest in the next \
         prompt. Notes of your own under an entry's heading are shown too.\n"
    )
}

/// One entry, as appended to the backlog.
pub fn entry(e: &Entry) -> String {
    let tried = one_line(e.tried, TRIED_CHARS);
    let mut out = format!(
        "\n## Iteration {} · {} ({}) · {}\n- tried: {}\n",
        e.iteration,
        e.action,
        e.outcome,
        e.at,
        if tried.is_empty() {
            "(the agent said nothing)"
        } else {
            &tried
        }
    );
    if !e.files.is_empty() {
        let _ = writeln!(out, "- files: {}", crate::ui::preview(e.files, 8));
    }
    if !e.measured.is_empty() {
        let _ = writeln!(out, "- measured: {}", e.measured);
    }
    let _ = writeln!(out, "- why: {}", one_line(e.why, 400));
    out
}

/// The digest of a backlog for the next prompt: its newest entries, what worked first, each a
/// line; empty when the backlog has none.
pub fn digest(backlog: &str) -> String {
    let entries = parse(backlog);
    if entries.is_empty() {
        return String::new();
    }
    let newest = &entries[entries.len().saturating_sub(DIGEST_ENTRIES)..];
    let (worked, not): (Vec<&Parsed>, Vec<&Parsed>) =
        newest.iter().partition(|e| e.heading.contains("· kept"));
    let mut out = format!(
        "What earlier iterations tried ({} in all; the newest {} here). Build on what worked; \
         do not try again what did not, unless you change what made it fail:",
        entries.len(),
        newest.len()
    );
    for (label, group) in [("worked", worked), ("did not work", not)] {
        for e in group {
            let line = format!("\n- {label}: {}", e.line());
            if out.len() + line.len() > DIGEST_CHARS {
                out.push_str("\n- (more in the backlog)");
                return out;
            }
            out.push_str(&line);
        }
    }
    out
}

/// The newest `last` entries of a backlog, oldest first, a line each: what the dashboard shows.
pub fn lines(backlog: &str, last: usize) -> Vec<String> {
    let entries = parse(backlog);
    entries[entries.len().saturating_sub(last)..]
        .iter()
        .map(Parsed::line)
        .collect()
}

/// Where the backlog of task `task_id` is, in the logs folder `log_dir`.
pub fn path(log_dir: &std::path::Path, task_id: &str) -> std::path::PathBuf {
    log_dir
        .join("ideas")
        .join(format!("{}.md", crate::task::safe_id(task_id)))
}

/// The newest `last` entries of task `task_id`'s backlog, as [`lines`] gives them; none when
/// it has none (or cannot be read: what is shown is never more than 1 MiB of it).
pub fn read_lines(log_dir: &std::path::Path, task_id: &str, last: usize) -> Vec<String> {
    let text = crate::durable::read_tail(&path(log_dir, task_id), 1 << 20).unwrap_or_default();
    lines(&text, last)
}

/// What the newest `last` entries tried, oldest first, each shortened.
pub fn tried(backlog: &str, last: usize) -> Vec<String> {
    let entries = parse(backlog);
    entries[entries.len().saturating_sub(last)..]
        .iter()
        .filter_map(|e| e.get("tried"))
        .map(|t| one_line(t, 80))
        .collect()
}

/// An entry read back: its heading and its `- key: value` lines.
struct Parsed {
    heading: String,
    lines: Vec<(String, String)>,
}

impl Parsed {
    fn get(&self, key: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `iteration 3 (discarded, regressed): tried … — measured …; why …`, and any notes.
    fn line(&self) -> String {
        let title = self
            .heading
            .split(" · ")
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let mut line = format!("{title}: {}", self.get("tried").unwrap_or("?"));
        if let Some(measured) = self.get("measured") {
            let _ = write!(line, "; {measured}");
        }
        if let Some(why) = self.get("why") {
            let _ = write!(line, "; {}", one_line(why, 160));
        }
        for (key, value) in &self.lines {
            if !["tried", "files", "measured", "why"].contains(&key.as_str()) {
                let _ = write!(line, "; {key}: {}", one_line(value, 160));
            }
        }
        line
    }
}

/// The entries of a backlog: each `## ` heading with the `- key: value` lines under it (a line
/// without a key is a note).
fn parse(backlog: &str) -> Vec<Parsed> {
    let mut entries: Vec<Parsed> = Vec::new();
    for line in backlog.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            entries.push(Parsed {
                heading: heading.trim().to_string(),
                lines: Vec::new(),
            });
        } else if let (Some(entry), Some(item)) = (entries.last_mut(), line.strip_prefix("- ")) {
            let (key, value) = match item.split_once(": ") {
                Some((k, v)) if !k.contains(' ') => (k.to_string(), v.to_string()),
                _ => ("note".to_string(), item.to_string()),
            };
            entry.lines.push((key, value.trim().to_string()));
        }
    }
    entries
}

/// `text` on one line, white space collapsed, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::backend::clip(&joined, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e<'a>(iteration: u32, action: &'a str, outcome: &'a str, tried: &'a str) -> Entry<'a> {
        Entry {
            iteration,
            action,
            outcome,
            tried,
            files: &[],
            measured: "latency 95 against 100",
            why: "95 against 100: better",
            at: "2026-12-07 21:00 UTC",
        }
    }

    #[test]
    fn a_backlog_reads_back_as_a_digest_of_what_worked_then_what_did_not() {
        let files = ["src/parse.rs".to_string()];
        let mut backlog = header("E1", "Make it faster");
        backlog.push_str(&entry(&Entry {
            files: &files,
            ..e(1, "discarded", "regressed", "Tried\n  a bigger   buffer")
        }));
        backlog.push_str(&entry(&e(2, "kept", "improved", "Cached the parser")));
        backlog.push_str("- the cache must stay under 1 MiB\n");
        let digest = digest(&backlog);
        let lines: Vec<&str> = digest.lines().collect();
        assert!(
            lines[0].starts_with("What earlier iterations tried (2 in all"),
            "{digest}"
        );
        assert_eq!(
            lines[1],
            "- worked: iteration 2 kept (improved): Cached the parser; latency 95 against 100; \
             95 against 100: better; note: the cache must stay under 1 MiB"
        );
        assert_eq!(
            lines[2],
            "- did not work: iteration 1 discarded (regressed): Tried a bigger buffer; latency \
             95 against 100; 95 against 100: better"
        );
        assert!(backlog.contains("- files: src/parse.rs\n"), "{backlog}");
    }

    #[test]
    fn an_empty_or_foreign_backlog_has_no_digest_and_a_long_one_is_cut() {
        assert_eq!(digest(""), "");
        assert_eq!(digest("# notes\n- nothing here\n"), "");
        let long = "x".repeat(500);
        let mut backlog = String::new();
        for i in 1..=40 {
            backlog.push_str(&entry(&e(i, "discarded", "regressed", &long)));
        }
        let digest = digest(&backlog);
        assert!(digest.len() <= DIGEST_CHARS + 40, "{}", digest.len());
        assert!(
            digest.contains("(40 in all; the newest 12 here)"),
            "{digest}"
        );
        assert!(digest.ends_with("- (more in the backlog)"), "{digest}");
    }
}
