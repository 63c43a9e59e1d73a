//! `autodev run`: works the queue unattended (see `runner`). Exit 0 when everything asked for is
//! done, 1 on an environment failure, 2 when tasks ended blocked, 130 when interrupted.

use super::{Context, parse_backend};
use crate::config::{BackendName, Settings};
use crate::error::{Error, Exit, Result};
use crate::journal::Sink;
use crate::journal::{self, JournalSink};
use crate::report::experiments::ExperimentsSink;
use crate::report::log::LogSink;
use crate::report::progress::ProgressSink;
use crate::report::status_writer::StatusWriter;
use crate::runner::{self, Options, RunLock};
use crate::task::TaskStore;
use crate::ui::Ui;
use crate::{projects, session};

/// The most workers a run may have.
const MAX_WORKERS: u32 = 64;

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
    /// Stop before spending more than this, in USD, over every agent call (default:
    /// run.max_cost_usd; 0: no cap)
    #[arg(long, value_name = "USD", value_parser = parse_usd)]
    max_cost: Option<f64>,
    /// Stop before using more tokens (input + output) than this (default: run.max_tokens)
    #[arg(long, value_name = "N")]
    max_tokens: Option<u64>,
    /// Run even when the backend reports nothing a --max-cost or --max-tokens cap could be
    /// enforced with
    #[arg(long)]
    force: bool,
    /// Tasks worked at once, each in a worktree of its own (default: run.workers)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_WORKERS as i64))]
    workers: Option<u32>,
    /// Start the run in a tmux session of its own and return at once (see `autodev list`,
    /// `attach`, `stop`)
    #[arg(long, conflicts_with = "dry_run")]
    detach: bool,
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    // Before anything else: a signal at any moment of a run means "stop cleanly" (exit 130).
    crate::exec::trap_signals().map_err(|e| crate::error::Error::io("watch", "signals", e))?;
    let settings = context.settings()?;
    if let Some(misspelt) = settings.guarding.first() {
        // Warned above; a run must not go ahead without the checks the user meant to set.
        return Err(Error::Setup {
            message: format!(
                "{misspelt}: a misspelt verification setting would let the run go without it"
            ),
            hint: "correct the name in autodev.toml (`autodev config show` lists every key), \
                   then run again"
                .into(),
        });
    }
    let config = &settings.config;
    let workers = args.workers.unwrap_or(config.run.workers);
    if !(1..=MAX_WORKERS).contains(&workers) {
        return Err(Error::Setting {
            key: "run.workers".into(),
            message: format!("must be from 1 to {MAX_WORKERS}; got {workers}"),
        });
    }
    if workers > 1 && config.run.isolation == crate::config::Isolation::InPlace {
        return Err(Error::Setup {
            message: format!(
                "{workers} workers need a worktree each, and run.isolation is \"in-place\""
            ),
            hint: "set run.isolation = \"worktree\" (the default), or run one worker".into(),
        });
    }
    let options = Options {
        workers,
        max_tasks: args.max_tasks.unwrap_or(config.run.max_tasks),
        max_attempts: args.max_retries.unwrap_or(config.run.max_retries).max(1),
        max_epochs: args.epochs.unwrap_or(config.run.max_epochs).max(1),
        backend: args.backend.unwrap_or(config.backend.default),
        dry_run: args.dry_run,
        console: !args.quiet,
        max_cost_usd: Some(args.max_cost.unwrap_or(config.run.max_cost_usd)).filter(|c| *c > 0.0),
        max_tokens: Some(args.max_tokens.unwrap_or(config.run.max_tokens)).filter(|t| *t > 0),
        force: args.force,
    };
    if args.detach {
        return detach(context, &settings);
    }
    // A dry run writes nothing, not even the lock.
    let _lock = if options.dry_run {
        None
    } else {
        Some(RunLock::acquire(&settings.paths.log_dir.join("run.lock"))?)
    };
    // One store for the run and its status file: the queue read by one is not parsed again
    // by the other.
    let store = TaskStore::new(&settings.paths);
    let sinks = sinks(&settings, &options, context.ui, &store)?;
    if !options.dry_run {
        remember(context, &settings, None);
    }
    runner::run(&settings, &options, store, sinks)
}

