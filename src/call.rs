//! One agent call, the same for a run's attempts and for one-shot questions (`plan`, `spec`,
//! re-planning, reflection): the backend's invocation run under [`crate::exec`] supervision, its
//! output read line by line by the backend's parser, and the report finished from how the call
//! ended. A caller that wants to show progress (a run's heartbeat, a spinner on a terminal)
//! passes a [`Beat`]; nothing here prints.

use std::io;
use std::time::Duration;

use crate::backend::{self, AgentReport, Finished, Invocation, Outcome, Parser, Usage};
use crate::config::BackendName;
use crate::config::model::BackendSection;
use crate::exec::{self, Cancel, Flow, Limits, Observer, Stream, Tee};

/// Called every `every` while the agent works, with the time since the call began.
pub struct Beat<'a> {
    pub every: Duration,
    pub on: &'a mut dyn FnMut(Duration),
}

/// A spending limit judged while the call runs: given what the call has reported so far
/// (tokens, and its cost when the CLI says it), why it must stop now, if it must, and the
/// outcome that says so.
pub type Meter<'a> = &'a mut (dyn FnMut(Usage, Option<f64>) -> Option<(Outcome, String)> + Send);

/// The backend's parser, with the meter read after every line it is given.
struct Metered<'a, 'm> {
    parser: &'a mut dyn Parser,
    meter: Option<Meter<'m>>,
    /// Why the meter stopped the call.
    tripped: Option<(Outcome, String)>,
}

impl Observer for Metered<'_, '_> {
    fn line(&mut self, stream: Stream, line: &str) -> Flow {
        let flow = self.parser.line(stream, line);
        if self.tripped.is_none()
            && !self.parser.done()
            && let Some(meter) = self.meter.as_mut()
        {
            let (usage, cost) = self.parser.live();
            if let Some(why) = meter(usage, cost) {
                self.tripped = Some(why);
                return Flow::Stop;
            }
        }
        flow
    }
}

/// Runs `invocation` under `limits`, its output teed to `tee`; the report, and the first
/// failure to write a sink. With a `meter`, the call is stopped (gracefully) as soon as what it
/// has streamed reaches the limit, and a call cut short that way reports
/// the meter's outcome ([`Outcome::OverBudget`]) with what it had spent.
#[allow(clippy::too_many_arguments)]
pub async fn call(
    settings: &BackendSection,
    name: BackendName,
    invocation: &Invocation,
    limits: &Limits,
    tee: &mut Tee,
    cancel: &Cancel,
    mut beat: Option<Beat<'_>>,
    meter: Option<Meter<'_>>,
) -> Result<(AgentReport, Option<io::Error>), exec::SpawnError> {
    let mut parser = backend::parser(settings, name);
    let mut metered = Metered {
        parser: parser.as_mut(),
        meter,
        tripped: None,
    };
    let every = beat.as_ref().map(|b| b.every);
    let outcome = exec::beating(
        exec::run(&invocation.spec, limits, tee, &mut metered, cancel),
        every,
        |elapsed| {
            if let Some(beat) = beat.as_mut() {
                (beat.on)(elapsed);
            }
        },
    )
    .await?;
    let last_message = invocation
        .last_message_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let tripped = metered.tripped.take();
    let mut report = parser.finish(&Finished::new(&outcome, limits, last_message.as_deref()));
    // A call whose CLI had reported its end is never stopped (it ends by itself, its work
    // done); the next call is refused before it starts.
    if let Some((outcome, why)) = tripped
        && report.outcome != Outcome::Ok
    {
        report.outcome = outcome;
        report.detail = format!("stopped during the call: {why}");
    }
    Ok((report, outcome.tee_error))
}
