//! Claude Code (`claude -p`): the command line, the root-user policy, and the reading of its
//! `stream-json` / `json` output.
//!
//! Facts this adapter is built on (Claude Code 2.1.x): the prompt is read from stdin in `-p`
//! mode; `stream-json` needs `--verbose`; variadic options such as `--allowedTools` must use the
//! `--opt=a,b` form; bypass mode is refused for root unless `IS_SANDBOX=1`; tools that would need
//! approval are denied and the run still exits 0 (listed in `permission_denials`); API failures
//! come back as a `result` with `is_error: true`, and a bad key is retried for minutes, so the
//! first 401 `api_retry` stops the call.

use serde_json::Value;

use super::report::clip;
use super::{AgentReport, Finished, Invocation, Outcome, Parser, Purpose, Request, Usage, str_of};
use crate::config::{ClaudeSettings, OutputFormat, PermissionMode, RootModeSettings};
use crate::exec::{Flow, Observer, Spec, Stream};

pub fn invocation(s: &ClaudeSettings, root: &RootModeSettings, request: &Request) -> Invocation {
    let mut spec = Spec::new("claude", request.cwd);
    let mut notes = Vec::new();
    spec.args = vec![
        "-p".into(),
        "--output-format".into(),
        s.output_format.as_str().into(),
    ];
    if s.output_format == OutputFormat::StreamJson || s.verbose {
        spec.args.push("--verbose".into());
    }
    match request.purpose {
        Purpose::OneShot => {
            // Plan mode: claude may read, never write; allowed as root too.
            spec.args
                .extend(["--permission-mode".into(), "plan".into()]);
        }
        Purpose::Attempt => {
            let mut mode = s.permission_mode;
            let mut skip = s.skip_permissions;
            let mut allowed = s.allowed_tools.clone();
            let bypass = skip || mode == PermissionMode::BypassPermissions;
            if request.as_root && bypass && s.sandbox {
                spec.env.push(("IS_SANDBOX".into(), "1".into()));
                notes.push(
                    "running as root with backend.claude.sandbox = true: bypass mode kept \
                     (IS_SANDBOX=1)"
                        .to_string(),
                );
            } else if request.as_root && (bypass || mode == PermissionMode::Default) {
                if root.disable_skip_permissions {
                    skip = false;
                }
                mode = root.fallback_permission_mode;
                if allowed.is_empty() {
                    allowed = root.allowed_tools.clone();
                }
                notes.push(format!(
                    "running as root: claude refuses bypass mode for root, so this attempt uses \
                     --permission-mode {}{} (run.root_mode); in a disposable container set \
                     backend.claude.sandbox = true to keep bypass",
                    mode.as_str(),
                    if allowed.is_empty() {
                        String::new()
                    } else {
                        format!(" with --allowedTools={}", allowed.join(","))
                    }
                ));
            }
            if skip {
                spec.args.push("--dangerously-skip-permissions".into());
            } else if mode != PermissionMode::Default {
                spec.args
                    .extend(["--permission-mode".into(), mode.as_str().into()]);
            }
            if !allowed.is_empty() {
                spec.args
                    .push(format!("--allowedTools={}", allowed.join(",")));
            }
            // Deny rules hold in every permission mode: the edit is refused before it happens.
            if !request.protected.is_empty() {
                let rules: Vec<String> = request
                    .protected
                    .iter()
                    .flat_map(|p| [format!("Edit({p})"), format!("Write({p})")])
                    .collect();
                spec.args
                    .push(format!("--disallowedTools={}", rules.join(",")));
            }
            if s.max_turns > 0 {
                spec.args
                    .extend(["--max-turns".into(), s.max_turns.to_string()]);
            }
        }
    }
    let spec = super::finish_spec(spec, request, &s.model, &s.extra_args);
    Invocation::plain(spec, notes)
}

pub fn parser(s: &ClaudeSettings) -> Box<dyn Parser> {
    match s.output_format {
        OutputFormat::Text => Box::new(super::PlainText),
        OutputFormat::Json | OutputFormat::StreamJson => Box::new(ClaudeParser::default()),
    }
}

