//! `autodev demo [--keep DIR]`: the whole loop on a small example project, offline, in under a
//! minute. The project (`examples/quickstart/`, embedded in the binary) is copied into a new
//! folder and made a git repository. Then a real `autodev run` works it, with the same runner,
//! gate, git moves and sinks as a night's run. The agent is the scripted stand-in
//! `autodev __fake-agent`, the one the test suite uses, and says so on screen. The demo ends
//! with a summary of what happened and where to look, and exits 0 when everything went as
//! designed (the blocked task included).

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use super::Context;
use crate::error::{Error, Exit, Result};

static QUICKSTART: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/examples/quickstart");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Put the demo project here (a new or empty folder) instead of a new temporary folder
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// The project's `autodev.toml`: the stand-in agent as a `command` backend, its answers in
/// `logs/demo-agent/`.
fn config(exe: &Path, agent_dir: &Path) -> String {
    let quote = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    format!(
        "# autodev demo: the agent is a scripted stand-in (autodev __fake-agent), not a model.\n\
         [project]\nname = \"quickstart\"\n\n\
         [backend]\ndefault = \"command\"\ntimeout_seconds = 60\n\n\
         [backend.command]\nargv = [{}, \"__fake-agent\", \"demo-agent\"]\n\n\
         [backend.command.env]\nFAKE_AGENT_DIR = {}\n\n\
         [run]\nmax_retries = 2\ndelay_between_tasks = 0\nheartbeat_interval = 5\n",
        quote(exe),
        quote(agent_dir)
    )
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
}

/// The folder the demo goes in: `--keep DIR` (new or empty), or a new temporary one that stays.
fn folder(keep: Option<&Path>) -> Result<PathBuf> {
    match keep {
        Some(dir) => {
            let empty = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
            if !empty {
                return Err(Error::Setup {
                    message: format!("{} is not empty", dir.display()),
                    hint: "give --keep a new or empty folder".into(),
                });
            }
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
            dir.canonicalize().map_err(|e| Error::io("resolve", dir, e))
        }
        None => tempfile::Builder::new()
            .prefix("autodev-demo-")
            .tempdir()
            .map(tempfile::TempDir::keep)
            .map_err(|e| Error::io("create", "a temporary folder", e)),
    }
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let dir = folder(args.keep.as_deref())?;
    let exe = std::env::current_exe().map_err(|e| Error::io("find", "the autodev program", e))?;
    let agent_dir = dir.join("logs/demo-agent");
    fn all<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a include_dir::File<'a>>) {
        out.extend(dir.files());
        for sub in dir.dirs() {
            all(sub, out);
        }
    }
    let mut files = Vec::new();
    all(&QUICKSTART, &mut files);
    for file in files {
        let rel = file.path();
        let target = match rel.to_str() {
            Some("gitignore.txt") => dir.join(".gitignore"),
            _ if rel.starts_with("agent") => {
                agent_dir.join(rel.strip_prefix("agent").unwrap_or(rel))
            }
            _ => dir.join(rel),
        };
        write(&target, file.contents())?;
    }
    write(
        &dir.join("autodev.toml"),
        config(&exe, &agent_dir).as_bytes(),
    )?;
    let env = crate::git::hermetic_env();
    let runtime = crate::exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
    runtime
        .block_on(crate::git::init_repo(
            &dir,
            "quickstart: the example project",
            &env,
        ))
        .map_err(|why| Error::Setup {
            message: format!("could not make {} a git repository: {why}", dir.display()),
            hint: "the demo needs git on PATH".into(),
        })?;

    context.print(&format!(
        "autodev demo in {}\n\
         The agent here is a scripted stand-in (autodev __fake-agent): its answers were written in\n\
         advance, no model is called, nothing leaves this machine. Everything else is real: the\n\
         runner, the checks, the git commits, the logs.\n\n",
        dir.display()
    ))?;
    // A real run, as a person would start it, in the demo's folder.
    let status = std::process::Command::new(&exe)
        .args(["--config", "autodev.toml", "run"])
        .current_dir(&dir)
        .envs(env.iter().copied())
        .env_remove("DEMO_PUBLISH_TOKEN")
        .status()
        .map_err(|e| Error::io("start", &exe, e))?;
    // A throwaway demo is no project of yours: it leaves no entry in `autodev list` and
    // `autodev web`. One kept with --keep stays listed, like any project.
    let kept = args.keep.is_some();
    if !kept {
        for root in [Some(dir.clone()), dir.canonicalize().ok()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = crate::projects::forget(&root) {
                context
                    .ui
                    .warn(&format!("the project registry was not updated: {e}"));
            }
        }
    }
    let outcome = runtime.block_on(summary(&dir, kept));
    context.print(&outcome.text)?;
    Ok(if outcome.as_designed && status.code() == Some(2) {
        Exit::Success
    } else {
        Exit::Failure
    })
}

