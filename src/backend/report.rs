//! The one report every backend's output is read into, and the outcome classes that drive the
//! runner's policy (halt, wait, retry).

use serde::{Deserialize, Serialize};

use crate::exec::{self, Captured, Exit, StopReason};

/// What kind of ending an agent call had. Each class is decided from the CLI's structured
/// events and its exit code (see `docs/backends.md`), never from words anywhere in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The agent finished its turn.
    Ok,
    /// Not logged in, a missing or rejected API key: nothing will work until a person acts.
    Auth,
    /// The provider refused for quota or rate reasons: wait, then try again.
    RateLimited,
    /// The provider is overloaded or unavailable: wait, then try again.
    Overloaded,
    /// The provider could not be reached at all.
    NetworkDown,
    /// The CLI refused tool calls it needed (headless runs deny what would need a prompt).
    PermissionDenied,
    /// The agent ran out of turns.
    MaxTurns,
    /// The CLI refused its arguments or its environment (a usage error, bypass mode as root, an
    /// untrusted folder): autodev's settings must change.
    Misconfigured,
    /// A non-zero exit or a signal with no recognised cause.
    Crashed,
    /// Stopped by the wall-clock or idle limit.
    TimedOut,
    /// Stopped because autodev was interrupted.
    Interrupted,
    /// The CLI is not installed (not on PATH).
    NotInstalled,
    /// The account behind the credentials has no quota or credit left: nothing will work until
    /// a person acts (unlike a rate limit, waiting does not help).
    QuotaExhausted,
    /// Not called: the run's budget is spent (or the next call would likely pass it).
    OverBudget,
    /// Not called: the task's own budget (`max_cost_usd` on the task) is spent.
    OverTaskBudget,
}

impl Outcome {
    /// The name written to files and logs (`rate_limited`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Auth => "auth",
            Outcome::RateLimited => "rate_limited",
            Outcome::Overloaded => "overloaded",
            Outcome::NetworkDown => "network_down",
            Outcome::PermissionDenied => "permission_denied",
            Outcome::MaxTurns => "max_turns",
            Outcome::Misconfigured => "misconfigured",
            Outcome::Crashed => "crashed",
            Outcome::TimedOut => "timed_out",
            Outcome::Interrupted => "interrupted",
            Outcome::NotInstalled => "not_installed",
            Outcome::QuotaExhausted => "quota_exhausted",
            Outcome::OverBudget => "over_budget",
            Outcome::OverTaskBudget => "over_task_budget",
        }
    }

    /// What the agent did, as words after "the agent" (`was rate-limited`).
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::Ok => "finished",
            Outcome::Auth => "could not authenticate",
            Outcome::RateLimited => "was rate-limited",
            Outcome::Overloaded => "found its provider overloaded",
            Outcome::NetworkDown => "could not reach its provider",
            Outcome::PermissionDenied => "was refused permission for tools",
            Outcome::MaxTurns => "ran out of turns",
            Outcome::Misconfigured => "refused its settings",
            Outcome::Crashed => "failed",
            Outcome::TimedOut => "timed out",
            Outcome::Interrupted => "was interrupted",
            Outcome::NotInstalled => "is not installed",
            Outcome::QuotaExhausted => "found its account out of quota or credit",
            Outcome::OverBudget => "was not called: the run's budget is spent",
            Outcome::OverTaskBudget => "was not called: the task's budget is spent",
        }
    }

    /// Whether a provider's error message says the account's quota or credit is used up (the
    /// wording the CLIs pass on, such as codex's "Quota exceeded. Check your plan and billing
    /// details." or OpenAI's `insufficient_quota`), as opposed to a passing rate limit.
    pub fn says_quota(message: &str) -> bool {
        let lower = message.to_lowercase();
        [
            "quota exceeded",
            "insufficient_quota",
            "exceeded your current quota",
            "billing details",
            "credit balance is too low",
            "exhausted your daily quota",
        ]
        .iter()
        .any(|w| lower.contains(w))
    }

    /// Classifies an HTTP status reported by a provider.
    pub fn from_http_status(status: u64) -> Option<Outcome> {
        match status {
            401 | 403 => Some(Outcome::Auth),
            429 => Some(Outcome::RateLimited),
            500 | 502..=504 | 529 => Some(Outcome::Overloaded),
            _ => None,
        }
    }
}

