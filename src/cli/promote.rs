//! `autodev promote TASK [--branch NAME]`: lands an experiment's result that waits on its branch
//! (`promotion = "manual"`, or one a run could not land) after measuring it again on top of
//! your current `HEAD`, interleaved against it; refused, with what the tip measured, when the
//! gain is gone there. Exit 0 when it landed (or was there already), 1 when it was refused, 130
//! when interrupted.

use super::Context;
use crate::error::{Error, Exit, Result};
use crate::journal::Sink;
use crate::report::log::LogSink;
use crate::runner::RunLock;
use crate::task::TaskStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment (an iterative task) whose result to promote
    task_id: String,
    /// The branch its result waits on (default: the one the last run named, or the task's only
    /// `autodev/` branch with work your branch lacks)
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    crate::exec::trap_signals().map_err(|e| Error::io("watch", "signals", e))?;
    let settings = context.settings()?;
    let paths = &settings.paths;
    let queue = TaskStore::new(paths).load()?;
    let task = super::task_named(&queue, &args.task_id, paths)?;
    // A run works in the same branches and trees: one at a time.
    let _lock = RunLock::acquire(&paths.log_dir.join("run.lock"))?;
    let log = paths.run_log();
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(
        LogSink::open(&log, context.ui, true).map_err(|e| Error::io("open", &log, e))?,
    )];
    crate::runner::promote(&settings, task, args.branch.as_deref(), sinks)
}
