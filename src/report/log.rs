//! The run's narrative: one line per event, written to the console (stderr, coloured on a
//! terminal) and to `logs/autodev.log` (timestamped, never coloured). The agent's own output is
//! teed into the same log file by supervision, between these lines.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::backend::Outcome;
use crate::experiment::Action;
use crate::journal::event::{Event, Level};
use crate::journal::{Sink, Stamped};
use crate::ui::Ui;

/// Writes event lines to the console and the main log.
pub struct LogSink {
    /// `None` for a dry run, which writes nothing.
    file: Option<File>,
    ui: Ui,
    /// Lines go to the console too (not in tests or `--quiet` runs).
    console: bool,
    /// The run has several workers: each line about a task starts with its id, and this is
    /// the task each worker has in hand.
    workers: Option<std::collections::HashMap<u32, String>>,
}

impl LogSink {
    pub fn open(path: &Path, ui: Ui, console: bool) -> io::Result<LogSink> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogSink {
            file: Some(file),
            ui,
            console,
            workers: None,
        })
    }

    /// For a run of `workers` workers: with more than one, each line about a task starts with
    /// the task's id, as their lines interleave.
    pub fn with_workers(mut self, workers: u32) -> LogSink {
        self.workers = (workers > 1).then(Default::default);
        self
    }

    /// Lines on the console only.
    pub fn console_only(ui: Ui) -> LogSink {
        LogSink {
            file: None,
            ui,
            console: true,
            workers: None,
        }
    }

    fn write(&mut self, at: jiff::Timestamp, badge: Option<&str>, text: &str) -> io::Result<()> {
        self.write_as(at, "", badge, text)
    }

    /// Writes a line, after `task`'s id when one is given (a run of several workers).
    fn write_as(
        &mut self,
        at: jiff::Timestamp,
        task: &str,
        badge: Option<&str>,
        text: &str,
    ) -> io::Result<()> {
        let local = at.to_zoned(jiff::tz::TimeZone::system());
        let stamp = local.strftime("%Y-%m-%d %H:%M:%S").to_string();
        let lead = if task.is_empty() {
            String::new()
        } else {
            format!("{task:>6} │ ")
        };
        let plain = match badge {
            Some(b) => format!("{lead}{} {text}", crate::ui::badge_text(b)),
            None => format!("{lead}{text}"),
        };
        if let Some(file) = &mut self.file {
            writeln!(file, "[{stamp}] {plain}")?;
        }
        if self.console {
            let styled = match badge {
                Some(b) => format!("{lead}{} {text}", self.ui.badge_err(b)),
                None => format!("{lead}{text}"),
            };
            // The terminal may be gone (a closed pipe, a killed tmux): the file has the line.
            let _ = writeln!(io::stderr(), "{styled}");
        }
        Ok(())
    }
}

fn tokens(report: &crate::backend::AgentReport) -> String {
    spend(report.usage.reported(), report.cost_usd, false)
}

/// Tokens and cost in words: counts, or "not reported" when the CLI gave none.
pub(crate) fn spend(
    tokens: Option<crate::backend::Usage>,
    cost: Option<f64>,
    always_cost: bool,
) -> String {
    let mut parts = vec![match tokens {
        Some(u) => format!("{} in / {} out tokens", u.input, u.output),
        None => "tokens not reported".to_string(),
    }];
    if let Some(u) = tokens
        && u.cache_read + u.cache_write > 0
    {
        parts.push(format!(
            "cache {} read / {} written",
            u.cache_read, u.cache_write
        ));
    }
    match cost {
        Some(cost) => parts.push(format!("${cost:.4}")),
        None if always_cost => parts.push("cost not reported".to_string()),
        None => {}
    }
    parts.join(", ")
}

