//! `autodev list`, `attach NAME` and `stop NAME|--all`: the detached runs autodev started in
//! tmux (see `session`), found through the project registry (`projects`).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{Context, json_text};
use crate::error::{Error, Exit, Result};
use crate::projects::{self, Project};
use crate::report::runtime_status;
use crate::session;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// JSON output
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// The session (from `autodev list`)
    name: String,
}

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// The session (from `autodev list`)
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    name: Option<String>,
    /// Stop every detached run autodev started (your own tmux sessions are left alone)
    #[arg(long)]
    all: bool,
}

/// One detached run as listed.
struct Row<'a> {
    session: String,
    live: bool,
    started: String,
    project: &'a Project,
}

/// Every session autodev recorded, newest of each project, live ones first.
fn rows(projects: &[Project]) -> Vec<Row<'_>> {
    let mut rows: Vec<Row> = projects
        .iter()
        .flat_map(|p| {
            p.sessions.iter().map(move |s| Row {
                session: s.name.clone(),
                live: false,
                started: s.started_at.clone(),
                project: p,
            })
        })
        .collect();
    // A name is reused by later runs of the same project: keep its newest record.
    rows.reverse();
    let mut seen = Vec::new();
    rows.retain(|r| {
        let new = !seen.contains(&r.session);
        seen.push(r.session.clone());
        new
    });
    // One question to tmux, however many sessions are recorded.
    let live = session::names();
    for row in &mut rows {
        row.live = live.contains(&row.session);
    }
    rows.sort_by_key(|r| !r.live);
    rows
}

fn known(rows: &[Row]) -> String {
    if rows.is_empty() {
        "none: start one with `autodev run --detach`".to_string()
    } else {
        rows.iter()
            .map(|r| r.session.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The run `name` names: its tmux session's name, or its project's name (a live run first,
/// since the rows list live ones first).
fn find<'a>(rows: &'a [Row<'a>], name: &str) -> Result<&'a Row<'a>> {
    rows.iter()
        .find(|r| r.session == name)
        .or_else(|| rows.iter().find(|r| r.project.name == name))
        .ok_or_else(|| Error::Setup {
            message: format!("no detached run is called `{name}`"),
            hint: format!(
                "name a session or a project; the sessions autodev started: {}",
                known(rows)
            ),
        })
}

pub fn list(context: &Context, args: ListArgs) -> Result<Exit> {
    session::require_tmux()?;
    for entry in projects::unreadable() {
        context.ui.warn(&format!(
            "skipped a registry entry that is not a project (fix or remove it): {entry}"
        ));
    }
    let projects = projects::list();
    let rows = rows(&projects);
    let described: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let (persisted, problem) = runtime_status::read(&r.project.runtime_status());
            let run = &persisted.run;
            let counts = persisted.counts;
            json!({
                "session": r.session,
                "live": r.live,
                "project": r.project.name,
                "directory": r.project.root,
                "missing": !r.project.exists(),
                "started_at": r.started,
                "status": if problem.is_some() { "unreadable" } else { run.status.as_str() },
                "message": run.message,
                "current_task": persisted.working_on(),
                "completed": counts.map(|c| c.completed),
                "total": counts.map(|c| c.total),
            })
        })
        .collect();
    if args.json {
        context.print(&json_text(&json!({"sessions": described})))?;
        return Ok(Exit::Success);
    }
    if described.is_empty() {
        context.print("No detached runs. Start one with `autodev run --detach`.\n")?;
        return Ok(Exit::Success);
    }
    let mut out = String::new();
    for row in &described {
        let text = |k: &str| row[k].as_str().unwrap_or("").to_string();
        let progress = match (row["completed"].as_u64(), row["total"].as_u64()) {
            (Some(done), Some(total)) => format!("{done}/{total} done"),
            _ => "no status yet".to_string(),
        };
        out.push_str(&format!(
            "{} {}  {}  started {}  {}  {}{}\n",
            context.ui.badge(if row["live"] == true {
                "running"
            } else {
                "idle"
            }),
            text("session"),
            text("directory"),
            text("started_at"),
            if text("status").is_empty() {
                "-".to_string()
            } else {
                text("status")
            },
            match text("current_task") {
                ids if ids.is_empty() => progress,
                ids => format!("{progress}, working on {ids}"),
            },
            if row["missing"] == true {
                "  (project missing)"
            } else {
                ""
            }
        ));
    }
    out.push_str("Attach with `autodev attach NAME`; stop with `autodev stop NAME`.\n");
    context.print(&out)?;
    Ok(Exit::Success)
}

pub fn attach(context: &Context, args: AttachArgs) -> Result<Exit> {
    session::require_tmux()?;
    let projects = projects::list();
    let rows = rows(&projects);
    let row = find(&rows, &args.name)?;
    if !row.live {
        return Err(Error::Setup {
            message: format!("the run in `{}` has ended", row.session),
            hint: format!(
                "`autodev status` in {} shows how it ended",
                row.project.root.display()
            ),
        });
    }
    let inside = session::inside_tmux();
    if !inside && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(Error::Setup {
            message: format!(
                "attaching to `{}` needs a terminal, and this command has none",
                row.session
            ),
            hint: format!(
                "run it in a terminal, or follow the run without one: `autodev status`, or \
                 `tail -f {}`",
                row.project.run_log().display()
            ),
        });
    }
    context.print(&format!(
        "{} {}; detach again with Ctrl-b d (the run goes on).\n",
        if inside {
            "Switching to"
        } else {
            "Attaching to"
        },
        row.session
    ))?;
    let code = session::attach(&row.session)?;
    if code != 0 {
        return Err(Error::Setup {
            message: format!("tmux could not attach to `{}` (exit {code})", row.session),
            hint: "its message is above; `autodev list` shows the runs".into(),
        });
    }
    Ok(Exit::Success)
}

pub fn stop(context: &Context, args: StopArgs) -> Result<Exit> {
    session::require_tmux()?;
    let projects = projects::list();
    let rows = rows(&projects);
    let targets: Vec<&Row> = if args.all {
        rows.iter().filter(|r| r.live).collect()
    } else {
        let name = args.name.as_deref().unwrap_or("");
        vec![find(&rows, name)?]
    };
    if targets.is_empty() {
        context.print("No detached run is running.\n")?;
        return Ok(Exit::Success);
    }
    for row in targets {
        if !session::exists(&row.session) {
            context.print(&format!("{}: already ended\n", row.session))?;
            continue;
        }
        stop_one(&row.session);
        context.print(&format!(
            "{}: stopped; the run recorded the interruption (`autodev status` in {} shows it)\n",
            row.session,
            row.project.root.display()
        ))?;
    }
    Ok(Exit::Success)
}

/// Stops the run in session `name` as Ctrl-C would (it records the interruption, stops its
/// agent's process group and exits 130), then removes the session.
fn stop_one(name: &str) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if let Some(pid) = session::pane_pid(name) {
        let pid = Pid::from_raw(pid);
        let gone = |limit: Duration| {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if kill(pid, None).is_err() || !session::exists(name) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        };
        let _ = kill(pid, Signal::SIGTERM);
        // The run stops its agent gracefully (backend.kill_grace_seconds); a second signal
        // makes it kill at once.
        if !gone(Duration::from_secs(60)) {
            let _ = kill(pid, Signal::SIGTERM);
            gone(Duration::from_secs(10));
        }
    }
    session::kill(name);
}
