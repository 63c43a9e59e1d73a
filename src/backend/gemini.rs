//! Gemini CLI: the command line and the reading of its `stream-json` events or `json` object.
//!
//! Facts this adapter is built on (gemini 0.61): without `--skip-trust` a fresh folder is
//! untrusted, yolo is downgraded and headless runs exit 55; the prompt may come on stdin alone
//! (headless when stdin is not a terminal); `--all-files` and `--max-turns` do not exist; plan
//! approval mode is read-only; exit codes carry meaning (41 auth, 42 input, 44 sandbox, 52
//! config, 53 turn limit, 55 untrusted) and in JSON modes an API error's HTTP status becomes the
//! exit code modulo 256; the `json` error object goes to stderr.

use serde_json::Value;

use super::report::clip;
use super::{AgentReport, Finished, Invocation, Outcome, Parser, Purpose, Request, Usage, str_of};
use crate::config::{GeminiApproval, GeminiSettings, OutputFormat};
use crate::exec::{Flow, Observer, Spec, Stream};

/// Largest `json`-mode document read from stdout.
const MAX_JSON_BYTES: usize = 8 * 1024 * 1024;

pub fn invocation(s: &GeminiSettings, request: &Request) -> Invocation {
    let mut spec = Spec::new("gemini", request.cwd);
    if s.skip_trust {
        spec.args.push("--skip-trust".into());
    }
    let approval = match request.purpose {
        Purpose::OneShot => Some("plan"),
        Purpose::Attempt => match s.approval_mode {
            GeminiApproval::Unset if s.yolo => Some("yolo"),
            GeminiApproval::Unset => None,
            GeminiApproval::Default => Some("default"),
            GeminiApproval::AutoEdit => Some("auto_edit"),
            GeminiApproval::Yolo => Some("yolo"),
            GeminiApproval::Plan => Some("plan"),
        },
    };
    if let Some(mode) = approval {
        spec.args.extend(["--approval-mode".into(), mode.into()]);
    }
    spec.args
        .extend(["--output-format".into(), s.output_format.as_str().into()]);
    if !s.include_directories.trim().is_empty() {
        spec.args.push(format!(
            "--include-directories={}",
            s.include_directories.trim()
        ));
    }
    if s.debug {
        spec.args.push("--debug".into());
    }
    let spec = super::finish_spec(spec, request, &s.model, &s.extra_args);
    Invocation::plain(spec, Vec::new())
}

pub fn parser(s: &GeminiSettings) -> Box<dyn Parser> {
    match s.output_format {
        OutputFormat::Text => Box::new(super::PlainText),
        OutputFormat::Json => Box::new(GeminiParser {
            whole_json: Some(String::new()),
            ..GeminiParser::default()
        }),
        OutputFormat::StreamJson => Box::new(GeminiParser::default()),
    }
}

#[derive(Default)]
pub struct GeminiParser {
    session_id: Option<String>,
    /// Assistant text since the last tool call.
    text: String,
    /// The `result` event (stream-json) or the whole object (json).
    result: Option<Value>,
    /// Set in `json` mode: stdout is one pretty-printed document, collected here.
    whole_json: Option<String>,
    refusal: Option<String>,
}

impl Observer for GeminiParser {
    fn line(&mut self, stream: Stream, line: &str) -> Flow {
        if stream == Stream::Stderr {
            let line = line.trim();
            if line.starts_with("Unknown argument") && self.refusal.is_none() {
                self.refusal = Some(format!("gemini: {line}"));
            }
            return Flow::Continue;
        }
        if let Some(doc) = &mut self.whole_json {
            if doc.len() + line.len() < MAX_JSON_BYTES {
                doc.push_str(line);
                doc.push('\n');
            }
            return Flow::Continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            return Flow::Continue;
        };
        match str_of(&event, "type") {
            "init" => self.session_id = event["session_id"].as_str().map(str::to_string),
            "message" if str_of(&event, "role") == "assistant" => {
                if event["delta"].as_bool() != Some(true) {
                    self.text.clear();
                }
                self.text.push_str(str_of(&event, "content"));
            }
            "tool_use" => self.text.clear(),
            "result" => self.result = Some(event),
            _ => {}
        }
        Flow::Continue
    }
}

