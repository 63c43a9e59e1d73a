//! Agent CLIs as data: how to call each one, and how to read what it printed.
//!
//! One file per CLI (`claude`, `codex`, `gemini`, `opencode`) plus `command` for any other
//! program. Each adapter turns a [`Request`] into an [`Invocation`] (argv, environment, working
//! directory, the prompt as stdin) and supplies a [`Parser`] that reads the CLI's output, line by
//! line while it runs, into one [`AgentReport`]. Nothing here spawns a process: [`crate::exec`]
//! does that, and the runner ties the two together. [`preflight`] checks that a CLI is installed
//! and reads its version.
//!
//! Two uses share each adapter: a task **attempt** (edits allowed, unattended) and a **one-shot**
//! call for planning, specs and reflection, which is made read-only wherever the CLI can be
//! (plan mode, a read-only sandbox, denied edit permissions). Prompts always travel on stdin,
//! which is closed after writing: never as an argv element, which the OS caps at 128 KiB.

mod claude;
mod codex;
mod command;
mod gemini;
pub mod narrate;
mod opencode;
mod preflight;
mod report;

pub use preflight::{Preflight, find_program, fix_hint, install_hint, preflight};
pub use report::{AgentReport, Finished, Outcome, Usage, clip, last_line};

use std::path::{Path, PathBuf};

use crate::config::{BackendName, BackendSection, Config};
use crate::error::{Error, Result};
use crate::exec::{self, Limits, Observer};

/// What the call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Work a task: edits allowed, no questions asked.
    Attempt,
    /// Answer a question (plan, spec, reflection): must not change the repository.
    OneShot,
}

/// Everything an adapter needs to build a command.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub purpose: Purpose,
    pub prompt: &'a str,
    /// The project's code directory: the agent's working directory.
    pub cwd: &'a Path,
    /// A path prefix for files the call needs beside the log, such as
    /// `logs/attempts/codex/task_1__attempt_2_<stamp>`; adapters append a suffix.
    pub scratch: &'a Path,
    /// autodev runs with effective uid 0.
    pub as_root: bool,
    /// Files (anchored globs, relative to `cwd`) the agent must not change. Adapters whose CLI
    /// has a permission layer pass them on, so an edit is refused before it happens; autodev
    /// puts them back afterwards in any case.
    pub protected: &'a [String],
}

/// A ready-to-run command and what to do around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub spec: exec::Spec,
    /// A file the CLI writes its last message to; read it after the run into
    /// [`Finished::last_message`].
    pub last_message_file: Option<PathBuf>,
    /// The prompt must be written to this file before the run (the command backend's
    /// `{prompt_file}`); otherwise the prompt is already in `spec.stdin`.
    pub prompt_file: Option<PathBuf>,
    /// Adjustments worth a line in the log, such as "running as root: acceptEdits instead of
    /// bypassPermissions".
    pub notes: Vec<String>,
}

/// Reads a CLI's output: every line as it arrives (it may ask to stop the child early, for
/// example on a fatal authentication error the CLI would retry for minutes), then the end.
pub trait Parser: Observer {
    fn finish(self: Box<Self>, run: &Finished) -> AgentReport;

    /// What the call has spent so far, as its output has reported it: tokens, and the cost when
    /// the CLI reports one. A budget is judged on this while the call runs.
    fn live(&self) -> (Usage, Option<f64>) {
        (Usage::default(), None)
    }

    /// The CLI has reported the end of its work (its result or last turn): the call ends by
    /// itself, and stopping it would only cut short work that is done.
    fn done(&self) -> bool {
        false
    }
}

/// Builds the command for `request` with backend `name`.
pub fn invocation(config: &Config, name: BackendName, request: &Request) -> Result<Invocation> {
    let settings = &config.backend;
    Ok(match name {
        BackendName::Claude => claude::invocation(&settings.claude, &config.run.root_mode, request),
        BackendName::Codex => codex::invocation(&settings.codex, request),
        BackendName::Gemini => gemini::invocation(&settings.gemini, request),
        BackendName::Opencode => opencode::invocation(&settings.opencode, request),
        BackendName::Command => command::invocation(&settings.command, request)?,
    })
}

/// A parser for what backend `name` prints with these settings.
pub fn parser(settings: &BackendSection, name: BackendName) -> Box<dyn Parser> {
    match name {
        BackendName::Claude => claude::parser(&settings.claude),
        BackendName::Codex => Box::new(codex::CodexParser::default()),
        BackendName::Gemini => gemini::parser(&settings.gemini),
        BackendName::Opencode => opencode::parser(&settings.opencode),
        BackendName::Command => Box::new(PlainText),
    }
}

/// The supervision limits of an attempt.
pub fn attempt_limits(settings: &BackendSection) -> Limits {
    Limits::from_seconds(
        settings.timeout_seconds,
        settings.idle_timeout_seconds,
        settings.kill_grace_seconds,
    )
}

/// The program a backend runs (for preflight and messages).
pub fn program(settings: &BackendSection, name: BackendName) -> Result<String> {
    Ok(match name {
        BackendName::Command => command::argv(&settings.command, Purpose::Attempt)?[0].clone(),
        other => other.as_str().to_string(),
    })
}

/// A string field of a JSON event, or "" when absent (every CLI's parser reads events so).
fn str_of<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value
        .get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

/// The prompt as the child's stdin.
fn stdin_prompt(request: &Request) -> exec::Input {
    exec::Input::Bytes(request.prompt.as_bytes().to_vec())
}

/// The common end of a CLI adapter's command: `--model`, the attempt's extra words, and the
/// prompt on stdin.
fn finish_spec(
    mut spec: exec::Spec,
    request: &Request,
    model: &str,
    extra_args: &[String],
) -> exec::Spec {
    if !model.is_empty() {
        spec.args.extend(["--model".into(), model.to_string()]);
    }
    if request.purpose == Purpose::Attempt {
        spec.args.extend(extra_args.iter().cloned());
    }
    spec.stdin = stdin_prompt(request);
    spec
}

impl Invocation {
    /// An invocation that needs no files around it.
    fn plain(spec: exec::Spec, notes: Vec<String>) -> Self {
        Invocation {
            spec,
            last_message_file: None,
            prompt_file: None,
            notes,
        }
    }
}

/// `scratch` with a suffix appended to its file name.
fn side_file(scratch: &Path, suffix: &str) -> PathBuf {
    let mut name = scratch.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    scratch.with_file_name(name)
}

/// Output read as plain text: the final text is what the program printed on stdout, and the
/// exit code decides the outcome.
pub struct PlainText;

impl Observer for PlainText {
    fn line(&mut self, _: exec::Stream, _: &str) -> exec::Flow {
        exec::Flow::Continue
    }
}

impl Parser for PlainText {
    fn finish(self: Box<Self>, run: &Finished) -> AgentReport {
        let (outcome, detail) = run.stopped_report().unwrap_or_else(|| run.exit_report());
        let mut report = run.report(outcome, detail);
        report.final_text = run.stdout.text().trim().to_string();
        report
    }
}

/// An error for a backend that cannot be used as configured.
fn setup_error(message: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::Setup {
        message: message.into(),
        hint: hint.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_files_sit_beside_the_scratch_prefix() {
        assert_eq!(
            side_file(Path::new("/p/logs/attempts/task_1"), ".last.txt"),
            PathBuf::from("/p/logs/attempts/task_1.last.txt")
        );
    }
}