/// Token counts of one call; cache reads and writes are kept apart from fresh input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub reasoning: u64,
}

impl Usage {
    /// The usage a report carries, `None` when the CLI reported none (all counts zero).
    pub fn reported(self) -> Option<Usage> {
        (self != Usage::default()).then_some(self)
    }

    pub fn add(&mut self, other: Usage) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
        self.reasoning += other.reasoning;
    }
}

/// What an agent call came to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReport {
    pub outcome: Outcome,
    /// Why, in one line, when the outcome is not `ok` (or when it is worth saying anyway).
    pub detail: String,
    /// The agent's last message.
    pub final_text: String,
    pub usage: Usage,
    /// Cost in USD, when the CLI reports one.
    pub cost_usd: Option<f64>,
    pub session_id: Option<String>,
    pub turns: Option<u64>,
    /// Tools the CLI refused to run.
    pub denied_tools: Vec<String>,
    pub exit: Exit,
    pub stopped: Option<StopReason>,
}

impl AgentReport {
    /// Whether a read-only one-shot call answered: it finished, or its only trouble was the
    /// read-only mode refusing a tool the model tried (the mode working as meant), with an
    /// answer given.
    pub fn answered(&self) -> bool {
        self.outcome == Outcome::Ok
            || (self.outcome == Outcome::PermissionDenied && !self.final_text.trim().is_empty())
    }

    /// What became of the call, in a phrase: `the agent timed out: no output for 1800 s`.
    pub fn summary(&self) -> String {
        if self.detail.is_empty() {
            format!("the agent {}", self.outcome.describe())
        } else {
            format!("the agent {}: {}", self.outcome.describe(), self.detail)
        }
    }

    /// A report with this classification and nothing else known yet.
    pub fn bare(outcome: Outcome, detail: String, exit: Exit, stopped: Option<StopReason>) -> Self {
        AgentReport {
            outcome,
            detail,
            final_text: String::new(),
            usage: Usage::default(),
            cost_usd: None,
            session_id: None,
            turns: None,
            denied_tools: Vec::new(),
            exit,
            stopped,
        }
    }

    /// The report for a CLI that could not be started because it is not installed.
    pub fn not_installed(detail: String) -> AgentReport {
        AgentReport::bare(Outcome::NotInstalled, detail, Exit::Code(127), None)
    }
}

/// How a supervised call ended, as the parsers need it.
pub struct Finished<'a> {
    pub exit: Exit,
    pub stopped: Option<StopReason>,
    pub stdout: &'a Captured,
    pub stderr: &'a Captured,
    /// The contents of the CLI's last-message file, when it writes one (codex `-o`).
    pub last_message: Option<&'a str>,
    /// The limits in force, to explain a timeout.
    pub wall_seconds: u64,
    pub idle_seconds: u64,
}

impl<'a> Finished<'a> {
    /// How a supervised call under `limits` ended.
    pub fn new(
        outcome: &'a exec::Outcome,
        limits: &exec::Limits,
        last_message: Option<&'a str>,
    ) -> Self {
        let seconds = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_secs());
        Finished {
            exit: outcome.exit,
            stopped: outcome.stopped,
            stdout: &outcome.stdout,
            stderr: &outcome.stderr,
            last_message,
            wall_seconds: seconds(limits.wall),
            idle_seconds: seconds(limits.idle),
        }
    }

    /// The report when autodev itself ended the call (timeout, interrupt), else `None`.
    /// An observer stop is the parser's own decision, so it is not handled here.
    pub fn stopped_report(&self) -> Option<(Outcome, String)> {
        match self.stopped? {
            StopReason::WallTimeout => Some((
                Outcome::TimedOut,
                format!(
                    "stopped after the {} s wall-clock limit (backend.timeout_seconds)",
                    self.wall_seconds
                ),
            )),
            StopReason::IdleTimeout => Some((
                Outcome::TimedOut,
                format!(
                    "stopped after {} s without output (backend.idle_timeout_seconds)",
                    self.idle_seconds
                ),
            )),
            StopReason::Cancelled => Some((Outcome::Interrupted, "interrupted".to_string())),
            StopReason::Observer => None,
        }
    }

    /// Outcome and detail from the exit code alone.
    pub fn exit_report(&self) -> (Outcome, String) {
        if self.exit.success() {
            (Outcome::Ok, String::new())
        } else {
            let said = last_line(&self.stderr.tail_lines(5))
                .or_else(|| last_line(&self.stdout.tail_lines(5)))
                .map(|l| format!(": {}", clip(&l, 300)))
                .unwrap_or_default();
            (Outcome::Crashed, format!("{}{said}", self.exit))
        }
    }

    /// A report with the given classification and everything else empty.
    pub fn report(&self, outcome: Outcome, detail: String) -> AgentReport {
        AgentReport::bare(outcome, detail, self.exit, self.stopped)
    }
}