/// A dollar amount on the command line: a finite number from 0 to 1,000,000.
fn parse_usd(text: &str) -> std::result::Result<f64, String> {
    match text.trim().trim_start_matches('$').parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1_000_000.0).contains(&v) => Ok(v),
        _ => Err("expected an amount in USD from 0 to 1000000, such as 5 or 2.50".into()),
    }
}

/// The project's name, as `status` shows it.
fn project_name(settings: &Settings) -> String {
    TaskStore::new(&settings.paths)
        .load()
        .map(|q| q.project_name(&settings.config.project.name).to_string())
        .unwrap_or_else(|_| settings.config.project.name.clone())
}

/// Records the project (and a session) in this user's registry; a failure there is only told.
fn remember(context: &Context, settings: &Settings, session: Option<projects::SessionRecord>) {
    if let Err(e) = projects::remember(settings, &project_name(settings), session) {
        context
            .ui
            .warn(&format!("the project registry was not updated: {e}"));
    }
}

/// The arguments this command was given, for the run inside tmux: without `--detach`, and with
/// the configuration file named by its absolute path.
fn inner_arguments(settings: &Settings) -> Vec<String> {
    let mut out = vec!["--config".to_string(), settings.file.display().to_string()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--detach" => {}
            "-c" | "--config" => {
                args.next();
            }
            a if a.starts_with("--config=")
                || (a.starts_with("-c") && a.len() > 2 && !a.starts_with("--")) => {}
            _ => out.push(arg),
        }
    }
    out
}

/// `run --detach`: the same run in a new tmux session; returns once it is under way, or with
/// its error when it ended at once.
fn detach(context: &Context, settings: &Settings) -> Result<Exit> {
    session::require_tmux()?;
    let base = session::session_name(
        &settings.config.detach.tmux_session_prefix,
        &project_name(settings),
    );
    // A live session of this name is this project's own run (refused) or another project's of
    // the same name (this one takes the next free name).
    let owner = |name: &str| {
        projects::list()
            .into_iter()
            .find(|p| p.sessions.iter().any(|s| s.name == name))
            .map(|p| p.root)
    };
    let mut name = base.clone();
    let mut n = 1;
    while session::exists(&name) {
        if owner(&name).is_none_or(|root| root == settings.paths.root) {
            return Err(Error::Setup {
                message: format!(
                    "a detached run of this project is already running in tmux session {name}"
                ),
                hint: format!(
                    "watch it with `autodev attach {name}`, or stop it with `autodev stop {name}`"
                ),
            });
        }
        n += 1;
        name = format!("{base}-{n}");
    }
    // A foreground run holds the lock: say so now, before any session exists. (No run of ours
    // exists yet to be in the way of this brief look.)
    drop(RunLock::acquire(&settings.paths.log_dir.join("run.lock"))?);
    let exe = std::env::current_exe().map_err(|e| Error::io("find", "the autodev program", e))?;
    let mut command = vec![exe.display().to_string()];
    command.extend(inner_arguments(settings));
    session::start(&name, &context.cwd, &command)?;
    remember(
        context,
        settings,
        Some(projects::SessionRecord {
            name: name.clone(),
            started_at: crate::durable::utc_now(),
        }),
    );
    let journal = settings.paths.events_log();
    let pid = std::cell::Cell::new(None);
    let started = || {
        let Some(found) = session::pane_pid(&name) else {
            return false;
        };
        pid.set(Some(found));
        let suffix = format!("-{found}");
        // Under way: past its preflight and recovery, at its first task (a run that is about to
        // fail has journalled its start already), and not ended since.
        use crate::journal::event::Event;
        let mine: Vec<_> = journal::read_tail(&journal)
            .into_iter()
            .filter(|e| e.run_id.ends_with(&suffix))
            .collect();
        let under_way = mine.iter().any(|e| {
            matches!(
                e.event,
                Event::TaskStarted { .. } | Event::Recovered { .. } | Event::EpochStarted { .. }
            )
        });
        let ended = mine
            .iter()
            .any(|e| matches!(e.event, Event::RunFinished { .. }));
        under_way && !ended
    };
    let settled = session::settle(&name, std::time::Duration::from_secs(5), started);
    if let Err((code, screen)) = settled {
        // tmux may not know the status of a run that ended at once: the run's journal does.
        let code = code.or_else(|| {
            use crate::journal::event::Event;
            let suffix = format!("-{}", pid.get()?);
            journal::read_tail(&journal)
                .iter()
                .rev()
                .find_map(|e| match &e.event {
                    Event::RunFinished { end, .. } if e.run_id.ends_with(&suffix) => {
                        Some(end.exit().code().into())
                    }
                    _ => None,
                })
        });
        if code == Some(0) {
            context.print(&format!(
                "The run in tmux session {name} finished at once: {}\n",
                screen
                    .lines()
                    .rev()
                    .find(|l| l.contains("[COMPLETED]"))
                    .unwrap_or("nothing was left to do")
                    .trim()
            ))?;
            return Ok(Exit::Success);
        }
        // The run's own last words: without tmux's "Pane is dead" and the blank rest of the pane.
        let lines: Vec<&str> = screen
            .lines()
            .filter(|l| !l.starts_with("Pane is dead"))
            .collect();
        let end = lines
            .iter()
            .rposition(|l| !l.trim().is_empty())
            .map_or(0, |i| i + 1);
        let tail = &lines[end.saturating_sub(15)..end];
        return Err(Error::Setup {
            message: format!(
                "the run in tmux session {name} ended at once{}:\n{}",
                code.map(|c| format!(" (exit {c})")).unwrap_or_default(),
                tail.join("\n")
            ),
            hint: "fix this, then start it again; `autodev run` in the foreground shows the same"
                .into(),
        });
    }
    context.print(&format!(
        "Started the run in tmux session {name}\n  watch:   autodev attach {name}   (detach again with Ctrl-b d)\n  status:  autodev status, autodev list\n  stop:    autodev stop {name}\n  logs:    {}\n",
        settings.paths.log_dir.display()
    ))?;
    Ok(Exit::Success)
}