/// `1h 02m`, `3m 05s`, `42s`.
fn elapsed(seconds: u64) -> String {
    match seconds {
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// The end of a run, as a person reads it in five seconds.
pub fn summary_lines(s: &crate::journal::event::RunSummary) -> Vec<String> {
    let mut lines = vec![format!(
        "Summary: {} completed, {} blocked, {} pending; {}; {}",
        s.completed,
        s.blocked,
        s.pending,
        elapsed(s.elapsed_seconds),
        spend(s.tokens, s.cost_usd, true) + if s.cost_estimated { " (estimated)" } else { "" }
    )];
    if let Some(night) = s.night {
        lines.push(format!(
            "  the night so far, with the runs this one resumed: {}",
            night.told()
        ));
    }
    for b in &s.blocked_tasks {
        lines.push(format!(
            "  blocked {}: {}",
            b.id,
            crate::backend::clip(&b.reason, 240)
        ));
    }
    for m in &s.to_merge {
        lines.push(format!("  to merge {}: {}", m.id, m.reason));
    }
    if s.blocked_before > 0 {
        lines.push(format!(
            "  ({} task(s) blocked by an earlier run are still blocked)",
            s.blocked_before
        ));
    }
    if s.blocked > 0 {
        lines.push(
            "Next: fix what blocks them, then `autodev task retry` (all, or --ids ID) and `autodev run`; `autodev task list` shows every reason"
                .to_string(),
        );
    } else if s.pending > 0 {
        lines.push(
            "Next: `autodev run` works the pending tasks; `autodev status` shows the queue"
                .to_string(),
        );
    } else {
        lines.push("Next: `autodev status` shows the queue; `autodev plan` adds work".to_string());
    }
    lines
}

/// The line (and badge) an event is told as; `None` for events with nothing to say.
pub fn describe(event: &Event) -> Vec<(Option<&'static str>, String)> {
    match event {
        Event::RunStarted { .. }
        | Event::Note { .. }
        | Event::EpochStarted { .. }
        | Event::BudgetWarning { .. }
        | Event::BudgetStopped { .. }
        | Event::RunFinished { .. } => run_lines(event),
        Event::TaskStarted { .. }
        | Event::AttemptStarted { .. }
        | Event::CheckRunning { .. }
        | Event::Heartbeat { .. }
        | Event::AgentFinished { .. }
        | Event::Reflecting { .. }
        | Event::Waiting { .. } => attempt_lines(event),
        Event::Validating { .. }
        | Event::Judged { .. }
        | Event::AttemptFailed { .. }
        | Event::TaskCompleted { .. }
        | Event::TaskBlocked { .. }
        | Event::CommitMade { .. }
        | Event::CommitFailed { .. }
        | Event::Recovered { .. } => verdict_lines(event),
        Event::ExperimentStarted { .. }
        | Event::ExperimentEnded { .. }
        | Event::ExperimentStage { .. }
        | Event::Experiment { .. }
        | Event::WorkspaceOpened { .. }
        | Event::TaskLanded { .. } => experiment_lines(event),
        Event::ChangesFound { .. }
        | Event::Spent { .. }
        | Event::CheckFinished { .. }
        | Event::CommitStarted { .. }
        | Event::CandidateCommitted { .. }
        | Event::DiscardStarted { .. }
        | Event::CandidateDiscarded { .. }
        | Event::CandidateKept { .. } => Vec::new(),
    }
}

/// The run's own lines: its start and end, notes, epochs and the budget.
fn run_lines(event: &Event) -> Vec<(Option<&'static str>, String)> {
    match event {
        Event::RunStarted {
            backend,
            version,
            max_tasks,
            max_attempts,
            dry_run,
            ..
        } => {
            let mut lines = vec![(
                None,
                format!(
                    "autodev run: backend {backend}{}, up to {max_tasks} task(s), {max_attempts} attempt(s) each",
                    version
                        .as_deref()
                        .map(|v| format!(" ({v})"))
                        .unwrap_or_default()
                ),
            )];
            if *dry_run {
                lines.push((
                    None,
                    "DRY RUN: no agent will be called and no task changed".into(),
                ));
            }
            lines
        }
        Event::Note { level, text } => vec![(
            None,
            match level {
                Level::Info => text.clone(),
                Level::Warn => format!("warning: {text}"),
                Level::Error => format!("error: {text}"),
            },
        )],
        Event::EpochStarted { epoch, max_epochs } => {
            vec![
                (None, String::new()),
                (None, format!("Epoch {epoch}/{max_epochs}")),
            ]
        }
        Event::BudgetWarning { message } => vec![(None, format!("warning: {message}"))],
        Event::BudgetStopped { task, spent, .. } => vec![(
            None,
            format!(
                "{} the budget: {} spent so far",
                match task {
                    Some(t) => format!("{} stays pending, stopped by", t.id),
                    None => "Stopped by".to_string(),
                },
                spent.told()
            ),
        )],
        Event::RunFinished {
            end,
            message,
            attempted,
            completed,
            blocked,
            summary,
        } => {
            // A halt's message may carry `hint:` lines: the counts go on its first line.
            let (first, rest) = message.split_once('\n').unwrap_or((message, ""));
            let mut lines = vec![(
                Some(super::runtime_status::RunStatus::from(*end).badge()),
                format!(
                    "{first} (attempted={attempted}, completed={completed}, blocked={blocked})"
                ),
            )];
            lines.extend(rest.lines().map(|l| (None, l.to_string())));
            lines.extend(summary_lines(summary).into_iter().map(|l| (None, l)));
            lines
        }
        // Told by the other groups (see `describe`).
        _ => Vec::new(),
    }
}

/// A task's and its attempts' lines, up to the agent's end.
fn attempt_lines(event: &Event) -> Vec<(Option<&'static str>, String)> {
    match event {
        Event::TaskStarted { task, number } => vec![
            (None, "━".repeat(46)),
            (None, format!("[Task {number}] {}: {}", task.id, task.title)),
            (None, "━".repeat(46)),
        ],
        Event::AttemptStarted {
            task,
            attempt,
            max_attempts,
            log,
        } => vec![(
            Some("running"),
            format!(
                "Task {} attempt {attempt}/{max_attempts} (log: {})",
                task.id,
                log.display()
            ),
        )],
        Event::CheckRunning {
            task,
            command,
            elapsed_seconds,
        } => vec![(
            Some("validating"),
            format!(
                "Task {}: check `{}` still running, {} so far",
                task.id,
                crate::backend::clip(command, 120),
                elapsed(*elapsed_seconds)
            ),
        )],
        Event::Heartbeat {
            task,
            attempt,
            max_attempts,
            elapsed_seconds,
            active,
        } => vec![if *active {
            (
                Some("running"),
                format!(
                    "Task {} attempt {attempt}/{max_attempts} still working, {elapsed_seconds}s elapsed, output growing",
                    task.id
                ),
            )
        } else {
            (
                Some("waiting"),
                format!(
                    "Task {} attempt {attempt}/{max_attempts}, {elapsed_seconds}s elapsed, waiting for model output",
                    task.id
                ),
            )
        }],
        Event::AgentFinished {
            task,
            attempt,
            report,
        } => {
            let mut line = format!(
                "Agent finished: task={} attempt={attempt} outcome={} ({}), {}",
                task.id,
                report.outcome.as_str(),
                report.exit,
                tokens(report)
            );
            if report.outcome != Outcome::Ok && !report.detail.is_empty() {
                line.push_str(&format!("\n  {}", report.detail));
            }
            // Checks follow only a turn that ran its course; a stopped one says so.
            let badge = match report.outcome {
                Outcome::Interrupted => "interrupted",
                _ => "validating",
            };
            vec![(Some(badge), line)]
        }
        Event::Reflecting {
            task,
            attempt,
            max_attempts,
        } => vec![(
            Some("waiting"),
            format!(
                "Reflecting on failed attempt {attempt}/{max_attempts} of {}",
                task.id
            ),
        )],
        Event::Waiting {
            task,
            reason,
            seconds,
        } => vec![(
            Some("waiting"),
            format!(
                "Task {}: {reason}; waiting {seconds}s before trying again (not counted as an attempt)",
                task.id
            ),
        )],
        // Told by the other groups (see `describe`).
        _ => Vec::new(),
    }
}

/// What became of an attempt: the checks, the verdict, the commit, the task's end.
fn verdict_lines(event: &Event) -> Vec<(Option<&'static str>, String)> {
    match event {
        Event::Validating { task, checks } => vec![(
            Some("validating"),
            format!("Running {checks} check command(s) for {}", task.id),
        )],
        Event::Judged { gate, .. } => {
            let mut lines = vec![(
                None,
                format!(
                    "Changed files ({}): {}",
                    gate.changed_files.len(),
                    crate::ui::preview(&gate.changed_files, 20)
                ),
            )];
            for check in gate.checks.iter().filter(|c| !c.passed) {
                lines.push((Some("fail"), format!("{}: {}", check.name, check.detail)));
            }
            let commands = gate
                .checks
                .iter()
                .filter(|c| c.name.starts_with("check: "))
                .count();
            lines.push((
                Some(if gate.passed { "pass" } else { "fail" }),
                format!(
                    "Gate: {} of {} checks passed, {commands} of them check commands",
                    gate.checks.iter().filter(|c| c.passed).count(),
                    gate.checks.len()
                ),
            ));
            lines
        }
        Event::AttemptFailed {
            task,
            attempt,
            max_attempts,
            summary,
            retry_in_seconds,
            ..
        } => vec![(
            // RETRY only when another attempt follows.
            Some(if retry_in_seconds.is_some() {
                "retry"
            } else {
                "fail"
            }),
            format!(
                "Task {} attempt {attempt}/{max_attempts} failed: {summary}{}",
                task.id,
                retry_in_seconds
                    .map(|s| format!(" (next attempt in {s}s)"))
                    .unwrap_or_default()
            ),
        )],
        Event::TaskCompleted { task, attempt, .. } => vec![(
            Some("completed"),
            format!("Task {} completed on attempt {attempt}", task.id),
        )],
        Event::TaskBlocked {
            task,
            reason,
            evidence,
        } => {
            let mut lines = vec![(
                Some("blocked"),
                format!("Task {} blocked: {reason}", task.id),
            )];
            lines.extend(evidence.iter().map(|l| (None, format!("  | {l}"))));
            lines
        }
        Event::CommitMade { sha, ignored, .. } => {
            let mut lines = vec![(None, format!("Committed {}", crate::git::short_sha(sha)))];
            if !ignored.is_empty() {
                lines.push((
                    None,
                    format!(
                        "warning: not committed because git ignores them: {}",
                        ignored.join(", ")
                    ),
                ));
            }
            lines
        }
        Event::CommitFailed { task, reason } => vec![(
            Some("blocked"),
            format!("Could not commit the files of {}: {reason}", task.id),
        )],
        Event::Recovered { message, .. } => vec![(Some("running"), message.clone())],
        // Told by the other groups (see `describe`).
        _ => Vec::new(),
    }
}

/// The lines of work done in a worktree: an experiment's, a delivery task's.
fn experiment_lines(event: &Event) -> Vec<(Option<&'static str>, String)> {
    match event {
        Event::WorkspaceOpened {
            task,
            branch,
            worktree,
            ..
        } => vec![(
            None,
            format!(
                "{} is worked in the worktree {} on branch {branch}; your working tree is not \
                 touched",
                task.id,
                worktree.display()
            ),
        )],
        Event::TaskLanded {
            merged, message, ..
        } => vec![(
            None,
            if *merged {
                message.clone()
            } else {
                format!("warning: {message}")
            },
        )],
        Event::ExperimentStarted {
            task,
            branch,
            worktree,
            resumed,
            ..
        } => vec![(
            None,
            format!(
                "Experiment {} {} in its own worktree {} on branch {branch}; your working tree is not touched",
                task.id,
                if *resumed { "resumes" } else { "runs" },
                worktree.display()
            ),
        )],
        Event::ExperimentStage {
            task,
            stage,
            message,
        } => vec![(
            Some("running"),
            format!("Experiment {}: stage {stage}: {message}", task.id),
        )],
        Event::ExperimentEnded {
            on_branch, message, ..
        } => vec![(
            None,
            if *on_branch {
                format!("warning: {message}")
            } else {
                message.clone()
            },
        )],
        Event::Experiment {
            task,
            record,
            progress,
        } => {
            let badge = match record.action {
                Some(Action::Keep) => "kept",
                Some(Action::Discard) => "discarded",
                Some(Action::Hold) => "blocked",
                None => "validating",
            };
            let what = if record.iteration == 0 {
                format!("Experiment {} reference", task.id)
            } else {
                format!(
                    "Experiment {} iteration {}/{}",
                    task.id, record.iteration, progress.max_iterations
                )
            };
            vec![(Some(badge), format!("{what}: {}", progress.message))]
        }
        // Told by the other groups (see `describe`).
        _ => Vec::new(),
    }
}

impl Sink for LogSink {
    fn stamped(&mut self, stamped: Stamped<'_>) -> io::Result<()> {
        let event = stamped.event;
        let task = match (&mut self.workers, stamped.worker) {
            (Some(tasks), Some(worker)) => {
                if let Event::TaskStarted { task, .. } = event {
                    tasks.insert(worker, task.id.clone());
                }
                event
                    .task_id()
                    .map(str::to_string)
                    .or_else(|| tasks.get(&worker).cloned())
            }
            _ => None,
        };
        for (badge, text) in describe(event) {
            match &task {
                // Interleaved lines stay compact: no rules around a task's start.
                Some(_) if text.chars().all(|c| c == '━') => {}
                Some(id) => {
                    let text = text.replace('\n', &format!("\n{id:>6} │ "));
                    self.write_as(stamped.at, id, badge, &text)?;
                }
                None => self.write(stamped.at, badge, &text)?,
            }
        }
        Ok(())
    }
}
