//! One agent call, the same for a run's attempts and for one-shot questions (`plan`, `spec`,
//! re-planning, reflection): the backend's invocation run under [`crate::exec`] supervision, its
//! output read line by line by the backend's parser, and the report finished from how the call
//! ended. A caller that wants to show progress (a run's heartbeat, a spinner on a terminal)
//! passes a [`Beat`]; nothing here prints.

use std::io;
use std::time::{Duration, Instant};

use crate::backend::{self, AgentReport, Finished, Invocation};
use crate::config::BackendName;
use crate::config::model::BackendSection;
use crate::exec::{self, Cancel, Limits, Tee};

/// Called every `every` while the agent works, with the time since the call began.
pub struct Beat<'a> {
    pub every: Duration,
    pub on: &'a mut dyn FnMut(Duration),
}

/// Runs `invocation` under `limits`, its output teed to `tee`; the report, and the first
/// failure to write a sink.
pub async fn call(
    settings: &BackendSection,
    name: BackendName,
    invocation: &Invocation,
    limits: &Limits,
    tee: &mut Tee,
    cancel: &Cancel,
    mut beat: Option<Beat<'_>>,
) -> Result<(AgentReport, Option<io::Error>), exec::SpawnError> {
    let mut parser = backend::parser(settings, name);
    let started = Instant::now();
    let every = beat.as_ref().map_or(Duration::from_secs(3600), |b| {
        b.every.max(Duration::from_millis(10))
    });
    let outcome = {
        let run = exec::run(&invocation.spec, limits, tee, parser.as_mut(), cancel);
        tokio::pin!(run);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                outcome = &mut run => break outcome?,
                _ = ticker.tick(), if beat.is_some() => {
                    if let Some(beat) = beat.as_mut() {
                        (beat.on)(started.elapsed());
                    }
                }
            }
        }
    };
    let last_message = invocation
        .last_message_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let report = parser.finish(&Finished::new(&outcome, limits, last_message.as_deref()));
    Ok((report, outcome.tee_error))
}
