//! `autodev backend [NAME] [--json]`: checks that the agent CLI is installed, reads its version,
//! and shows the exact commands an attempt and a one-shot call would run.

use serde_json::json;

use super::{Context, json_text, parse_backend};
use crate::backend::{self, Invocation, Purpose, Request};
use crate::config::BackendName;
use crate::error::{Error, Exit, Result};
use crate::exec::{self, Input, Limits};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backend to check (default: backend.default)
    #[arg(value_parser = parse_backend)]
    name: Option<BackendName>,
    /// JSON output
    #[arg(long)]
    json: bool,
}

/// The command line of an invocation, with the prompt shown as a placeholder.
fn shown(invocation: &Invocation) -> String {
    let mut spec = invocation.spec.clone();
    let on_stdin = matches!(spec.stdin, Input::Bytes(_));
    spec.stdin = Input::Null;
    let mut line = spec.command_line();
    if on_stdin {
        line.push_str(" < PROMPT");
    }
    line
}

fn spec_json(invocation: &Invocation) -> serde_json::Value {
    let spec = &invocation.spec;
    let mut argv = vec![spec.program.clone()];
    argv.extend(spec.args.iter().cloned());
    json!({
        "argv": argv,
        "env": spec.env.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "cwd": spec.cwd,
        "prompt": match (&spec.stdin, &invocation.prompt_file) {
            (Input::Bytes(_), _) => "stdin".to_string(),
            (Input::Null, Some(file)) => file.display().to_string(),
            (Input::Null, None) => "none".to_string(),
        },
    })
}

fn seconds(limit: Option<std::time::Duration>) -> String {
    limit.map_or("none".to_string(), |d| format!("{} s", d.as_secs()))
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let settings = context.settings()?;
    let config = &settings.config;
    let name = args.name.unwrap_or(config.backend.default);
    let as_root = nix::unistd::geteuid().is_root();
    let scratch = settings
        .paths
        .attempt_log_dir
        .join(name.as_str())
        .join("TASK__attempt_N");
    let build = |purpose| {
        backend::invocation(
            config,
            name,
            &Request {
                purpose,
                prompt: "",
                cwd: &settings.paths.code_dir,
                scratch: &scratch,
                as_root,
                protected: &[],
            },
        )
    };
    let attempt = build(Purpose::Attempt)?;
    let one_shot = build(Purpose::OneShot)?;
    let limits: Limits = backend::attempt_limits(&config.backend);

    let runtime = exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
    let found = runtime.block_on(backend::preflight(
        config,
        name,
        &settings.paths.code_dir,
        std::env::var_os("PATH").as_deref(),
    ));

    if args.json {
        let (path, version) = match &found {
            Ok(p) => (Some(p.path.clone()), p.version.clone()),
            Err(_) => (None, None),
        };
        context.print(&json_text(&json!({
            "backend": name.as_str(),
            "installed": found.is_ok(),
            "path": path,
            "version": version,
            "attempt": spec_json(&attempt),
            "one_shot": spec_json(&one_shot),
            "limits": {
                "timeout_seconds": config.backend.timeout_seconds,
                "idle_timeout_seconds": config.backend.idle_timeout_seconds,
                "kill_grace_seconds": config.backend.kill_grace_seconds,
            },
            "notes": attempt.notes,
        })))?;
    } else {
        let origin = if args.name.is_some() {
            "chosen on the command line"
        } else {
            "backend.default"
        };
        let mut text = format!("backend   {} ({origin})\n", name.as_str());
        if let Ok(p) = &found {
            text.push_str(&format!("program   {}\n", p.path.display()));
            text.push_str(&format!(
                "version   {}\n",
                p.version.as_deref().unwrap_or("(not reported)")
            ));
        }
        text.push_str(&format!("workdir   {}\n", attempt.spec.cwd.display()));
        text.push_str(&format!("attempt   {}\n", shown(&attempt)));
        text.push_str(&format!("one-shot  {}\n", shown(&one_shot)));
        text.push_str(&format!(
            "limits    wall {} · idle {} · grace {} s\n",
            seconds(limits.wall),
            seconds(limits.idle),
            limits.grace.as_secs()
        ));
        for note in &attempt.notes {
            text.push_str(&format!("note      {note}\n"));
        }
        context.print(&text)?;
    }
    found.map(|_| Exit::Success)
}
