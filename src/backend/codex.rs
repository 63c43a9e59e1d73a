//! Codex CLI (`codex exec`): the command line and the reading of its `--json` events plus the
//! `--output-last-message` file.
//!
//! Facts this adapter is built on (codex 0.169): `--full-auto` is rejected (exit 2) and replaced
//! by `--sandbox workspace-write`; `exec` never asks for approval; `-` reads the prompt from
//! stdin, and an open stdin makes it wait for ever; outside a git repository it refuses to run
//! without `--skip-git-repo-check`; a failed turn ends with `turn.failed` and exit 1; without
//! network it emits "waiting for network" errors for ever, so a run of those stops the call.

use serde_json::Value;

use super::report::clip;
use super::{AgentReport, Finished, Invocation, Outcome, Parser, Purpose, Request, Usage, str_of};
use crate::config::{CodexSandbox, CodexSettings};
use crate::exec::{Flow, Observer, Spec, Stream};

/// Consecutive "waiting for network" events after which the call is given up.
const NETWORK_WAIT_EVENTS: u32 = 3;

pub fn invocation(s: &CodexSettings, request: &Request) -> Invocation {
    let mut spec = Spec::new("codex", request.cwd);
    spec.args = vec!["exec".into(), "--json".into()];
    if s.skip_git_repo_check {
        spec.args.push("--skip-git-repo-check".into());
    }
    match request.purpose {
        Purpose::Attempt if s.yolo || s.dangerously_bypass_approvals_and_sandbox => {
            spec.args
                .push("--dangerously-bypass-approvals-and-sandbox".into());
        }
        Purpose::Attempt => {
            spec.args
                .extend(["--sandbox".into(), s.sandbox.as_str().into()]);
        }
        Purpose::OneShot => {
            spec.args.extend([
                "--sandbox".into(),
                CodexSandbox::ReadOnly.as_str().into(),
                "--ephemeral".into(),
            ]);
        }
    }
    if request.purpose == Purpose::Attempt && s.ephemeral {
        spec.args.push("--ephemeral".into());
    }
    let last_message = super::side_file(request.scratch, ".last-message.txt");
    spec.args.extend([
        "--output-last-message".into(),
        last_message.to_string_lossy().into_owned(),
    ]);
    let mut spec = super::finish_spec(spec, request, &s.model, &s.extra_args);
    // `-`: the instructions are on stdin.
    spec.args.push("-".into());
    let mut invocation = Invocation::plain(spec, Vec::new());
    invocation.last_message_file = Some(last_message);
    invocation
}

#[derive(Default)]
pub struct CodexParser {
    thread_id: Option<String>,
    last_text: String,
    usage: Usage,
    turns: u64,
    failure: Option<String>,
    network_waits: u32,
    network_down: bool,
    refusal: Option<String>,
    /// At least one JSON event arrived (else stdout is read as plain text).
    saw_events: bool,
}

impl Observer for CodexParser {
    fn line(&mut self, stream: Stream, line: &str) -> Flow {
        if stream == Stream::Stderr {
            let line = line.trim();
            let refused = line.starts_with("error: unexpected argument")
                || line.starts_with("error: unrecognized subcommand")
                || line.starts_with("error: invalid value")
                || line.starts_with("Not inside a trusted directory");
            if refused && self.refusal.is_none() {
                self.refusal = Some(format!("codex: {line}"));
            }
            return Flow::Continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            return Flow::Continue;
        };
        self.saw_events = true;
        let kind = str_of(&event, "type");
        if kind == "error" && str_of(&event, "message").contains("waiting for network") {
            self.network_waits += 1;
            if self.network_waits >= NETWORK_WAIT_EVENTS {
                self.network_down = true;
                return Flow::Stop;
            }
            return Flow::Continue;
        }
        self.network_waits = 0;
        match kind {
            "thread.started" => {
                self.thread_id = event["thread_id"].as_str().map(str::to_string);
            }
            "item.completed" => {
                let item = &event["item"];
                if str_of(item, "type") == "agent_message" {
                    self.last_text = str_of(item, "text").to_string();
                }
            }
            "turn.completed" => {
                let u = &event["usage"];
                let cached = u["cached_input_tokens"].as_u64().unwrap_or(0);
                self.usage.add(Usage {
                    // codex counts cached tokens inside input_tokens.
                    input: u["input_tokens"]
                        .as_u64()
                        .unwrap_or(0)
                        .saturating_sub(cached),
                    output: u["output_tokens"].as_u64().unwrap_or(0),
                    cache_read: cached,
                    cache_write: u["cache_write_input_tokens"].as_u64().unwrap_or(0),
                    reasoning: u["reasoning_output_tokens"].as_u64().unwrap_or(0),
                });
                self.turns += 1;
            }
            "turn.failed" => {
                self.failure = Some(str_of(&event["error"], "message").to_string());
            }
            _ => {}
        }
        Flow::Continue
    }
}

/// The HTTP status in a codex error message such as "unexpected status 401 Unauthorized: …".
fn status_in(message: &str) -> Option<u64> {
    message.match_indices("status").find_map(|(at, word)| {
        let rest = message[at + word.len()..].trim_start_matches([':', ' ']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() == 3 {
            digits.parse().ok()
        } else {
            None
        }
    })
}

fn classify_failure(message: &str) -> Outcome {
    if message.starts_with("Missing environment variable") {
        return Outcome::Auth;
    }
    if Outcome::says_quota(message) {
        return Outcome::QuotaExhausted;
    }
    status_in(message)
        .and_then(Outcome::from_http_status)
        .unwrap_or(Outcome::Crashed)
}

impl Parser for CodexParser {
    fn done(&self) -> bool {
        self.turns > 0
    }

    fn live(&self) -> (Usage, Option<f64>) {
        (self.usage, None)
    }

    fn finish(self: Box<Self>, run: &Finished) -> AgentReport {
        let (outcome, detail) = if self.network_down {
            (
                Outcome::NetworkDown,
                "codex cannot reach its provider (waiting for network)".to_string(),
            )
        } else if let Some(stopped) = run.stopped_report() {
            stopped
        } else if let Some(refusal) = &self.refusal {
            (Outcome::Misconfigured, refusal.clone())
        } else if let Some(message) = &self.failure {
            (classify_failure(message), clip(message, 300))
        } else {
            run.exit_report()
        };
        let mut report = run.report(outcome, detail);
        report.session_id = self.thread_id;
        report.usage = self.usage;
        report.turns = (self.turns > 0).then_some(self.turns);
        report.final_text = match run.last_message.map(str::trim) {
            Some(text) if !text.is_empty() => text.to_string(),
            _ if !self.saw_events => run.stdout.text().trim().to_string(),
            _ => self.last_text,
        };
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_from_failure_messages() {
        assert_eq!(
            status_in("unexpected status 401 Unauthorized: Incorrect API key"),
            Some(401)
        );
        assert_eq!(
            status_in("exceeded retry limit, last status: 429"),
            Some(429)
        );
        assert_eq!(status_in("status 5"), None);
        assert_eq!(
            classify_failure("Missing environment variable: `MOCK_API_KEY`."),
            Outcome::Auth
        );
        assert_eq!(
            classify_failure("unexpected status 429 Too Many Requests"),
            Outcome::RateLimited
        );
        assert_eq!(
            classify_failure("Quota exceeded. Check your plan and billing details."),
            Outcome::QuotaExhausted
        );
    }
}