/// The error object gemini prints on stderr in `json` mode: the last `{` line to the end.
fn stderr_error(stderr: &str) -> Option<Value> {
    let start = stderr
        .rfind("\n{\n")
        .map(|i| i + 1)
        .or_else(|| stderr.starts_with("{\n").then_some(0))?;
    serde_json::from_str::<Value>(&stderr[start..])
        .ok()
        .filter(|v| v.get("error").is_some())
}

/// The provider error embedded in a message such as `[API Error: {"error":{"code":400,…}}]`.
fn embedded_api_error(message: &str) -> Option<Outcome> {
    let start = message.find('{')?;
    let end = message.rfind('}')?;
    let value: Value = serde_json::from_str(message.get(start..=end)?).ok()?;
    let error = &value["error"];
    let reasons: Vec<&str> = error["details"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| str_of(d, "reason"))
        .collect();
    if reasons.iter().any(|r| r.starts_with("API_KEY")) {
        return Some(Outcome::Auth);
    }
    match str_of(error, "status") {
        "UNAUTHENTICATED" | "PERMISSION_DENIED" => return Some(Outcome::Auth),
        "RESOURCE_EXHAUSTED" => return Some(Outcome::RateLimited),
        "UNAVAILABLE" => return Some(Outcome::Overloaded),
        _ => {}
    }
    error["code"].as_u64().and_then(Outcome::from_http_status)
}

/// Classifies an error object; `exit` is the process's exit code, used when the object itself
/// says nothing recognisable.
fn classify_error(error: &Value, exit: i32) -> (Outcome, String) {
    let message = str_of(error, "message");
    // `code` is an HTTP status for API errors and gemini's own exit code otherwise.
    let by_code = |code: u64| match i32::try_from(code) {
        Ok(small) if small < 100 => classify_exit(small).map(|c| c.0),
        _ => Outcome::from_http_status(code),
    };
    let outcome = if str_of(error, "type") == "FatalTurnLimitedError" {
        Outcome::MaxTurns
    } else if Outcome::says_quota(message) {
        // A daily quota used up answers 429 too, but waiting the minutes a rate limit asks for
        // does not help: it is a halt.
        Outcome::QuotaExhausted
    } else {
        embedded_api_error(message)
            .or_else(|| error["code"].as_u64().and_then(by_code))
            .or_else(|| classify_exit(exit).map(|c| c.0))
            .unwrap_or(Outcome::Crashed)
    };
    (outcome, clip(message, 300))
}

fn classify_exit(code: i32) -> Option<(Outcome, &'static str)> {
    Some(match code {
        41 => (
            Outcome::Auth,
            "gemini has no credentials: set GEMINI_API_KEY or choose an auth method in \
             ~/.gemini/settings.json",
        ),
        42 => (
            Outcome::Misconfigured,
            "gemini rejected its input (exit 42)",
        ),
        44 => (
            Outcome::Misconfigured,
            "gemini could not start its sandbox (exit 44)",
        ),
        52 => (
            Outcome::Misconfigured,
            "gemini found an invalid configuration (exit 52)",
        ),
        53 => (Outcome::MaxTurns, "gemini reached model.maxSessionTurns"),
        55 => (
            Outcome::Misconfigured,
            "gemini does not trust this folder: set backend.gemini.skip_trust = true",
        ),
        // JSON modes: the HTTP status modulo 256.
        145 | 147 => (Outcome::Auth, "the provider rejected the credentials"),
        173 => (
            Outcome::RateLimited,
            "the provider answered 429 (rate limited)",
        ),
        247 => (
            Outcome::Overloaded,
            "the provider answered 503 (unavailable)",
        ),
        _ => return None,
    })
}

