//! `autodev verify TASK_ID [--changed-file F]... [--json]`: runs the gate of one task now and
//! shows every check as PASS or FAIL. Exit 0 when the gate passes, 1 otherwise, 130 when
//! interrupted.

use serde_json::json;

use super::{Context, json_text};
use crate::error::{Error, Exit, Result};
use crate::exec::{self, Cancel, CancelLevel, Tee};
use crate::gate::{self, GateReport, Plan};
use crate::snapshot::Rules;
use crate::task::TaskStore;
use crate::ui::pad;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task whose verification to run
    task_id: String,
    /// A file to count as changed (repeatable); without it, the working tree's changes against
    /// HEAD are used
    #[arg(long = "changed-file", value_name = "PATH")]
    changed_files: Vec<String>,
    /// JSON output
    #[arg(long)]
    json: bool,
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let settings = context.settings()?;
    let paths = &settings.paths;
    let queue = TaskStore::new(paths).load()?;
    let task = super::task_named(&queue, &args.task_id, paths)?;
    let rules = Rules::new(&settings.config, paths)?;
    let plan = Plan::new(task, &settings.config, paths);

    let runtime = exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
    let cancel = Cancel::default();
    let (source, changed, runs) = runtime.block_on(async {
        crate::exec::cancel_on_signals(&cancel).map_err(|e| Error::io("watch", "signals", e))?;
        let (source, listed) = if args.changed_files.is_empty() {
            ("git", crate::git::changed_files(&paths.code_dir).await?)
        } else {
            ("--changed-file", args.changed_files.clone())
        };
        let changed: Vec<String> = listed
            .iter()
            .map(|p| p.trim().trim_start_matches("./").to_string())
            .filter(|p| rules.tracks_path(p))
            .collect();
        let runs = gate::run_checks(&plan, &mut Tee::default(), &cancel, None).await;
        Ok::<_, Error>((source, changed, runs))
    })?;
    let report = gate::judge(&plan, &changed, &runs, None, true);

    if args.json {
        context.print(&json_text(&json!({
            "task": task.id,
            "changed_from": source,
            "gate": report,
        })))?;
    } else {
        context.print(&render(context, &task.id, &task.title, source, &report))?;
    }
    Ok(if cancel.level() != CancelLevel::None {
        Exit::Interrupted
    } else if report.passed {
        Exit::Success
    } else {
        Exit::Failure
    })
}

fn render(context: &Context, id: &str, title: &str, source: &str, report: &GateReport) -> String {
    let mut text = format!("Task {id}: {title}\n");
    text.push_str(&format!(
        "Changed files ({}, from {source}): {}\n",
        report.changed_files.len(),
        crate::ui::preview(&report.changed_files, 20)
    ));
    let width = report
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for check in &report.checks {
        let badge = if check.passed { "pass" } else { "fail" };
        text.push_str(&format!(
            "{} {}  {}\n",
            context.ui.badge(badge),
            pad(&check.name, &check.name, width),
            check.detail
        ));
        if let Some(output) = &check.output {
            for line in output.lines() {
                text.push_str(&format!("       | {line}\n"));
            }
        }
    }
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    text.push_str(&if report.passed {
        format!("Gate: PASS ({} checks)\n", report.checks.len())
    } else {
        format!(
            "Gate: FAIL ({failed} of {} checks failed)\n",
            report.checks.len()
        )
    });
    text
}