/// Reads `stream-json` lines (and the single line of `json`, which is the `result` event).
#[derive(Default)]
pub struct ClaudeParser {
    session_id: Option<String>,
    last_text: String,
    /// The `error` code of the last synthetic API-error message (`authentication_failed`, ...).
    api_error: Option<String>,
    /// The last `api_retry`: its error code and HTTP status.
    retry: Option<(String, Option<u64>)>,
    /// Stopped on the first authentication failure instead of waiting out the retries.
    auth_abort: Option<String>,
    result: Option<Value>,
    denied: Vec<String>,
    /// A refusal printed on stderr before any event.
    refusal: Option<(Outcome, String)>,
    /// The usage of each assistant message seen so far, by message id: what a call cut short
    /// before its `result` has spent (a message's events repeat the same usage).
    partial: Vec<(String, Usage)>,
}

/// Usage as the Anthropic API reports it.
fn usage_of(usage: &Value) -> Usage {
    Usage {
        input: usage["input_tokens"].as_u64().unwrap_or(0),
        output: usage["output_tokens"].as_u64().unwrap_or(0),
        cache_read: usage["cache_read_input_tokens"].as_u64().unwrap_or(0),
        cache_write: usage["cache_creation_input_tokens"].as_u64().unwrap_or(0),
        reasoning: usage["output_tokens_details"]["thinking_tokens"]
            .as_u64()
            .unwrap_or(0),
    }
}

impl Observer for ClaudeParser {
    fn line(&mut self, stream: Stream, line: &str) -> Flow {
        if stream == Stream::Stderr {
            self.stderr_line(line);
            return Flow::Continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            return Flow::Continue;
        };
        if let Some(id) = event.get("session_id").and_then(Value::as_str) {
            self.session_id.get_or_insert_with(|| id.to_string());
        }
        match str_of(&event, "type") {
            "assistant" => {
                let message = &event["message"];
                if message["usage"].is_object() {
                    let id = str_of(message, "id").to_string();
                    let usage = usage_of(&message["usage"]);
                    match self.partial.iter_mut().find(|(seen, _)| *seen == id) {
                        Some(entry) => entry.1 = usage,
                        None => self.partial.push((id, usage)),
                    }
                }
                for block in message["content"].as_array().into_iter().flatten() {
                    if str_of(block, "type") == "text" {
                        self.last_text = str_of(block, "text").to_string();
                    }
                }
                if event["is_api_error_message"].as_bool() == Some(true) {
                    self.api_error = event["error"].as_str().map(str::to_string);
                }
            }
            "system" => match str_of(&event, "subtype") {
                "api_retry" => {
                    let error = str_of(&event, "error").to_string();
                    let status = event["error_status"].as_u64();
                    let auth = error == "authentication_failed"
                        || status.and_then(Outcome::from_http_status) == Some(Outcome::Auth);
                    self.retry = Some((error, status));
                    if auth {
                        self.auth_abort = Some(format!(
                            "the API rejected the credentials (HTTP {})",
                            status.map_or("?".to_string(), |s| s.to_string())
                        ));
                        return Flow::Stop;
                    }
                }
                "permission_denied" => self.deny(str_of(&event, "tool_name")),
                _ => {}
            },
            "result" => {
                for denial in event["permission_denials"].as_array().into_iter().flatten() {
                    self.deny(str_of(denial, "tool_name"));
                }
                self.result = Some(event);
            }
            _ => {}
        }
        Flow::Continue
    }
}

impl ClaudeParser {
    fn deny(&mut self, tool: &str) {
        if !tool.is_empty() && !self.denied.iter().any(|t| t == tool) {
            self.denied.push(tool.to_string());
        }
    }

    /// Claude's own refusals of its arguments, printed on stderr with nothing on stdout.
    fn stderr_line(&mut self, line: &str) {
        if self.refusal.is_some() {
            return;
        }
        let line = line.trim();
        if line.contains("cannot be used with root/sudo privileges") {
            self.refusal = Some((
                Outcome::Misconfigured,
                "claude refuses bypass mode when run as root: keep \
                 run.root_mode.disable_skip_permissions = true, or set backend.claude.sandbox = \
                 true in a disposable container"
                    .to_string(),
            ));
        } else if line.starts_with("error: unknown option") || line.contains("requires --verbose") {
            self.refusal = Some((Outcome::Misconfigured, format!("claude: {line}")));
        }
    }

