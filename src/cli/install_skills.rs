//! `autodev install-skills`: registers the project's skills with the CLI of `backend.default`.

use super::Context;
use crate::error::{Exit, Result};
use crate::skills::{self, Tool};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(context: &Context, _args: Args) -> Result<Exit> {
    let settings = context.settings()?;
    let tool = Tool::of_backend(settings.config.backend.default)?;
    let lines = skills::install(&settings.paths.root, tool)?;
    context.print(&format!("{}\n", lines.join("\n")))?;
    Ok(Exit::Success)
}