/// The last non-blank line of a text, without terminal colour codes.
pub fn last_line(text: &str) -> Option<String> {
    text.lines()
        .map(strip_ansi)
        .map(|l| l.trim().to_string())
        .rfind(|l| !l.is_empty())
}

/// Whether a line a CLI printed is noise to a person: a frame of a stack trace (`at f
/// (file.js:1:2)`) or a piece of a JSON object printed over several lines. It stays in the logs.
pub fn is_noise(line: &str) -> bool {
    let t = line.trim();
    let frame = t.starts_with("at ") && (t.contains(".js:") || t.ends_with(')'));
    let json = matches!(t, "{" | "}" | "}," | "[" | "]" | "],")
        || (t.starts_with('"') && t.contains("\":"));
    frame || json
}

/// The line of a CLI's stderr that says what went wrong: the first one that begins with
/// `Error` (gemini's "Error in <file>: <fault>"), else the last that is not noise
/// ([`is_noise`]) — never a stack frame or a closing "Please fix … and try again".
pub fn decisive_line(text: &str) -> Option<String> {
    let lines: Vec<String> = text
        .lines()
        .map(strip_ansi)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !is_noise(l))
        .collect();
    lines
        .iter()
        .find(|l| l.starts_with("Error"))
        .or(lines.last())
        .cloned()
}

/// Removes ANSI escape sequences (CLIs colour their stderr even when it is a pipe).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Shortens a message for a one-line detail.
pub fn clip(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_serialized_form() {
        for outcome in [Outcome::Ok, Outcome::RateLimited, Outcome::NotInstalled] {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
    }

    #[test]
    fn a_read_only_call_that_answered_despite_a_refused_tool_answered() {
        let mut report = AgentReport::bare(
            Outcome::PermissionDenied,
            "Write was denied".into(),
            Exit::Code(0),
            None,
        );
        assert!(!report.answered(), "no answer: a failure");
        report.final_text = "## Context\n...".into();
        assert!(
            report.answered(),
            "the read-only mode worked and the model answered"
        );
        report.outcome = Outcome::Crashed;
        assert!(!report.answered());
    }

    #[test]
    fn quota_words_are_told_from_rate_limits() {
        assert!(Outcome::says_quota(
            "Quota exceeded. Check your plan and billing details."
        ));
        assert!(Outcome::says_quota(
            "You exceeded your current quota (insufficient_quota)"
        ));
        assert!(!Outcome::says_quota(
            "unexpected status 429 Too Many Requests"
        ));
    }

    #[test]
    fn http_statuses_map_to_policy_classes() {
        assert_eq!(Outcome::from_http_status(401), Some(Outcome::Auth));
        assert_eq!(Outcome::from_http_status(429), Some(Outcome::RateLimited));
        assert_eq!(Outcome::from_http_status(529), Some(Outcome::Overloaded));
        assert_eq!(Outcome::from_http_status(400), None);
    }

    #[test]
    fn colour_codes_are_removed() {
        assert_eq!(
            strip_ansi("\u{1b}[91m\u{1b}[1mError: \u{1b}[0mbad key"),
            "Error: bad key"
        );
        assert_eq!(last_line("a\n\u{1b}[0m\n  b  \n\n").as_deref(), Some("b"));
    }

    #[test]
    fn clipping_counts_characters() {
        assert_eq!(clip("héllo wörld", 5), "héllo…");
        assert_eq!(clip(" short ", 50), "short");
    }
}
