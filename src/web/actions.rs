//! What the page may change, and nothing else: start a project's detached run, stop its live
//! detached runs, forget a project that was moved or deleted. Start and stop run autodev itself
//! (`run --detach`, `stop NAME`) as a child process, awaited off the runtime, so the web shares
//! every check, lock and message the command line has. The guard admits these POSTs only from
//! the page's own origin.

use std::time::Duration;

use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{API_VERSION, blocking, find, json_error};
use crate::projects::{self, Project};

/// Long enough for `run --detach` to see its run past preflight.
const ACTION_TIMEOUT: Duration = Duration::from_secs(90);

/// The outcome of one autodev command, as the page shows it.
async fn autodev(project: &Project, args: &[&str]) -> Response {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("--config")
        .arg(&project.config)
        .args(["--color", "never"])
        .args(args)
        .current_dir(&project.root)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(ACTION_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(_) => {
            return json_error(
                StatusCode::GATEWAY_TIMEOUT,
                &format!("`autodev {}` gave no answer in 90 s", args.join(" ")),
            );
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = text.trim();
    let tail: String = {
        let start = text.char_indices().rev().nth(2000).map_or(0, |(at, _)| at);
        text[start..].to_string()
    };
    let status = if output.status.success() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    (
        status,
        axum::Json(json!({
            "version": API_VERSION,
            "ok": output.status.success(),
            "exit_code": output.status.code(),
            "output": tail,
        })),
    )
        .into_response()
}

/// `POST /api/projects/{id}/start`: `autodev run --detach` in the project.
pub(crate) async fn start(UrlPath(id): UrlPath<String>) -> Response {
    let Some(project) = blocking(move || find(&id)).await.flatten() else {
        return json_error(StatusCode::NOT_FOUND, "no such project");
    };
    if !project.exists() {
        return json_error(StatusCode::CONFLICT, "the project was moved or deleted");
    }
    if let Some(why) = blocking({
        let project = project.clone();
        move || not_ours(&project)
    })
    .await
    .flatten()
    {
        return json_error(StatusCode::FORBIDDEN, &why);
    }
    autodev(&project, &["run", "--detach"]).await
}

/// Why a run may not be started for `project` on this server's authority: its folder or its
/// configuration belongs to another user, or another user may write them (a registered path
/// re-created by someone else, in a world-writable place, must not run their agent as us).
fn not_ours(project: &Project) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    for path in [&project.root, &project.config] {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => return Some(format!("cannot check {}: {e}", path.display())),
        };
        if meta.uid() != me {
            return Some(format!(
                "{} belongs to another user (uid {}); a run is started only in a project of \
                 the user serving this page",
                path.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o002 != 0 {
            return Some(format!(
                "{} may be written by any user; make it private (chmod o-w) to start a run here",
                path.display()
            ));
        }
    }
    None
}

/// `POST /api/projects/{id}/stop`: `autodev stop NAME` for each of its live sessions.
pub(crate) async fn stop(UrlPath(id): UrlPath<String>) -> Response {
    let found = blocking(move || {
        let p = find(&id)?;
        let live = live_sessions(&p, &crate::session::names());
        Some((p, live))
    })
    .await
    .flatten();
    let Some((project, live)) = found else {
        return json_error(StatusCode::NOT_FOUND, "no such project");
    };
    if live.is_empty() {
        return json_error(
            StatusCode::CONFLICT,
            "no detached run of this project is live",
        );
    }
    // One project has one live run at a time (the run lock), but a stale record may name an
    // older session too: each is stopped, and the first refusal is what the page shows.
    let mut answers = Vec::new();
    for name in &live {
        answers.push(autodev(&project, &["stop", name]).await);
    }
    let refused = answers.iter().position(|a| !a.status().is_success());
    answers.swap_remove(refused.unwrap_or(0))
}

/// `POST /api/projects/{id}/forget`: takes a moved or deleted project off the registry.
pub(crate) async fn forget(UrlPath(id): UrlPath<String>) -> Response {
    let outcome = blocking(move || {
        let p = find(&id)?;
        Some(if p.exists() {
            Err("only a project that was moved or deleted can be forgotten".to_string())
        } else {
            projects::forget(&p.root).map_err(|e| e.to_string())
        })
    })
    .await
    .flatten();
    match outcome {
        None => json_error(StatusCode::NOT_FOUND, "no such project"),
        Some(Err(why)) => json_error(StatusCode::CONFLICT, &why),
        Some(Ok(())) => axum::Json(json!({"version": API_VERSION, "ok": true})).into_response(),
    }
}

/// The project's sessions that tmux still has.
/// The sessions autodev recorded for `project` that are among `live` ([`crate::session::names`],
/// asked once per request however many projects and sessions there are).
pub(crate) fn live_sessions(
    project: &Project,
    live: &std::collections::HashSet<String>,
) -> Vec<String> {
    project
        .sessions
        .iter()
        .map(|s| s.name.clone())
        .filter(|name| live.contains(name))
        .collect()
}
