//! What a failed attempt comes to, in words a person reads in the morning: one sentence that
//! names the cause (the failing check and its decisive output line, or what became of the
//! agent), and the evidence behind it (the end of the check's output, the agent's own last
//! message), bounded. The block reason, `attempt_history`, `progress.txt` and the next prompt
//! all tell the same story.

use crate::backend::{AgentReport, clip};
use crate::gate::GateReport;

/// Lines of a check's output kept as evidence.
const EVIDENCE_LINES: usize = 12;
/// Characters of the agent's last message kept.
const MESSAGE_CHARS: usize = 2000;

/// The cause of a failed attempt and its evidence.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Failure {
    pub cause: String,
    /// The end of the failing check's output (stdout and stderr), oldest line first.
    pub check_output: Vec<String>,
    /// The agent's last message, clipped.
    pub agent_message: String,
}

impl Failure {
    /// The first lines of the evidence, for `progress.txt` and the run's log.
    pub fn evidence(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.check_output.clone();
        if !self.agent_message.is_empty() {
            lines.push(format!(
                "the agent said: {}",
                clip(&one_line(&self.agent_message), 300)
            ));
        }
        lines
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The line of a check's output that says why it failed: the last one that names an error,
/// an assertion or a failure, else the last line.
pub(super) fn decisive_line(output: &str) -> Option<String> {
    const WORDS: [&str; 9] = [
        "error",
        "assert",
        "fail",
        "panic",
        "exception",
        "expected",
        "not found",
        "denied",
        "traceback",
    ];
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|l| {
            let lower = l.to_lowercase();
            WORDS.iter().any(|w| lower.contains(w)) && !lower.starts_with("traceback")
        })
        .or(lines.last())
        .map(|l| clip(l, 300))
}

/// What a failed attempt with this gate (none when the checks did not run) and agent report
/// comes to.
pub(super) fn failure(gate: Option<&GateReport>, report: &AgentReport) -> Failure {
    let agent_message = clip(report.final_text.trim(), MESSAGE_CHARS);
    let failed = gate.map(|g| {
        // Tampering with the checks is the cause whatever they said after it (they ran on
        // what had been put back); otherwise the first failed check command says most.
        let tampered = g
            .checks
            .iter()
            .find(|c| !c.passed && c.name == "protected paths");
        let commands = g
            .checks
            .iter()
            .filter(|c| !c.passed && c.name.starts_with("check: "));
        let first = g.checks.iter().find(|c| !c.passed);
        (tampered.or(commands.clone().next()).or(first), g)
    });
    let (cause, check_output) = match failed {
        Some((Some(check), _)) => {
            let tail: Vec<String> = check
                .output
                .as_deref()
                .unwrap_or("")
                .lines()
                .map(str::to_string)
                .collect();
            let tail = tail[tail.len().saturating_sub(EVIDENCE_LINES)..].to_vec();
            let cause = match check.name.strip_prefix("check: ") {
                Some(command) => match check.output.as_deref().and_then(decisive_line) {
                    Some(line) => format!("check `{command}` failed ({}): {line}", check.detail),
                    None => format!("check `{command}` failed ({})", check.detail),
                },
                None if check.name == "protected paths" => format!(
                    "the agent changed files the checks depend on, which were put back: {}",
                    check.detail.trim_start_matches("changed: ")
                ),
                None => format!("{}: {}", check.name, check.detail),
            };
            (cause, tail)
        }
        Some((None, g)) => (
            g.errors
                .first()
                .map(|e| e.lines().next().unwrap_or("").to_string())
                .unwrap_or_else(|| "the gate did not pass".into()),
            Vec::new(),
        ),
        None => (report.summary(), Vec::new()),
    };
    Failure {
        cause,
        check_output,
        agent_message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Outcome;
    use crate::exec::Exit;
    use crate::gate::Check;

    fn report(outcome: Outcome, detail: &str, text: &str) -> AgentReport {
        let mut r = AgentReport::bare(outcome, detail.into(), Exit::Code(0), None);
        r.final_text = text.into();
        r
    }

    fn check(name: &str, passed: bool, detail: &str, output: Option<&str>) -> Check {
        Check {
            name: name.into(),
            passed,
            detail: detail.into(),
            output: output.map(str::to_string),
        }
    }

    #[test]
    fn the_decisive_line_names_the_error() {
        let traceback = "Traceback (most recent call last):\n  File \"check_a.py\", line 3, in <module>\n    assert total == 3\nAssertionError: expected 3, got 2\n";
        assert_eq!(
            decisive_line(traceback).as_deref(),
            Some("AssertionError: expected 3, got 2")
        );
        assert_eq!(decisive_line("one\ntwo\n").as_deref(), Some("two"));
        assert_eq!(decisive_line("\n \n"), None);
    }

    #[test]
    fn causes_name_the_check_or_the_agent() {
        let gate = GateReport {
            passed: false,
            checks: vec![
                check("changed files", true, "1 changed", None),
                check(
                    "check: python3 check_a.py",
                    false,
                    "exit 1",
                    Some("Traceback (most recent call last):\nAssertionError: expected 3, got 2"),
                ),
            ],
            ..GateReport::default()
        };
        let said = report(
            Outcome::Ok,
            "",
            "I cannot publish: there are no credentials",
        );
        let failure = failure(Some(&gate), &said);
        assert_eq!(
            failure.cause,
            "check `python3 check_a.py` failed (exit 1): AssertionError: expected 3, got 2"
        );
        assert_eq!(failure.check_output.len(), 2);
        assert_eq!(
            failure.evidence().last().map(String::as_str),
            Some("the agent said: I cannot publish: there are no credentials")
        );

        let timed_out = report(
            Outcome::TimedOut,
            "stopped after 1800 s without output (backend.idle_timeout_seconds)",
            "",
        );
        assert_eq!(
            super::failure(None, &timed_out).cause,
            "the agent timed out: stopped after 1800 s without output (backend.idle_timeout_seconds)"
        );

        let no_change = GateReport {
            passed: false,
            checks: vec![check(
                "changed files",
                false,
                "too few changed files: 0, at least 1 expected",
                None,
            )],
            ..GateReport::default()
        };
        assert_eq!(
            super::failure(Some(&no_change), &said).cause,
            "changed files: too few changed files: 0, at least 1 expected"
        );
    }
}
