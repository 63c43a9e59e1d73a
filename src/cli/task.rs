//! `autodev task list|next|reset|retry|block|check`: inspect, steer and check the queue by hand.

use serde_json::json;

use super::{Context, json_text, print_help};
use crate::config::Settings;
use crate::error::{Error, Exit, Result};
use crate::task::{Backup, Counts, Lifecycle, TaskFile, TaskStore};
use crate::ui::{badge_text, pad};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<TaskCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum TaskCommand {
    /// Show all tasks
    List {
        /// JSON output
        #[arg(long)]
        json: bool,
    },
    /// Show next pending task
    Next {
        /// JSON output
        #[arg(long)]
        json: bool,
    },
    /// Reset tasks to pending
    Reset {
        /// Comma-separated task IDs (default: all)
        #[arg(long, value_delimiter = ',', value_name = "IDS")]
        ids: Option<Vec<String>>,
        /// Show what would change
        #[arg(long)]
        dry_run: bool,
    },
    /// Retry blocked tasks
    Retry {
        /// Comma-separated blocked task IDs (default: all blocked)
        #[arg(long, value_delimiter = ',', value_name = "IDS")]
        ids: Option<Vec<String>>,
        /// Show what would change
        #[arg(long)]
        dry_run: bool,
    },
    /// Check the queue before a run: errors exit 1, advice is shown but does not fail
    Check,
    /// Mark a task as blocked
    Block {
        /// The task to block
        task_id: String,
        /// Why it is blocked (shown in listings and progress)
        reason: String,
    },
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let Some(command) = args.command else {
        return print_help(&["task"]);
    };
    let settings = context.settings()?;
    let store = TaskStore::new(&settings.paths);
    match command {
        TaskCommand::List { json } => list(context, &settings, &store, json),
        TaskCommand::Next { json } => next(context, &store, json),
        TaskCommand::Reset { ids, dry_run } => change(context, &store, Change::Reset, ids, dry_run),
        TaskCommand::Retry { ids, dry_run } => change(context, &store, Change::Retry, ids, dry_run),
        TaskCommand::Block { task_id, reason } => block(context, &store, &task_id, &reason),
        TaskCommand::Check => check(context, &store),
    }
}

/// Loads the queue (every load validates it: an invalid queue is an error, exit 1) and adds the
/// planning audit's advice on the tasks still to be worked.
fn check(context: &Context, store: &TaskStore) -> Result<Exit> {
    let queue = store.load()?;
    let counts = Counts::of(queue.tasks.iter().map(|t| t.status(&[])));
    let mut advice = Vec::new();
    for task in queue
        .tasks
        .iter()
        .filter(|t| t.lifecycle() == Lifecycle::Pending)
    {
        if let serde_json::Value::Object(raw) = task.to_value() {
            advice.extend(crate::task::audit::audit_task(&raw, false));
        }
    }
    let mut out = format!(
        "{}: {} task(s), {} pending; no errors\n",
        store.path().display(),
        queue.tasks.len(),
        counts.pending
    );
    if !advice.is_empty() {
        out.push_str("advice (not errors; a run works these tasks as they are):\n");
        for line in &advice {
            out.push_str(&format!("  - {line}\n"));
        }
    }
    context.print(&out)?;
    Ok(Exit::Success)
}

fn list(context: &Context, settings: &Settings, store: &TaskStore, json: bool) -> Result<Exit> {
    let queue = store.load()?;
    let live = context.run_status(settings).live_tasks();
    let statuses: Vec<_> = queue.tasks.iter().map(|t| t.status(&live)).collect();
    let counts = Counts::of(statuses.iter().copied());
    if json {
        let tasks: Vec<_> = queue
            .tasks
            .iter()
            .zip(&statuses)
            .map(|(t, s)| {
                json!({
                    "id": t.id,
                    "title": t.display_title(),
                    "status": s.as_str(),
                    "passes": t.passes,
                    "blocked": t.blocked,
                    "block_reason": t.block_reason,
                    "depends_on": t.depends_on,
                    "waits_on": queue.waits_on(t).iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                })
            })
            .collect();
        context.print(&json_text(&json!({"counts": counts, "tasks": tasks})))?;
        return Ok(Exit::Success);
    }

    let mut out = String::new();
    out.push_str(&format!(
        "Project: {}\n",
        queue.project_name(&settings.config.project.name)
    ));
    out.push_str(&format!(
        "Total: {}  Completed: {}  Running: {}  Blocked: {}  Pending: {}\n\n",
        counts.total, counts.completed, counts.running, counts.blocked, counts.pending
    ));
    if queue.tasks.is_empty() {
        out.push_str("No tasks defined.\n");
        context.print(&out)?;
        return Ok(Exit::Success);
    }
    let id_width = queue
        .tasks
        .iter()
        .map(|t| t.id.chars().count() + 1)
        .max()
        .unwrap_or(0)
        .max(12);
    let badge_width = 12;
    out.push_str(&format!(
        "{:id_width$} {:badge_width$} Title\n{}\n",
        "ID",
        "Status",
        "-".repeat(60)
    ));
    for (task, status) in queue.tasks.iter().zip(&statuses) {
        let plain = badge_text(status.as_str());
        out.push_str(&format!(
            "{:id_width$} {} {}\n",
            task.id,
            pad(&context.ui.badge(status.as_str()), &plain, badge_width),
            task.display_title()
        ));
        let indent = id_width + badge_width + 2;
        if let Some(reason) = task.shown_block_reason() {
            out.push_str(&format!("{:indent$}reason: {reason}\n", ""));
        }
        let waits = queue.waits_on(task);
        if task.lifecycle() == Lifecycle::Pending && !waits.is_empty() {
            let list: Vec<String> = waits
                .iter()
                .map(|(id, state)| match state {
                    Some(state) => format!("{id} ({})", state.as_str()),
                    None => format!("{id} (no such task)"),
                })
                .collect();
            out.push_str(&format!("{:indent$}waits on: {}\n", "", list.join(", ")));
        }
    }
    context.print(&out)?;
    Ok(Exit::Success)
}

