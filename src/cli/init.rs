//! `autodev init [DIR] [--name NAME] [--use TOOL]`: creates a project, or adds a tool's files to
//! one, never overwriting what exists.

use std::path::PathBuf;

use super::Context;
use crate::error::{Exit, Result};
use crate::skills::{self, Tool};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project folder (created if missing)
    #[arg(default_value = ".")]
    directory: PathBuf,
    /// Project name (default: the folder name)
    #[arg(long)]
    name: Option<String>,
    /// The agent CLI to scaffold for: claude, codex, gemini or opencode
    #[arg(long = "use", value_name = "TOOL", default_value = "codex", value_parser = parse_tool)]
    tool: Tool,
    /// Do not make the folder a git repository when it is not one (autodev then commits nothing)
    #[arg(long)]
    no_git: bool,
}

/// A tool name on the command line; a wrong one is a usage error (exit 2).
fn parse_tool(text: &str) -> std::result::Result<Tool, String> {
    Tool::parse(text).map_err(|e| match e {
        crate::error::Error::Setup { message, hint } => {
            format!("{}; {hint}", message.trim_start_matches("--use: "))
        }
        other => other.to_string(),
    })
}

/// "1 entry", "3 existing entries".
fn entries(n: usize, kind: &str) -> String {
    format!("{n} {kind}entr{}", if n == 1 { "y" } else { "ies" })
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let tool = args.tool;
    let report = skills::init(&args.directory, args.name.as_deref(), tool)?;
    // This user's registry of projects (what `autodev list` and the dashboards read).
    let options = crate::config::LoadOptions {
        config_path: Some(report.root.join("autodev.toml")),
        cwd: report.root.clone(),
        overrides: Vec::new(),
    };
    if let Ok(settings) = crate::config::load(&options, std::iter::empty())
        && let Err(e) = crate::projects::remember(&settings, &settings.config.project.name, None)
    {
        context
            .ui
            .warn(&format!("the project registry was not updated: {e}"));
    }
    let mut out = String::new();
    // autodev commits each completed task: a project outside git is made one, as `cargo init`
    // does, unless asked not to; either way it is said now, not at the first run.
    if crate::git::git_dir_of(&report.root).is_none() {
        let made = if args.no_git {
            Err("--no-git".to_string())
        } else {
            crate::exec::runtime()
                .map_err(|e| e.to_string())
                .and_then(|rt| rt.block_on(crate::git::init(&report.root)))
        };
        match made {
            Ok(()) => out.push_str(&format!(
                "Initialized a git repository in {} (autodev commits each completed task's files there)\n",
                report.root.display()
            )),
            Err(why) => context.ui.warn(&format!(
                "{} is not a git repository{}: autodev will not commit any task's work until it \
                 is one (`git init`)",
                report.root.display(),
                if why == "--no-git" {
                    String::new()
                } else {
                    format!(" and `git init` failed ({why})")
                }
            )),
        }
    }
    if report.created.is_empty() {
        out.push_str(&format!(
            "Nothing to create: every file already exists in {}.\n",
            report.root.display()
        ));
    } else {
        out.push_str(&format!(
            "Created {} in {} for {}:\n",
            entries(report.created.len(), ""),
            report.root.display(),
            tool.label()
        ));
        for name in &report.created {
            out.push_str(&format!("  {name}\n"));
        }
    }
    if !report.kept.is_empty() {
        out.push_str(&format!(
            "Left {} as they were:\n",
            entries(report.kept.len(), "existing ")
        ));
        for name in &report.kept {
            out.push_str(&format!("  {name}\n"));
        }
    }
    for (name, lines) in &report.updated {
        out.push_str(&format!("Added to {name}: {}\n", lines.join(", ")));
    }
    if !report.created.is_empty() {
        out.push_str("Next: describe the work with `autodev plan --intent \"...\"` or add tasks to task.json, then `autodev run`.\n");
    }
    context.print(&out)?;
    Ok(Exit::Success)
}
