//! One read-only question to the agent CLI (a spec, a plan, a re-plan): the backend's one-shot
//! command under supervision with the planning timeout, its whole output kept under
//! `logs/planning/`, and a spinner on stderr while waiting when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::backend::{self, Finished, Outcome, Purpose, Request};
use crate::config::{BackendName, Config};
use crate::durable;
use crate::error::{Error, Result};
use crate::exec::{self, Cancel, Limits, Tee};

/// What the model answered, and where its whole output was saved.
pub struct Answer {
    pub text: String,
    pub log: PathBuf,
}

/// The call's settings.
pub struct Call<'a> {
    pub config: &'a Config,
    pub backend: BackendName,
    pub code_dir: &'a Path,
    pub log_dir: &'a Path,
    /// `spec`, `plan` or `replan`: names the log file and the spinner.
    pub label: &'a str,
}

/// Asks `prompt` and returns the model's final answer; a failed call is an error that says
/// what happened and where the output is.
pub async fn ask(call: &Call<'_>, prompt: &str, cancel: &Cancel) -> Result<Answer> {
    let dir = call.log_dir.join("planning");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    let base = dir.join(format!("{}_{}", call.label, durable::file_stamp()));
    let log = base.with_extension("log");
    let invocation = backend::invocation(
        call.config,
        call.backend,
        &Request {
            purpose: Purpose::OneShot,
            prompt,
            cwd: call.code_dir,
            scratch: &base,
            as_root: nix::unistd::geteuid().is_root(),
        },
    )?;
    if let Some(file) = &invocation.prompt_file {
        durable::write_atomic(file, prompt.as_bytes()).map_err(|e| Error::io("write", file, e))?;
    }
    let file = std::fs::File::create(&log).map_err(|e| Error::io("create", &log, e))?;
    let mut tee = Tee::new(vec![Box::new(file)]);
    tee.note(&format!("$ {}", invocation.spec.command_line()));
    let seconds = call.config.planning.timeout_seconds;
    // Planning CLIs may print nothing until they answer: no idle limit, only the wall clock.
    let limits = Limits::from_seconds(seconds, 0, call.config.backend.kill_grace_seconds);
    let mut parser = backend::parser(&call.config.backend, call.backend);
    let spinner = Spinner::start(call.label, call.backend.as_str());
    let ran = exec::run(&invocation.spec, &limits, &mut tee, parser.as_mut(), cancel).await;
    spinner.stop();
    let outcome = match ran {
        Ok(outcome) => outcome,
        Err(exec::SpawnError::NotFound { program }) => {
            return Err(Error::Setup {
                message: format!(
                    "`{program}` was not found on PATH, so `autodev {}` cannot ask {}",
                    call.label,
                    call.backend.as_str()
                ),
                hint: backend::install_hint(call.backend).to_string(),
            });
        }
        Err(e) => {
            return Err(Error::Setup {
                message: format!("could not start {}: {e}", call.backend.as_str()),
                hint: "check the backend settings with `autodev backend`".into(),
            });
        }
    };
    let last_message = invocation
        .last_message_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let report = parser.finish(&Finished::new(&outcome, &limits, last_message.as_deref()));
    if report.outcome == Outcome::Interrupted {
        return Err(Error::Interrupted);
    }
    if report.outcome != Outcome::Ok {
        let why = if report.outcome == Outcome::TimedOut {
            format!("took longer than planning.timeout_seconds = {seconds}")
        } else {
            report.outcome.describe().to_string()
        };
        return Err(Error::Setup {
            message: format!(
                "{} {}{} (its output is in {})",
                call.backend.as_str(),
                why,
                if report.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", report.detail)
                },
                log.display()
            ),
            hint: "check the CLI with `autodev backend`, then try again".into(),
        });
    }
    Ok(Answer {
        text: report.final_text,
        log,
    })
}

/// A line on stderr that turns while the model thinks; nothing when stderr is not a terminal.
struct Spinner {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Spinner {
    fn start(label: &str, backend: &str) -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner { task: None };
        }
        let text = format!("{label}: waiting for {backend}");
        let task = tokio::spawn(async move {
            const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
            let started = Instant::now();
            let mut frame = 0;
            loop {
                {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r{} {text} ({}s)",
                        FRAMES[frame % FRAMES.len()],
                        started.elapsed().as_secs()
                    );
                    let _ = err.flush();
                }
                frame += 1;
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
        });
        Spinner { task: Some(task) }
    }

    fn stop(self) {
        if let Some(task) = self.task {
            task.abort();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
