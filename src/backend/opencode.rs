//! OpenCode (`opencode run`): the command line and the reading of its `--format json` events.
//!
//! Facts this adapter is built on (opencode 1.18): a message argument with spaces reaches the
//! model wrapped in quotes, so the prompt goes on stdin, and an open stdin makes it wait for
//! ever; permissions come from `OPENCODE_PERMISSION` (JSON) and `--auto` approves whatever is
//! not denied; a permission set to "ask" is rejected in `run` mode and the run still exits 0;
//! there is no final summary event, so the answer is the last `text` part and the usage is the
//! sum of the `step_finish` parts; failures arrive as one `error` event.

use serde_json::Value;

use super::report::clip;
use super::{AgentReport, Finished, Invocation, Outcome, Parser, Purpose, Request, Usage, str_of};
use crate::config::{OpencodeFormat, OpencodeSettings};
use crate::exec::{Flow, Observer, Spec, Stream};

/// Permissions of one-shot calls: reading is allowed, changing anything is not.
const READ_ONLY_PERMISSIONS: &str = r#"{"edit":"deny","bash":"deny","webfetch":"deny"}"#;
const LOG_LEVELS: [&str; 4] = ["DEBUG", "INFO", "WARN", "ERROR"];

pub fn invocation(s: &OpencodeSettings, request: &Request) -> Invocation {
    let mut spec = Spec::new("opencode", request.cwd);
    let mut notes = Vec::new();
    let format = match s.format {
        OpencodeFormat::Default => "default",
        OpencodeFormat::Json => "json",
    };
    spec.args = vec!["run".into(), "--format".into(), format.into()];
    match request.purpose {
        Purpose::Attempt => {
            if s.auto {
                spec.args.push("--auto".into());
            }
            if !s.agent.is_empty() {
                spec.args.extend(["--agent".into(), s.agent.clone()]);
            }
            if !s.permissions.trim().is_empty() {
                spec.env
                    .push(("OPENCODE_PERMISSION".into(), s.permissions.trim().into()));
            }
        }
        Purpose::OneShot => {
            spec.args.extend(["--agent".into(), "plan".into()]);
            spec.env
                .push(("OPENCODE_PERMISSION".into(), READ_ONLY_PERMISSIONS.into()));
        }
    }
    let level = s.log_level.trim().to_ascii_uppercase();
    if LOG_LEVELS.contains(&level.as_str()) {
        spec.args.extend(["--log-level".into(), level]);
    } else if !level.is_empty() {
        notes.push(format!(
            "backend.opencode.log_level = {:?} is not one of {}; not passed",
            s.log_level,
            LOG_LEVELS.join(", ")
        ));
    }
    let spec = super::finish_spec(spec, request, &s.model, &s.extra_args);
    Invocation::plain(spec, notes)
}

pub fn parser(s: &OpencodeSettings) -> Box<dyn Parser> {
    match s.format {
        OpencodeFormat::Default => Box::new(super::PlainText),
        OpencodeFormat::Json => Box::new(OpencodeParser::default()),
    }
}

#[derive(Default)]
pub struct OpencodeParser {
    session_id: Option<String>,
    last_text: String,
    usage: Usage,
    cost: f64,
    steps: u64,
    /// A step finished with reason `stop`: the answer is complete.
    stopped: bool,
    denied: Vec<String>,
    error: Option<Value>,
}

impl Observer for OpencodeParser {
    fn line(&mut self, stream: Stream, line: &str) -> Flow {
        if stream == Stream::Stderr {
            return Flow::Continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            return Flow::Continue;
        };
        if let Some(id) = event["sessionID"].as_str() {
            self.session_id.get_or_insert_with(|| id.to_string());
        }
        let part = &event["part"];
        match str_of(&event, "type") {
            "text" => self.last_text = str_of(part, "text").to_string(),
            "tool_use" => {
                let state = &part["state"];
                let rejected = str_of(state, "status") == "error"
                    && str_of(state, "error").contains("rejected permission");
                let tool = str_of(part, "tool");
                if rejected && !self.denied.iter().any(|t| t == tool) {
                    self.denied.push(tool.to_string());
                }
            }
            "step_finish" => {
                let t = &part["tokens"];
                self.usage.add(Usage {
                    input: t["input"].as_u64().unwrap_or(0),
                    output: t["output"].as_u64().unwrap_or(0),
                    cache_read: t["cache"]["read"].as_u64().unwrap_or(0),
                    cache_write: t["cache"]["write"].as_u64().unwrap_or(0),
                    reasoning: t["reasoning"].as_u64().unwrap_or(0),
                });
                self.cost += part["cost"].as_f64().unwrap_or(0.0);
                self.steps += 1;
                self.stopped |= str_of(part, "reason") == "stop";
            }
            "error" => self.error = Some(event["error"].clone()),
            _ => {}
        }
        Flow::Continue
    }
}

impl OpencodeParser {
    /// The cost its steps reported. $0 for tokens that were spent is what opencode says of a
    /// model it has no price for: that is no cost reported, not a free call.
    fn reported_cost(&self) -> Option<f64> {
        let tokens = self.usage.input + self.usage.output + self.usage.cache_write;
        (self.steps > 0 && (self.cost > 0.0 || tokens == 0)).then_some(self.cost)
    }
}

fn classify_error(error: &Value) -> (Outcome, String) {
    let data = &error["data"];
    let message = str_of(data, "message");
    let outcome = if Outcome::says_quota(message) {
        Outcome::QuotaExhausted
    } else {
        data["statusCode"]
            .as_u64()
            .and_then(Outcome::from_http_status)
            .unwrap_or(Outcome::Crashed)
    };
    let mut detail = clip(message, 300);
    if str_of(error, "name") == "UnknownError" {
        detail.push_str(
            " (opencode hides the cause, often an unknown model or provider; \
             `opencode run --print-logs` shows it)",
        );
    }
    (outcome, detail)
}

impl Parser for OpencodeParser {
    fn done(&self) -> bool {
        self.stopped
    }

    fn live(&self) -> (Usage, Option<f64>) {
        (self.usage, self.reported_cost())
    }

    fn finish(self: Box<Self>, run: &Finished) -> AgentReport {
        let (outcome, detail) = if let Some(stopped) = run.stopped_report() {
            stopped
        } else if let Some(error) = &self.error {
            classify_error(error)
        } else if !self.denied.is_empty() {
            (
                Outcome::PermissionDenied,
                format!(
                    "opencode rejected {} (a permission set to \"ask\" is refused in headless \
                     runs; see backend.opencode.permissions and auto)",
                    self.denied.join(", ")
                ),
            )
        } else {
            run.exit_report()
        };
        let mut report = run.report(outcome, detail);
        report.cost_usd = self.reported_cost();
        report.session_id = self.session_id;
        report.final_text = self.last_text;
        report.usage = self.usage;
        report.turns = (self.steps > 0).then_some(self.steps);
        report.denied_tools = self.denied;
        report
    }
}