    fn classify(&self, result: &Value) -> (Outcome, String) {
        let said = result["result"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                result["errors"]
                    .as_array()
                    .and_then(|e| e.first())
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        if str_of(result, "subtype") == "error_max_turns" {
            return (Outcome::MaxTurns, said);
        }
        if result["is_error"].as_bool() != Some(true) {
            if self.denied.is_empty() {
                return (Outcome::Ok, String::new());
            }
            return (
                Outcome::PermissionDenied,
                format!(
                    "claude was not allowed to use {}: headless runs deny what would need \
                     approval (see backend.claude.permission_mode and allowed_tools)",
                    self.denied.join(", ")
                ),
            );
        }
        let by_status = result["api_error_status"]
            .as_u64()
            .and_then(Outcome::from_http_status);
        let by_code = |code: &str| match code {
            "billing_error" => Some(Outcome::QuotaExhausted),
            "authentication_failed" => Some(Outcome::Auth),
            "rate_limit" => Some(Outcome::RateLimited),
            "overloaded" | "server_error" => Some(Outcome::Overloaded),
            _ => None,
        };
        let by_type = match str_of(result, "api_error_type") {
            "authentication_error" | "permission_error" => Some(Outcome::Auth),
            "rate_limit_error" => Some(Outcome::RateLimited),
            "overloaded_error" | "api_error" => Some(Outcome::Overloaded),
            _ => None,
        };
        let by_retry = self.retry.as_ref().and_then(|(code, status)| match status {
            None if code == "unknown" => Some(Outcome::NetworkDown),
            _ => by_code(code),
        });
        // Retries that never got an answer (no status) mean the network is down, whatever
        // generic error type the final result then gives (`api_error` reads as overloaded).
        let offline = (by_retry == Some(Outcome::NetworkDown)).then_some(Outcome::NetworkDown);
        // In `json` mode a missing login has no code at all: the result text is claude's fixed
        // message for it, which is the only signal (the request never left the machine).
        let by_message = (said.starts_with("Not logged in") || said.starts_with("Invalid API key"))
            .then_some(Outcome::Auth);
        // "Credit balance is too low" comes with a 400 or a billing code: a billing halt, not a
        // login one, whatever the status says.
        let by_quota = Outcome::says_quota(&said).then_some(Outcome::QuotaExhausted);
        let outcome = by_quota
            .or(by_status)
            .or(offline)
            .or(by_type)
            .or_else(|| self.api_error.as_deref().and_then(by_code))
            .or(by_retry)
            .or(by_message)
            .unwrap_or(Outcome::Crashed);
        (outcome, clip(&said, 300))
    }
}

impl Parser for ClaudeParser {
    fn done(&self) -> bool {
        self.result.is_some()
    }

    fn live(&self) -> (Usage, Option<f64>) {
        if let Some(result) = &self.result
            && result["usage"].is_object()
        {
            return (
                usage_of(&result["usage"]),
                result["total_cost_usd"].as_f64(),
            );
        }
        let mut usage = Usage::default();
        for (_, u) in &self.partial {
            usage.add(*u);
        }
        (usage, None)
    }

    fn finish(self: Box<Self>, run: &Finished) -> AgentReport {
        let (outcome, detail) = if let Some(reason) = &self.auth_abort {
            (
                Outcome::Auth,
                format!("{reason}; stopped instead of retrying"),
            )
        } else if let Some(stopped) = run.stopped_report() {
            stopped
        } else if let Some(refusal) = &self.refusal {
            refusal.clone()
        } else if let Some(result) = &self.result {
            self.classify(result)
        } else {
            run.exit_report()
        };
        let mut report = run.report(outcome, detail);
        report.session_id = self.session_id.clone();
        report.denied_tools = self.denied.clone();
        report.final_text = self.last_text.clone();
        // Cut short before its result (a timeout, a signal): what the messages so far spent.
        for (_, usage) in &self.partial {
            report.usage.add(*usage);
        }
        if let Some(result) = &self.result {
            if let Some(text) = result["result"].as_str() {
                report.final_text = text.to_string();
            }
            if result["usage"].is_object() {
                report.usage = usage_of(&result["usage"]);
            }
            report.cost_usd = result["total_cost_usd"].as_f64();
            report.turns = result["num_turns"].as_u64();
        }
        report
    }
}
