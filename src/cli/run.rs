//! `autodev run`: works the queue unattended (see `runner`). Exit 0 when everything asked for is
//! done, 1 on an environment failure, 2 when tasks ended blocked, 130 when interrupted.

use super::{Context, parse_backend};
use crate::config::BackendName;
use crate::error::{Exit, Result};
use crate::runner::{self, Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tasks to work in this run (default: run.max_tasks)
    #[arg(long, value_name = "N")]
    max_tasks: Option<u32>,
    /// Attempts per task: 5 means five attempts (default: run.max_retries)
    #[arg(long, value_name = "N")]
    max_retries: Option<u32>,
    /// Work-and-re-plan cycles: when the queue is done, plan the remaining work and go on
    /// (default: run.max_epochs)
    #[arg(long, value_name = "N")]
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
    runner::run(&settings, &options, context.ui)
}