impl Parser for GeminiParser {
    fn done(&self) -> bool {
        self.result.is_some()
    }

    fn finish(mut self: Box<Self>, run: &Finished) -> AgentReport {
        if let Some(doc) = self.whole_json.take() {
            self.result = serde_json::from_str::<Value>(&doc)
                .ok()
                .or_else(|| stderr_error(&run.stderr.text()));
        }
        let result = self.result.take().unwrap_or(Value::Null);
        let error = result.get("error").filter(|e| e.is_object());
        let (outcome, detail) = if let Some(stopped) = run.stopped_report() {
            stopped
        } else if let Some(refusal) = &self.refusal {
            (Outcome::Misconfigured, refusal.clone())
        } else if let Some(error) = error {
            classify_error(error, run.exit.code())
        } else if let Some((outcome, detail)) = classify_exit(run.exit.code()) {
            // For a bad input, sandbox or configuration, gemini's own words say which file and
            // setting are wrong: quote them.
            let generic = matches!(run.exit.code(), 42 | 44 | 52);
            match super::report::decisive_line(&run.stderr.text()) {
                Some(said) if generic && !detail.contains(said.as_str()) => {
                    (outcome, format!("{detail}: {}", clip(&said, 300)))
                }
                _ => (outcome, detail.to_string()),
            }
        } else {
            run.exit_report()
        };
        let mut report = run.report(outcome, detail);
        report.session_id = self
            .session_id
            .or_else(|| result["session_id"].as_str().map(str::to_string));
        report.final_text = match result["response"].as_str() {
            Some(text) => text.to_string(),
            None => self.text,
        };
        let stats = &result["stats"];
        if stats["models"].is_object() && stats.get("input_tokens").is_none() {
            // `json` mode: per-model token tables.
            for model in stats["models"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                let t = &model["tokens"];
                let cached = t["cached"].as_u64().unwrap_or(0);
                report.usage.add(Usage {
                    input: t["prompt"].as_u64().unwrap_or(0).saturating_sub(cached),
                    output: t["candidates"].as_u64().unwrap_or(0),
                    cache_read: cached,
                    cache_write: 0,
                    reasoning: t["thoughts"].as_u64().unwrap_or(0),
                });
            }
        } else {
            let cached = stats["cached"].as_u64().unwrap_or(0);
            report.usage = Usage {
                input: stats["input_tokens"]
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_sub(cached),
                output: stats["output_tokens"].as_u64().unwrap_or(0),
                cache_read: cached,
                cache_write: 0,
                reasoning: 0,
            };
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_api_errors_are_read_structurally() {
        let bad_key = r#"[API Error: {"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}]"#;
        assert_eq!(embedded_api_error(bad_key), Some(Outcome::Auth));
        let quota = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(embedded_api_error(quota), Some(Outcome::RateLimited));
        assert_eq!(embedded_api_error("no json here"), None);
    }

    #[test]
    fn a_daily_quota_used_up_is_a_quota_halt_not_a_rate_limit() {
        let error = serde_json::json!({
            "type": "Error",
            "message": "[API Error: You have exhausted your daily quota on this model.]",
            "code": 429
        });
        assert_eq!(classify_error(&error, 1).0, Outcome::QuotaExhausted);
        let passing =
            serde_json::json!({"type": "Error", "message": "Too many requests", "code": 429});
        assert_eq!(classify_error(&passing, 1).0, Outcome::RateLimited);
    }

    #[test]
    fn exit_codes_have_meanings() {
        assert_eq!(classify_exit(41).map(|c| c.0), Some(Outcome::Auth));
        assert_eq!(classify_exit(55).map(|c| c.0), Some(Outcome::Misconfigured));
        assert_eq!(classify_exit(53).map(|c| c.0), Some(Outcome::MaxTurns));
        assert_eq!(classify_exit(1), None);
    }
}
