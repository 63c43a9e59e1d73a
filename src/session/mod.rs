//! Detached runs in tmux: the only place tmux commands are built (with `tmux_interface`), as
//! `git/` is for git. A session is named `<prefix>-<project>` by [`session_name`]; autodev
//! records the sessions it starts in the project registry ([`crate::projects`]) and only ever
//! lists, attaches to or stops those, never one of the user's own.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tmux_interface::{
    AttachSession, DisplayMessage, HasSession, KillSession, ListSessions, NewSession, SetOption,
    SwitchClient, Tmux,
};

use crate::error::{Error, Result};

/// The session name for `project` under `prefix`: letters, digits, `-` and `_` only (tmux
/// turns `.` and `:` into `_` by itself, and spaces make names hard to type), runs of anything
/// else become one `_`. The same project always gets the same name.
pub fn session_name(prefix: &str, project: &str) -> String {
    let clean = |text: &str| {
        let mut out = String::new();
        for c in text.chars() {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                out.push(c);
            } else if !out.ends_with('_') {
                out.push('_');
            }
        }
        out.trim_matches('_').to_string()
    };
    let prefix = match clean(prefix) {
        p if p.is_empty() => "autodev".to_string(),
        p => p,
    };
    match clean(project) {
        p if p.is_empty() => format!("{prefix}-project"),
        p => format!("{prefix}-{p}"),
    }
}

/// An exact target: `=name` matches that session only, never one whose name starts with it.
fn exact(name: &str) -> String {
    format!("={name}")
}

fn run(command: tmux_interface::TmuxCommand<'_>) -> Result<std::process::Output> {
    let mut command: Command = command.into();
    command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| missing_tmux(Some(e)))
}

/// The error when tmux cannot be run.
fn missing_tmux(e: Option<std::io::Error>) -> Error {
    Error::Setup {
        message: match e {
            Some(e) if e.kind() != std::io::ErrorKind::NotFound => {
                format!("could not run tmux: {e}")
            }
            _ => "detached runs need tmux, and `tmux` was not found on PATH".to_string(),
        },
        hint: "install it (Debian/Ubuntu: sudo apt-get install tmux; macOS: brew install tmux), \
               or run in the foreground without --detach"
            .into(),
    }
}

/// Checks that tmux can be run, before anything is started.
pub fn require_tmux() -> Result<()> {
    let path = std::env::var_os("PATH");
    match crate::exec::find_program("tmux", path.as_deref(), std::path::Path::new(".")) {
        Some(_) => Ok(()),
        None => Err(missing_tmux(None)),
    }
}

