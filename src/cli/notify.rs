//! `autodev notify test`: sends a sample notification on every configured channel (`[notify]`)
//! and says how each delivery went.

use serde_json::json;

use super::Context;
use crate::error::{Error, Exit, Result};
use crate::notify::{self, Channels};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: NotifyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum NotifyCommand {
    /// Send a sample notification and report the result
    Test,
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let NotifyCommand::Test = args.command;
    let settings = context.settings()?;
    let paths = &settings.paths;
    let Some(mut channels) = Channels::of(&settings.config.notify, &paths.code_dir) else {
        return Err(Error::Setup {
            message: "no notification channel is configured".into(),
            hint: "set [notify] webhook_url = \"https://…\" or [notify] command = \"…\" in autodev.toml"
                .into(),
        });
    };
    // A test says at once whether it works: one try each.
    channels.retries = 0;
    let body = notify::body(
        &format!("test-{}", crate::journal::new_run_id()),
        "test",
        &settings.config.project.name,
        &paths.root,
        &paths.log_dir,
        "a test notification from autodev notify test",
        json!({}),
    );
    let failures = notify::deliver(&channels, &body);
    let mut out = String::new();
    for (name, target) in [
        ("webhook", &channels.webhook_url),
        ("command", &channels.command),
    ] {
        if target.is_empty() {
            continue;
        }
        match failures.iter().find(|f| f.starts_with(name)) {
            Some(failure) => out.push_str(&format!("{} {failure}\n", context.ui.badge("fail"))),
            None => out.push_str(&format!(
                "{} {name}: delivered to {target}\n",
                context.ui.badge("pass")
            )),
        }
    }
    context.print(&out)?;
    Ok(if failures.is_empty() {
        Exit::Success
    } else {
        Exit::Failure
    })
}