fn next(context: &Context, store: &TaskStore, json: bool) -> Result<Exit> {
    let queue = store.load()?;
    let next = queue.next_task();
    if json {
        let body = match next {
            Some(task) => json!({"task": task.to_value()}),
            None => json!({"task": null, "message": "No pending tasks"}),
        };
        context.print(&json_text(&body))?;
    } else {
        match next {
            Some(task) => {
                let mut out = format!("Next task: {} - {}\n", task.id, task.display_title());
                if !task.steps.is_empty() {
                    out.push_str("Steps:\n");
                    for step in &task.steps {
                        out.push_str(&format!("  - {step}\n"));
                    }
                }
                context.print(&out)?;
            }
            None => context.print("No pending tasks remaining.\n")?,
        }
    }
    Ok(if next.is_some() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Reset,
    Retry,
}

/// Applies reset or retry to the selection; returns (count, unknown ids).
/// Applies `change` to the tasks `ids` selects (all when `None`): the ids of the tasks it
/// changed, and the ids that name no task.
fn apply(
    queue: &mut TaskFile,
    change: Change,
    ids: Option<&[String]>,
) -> (Vec<String>, Vec<String>) {
    let (indexes, unknown) = queue.select(ids);
    let unknown = unknown.into_iter().map(str::to_string).collect();
    let mut changed = Vec::new();
    for i in indexes {
        let task = &mut queue.tasks[i];
        let did = match change {
            Change::Reset => task.reset() > 0,
            Change::Retry => task.retry(),
        };
        if did {
            changed.push(task.id.clone());
        }
    }
    if !changed.is_empty() {
        queue.refresh_statistics();
    }
    (changed, unknown)
}

fn change(
    context: &Context,
    store: &TaskStore,
    change: Change,
    ids: Option<Vec<String>>,
    dry_run: bool,
) -> Result<Exit> {
    let ids: Option<Vec<String>> = ids.map(|ids| {
        ids.into_iter()
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
            .collect()
    });
    // An id that names no task changes nothing, like `task block` of an unknown id.
    let unknown_ids = |unknown: &[String]| Error::TaskNotFound {
        id: unknown.join(", "),
        path: store.path().to_path_buf(),
    };
    let changed = if dry_run {
        let mut queue = std::sync::Arc::unwrap_or_clone(store.load()?);
        let (changed, unknown) = apply(&mut queue, change, ids.as_deref());
        if !unknown.is_empty() {
            return Err(unknown_ids(&unknown));
        }
        changed
    } else {
        let updated = store.update(Backup::Before, |queue| {
            let (changed, unknown) = apply(queue, change, ids.as_deref());
            if unknown.is_empty() {
                Ok(changed)
            } else {
                Err(unknown_ids(&unknown))
            }
        })?;
        if let Some(backup) = &updated.backup {
            context.print(&format!("Backup: {}\n", backup.display()))?;
        }
        updated.value
    };
    let named = changed.join(", ");
    let n = changed.len();
    let message = match (change, dry_run, n) {
        (Change::Reset, _, 0) => "Nothing to reset".to_string(),
        (Change::Reset, true, _) => {
            format!("[DRY RUN] Would reset {n} task(s) to pending: {named}")
        }
        (Change::Reset, false, _) => format!("Reset {n} task(s) to pending: {named}"),
        (Change::Retry, _, 0) => "No blocked tasks to retry".to_string(),
        (Change::Retry, true, _) => format!("[DRY RUN] Would retry {n} blocked task(s): {named}"),
        (Change::Retry, false, _) => format!("Retried {n} blocked task(s): {named}"),
    };
    context.print(&format!("{message}\n"))?;
    Ok(Exit::Success)
}

fn block(context: &Context, store: &TaskStore, task_id: &str, reason: &str) -> Result<Exit> {
    let now = crate::task::blocked_at_now();
    store.update(Backup::None, |queue| {
        let task = queue.find_mut(task_id).ok_or_else(|| Error::TaskNotFound {
            id: task_id.to_string(),
            path: store.path().to_path_buf(),
        })?;
        task.block(reason, now);
        queue.refresh_statistics();
        Ok(())
    })?;
    context.print(&format!(
        "Task {} marked as blocked: {}\n",
        task_id.trim(),
        reason.trim()
    ))?;
    Ok(Exit::Success)
}
