//! `autodev config show [--json]`: every setting in force and the layer it came from.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Context, json_text, print_help};
use crate::error::{Exit, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<ConfigCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCommand {
    /// Print the settings in force (defaults < autodev.toml < AUTODEV_* < flags)
    Show {
        /// JSON output
        #[arg(long)]
        json: bool,
    },
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let Some(ConfigCommand::Show { json }) = args.command else {
        return print_help(&["config"]);
    };
    let settings = context.settings()?;
    let entries = settings.entries();
    if json {
        let sources: BTreeMap<String, String> = entries
            .iter()
            .map(|e| (format!("{}.{}", e.section, e.key), e.source.to_string()))
            .collect();
        context.print(&json_text(&json!({
            "file": settings.file,
            "settings": settings.config,
            "sources": sources,
        })))?;
        return Ok(Exit::Success);
    }
    let lines: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e.section.clone(),
                format!("{} = {}", e.key, e.value),
                e.source.to_string(),
            )
        })
        .collect();
    let width = lines
        .iter()
        .map(|(_, text, _)| text.chars().count())
        .filter(|w| *w <= 48)
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "# settings in force for {}\n# precedence: default < autodev.toml < AUTODEV_* environment < flags\n",
        settings.file.display()
    );
    let mut section = None;
    for (name, text, source) in &lines {
        if section != Some(name) {
            out.push_str(&format!("\n[{name}]\n"));
            section = Some(name);
        }
        out.push_str(&format!("{text:width$}  # {source}\n"));
    }
    context.print(&out)?;
    Ok(Exit::Success)
}