/// The report sinks of this run, the journal first: every other record is derived from the same
/// events, and the journal must hold an event before anything acts on it.
fn sinks(
    settings: &Settings,
    options: &Options,
    ui: Ui,
    store: &TaskStore,
) -> Result<Vec<Box<dyn Sink>>> {
    let paths = &settings.paths;
    if options.dry_run {
        return Ok(vec![Box::new(LogSink::console_only(ui))]);
    }
    let journal = paths.events_log();
    let log = paths.run_log();
    let queue = store.load()?;
    let name = queue
        .project_name(&settings.config.project.name)
        .to_string();
    let run_id = journal::new_run_id();
    let mut list: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(channels) = crate::notify::Channels::of(&settings.config.notify, &paths.code_dir) {
        list.push(Box::new(crate::notify::NotifySink::new(
            channels,
            settings.config.notify.events.clone(),
            name,
            paths.root.clone(),
            paths.log_dir.clone(),
            run_id.clone(),
        )));
    }
    let mut sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(JournalSink::open(&journal, run_id).map_err(|e| Error::io("open", &journal, e))?),
        Box::new(
            LogSink::open(&log, ui, options.console)
                .map_err(|e| Error::io("open", &log, e))?
                .with_workers(options.workers),
        ),
        Box::new(ProgressSink::new(paths.progress.clone())),
        Box::new(ExperimentsSink::new(paths.experiments_log())),
        Box::new(
            StatusWriter::new(
                paths.runtime_status(),
                store.clone(),
                queue
                    .project_name(&settings.config.project.name)
                    .to_string(),
                options.backend.as_str().to_string(),
            )
            .with_dashboard(paths.dashboard()),
        ),
    ];
    // Notifications last: they tell what the other sinks already recorded.
    sinks.extend(list);
    Ok(sinks)
}