/// Whether a session of exactly this name exists.
/// The names of every tmux session there is now, from one `tmux list-sessions`: what to ask
/// once rather than once per session (no server, or no tmux, is no session).
pub fn names() -> std::collections::HashSet<String> {
    run(Tmux::new()
        .command(ListSessions::new().format("#{session_name}"))
        .build())
    .ok()
    .filter(|o| o.status.success())
    .map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

pub fn exists(name: &str) -> bool {
    run(Tmux::new()
        .command(HasSession::new().target_session(exact(name)))
        .build())
    .is_ok_and(|o| o.status.success())
}

/// Starts `command` (argv) in a new detached session `name`, in `cwd`, with the caller's whole
/// environment. Its pane stays after the command ends until [`settle`] decides, so a run that
/// fails at once can still be read.
pub fn start(name: &str, cwd: &std::path::Path, command: &[String]) -> Result<()> {
    let line = command
        .iter()
        .map(|w| crate::exec::shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    let mut new = NewSession::new()
        .detached()
        .session_name(name.to_string())
        .start_directory(cwd.display().to_string())
        .width(200)
        .height(50)
        .shell_command(format!("exec {line}"));
    // A tmux server started earlier has its own environment: give the run the caller's.
    for (key, value) in std::env::vars() {
        if !key.starts_with("TMUX") {
            new = new.environment(key, value);
        }
    }
    let output = run(Tmux::new()
        .command(new)
        .command(
            SetOption::new()
                .window()
                .target_pane(format!("{}:", exact(name)))
                .option("remain-on-exit")
                .value("on"),
        )
        .build())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Setup {
            message: format!(
                "tmux could not start the session {name}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            hint: "`tmux ls` shows the sessions that exist".into(),
        })
    }
}

/// How the command of session `name` stands: `None` while it runs; once it ended (the pane
/// stays, see [`start`]), its exit status when tmux knows it (a process that ends in its first
/// moments may leave tmux without one).
fn ended(name: &str) -> Option<Option<i32>> {
    let look = || {
        let output = run(Tmux::new()
            .command(
                DisplayMessage::new()
                    .print()
                    .target_pane(format!("{}:", exact(name)))
                    .message("#{pane_dead} #{pane_dead_status}"),
            )
            .build())
        .ok()?;
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let mut parts = text.split_whitespace();
        (parts.next() == Some("1")).then(|| parts.next().and_then(|s| s.parse::<i32>().ok()))
    };
    // tmux may mark a pane dead a moment before it knows the exit status.
    for _ in 0..10 {
        match look()? {
            Some(code) => return Some(Some(code)),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    Some(None)
}

/// What the pane of session `name` shows (its last lines).
fn screen(name: &str) -> String {
    let mut command: Command = Tmux::new()
        .command(
            tmux_interface::CapturePane::new()
                .stdout()
                .join()
                .start_line("-200")
                .target_pane(format!("{}:", exact(name))),
        )
        .build()
        .into();
    command
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string())
        .unwrap_or_default()
}

/// Watches a new session for up to `within`: `Ok` once `started()` says the run is under way (or
/// the time passes with the run alive), the run's exit status (when known) and last screen if
/// it ended first. The pane then closes with its command, as an ordinary session does.
pub fn settle(
    name: &str,
    within: Duration,
    started: impl Fn() -> bool,
) -> std::result::Result<(), (Option<i32>, String)> {
    let deadline = Instant::now() + within;
    let outcome = loop {
        if let Some(code) = ended(name) {
            let text = screen(name);
            kill(name);
            break Err((code, text));
        }
        if started() || Instant::now() >= deadline {
            break Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if outcome.is_ok() {
        let _ = run(Tmux::new()
            .command(
                SetOption::new()
                    .window()
                    .target_pane(format!("{}:", exact(name)))
                    .option("remain-on-exit")
                    .value("off"),
            )
            .build());
        // It may have ended between the last look and the option: then it did not start.
        if let Some(code) = ended(name) {
            let text = screen(name);
            kill(name);
            return Err((code, text));
        }
    }
    outcome
}

/// The pid of the process in session `name`'s pane (the run itself: it is started with
/// `exec`).
pub fn pane_pid(name: &str) -> Option<i32> {
    let output = run(Tmux::new()
        .command(
            DisplayMessage::new()
                .print()
                .target_pane(format!("{}:", exact(name)))
                .message("#{pane_pid}"),
        )
        .build())
    .ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// Whether this process runs inside a tmux client (`$TMUX` is set).
pub fn inside_tmux() -> bool {
    std::env::var_os("TMUX").is_some_and(|v| !v.is_empty())
}

/// Attaches the terminal to session `name` until the user detaches (inside tmux, switches the
/// client to it); tmux's exit code.
pub fn attach(name: &str) -> Result<i32> {
    // Inside tmux, attaching would nest one client in another: the client switches instead.
    let mut command: Command = if inside_tmux() {
        Tmux::new()
            .command(SwitchClient::new().target_session(exact(name)))
            .build()
            .into()
    } else {
        Tmux::new()
            .command(AttachSession::new().target_session(exact(name)))
            .build()
            .into()
    };
    let status = command.status().map_err(|e| missing_tmux(Some(e)))?;
    Ok(status.code().unwrap_or(1))
}

/// Removes session `name` (whatever still runs in it gets SIGHUP).
pub fn kill(name: &str) {
    let _ = run(Tmux::new()
        .command(KillSession::new().target_session(exact(name)))
        .build());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_the_same_way_every_time() {
        assert_eq!(session_name("autodev", "todo-api"), "autodev-todo-api");
        assert_eq!(
            session_name("autodev", "My project v2.1"),
            "autodev-My_project_v2_1"
        );
        assert_eq!(
            session_name("autodev", "café: ünïcode"),
            "autodev-caf_n_code"
        );
        assert_eq!(session_name("night shift", "x"), "night_shift-x");
        assert_eq!(session_name("", "..."), "autodev-project");
        assert_eq!(
            session_name("autodev", "My project v2.1"),
            session_name("autodev", "My project v2.1")
        );
    }
}
