//! `autodev status [--json]`: the project's run and queue at a glance.
//!
//! Read-only: unlike the original, looking at the status never rewrites the run files.

use super::{Context, json_text};
use crate::error::{Exit, Result};
use crate::report::runtime_status::Snapshot;
use crate::task::TaskStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON output
    #[arg(long)]
    json: bool,
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let settings = context.settings()?;
    let queue = TaskStore::new(&settings.paths).load()?;
    let persisted = context.run_status(&settings);
    let snapshot = Snapshot::build(&settings, &queue, &persisted);
    if args.json {
        context.print(&json_text(&snapshot))?;
        return Ok(Exit::Success);
    }

    let ui = &context.ui;
    let run = &snapshot.run;
    let mut out = String::new();
    out.push_str(&format!("Project: {}\n", snapshot.project));
    out.push_str(&format!("Backend: {}\n", snapshot.backend));
    out.push_str(&format!(
        "Run: {} {}\n",
        ui.badge(run.status.as_str()),
        run.message
    ));
    out.push_str(&format!(
        "Epoch: {}/{}\n",
        run.current_epoch, run.max_epochs
    ));
    if !run.started_at.is_empty() && !run.dry_run {
        let tokens = if run.tokens_reported {
            format!(
                "{} input + {} output tokens (cache: {} read, {} written)",
                run.tokens_input, run.tokens_output, run.tokens_cache_read, run.tokens_cache_write
            )
        } else {
            "tokens not reported".to_string()
        };
        let cost = match run.cost_usd {
            Some(c) if run.cost_estimated => format!("${c:.2} (estimated)"),
            Some(c) => format!("${c:.2}"),
            None => "cost not reported".to_string(),
        };
        out.push_str(&format!("Usage: {tokens}, {cost}\n"));
    }
    for w in &run.waiting {
        out.push_str(&format!(
            "Waiting on its branch: {}: {}\n",
            w.task_id, w.message
        ));
    }
    // A run of several workers: a line for each, what it works on and in what phase.
    if run.workers.len() > 1 && persisted.live {
        for w in &run.workers {
            out.push_str(&format!(
                "Worker {}: {} - {} (attempt {}/{}) {} {}\n",
                w.worker,
                w.task_id,
                w.task_title,
                w.attempt,
                w.max_attempts,
                ui.badge(w.status.as_str()),
                w.message
            ));
            if !w.worktree.is_empty() {
                out.push_str(&format!(
                    "  worked in: {} (branch {})\n",
                    w.worktree, w.branch
                ));
            }
        }
    } else if !run.current_task_id.is_empty() {
        out.push_str(&format!(
            "Current: {} - {} (attempt {}/{})\n",
            run.current_task_id, run.current_task_title, run.current_attempt, run.max_attempts
        ));
        if !run.worktree.is_empty() {
            out.push_str(&format!(
                "Worked in: {} (branch {})\n",
                run.worktree, run.branch
            ));
        }
        out.push_str(&format!(
            "Execution: mode={} | strategy={}\n",
            run.execution_mode, run.execution_strategy
        ));
        let outcome = if run.last_completion_outcome.is_empty() {
            "-"
        } else {
            &run.last_completion_outcome
        };
        out.push_str(&format!(
            "Completion: kind={} | metric={} | target={} | outcome={outcome}\n",
            run.completion_kind, run.completion_name, run.completion_target_summary
        ));
        if !run.experiment_stage.is_empty() {
            out.push_str(&format!(
                "Stage: {} ({} iteration(s) in a row without improvement)\n",
                run.experiment_stage, run.no_improvement_streak
            ));
        }
    }
    let working_on = persisted.live_tasks();
    if let Some(next) = queue.next_task_where(|t| working_on.iter().all(|l| l.task_id != t.id)) {
        out.push_str(&format!("Next: {} - {}\n", next.id, next.display_title()));
    }
    let c = snapshot.counts;
    out.push_str(&format!(
        "Queue: {} {}  {} {}  {} {}  {} {}  [TOTAL] {}\n",
        ui.badge("running"),
        c.running,
        ui.badge("completed"),
        c.completed,
        ui.badge("blocked"),
        c.blocked,
        ui.badge("pending"),
        c.pending,
        c.total
    ));
    let dashboard = settings.paths.dashboard();
    if dashboard.is_file() {
        out.push_str(&format!("Dashboard: {}\n", dashboard.display()));
    }
    if !snapshot.tasks.is_empty() {
        out.push_str("\nTasks:\n");
        for (task, row) in queue.tasks.iter().zip(&snapshot.tasks) {
            let reason = task
                .shown_block_reason()
                .map(|r| format!(" | {r}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {} {}: {}{reason}\n",
                ui.badge(&row.status),
                row.id,
                row.title
            ));
            out.push_str(&format!(
                "    mode={} | strategy={} | completion={} | metric={} | target={}\n",
                row.execution_mode,
                row.execution_strategy,
                row.completion_kind,
                row.completion_name,
                row.completion_target_summary
            ));
        }
    }
    context.print(&out)?;
    Ok(Exit::Success)
}