struct Summary {
    text: String,
    /// Q1, Q2 and Q4 completed, Q3 blocked.
    as_designed: bool,
}

async fn summary(dir: &Path, kept: bool) -> Summary {
    let queue: serde_json::Value = std::fs::read(dir.join("task.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let tasks = queue["tasks"].as_array().cloned().unwrap_or_default();
    let task = |id: &str| {
        tasks
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    let done = |id: &str| task(id)["passes"] == true;
    let attempts = |id: &str| task(id)["attempt_history"].as_array().map_or(0, Vec::len);
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.join("logs/experiments.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
    let count = |action: &str| records.iter().filter(|r| r["action"] == action).count();
    let value = |r: &serde_json::Value| {
        r["measured_value"]
            .as_f64()
            .map_or("-".into(), |v| v.to_string())
    };
    let baseline = records.first().map(value).unwrap_or_else(|| "-".into());
    let best = records
        .iter()
        .rfind(|r| r["action"] == "keep")
        .map(value)
        .unwrap_or_else(|| "-".into());
    let commits = crate::git::subjects(dir, 20).await;
    let q3 = task("Q3");
    let as_designed = done("Q1")
        && done("Q2")
        && done("Q4")
        && q3["blocked"] == true
        && count("keep") == 1
        && count("discard") == 1;
    let mark = |ok: bool| if ok { "ok  " } else { "FAIL" };
    let mut text = String::from("\n── what happened ──\n");
    text.push_str(&format!(
        "{} Q1 Add a greeting: {} in {} attempt(s)\n",
        mark(done("Q1")),
        if done("Q1") {
            "completed"
        } else {
            "not completed"
        },
        attempts("Q1")
    ));
    text.push_str(&format!(
        "{} Q2 Count the words: {} in {} attempts; the first failed its check, autodev reflected and refined the task\n",
        mark(done("Q2")),
        if done("Q2") { "completed" } else { "not completed" },
        attempts("Q2")
    ));
    text.push_str(&format!(
        "{} Q3 Publish the release: {} (as designed): {}\n",
        mark(q3["blocked"] == true),
        if q3["blocked"] == true {
            "blocked"
        } else {
            "not blocked"
        },
        q3["block_reason"].as_str().unwrap_or("")
    ));
    text.push_str(&format!(
        "{} Q4 Make the greeting faster: {}; baseline latency_ms {baseline}, best kept {best} ({} kept, {} discarded, 5 samples a measurement)\n",
        mark(done("Q4") && count("keep") == 1 && count("discard") == 1),
        if done("Q4") { "completed" } else { "not completed" },
        count("keep"),
        count("discard")
    ));
    text.push_str(&format!(
        "\n{} commit(s), newest first (git -C {} log):\n",
        commits.len(),
        dir.display()
    ));
    for subject in &commits {
        text.push_str(&format!("  {subject}\n"));
    }
    text.push_str(&format!(
        "\nLook at:\n  {0}/progress.txt          what happened to each task, with the evidence\n  {0}/logs/events.jsonl     the run journal, every event\n  {0}/logs/dashboard.html   the run at a glance (open it in a browser)\n  autodev --config {0}/autodev.toml status\n",
        dir.display()
    ));
    text.push_str(if kept {
        "  autodev web                      every project of yours, live (open the address it prints)\n"
    } else {
        "  (a demo in a temporary folder is not added to `autodev list` and `autodev web`; `--keep DIR` keeps it there)\n"
    });
    text.push_str(if as_designed {
        "\nThe demo ran as designed. Next: `autodev init` in your own project.\n"
    } else {
        "\nThe demo did not run as designed: see the lines marked FAIL and the files above.\n"
    });
    Summary { text, as_designed }
}
