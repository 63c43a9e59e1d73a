//! `autodev run`: works the queue unattended (see `runner`). Exit 0 when everything asked for is
//! done, 1 on an environment failure, 2 when tasks ended blocked, 130 when interrupted.

use super::{Context, parse_backend};
use crate::config::{BackendName, Settings};
use crate::error::{Error, Exit, Result};
use crate::report::Sink;
use crate::report::experiments::ExperimentsSink;
use crate::report::journal::{self, JournalSink};
use crate::report::log::LogSink;
use crate::report::progress::ProgressSink;
use crate::report::status_writer::StatusWriter;
use crate::runner::{self, Options, RunLock};
use crate::task::TaskStore;
use crate::ui::Ui;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tasks to work in this run (default: run.max_tasks)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    max_tasks: Option<u32>,
    /// Attempts per task: 5 means five attempts (default: run.max_retries)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_retries: Option<u32>,
    /// Work-and-re-plan cycles: when the queue is done, plan the remaining work and go on
    /// (default: run.max_epochs)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    epochs: Option<u32>,
    /// The agent for this run (default: backend.default)
    #[arg(long, value_parser = parse_backend)]
    backend: Option<BackendName>,
    /// Show every pending task's prompt and command; call no agent and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Print nothing while running (everything still goes to the logs)
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    // Before anything else: a signal at any moment of a run means "stop cleanly" (exit 130).
    crate::exec::trap_signals().map_err(|e| crate::error::Error::io("watch", "signals", e))?;
    let settings = context.settings()?;
    let config = &settings.config;
    let options = Options {
        max_tasks: args.max_tasks.unwrap_or(config.run.max_tasks),
        max_attempts: args.max_retries.unwrap_or(config.run.max_retries).max(1),
        max_epochs: args.epochs.unwrap_or(config.run.max_epochs).max(1),
        backend: args.backend.unwrap_or(config.backend.default),
        dry_run: args.dry_run,
        console: !args.quiet,
    };
    // A dry run writes nothing, not even the lock.
    let _lock = if options.dry_run {
        None
    } else {
        Some(RunLock::acquire(&settings.paths.log_dir.join("run.lock"))?)
    };
    let sinks = sinks(&settings, &options, context.ui)?;
    runner::run(&settings, &options, sinks)
}

/// The report sinks of this run, the journal first: every other record is derived from the same
/// events, and the journal must hold an event before anything acts on it.
fn sinks(settings: &Settings, options: &Options, ui: Ui) -> Result<Vec<Box<dyn Sink>>> {
    let paths = &settings.paths;
    if options.dry_run {
        return Ok(vec![Box::new(LogSink::console_only(ui))]);
    }
    let journal = paths.events_log();
    let log = paths.log_dir.join("autodev.log");
    let queue = TaskStore::new(paths).load()?;
    Ok(vec![
        Box::new(
            JournalSink::open(&journal, journal::new_run_id())
                .map_err(|e| Error::io("open", &journal, e))?,
        ),
        Box::new(LogSink::open(&log, ui, options.console).map_err(|e| Error::io("open", &log, e))?),
        Box::new(ProgressSink::new(paths.progress.clone())),
        Box::new(ExperimentsSink::new(paths.experiments_log())),
        Box::new(StatusWriter::new(
            paths.runtime_status(),
            TaskStore::new(paths),
            queue
                .project_name(&settings.config.project.name)
                .to_string(),
            options.backend.as_str().to_string(),
        )),
    ])
}
