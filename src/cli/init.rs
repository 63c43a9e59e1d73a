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
    /// The agent to scaffold for: claude, codex, gemini, opencode, or command (any program,
    /// given with --agent)
    #[arg(long = "use", value_name = "TOOL", default_value = "codex", value_parser = parse_use)]
    tool: Use,
    /// With --use command: the agent's command line, `{prompt_file}` standing for the prompt's
    /// file (without it the prompt comes on stdin), e.g. "aider --yes-always --message-file
    /// {prompt_file}"
    #[arg(long, value_name = "COMMAND LINE")]
    agent: Option<String>,
    /// Do not make the folder a git repository when it is not one (autodev then commits nothing)
    #[arg(long)]
    no_git: bool,
}

/// What `--use` names.
#[derive(Debug, Clone, Copy)]
enum Use {
    Tool(Tool),
    /// Any program (`--agent`), through the `command` backend.
    Command,
}

/// A tool name on the command line; a wrong one is a usage error (exit 2).
fn parse_use(text: &str) -> std::result::Result<Use, String> {
    if text.trim().eq_ignore_ascii_case("command") {
        return Ok(Use::Command);
    }
    Tool::parse(text).map(Use::Tool).map_err(|e| match e {
        crate::error::Error::Setup { message, hint } => format!(
            "{}; {}",
            message.trim_start_matches("--use: "),
            hint.replace("pass one of ", "pass one of command, ")
        ),
        other => other.to_string(),
    })
}

/// A command line split into words as a shell would, for quotes: `'...'` and `"..."` keep
/// spaces, `\` escapes the next character outside single quotes. `None` for an unclosed quote.
fn words(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        other => w.push(other),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => w.push(chars.next()?),
                        other => w.push(other),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            c if c.is_whitespace() => out.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    Some(out)
}

/// The agent `--use` and `--agent` describe.
fn agent(tool: Use, line: Option<&str>) -> Result<skills::Agent> {
    let usage = |message: &str, hint: &str| crate::error::Error::Setup {
        message: message.into(),
        hint: hint.into(),
    };
    match (tool, line) {
        (Use::Tool(tool), None) => Ok(skills::Agent::Tool(tool)),
        (Use::Tool(tool), Some(_)) => Err(usage(
            &format!("--agent goes with --use command, not --use {}", tool.name()),
            "drop --agent, or pass --use command to run a program of your own",
        )),
        (Use::Command, line) => {
            let argv = line.and_then(words).filter(|w| !w.is_empty()).ok_or_else(|| {
                usage(
                    "--use command needs the agent's command line in --agent (with every quote closed)",
                    "e.g. --agent \"aider --yes-always --message-file {prompt_file}\"",
                )
            })?;
            Ok(skills::Agent::Command(argv))
        }
    }
}

/// "1 entry", "3 existing entries".
fn entries(n: usize, kind: &str) -> String {
    format!("{n} {kind}entr{}", if n == 1 { "y" } else { "ies" })
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let agent = agent(args.tool, args.agent.as_deref())?;
    let report = skills::init(&args.directory, args.name.as_deref(), &agent)?;
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
                .and_then(|rt| Ok(rt.block_on(crate::git::init(&report.root))?))
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
        let label = match &agent {
            skills::Agent::Tool(tool) => tool.label().to_string(),
            skills::Agent::Command(argv) => format!("`{}` (the command backend)", argv.join(" ")),
        };
        out.push_str(&format!(
            "Created {} in {} for {label}:\n",
            entries(report.created.len(), ""),
            report.root.display(),
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
    if let skills::Agent::Command(_) = &agent {
        out.push_str(
            "One-shot calls (plan, spec, reflection) use the same command line; when your program \
             has a mode that does not edit files, set it as backend.command.oneshot_argv.\n",
        );
    }
    if !report.created.is_empty() {
        out.push_str("Next: describe the work with `autodev plan --intent \"...\"` or add tasks to task.json, then `autodev run`.\n");
    }
    context.print(&out)?;
    Ok(Exit::Success)
}
