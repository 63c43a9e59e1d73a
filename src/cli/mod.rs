//! The command line: global flags, the list of commands, and the one dispatch `match`.
//!
//! Each command lives in its own file with its clap `Args` and a `run` function that returns an
//! [`Exit`]. Commands load settings through [`Context`], which prints configuration warnings
//! once; they print their own output, and leave errors to `main`.

mod backend;
mod completions;
mod config;
mod demo;
mod finalize;
mod init;
mod install_skills;
mod notify;
mod plan;
mod promote;
mod run;
mod sessions;
mod skills;
mod spec;
mod status;
mod task;
mod verify;
mod web;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{LoadOptions, Override, Settings};
use crate::error::{Error, Exit, Result};
use crate::report::runtime_status::{self, PersistedRun};
use crate::ui::{ColorChoice, Ui};

/// Unattended AI-driven development automation from intent to execution.
#[derive(Debug, Parser)]
#[command(name = "autodev", version, about, max_term_width = 100)]
pub struct Cli {
    /// Use this autodev.toml instead of searching the current directory and its parents.
    #[arg(short = 'c', long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Override a setting for this command, e.g. `--set run.max_retries=5` (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = parse_set)]
    pub set: Vec<Override>,

    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Option<Command>,
}

fn parse_set(text: &str) -> std::result::Result<Override, String> {
    Override::parse_assignment(text)
}

/// A backend name on the command line.
fn parse_backend(text: &str) -> std::result::Result<crate::config::BackendName, String> {
    use crate::config::BackendName;
    BackendName::ALL
        .into_iter()
        .find(|n| n.as_str() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = BackendName::ALL.iter().map(|n| n.as_str()).collect();
            format!("expected one of {}", names.join(", "))
        })
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a project (or add an agent CLI's files to one); never overwrites
    Init(init::Args),
    /// Turn an intent, PRD or COCA spec into tasks in task.json
    Plan(plan::Args),
    /// Turn an intent or PRD into a COCA spec under docs/specs/
    Spec(spec::Args),
    /// Task management
    Task(task::Args),
    /// Show project status summary
    Status(status::Args),
    /// Show the settings in force and where each came from
    Config(config::Args),
    /// Check the agent CLI and show the commands autodev would run
    Backend(backend::Args),
    /// Run one task's verification gate now and show each check
    Verify(verify::Args),
    /// Work the task queue unattended
    Run(run::Args),
    /// Turn what an experiment kept into one reviewable commit on a new branch
    Finalize(finalize::Args),
    /// Measure an experiment's waiting result on top of your branch, and land it if it still wins
    Promote(promote::Args),
    /// Register the project's skills with the CLI of backend.default
    InstallSkills(install_skills::Args),
    /// List, recommend and check skills
    Skills(skills::Args),
    /// The detached runs autodev started in tmux, with their status
    List(sessions::ListArgs),
    /// Attach the terminal to a detached run (detach again with Ctrl-b d)
    Attach(sessions::AttachArgs),
    /// Stop a detached run gracefully (it records the interruption), or every one with --all
    Stop(sessions::StopArgs),
    /// Serve this user's projects on a local page and a JSON API
    Web(web::Args),
    /// Check the notification channels ([notify]) with a sample notification
    Notify(notify::Args),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(completions::Args),
    /// See the whole loop on a small example project, offline, with a scripted stand-in agent
    Demo(demo::Args),
}

/// The task `id` of `queue`, or the error that names the queue and lists where ids are shown.
fn task_named<'q>(
    queue: &'q crate::task::TaskFile,
    id: &str,
    paths: &crate::config::ProjectPaths,
) -> Result<&'q crate::task::Task> {
    queue
        .tasks
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| crate::error::Error::TaskNotFound {
            id: id.to_string(),
            path: paths.task_json.clone(),
        })
}

/// What every command gets: styling, the working directory, and how to load settings.
pub struct Context {
    pub ui: Ui,
    pub cwd: PathBuf,
    config: Option<PathBuf>,
    overrides: Vec<Override>,
}

impl Context {
    /// Loads the project's settings, printing any warnings once.
    pub fn settings(&self) -> Result<Settings> {
        let options = LoadOptions {
            config_path: self.config.clone(),
            cwd: self.cwd.clone(),
            overrides: self.overrides.clone(),
        };
        let settings = crate::config::load(&options, std::env::vars_os())?;
        for warning in &settings.warnings {
            self.ui.warn(&warning.0);
        }
        Ok(settings)
    }

    /// The project's persisted run status; an unreadable file is a warning, never a failure.
    pub fn run_status(&self, settings: &Settings) -> PersistedRun {
        let (persisted, warning) = runtime_status::read(&settings.paths.runtime_status());
        if let Some(warning) = warning {
            self.ui.warn(&warning);
        }
        persisted
    }

    /// Prints command output, mapping a write failure to an error.
    pub fn print(&self, text: &str) -> Result<()> {
        self.ui
            .print(text)
            .map_err(|e| Error::io("write", "standard output", e))
    }
}

/// Prints the help of `autodev` or of one of its commands.
fn print_help(path: &[&str]) -> Result<Exit> {
    let mut command = Cli::command();
    for name in path {
        command = match command.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => break,
        };
    }
    let help = command.render_help().to_string();
    Ui::new(ColorChoice::Never)
        .print(&format!("{help}\n"))
        .map_err(|e| Error::io("write", "standard output", e))?;
    Ok(Exit::Success)
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Exit> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", "the current directory", e))?;
    let context = Context {
        ui: Ui::new(cli.color),
        cwd,
        config: cli.config,
        overrides: cli.set,
    };
    match cli.command {
        None => print_help(&[]),
        Some(Command::Task(args)) => task::run(&context, args),
        Some(Command::Status(args)) => status::run(&context, args),
        Some(Command::Config(args)) => config::run(&context, args),
        Some(Command::Backend(args)) => backend::run(&context, args),
        Some(Command::Verify(args)) => verify::run(&context, args),
        Some(Command::Run(args)) => run::run(&context, args),
        Some(Command::Finalize(args)) => finalize::run(&context, args),
        Some(Command::Promote(args)) => promote::run(&context, args),
        Some(Command::Init(args)) => init::run(&context, args),
        Some(Command::Plan(args)) => plan::run(&context, args),
        Some(Command::Spec(args)) => spec::run(&context, args),
        Some(Command::InstallSkills(args)) => install_skills::run(&context, args),
        Some(Command::Skills(args)) => skills::run(&context, args),
        Some(Command::Completions(args)) => completions::run(&context, args),
        Some(Command::Notify(args)) => notify::run(&context, args),
        Some(Command::Web(args)) => web::run(&context, args),
        Some(Command::Demo(args)) => demo::run(&context, args),
        Some(Command::List(args)) => sessions::list(&context, args),
        Some(Command::Attach(args)) => sessions::attach(&context, args),
        Some(Command::Stop(args)) => sessions::stop(&context, args),
    }
}

/// Pretty JSON with a trailing newline, for `--json` outputs.
fn json_text(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
