//! The agent's work told as a person follows it on a terminal or in a tmux pane: one short line
//! per message, tool call (with its target) or error, read from each CLI's structured events.
//! Raw output stays in the attempt log; this is only what the console shows. Pure: a line of
//! output in, at most one line of narrative out.

use serde_json::Value;

use super::clip;
use crate::config::BackendName;

/// The longest narrative line.
const WIDTH: usize = 160;

fn text_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn one_line(text: &str) -> String {
    clip(
        &text.split_whitespace().collect::<Vec<_>>().join(" "),
        WIDTH,
    )
}

/// What a tool call works on: its command, file, path, pattern or address.
fn target(input: &Value) -> String {
    for key in [
        "command",
        "file_path",
        "filePath",
        "path",
        "pattern",
        "url",
        "query",
        "description",
    ] {
        if let Some(s) = input.get(key).and_then(Value::as_str) {
            return one_line(s);
        }
    }
    String::new()
}

fn tool(name: &str, input: &Value) -> String {
    match target(input) {
        t if t.is_empty() => format!("→ {name}"),
        t => clip(&format!("→ {name}: {t}"), WIDTH),
    }
}

fn said(who: &str, text: &str) -> Option<String> {
    let line = one_line(text);
    (!line.is_empty()).then(|| clip(&format!("{who}: {line}"), WIDTH))
}

/// The narrative of one line of `name`'s output, if it says anything a person follows.
pub fn narrate(name: BackendName, line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let Ok(event) = serde_json::from_str::<Value>(line) else {
        // Plain text (text output modes, the command backend, stderr): as it is, shortened;
        // stack frames and pieces of JSON stay in the logs.
        let plain = super::report::strip_ansi(line);
        return (!super::report::is_noise(&plain)).then(|| one_line(&plain));
    };
    if !event.is_object() {
        return None;
    }
    match name {
        BackendName::Claude => claude(&event),
        BackendName::Codex => codex(&event),
        BackendName::Gemini => gemini(&event),
        BackendName::Opencode => opencode(&event),
        BackendName::Command => Some(one_line(line)),
    }
}

fn claude(event: &Value) -> Option<String> {
    match (
        text_of(event, "type").as_str(),
        text_of(event, "subtype").as_str(),
    ) {
        ("system", "init") => Some(format!(
            "claude started (model {})",
            text_of(event, "model")
        )),
        ("system", "api_retry") => Some(format!(
            "claude: the API answered {} ({}); retrying",
            event["error_status"],
            text_of(event, "error")
        )),
        ("assistant", _) => {
            let parts: Vec<String> = event["message"]["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| match text_of(c, "type").as_str() {
                    "text" => said("claude", &text_of(c, "text")),
                    "tool_use" => Some(tool(&text_of(c, "name"), &c["input"])),
                    _ => None,
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("\n"))
        }
        ("user", _) => event["message"]["content"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["is_error"] == true)
            .map(|c| {
                let content = match &c["content"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format!("  the tool failed: {}", one_line(&content))
            }),
        ("result", subtype) => Some(format!(
            "claude finished: {}{}",
            subtype,
            event["num_turns"]
                .as_u64()
                .map(|n| format!(" after {n} turn(s)"))
                .unwrap_or_default()
        )),
        _ => None,
    }
}

fn codex(event: &Value) -> Option<String> {
    let item = &event["item"];
    match (
        text_of(event, "type").as_str(),
        text_of(item, "type").as_str(),
    ) {
        ("item.started", "command_execution") => {
            Some(format!("→ run: {}", one_line(&text_of(item, "command"))))
        }
        ("item.completed", "agent_message") => said("codex", &text_of(item, "text")),
        ("item.completed", "command_execution") => match item["exit_code"].as_i64() {
            Some(code) if code != 0 => Some(format!("  the command failed (exit {code})")),
            _ => None,
        },
        ("item.completed", "file_change") => {
            let paths: Vec<String> = item["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| text_of(c, "path"))
                .collect();
            Some(format!("→ edit: {}", one_line(&paths.join(", "))))
        }
        ("item.completed", "error") => said("codex", &text_of(item, "message")),
        ("error", _) => said("codex", &text_of(event, "message")),
        ("turn.failed", _) => said("codex failed", &text_of(&event["error"], "message")),
        _ => None,
    }
}

fn gemini(event: &Value) -> Option<String> {
    match text_of(event, "type").as_str() {
        "init" => Some(format!(
            "gemini started (model {})",
            text_of(event, "model")
        )),
        "message" if text_of(event, "role") == "assistant" => {
            said("gemini", &text_of(event, "content"))
        }
        "tool_use" => Some(tool(&text_of(event, "tool_name"), &event["parameters"])),
        "tool_result" if text_of(event, "status") != "success" => Some(format!(
            "  the tool failed: {}",
            one_line(&event["error"].to_string())
        )),
        "result" => Some(format!("gemini finished: {}", text_of(event, "status"))),
        _ => None,
    }
}

fn opencode(event: &Value) -> Option<String> {
    let part = &event["part"];
    match text_of(event, "type").as_str() {
        "tool_use" => {
            let state = &part["state"];
            let mut line = tool(&text_of(part, "tool"), &state["input"]);
            if text_of(state, "status") == "error" {
                line.push_str(&format!(
                    " (failed: {})",
                    one_line(&text_of(state, "error"))
                ));
            }
            Some(line)
        }
        "text" => said("opencode", &text_of(part, "text")),
        "error" => said(
            "opencode error",
            &text_of(&event["error"]["data"], "message"),
        ),
        _ => None,
    }
}

/// A console sink that shows the narrative of what it is given (the agent's raw output, in
/// chunks as it arrives) instead of the raw output. The console is a courtesy: when it goes
/// away (a closed pipe, a killed terminal) the narrative stops and nothing else does, since the
/// logs have the output.
pub struct Narrator<W: std::io::Write> {
    name: BackendName,
    lines: crate::exec::LineSplitter,
    out: W,
    /// The console refused a write: say nothing more.
    gone: bool,
}

impl<W: std::io::Write> Narrator<W> {
    pub fn new(name: BackendName, out: W) -> Self {
        Narrator {
            name,
            lines: crate::exec::LineSplitter::default(),
            out,
            gone: false,
        }
    }
}

impl<W: std::io::Write> std::io::Write for Narrator<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.gone {
            return Ok(bytes.len());
        }
        let (name, out, gone) = (self.name, &mut self.out, &mut self.gone);
        self.lines.feed(bytes, |line| {
            if !*gone
                && let Some(told) = narrate(name, &String::from_utf8_lossy(line))
                && writeln!(out, "  {}", told.replace('\n', "\n  ")).is_err()
            {
                *gone = true;
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.gone && self.out.flush().is_err() {
            self.gone = true;
        }
        Ok(())
    }
}
