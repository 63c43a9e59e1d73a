//! One read-only question to the agent CLI (a spec, a plan, a re-plan): the backend's one-shot
//! command through the one agent call path ([`crate::call`]) with the planning timeout, its
//! whole output kept under `logs/planning/`. A caller at a terminal passes a progress callback
//! (the UI's spinner); an unattended run passes none.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::{self, Outcome, Purpose, Request};
use crate::config::{BackendName, Config};
use crate::durable;
use crate::error::{Error, Result};
use crate::exec::{self, Cancel, Limits, Tee};

/// What the model answered, and where its whole output was saved.
pub struct Answer {
    pub text: String,
    pub log: PathBuf,
}

/// What a call used, as the CLI reported it: also for a call that failed or was cut short.
#[derive(Debug, Clone, Copy, Default)]
pub struct Used {
    pub usage: crate::backend::Usage,
    pub cost_usd: Option<f64>,
}

impl Used {
    /// Whether the CLI reported anything at all.
    pub fn reported(&self) -> bool {
        self.usage.reported().is_some() || self.cost_usd.is_some()
    }
}

/// The call's settings.
pub struct Call<'a> {
    pub config: &'a Config,
    pub backend: BackendName,
    pub code_dir: &'a Path,
    pub log_dir: &'a Path,
    /// `spec`, `plan` or `replan`: names the log file.
    pub label: &'a str,
}

/// Told the time waited so far, several times a second while the model thinks.
pub type Progress<'a> = &'a mut dyn FnMut(Duration);

/// Asks `prompt`: what the call used (nothing when it never started), and the model's final
/// answer or an error that says what happened and where the output is.
pub async fn ask(
    call: &Call<'_>,
    prompt: &str,
    cancel: &Cancel,
    progress: Option<Progress<'_>>,
) -> (Used, Result<Answer>) {
    let mut used = Used::default();
    let answer = ask_using(call, prompt, cancel, progress, &mut used).await;
    (used, answer)
}

async fn ask_using(
    call: &Call<'_>,
    prompt: &str,
    cancel: &Cancel,
    progress: Option<Progress<'_>>,
    used: &mut Used,
) -> Result<Answer> {
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
            protected: &[],
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
    let beat = progress.map(|on| crate::call::Beat {
        every: Duration::from_millis(120),
        on,
    });
    let ran = crate::call::call(
        &call.config.backend,
        call.backend,
        &invocation,
        &limits,
        &mut tee,
        cancel,
        beat,
        None,
    )
    .await;
    let report = match ran {
        Ok((report, _)) => {
            *used = Used {
                usage: report.usage,
                cost_usd: report.cost_usd,
            };
            report
        }
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
    if report.outcome == Outcome::Interrupted {
        return Err(Error::Interrupted);
    }
    if !report.answered() {
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
            hint: backend::fix_hint(call.backend, report.outcome)
                .unwrap_or("check the CLI with `autodev backend`, then try again")
                .into(),
        });
    }
    Ok(Answer {
        text: report.final_text,
        log,
    })
}
