//! `autodev completions SHELL`: the shell completion script for autodev, on stdout.

use clap::CommandFactory;

use super::{Cli, Context};
use crate::error::{Exit, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "autodev", &mut script);
    context.print(&String::from_utf8_lossy(&script))?;
    Ok(Exit::Success)
}
