//! `autodev web`: this user's projects, read from their files (a run is another process, often in
//! tmux), served on loopback: a JSON API, the project list, and each project's dashboard
//! (rendered here from its data), kept current without a reload by the journal's server-sent
//! events (`stream`, woken by `watch`). Connections are `conn`'s; the only changes it makes are
//! in `actions`. `docs/web.md` has the threat model.
//!
//! Safety: it binds to loopback unless told otherwise, and a non-loopback address requires an
//! access token (a generated one is printed) that every request must carry. On loopback every
//! request's `Host` must name the address served (against DNS rebinding), and every change must
//! come from the server's own origin. File and process work happens off the async runtime's
//! thread, so one slow project stalls nothing else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::projects::{self, Project};
use crate::report::runtime_status::PersistedRun;

mod actions;
mod conn;
mod stream;
mod watch;

/// The API's format version.
pub const API_VERSION: u32 = 1;
/// The most log lines `/log` gives.
const MAX_LOG_LINES: usize = 1000;
/// The most events `/events` gives at once.
const MAX_EVENTS: usize = 500;
/// The longest one request waits for the files it reads.
const FILE_WORK_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What every handler shares.
#[derive(Clone)]
pub struct Shared {
    /// The `Host` values a request may carry, on a loopback bind. A server reachable from other
    /// machines is reached under names it cannot know; its token is what protects it.
    hosts: Option<Arc<Vec<String>>>,
    /// Required on every request when set.
    token: Option<Arc<String>>,
    /// Raised when the server stops, so that live streams end and shutdown never waits on them.
    cancel: crate::exec::Cancel,
    /// Tells the live streams when the files they follow change.
    watch: watch::Watch,
}

/// The cookie a browser gets after opening the printed address with its `?token=`, so that the
/// page's links and requests carry the token without it in every URL.
const TOKEN_COOKIE: &str = "autodev_token";

/// A project's id: a short hash of its folder, stable across runs.
pub fn project_id(root: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    root.hash(&mut h);
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": message, "version": API_VERSION})),
    )
        .into_response()
}

/// Refuses a request whose `Host` is not the address served, or that lacks the token; every
/// answer forbids being framed by another page, sniffed or sent on as a referrer.
async fn guard(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let mut response = check(shared, request, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}

async fn check(shared: Shared, request: Request, next: Next) -> Response {
    // Two `Host` headers: which one a proxy and this server each believe is anyone's guess.
    if request.headers().get_all(header::HOST).iter().count() > 1 {
        return json_error(StatusCode::BAD_REQUEST, "more than one Host header");
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if let Some(hosts) = &shared.hosts
        && !hosts.iter().any(|h| h == host)
    {
        return json_error(StatusCode::FORBIDDEN, "unexpected Host header");
    }
    // A change may come only from this server's own page: a browser names the page's origin
    // on every POST, and a page elsewhere cannot make it this one.
    if request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|h| h.to_str().ok());
        if origin != Some(format!("http://{host}").as_str()) {
            return json_error(
                StatusCode::FORBIDDEN,
                "a change must come from this server's own page (Origin)",
            );
        }
    }
    if let Some(token) = &shared.token {
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "));
        let query = request.uri().query().unwrap_or("");
        let in_query = query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("token="))
            .any(|t| t == token.as_str());
        let in_cookie = request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|kv| kv.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
            .any(|t| t == token.as_str());
        if bearer != Some(token.as_str()) && !in_query && !in_cookie {
            return json_error(StatusCode::UNAUTHORIZED, "an access token is required");
        }
        if in_query {
            let mut response = next.run(request).await;
            if let Ok(cookie) = header::HeaderValue::from_str(&format!(
                "{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
            )) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            return response;
        }
    }
    next.run(request).await
}

/// The end of a project's journal, when it is the project's own file ([`Project::own_file`]).
fn journal_lines(p: &Project) -> Vec<Value> {
    p.own_file(&p.journal())
        .map(|path| crate::journal::read_tail_lines(&path))
        .unwrap_or_default()
}

/// Runs blocking file work off the runtime's thread, for at most [`FILE_WORK_LIMIT`]: a file
/// that never answers (a hung network mount) costs its request an error, never the server its
/// answers. `None` when the work failed or took too long.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::time::timeout(FILE_WORK_LIMIT, tokio::task::spawn_blocking(work))
        .await
        .ok()?
        .ok()
}

fn find(id: &str) -> Option<Project> {
    projects::list()
        .into_iter()
        .find(|p| project_id(&p.root) == id)
}

/// A project's `runtime-status.json`, read once per answer through the one typed reader
/// (`runtime_status::parse`), so that the web settles a run whose writer is gone exactly as
/// `autodev status` and `list` do.
enum StatusFile {
    Absent,
    Unreadable,
    /// The run as read and settled, and the file as written with its `run` replaced by that
    /// settled run (for the API's full answer: the queue rows and recent events it holds).
    Read(Box<PersistedRun>, Value),
}

impl StatusFile {
    fn of(project: &Project) -> StatusFile {
        let Some(path) = project.own_file(&project.runtime_status()) else {
            return if project.runtime_status().exists() {
                StatusFile::Unreadable
            } else {
                StatusFile::Absent
            };
        };
        let bytes = match crate::durable::read_regular(&path, 64 << 20) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return StatusFile::Absent,
            Err(_) => return StatusFile::Unreadable,
            Ok(bytes) => bytes,
        };
        let (Ok(persisted), Ok(mut whole)) = (
            crate::report::runtime_status::parse(&bytes),
            serde_json::from_slice::<Value>(&bytes),
        ) else {
            return StatusFile::Unreadable;
        };
        whole["run"] = serde_json::to_value(&persisted.run).unwrap_or(Value::Null);
        StatusFile::Read(Box::new(persisted), whole)
    }
}

/// One project as listed: where it is and how its run stands.
fn summary(
    project: &Project,
    status: &StatusFile,
    live: &std::collections::HashSet<String>,
) -> Value {
    let exists = project.exists();
    let (state, run, counts) = match status {
        StatusFile::Read(p, _) => {
            let run = &p.run;
            let blocked = p.counts.map_or(0, |c| c.blocked as u64);
            let state = crate::report::runtime_status::headline(&run.status, blocked);
            let shown = json!({
                // A run that is over works on nothing, whatever it was doing when it stopped.
                "current_task_id": p.working_on(),
                "cost_usd": run.cost_usd,
                "cost_estimated": run.cost_estimated,
                "updated_at": run.updated_at,
            });
            (state.as_str().to_string(), shown, json!(p.counts))
        }
        StatusFile::Unreadable => ("unreadable".to_string(), Value::Null, Value::Null),
        StatusFile::Absent => ("idle".to_string(), Value::Null, Value::Null),
    };
    json!({
        "id": project_id(&project.root),
        "name": project.name,
        "path": project.root,
        "missing": !exists,
        "status": if exists { state } else { "missing".to_string() },
        "current_task": run["current_task_id"],
        "cost_usd": run["cost_usd"],
        "cost_estimated": run["cost_estimated"] == true,
        "updated_at": run["updated_at"],
        "counts": counts,
        "sessions": project.sessions,
        "live_sessions": actions::live_sessions(project, live),
    })
}

/// Every registered project, as listed.
fn summaries() -> Vec<Value> {
    let live = crate::session::names();
    projects::list()
        .iter()
        .map(|p| summary(p, &StatusFile::of(p), &live))
        .collect()
}

async fn list_projects() -> Response {
    let (rows, skipped) = blocking(|| (summaries(), projects::unreadable()))
        .await
        .unwrap_or_default();
    axum::Json(json!({"version": API_VERSION, "projects": rows, "skipped": skipped}))
        .into_response()
}

async fn project(UrlPath(id): UrlPath<String>) -> Response {
    let found = blocking(move || {
        let p = find(&id)?;
        let status = StatusFile::of(&p);
        Some((summary(&p, &status, &crate::session::names()), status))
    })
    .await
    .flatten();
    match found {
        None => json_error(StatusCode::NOT_FOUND, "no such project"),
        Some((summary, status)) => axum::Json(json!({
            "version": API_VERSION,
            "project": summary,
            "status": match status {
                StatusFile::Read(_, whole) => whole,
                StatusFile::Unreadable => json!({"unreadable": true}),
                StatusFile::Absent => Value::Null,
            },
        }))
        .into_response(),
    }
}

/// A project's queue as JSON, loaded (and validated) with its own settings as every command
/// does; the loader's message when it cannot be read.
fn load_tasks(p: &Project) -> std::result::Result<Value, String> {
    let options = crate::config::LoadOptions {
        config_path: Some(p.config.clone()),
        cwd: p.root.clone(),
        overrides: Vec::new(),
    };
    crate::config::load(&options, std::iter::empty())
        .and_then(|s| crate::task::TaskStore::new(&s.paths).load())
        .map(|queue| queue.to_value()["tasks"].take())
        .map_err(|e| e.to_string())
}

async fn tasks(UrlPath(id): UrlPath<String>) -> Response {
    let found = blocking(move || Some(load_tasks(&find(&id)?)))
        .await
        .flatten();
    match found {
        None => json_error(StatusCode::NOT_FOUND, "no such project"),
        Some(Ok(tasks)) => {
            axum::Json(json!({"version": API_VERSION, "tasks": tasks})).into_response()
        }
        Some(Err(why)) => json_error(StatusCode::UNPROCESSABLE_ENTITY, &why),
    }
}

/// `GET /api/projects/{id}/tasks/{task}`: one task as the queue holds it (its attempts and their
/// evidence), the commit the journal last recorded for it, and that commit's changed files.
async fn task_detail(UrlPath((id, wanted)): UrlPath<(String, String)>) -> Response {
    let found = blocking(move || {
        let p = find(&id)?;
        let task = load_tasks(&p).map(|tasks| {
            tasks
                .as_array()
                .and_then(|tasks| tasks.iter().find(|t| t["id"] == wanted.as_str()).cloned())
        });
        let commit = journal_lines(&p)
            .into_iter()
            .rev()
            .find(|v| v["type"] == "commit_made" && v["task"]["id"] == wanted.as_str())
            .and_then(|v| v["sha"].as_str().map(str::to_string));
        Some((p.root, task, commit))
    })
    .await
    .flatten();
    let (root, task, commit) = match found {
        None => return json_error(StatusCode::NOT_FOUND, "no such project"),
        Some((_, Err(why), _)) => return json_error(StatusCode::UNPROCESSABLE_ENTITY, &why),
        Some((_, Ok(None), _)) => return json_error(StatusCode::NOT_FOUND, "no such task"),
        Some((root, Ok(Some(task)), commit)) => (root, task, commit),
    };
    let files = match &commit {
        Some(sha) => changed_files(&root, sha).await,
        None => Vec::new(),
    };
    let state = if task["passes"] == true {
        "completed"
    } else if task["blocked"] == true {
        "blocked"
    } else {
        "pending"
    };
    axum::Json(json!({
        "version": API_VERSION,
        "state": state,
        "task": task,
        "commit": commit.map(|sha| json!({"sha": sha, "files": files})),
    }))
    .into_response()
}

/// The paths a commit changed, with git's one-letter status, from an awaited child process.
async fn changed_files(root: &Path, sha: &str) -> Vec<Value> {
    if !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Vec::new();
    }
    let output = tokio::process::Command::new("git")
        .args(["show", "--no-renames", "--name-status", "--format=", sha])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let Ok(Ok(output)) = tokio::time::timeout(std::time::Duration::from_secs(10), output).await
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(status, path)| json!({"status": status, "path": path}))
        .collect()
}

async fn events(
    UrlPath(id): UrlPath<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let after: Option<u64> = query.get("after").and_then(|a| a.parse().ok());
    let found = blocking(move || {
        let p = find(&id)?;
        let lines: Vec<Value> = journal_lines(&p)
            .into_iter()
            .filter(|v| after.is_none_or(|a| v["seq"].as_u64().is_some_and(|s| s > a)))
            .collect();
        let skip = lines.len().saturating_sub(MAX_EVENTS);
        Some(lines[skip..].to_vec())
    })
    .await
    .flatten();
    match found {
        None => json_error(StatusCode::NOT_FOUND, "no such project"),
        Some(events) => {
            axum::Json(json!({"version": API_VERSION, "events": events})).into_response()
        }
    }
}

async fn log(
    UrlPath(id): UrlPath<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let lines: usize = query
        .get("lines")
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
        .min(MAX_LOG_LINES);
    let found = blocking(move || {
        let p = find(&id)?;
        let text = p
            .own_file(&p.run_log())
            .and_then(|log| crate::durable::read_tail(&log, 1024 * 1024))
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        Some(all[all.len().saturating_sub(lines)..].join("\n"))
    })
    .await
    .flatten();
    match found {
        None => json_error(StatusCode::NOT_FOUND, "no such project"),
        Some(text) => {
            axum::Json(json!({"version": API_VERSION, "lines": text.lines().collect::<Vec<_>>()}))
                .into_response()
        }
    }
}

/// What a project's page adds to its dashboard: instead of reloading itself, it follows the
/// journal's stream and swaps in the rewritten dashboard after each event; without a stream it
/// polls. Nothing in it comes from a project's files but its id (hex digits).
const LIVE_SCRIPT: &str = r##"<style>#more pre { white-space: pre-wrap; word-break: break-word; } #more h3 { font-size: .9rem; margin: 10px 0 4px; }</style>
<div id="more" style="max-width:960px;margin:0 auto;padding:0 12px 12px">
<section id="detail"><h2>Task</h2><p class="muted">Tap a task in the queue for its attempts, the failing check's output, the agent's last message and its commit.</p></section>
<section><h2>Log</h2><pre id="log" class="muted" style="white-space:pre-wrap;word-break:break-word;margin:0;max-height:24em;overflow:auto"></pre></section>
</div>
<script>
(function () {
  var id = "__ID__", base = "/api/projects/" + id, timers = [], es = null, shown = null;
  function get(path) {
    return fetch(path, {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { return r.ok ? r : Promise.reject(r.status); });
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  // A moment as people say it ("3 min ago"), the exact time on hover.
  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return iso;
    var s = Math.round((Date.now() - t) / 1000);
    if (s < 0) s = 0;
    if (s < 45) return "just now";
    if (s < 90 * 60) return Math.round(s / 60) + " min ago";
    if (s < 36 * 3600) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }
  function stamp(iso) {
    var e = el("time", ago(iso));
    e.setAttribute("datetime", iso);
    e.title = new Date(Date.parse(iso)).toLocaleString();
    return e;
  }
  function relative(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      t.textContent = ago(t.getAttribute("datetime"));
      if (!t.title) t.title = new Date(Date.parse(t.getAttribute("datetime"))).toLocaleString();
    });
  }
  function showTask(taskId) {
    shown = taskId;
    get(base + "/tasks/" + encodeURIComponent(taskId)).then(function (r) { return r.json(); }).then(function (a) {
      var box = document.getElementById("detail"), t = a.task;
      box.replaceChildren(el("h2", t.id + " · " + (t.title || "")));
      box.appendChild(el("p", "State: " + a.state, "muted"));
      if (t.block_reason) box.appendChild(el("p", t.block_reason, "reason"));
      (t.attempt_history || []).forEach(function (h, i) {
        // What became of the attempt (failed, interrupted, completed); the agent's own outcome
        // only when it says more than that it finished its turn.
        var said = h.status || "recorded";
        if (h.outcome && h.outcome !== "ok") said += " (agent: " + h.outcome.replace(/_/g, " ") + ")";
        box.appendChild(el("h3", "Attempt " + (h.attempt || i + 1) + " · " + said));
        var when = el("p", "", "muted when");
        if (h.run_started_at) { when.append("run of "); when.appendChild(stamp(h.run_started_at)); }
        if (h.finished_at) { when.append(h.run_started_at ? " · ended " : "ended "); when.appendChild(stamp(h.finished_at)); }
        if (when.childNodes.length) box.appendChild(when);
        if (h.cause) box.appendChild(el("p", h.cause, "reason"));
        if (h.check_output && h.check_output.length) box.appendChild(el("pre", [].concat(h.check_output).join("\n"), "muted"));
        if (h.agent_message) box.appendChild(el("p", "The agent said: " + h.agent_message));
      });
      if (a.commit) {
        box.appendChild(el("h3", "Commit " + a.commit.sha.slice(0, 12)));
        var ul = el("ul");
        a.commit.files.forEach(function (f) { ul.appendChild(el("li", f.status + " " + f.path)); });
        box.appendChild(ul);
      }
    }).catch(function () {});
  }
  function refresh() {
    get("/projects/" + id + "/dashboard.html").then(function (r) { return r.text(); }).then(function (text) {
      var doc = new DOMParser().parseFromString(text, "text/html"), main = doc.querySelector("main");
      if (main) document.querySelector("main").innerHTML = main.innerHTML;
      relative(document.querySelector("main"));
      document.title = doc.title;
      document.documentElement.setAttribute("data-live", es && es.readyState === 1 ? "stream" : "poll");
      if (shown) showTask(shown);
    }).catch(function () {});
    get(base + "/log?lines=40").then(function (r) { return r.json(); }).then(function (a) {
      document.getElementById("log").textContent = a.lines.join("\n");
    }).catch(function () {});
  }
  function soon() {
    timers.forEach(clearTimeout);
    // Once now, and once after the run's next throttled rewrite of the dashboard.
    timers = [setTimeout(refresh, 200), setTimeout(refresh, 1500)];
  }
  document.addEventListener("click", function (e) {
    var row = e.target.closest("tr");
    if (row && row.cells[0] && !row.closest("#more")) {
      showTask(row.cells[0].textContent.trim());
      document.getElementById("detail").scrollIntoView();
    }
  });
  if (window.EventSource) {
    es = new EventSource(base + "/stream");
    es.addEventListener("journal", soon);
    es.onopen = function () { document.documentElement.setAttribute("data-live", "stream"); };
  }
  setInterval(function () { if (!es || es.readyState === 2) refresh(); }, 5000);
  refresh();
})();
</script>
"##;

/// A project's page: its `logs/dashboard.html`, kept current by `LIVE_SCRIPT`.
async fn page(UrlPath(id): UrlPath<String>) -> Response {
    // The id goes into the page's script: only an id as `project_id` makes one gets that far.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return json_error(StatusCode::NOT_FOUND, "no such project");
    }
    let script = LIVE_SCRIPT.replace("__ID__", &id);
    match dashboard_html(id).await {
        None => json_error(StatusCode::NOT_FOUND, "no such project"),
        Some(html) => {
            let html = html.replace(r#"<meta http-equiv="refresh" content="5">"#, "");
            let html = match html.rfind("</body>") {
                Some(at) => format!("{}{script}{}", &html[..at], &html[at..]),
                None => format!("{html}{script}"),
            };
            Html(html).into_response()
        }
    }
}

/// The project's dashboard as the run last wrote it (what the page swaps in).
async fn dashboard(UrlPath(id): UrlPath<String>) -> Response {
    match dashboard_html(id).await {
        None => json_error(StatusCode::NOT_FOUND, "no such project"),
        Some(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
    }
}

/// The project's dashboard, rendered here from its data (the run status, the queue, the
/// experiment log) with the server's own template. The `logs/dashboard.html` a run writes is
/// never served: a repository can hold any file there, and a script in it must not run with
/// this server's authority.
async fn dashboard_html(id: String) -> Option<String> {
    blocking(move || {
        let p = find(&id)?;
        Some(render_dashboard(&p))
    })
    .await
    .flatten()
}

fn render_dashboard(p: &Project) -> String {
    let no_run = || {
        "<!DOCTYPE html><html><body><main><p>No run has written a status for this project \
         yet.</p></main></body></html>"
            .to_string()
    };
    let options = crate::config::LoadOptions {
        config_path: Some(p.config.clone()),
        cwd: p.root.clone(),
        overrides: Vec::new(),
    };
    let Ok(settings) = crate::config::load(&options, std::iter::empty()) else {
        return no_run();
    };
    let Some(status) = p.own_file(&settings.paths.runtime_status()) else {
        return no_run();
    };
    let (persisted, _) = crate::report::runtime_status::read(&status);
    if persisted.run.started_at.is_empty() {
        return no_run();
    }
    let queue = crate::task::TaskStore::new(&settings.paths)
        .load()
        .unwrap_or_default();
    let snapshot = crate::report::runtime_status::Snapshot::assemble(
        &settings.config.project.name,
        &persisted.run.backend,
        &queue,
        &persisted,
    );
    let task = persisted.run.current_task_id.clone();
    let records = crate::experiment::journal::recent(
        &settings.paths.experiments_log(),
        &task,
        crate::report::dashboard::CHART_POINTS,
    );
    let live = persisted.live && persisted.run.finished_at.is_empty();
    let tried = crate::experiment::ideas::read_lines(
        &settings.paths.log_dir,
        &task,
        crate::report::dashboard::TRIED_SHOWN,
    );
    crate::report::dashboard::render(
        &snapshot,
        (&records, &tried),
        live,
        &crate::durable::utc_now(),
    )
}

/// The journal as server-sent events: lines after `Last-Event-ID` (a reconnect) or `?after=SEQ`,
/// otherwise from now on.
async fn stream(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: header::HeaderMap,
) -> Response {
    let after = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .or(query.get("after").map(String::as_str))
        .and_then(|a| a.trim().parse::<u64>().ok());
    let follower = blocking(move || {
        let p = find(&id)?;
        Some(stream::Follower::new(p.journal(), after))
    })
    .await
    .flatten();
    match follower {
        None => json_error(StatusCode::NOT_FOUND, "no such project"),
        Some(f) => stream::response(f, &shared.watch, shared.cancel.clone()),
    }
}

/// Every project's new journal lines as server-sent events (what the list page follows).
async fn stream_all(State(shared): State<Shared>) -> Response {
    stream::all_response(&shared.watch, shared.cancel.clone())
}

/// One project on the list page.
struct Row {
    id: String,
    name: String,
    path: String,
    status: String,
    missing: bool,
    live: bool,
    total: u64,
    completed: u64,
    blocked: u64,
    current_task: String,
    cost: String,
    updated_at: String,
    updated_iso: String,
    pending: u64,
    /// Whether the counts are known (a run has written the status file).
    counted: bool,
}

impl Row {
    fn of(summary: &Value) -> Row {
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        let count = |k: &str| summary["counts"][k].as_u64().unwrap_or(0);
        Row {
            id: text(&summary["id"]),
            name: text(&summary["name"]),
            path: text(&summary["path"]),
            status: text(&summary["status"]),
            missing: summary["missing"] == true,
            live: summary["live_sessions"]
                .as_array()
                .is_some_and(|l| !l.is_empty()),
            total: count("total"),
            completed: count("completed"),
            blocked: count("blocked"),
            current_task: summary["current_task"].as_str().unwrap_or("—").to_string(),
            cost: crate::report::dashboard::cost_words(
                summary["cost_usd"].as_f64(),
                summary["cost_estimated"] == true,
            ),
            updated_at: summary["updated_at"]
                .as_str()
                .map_or("—".to_string(), crate::report::dashboard::readable),
            updated_iso: text(&summary["updated_at"]),
            pending: count("pending"),
            counted: summary["counts"].is_object(),
        }
    }
}

/// The project list page; every value from a project's files is escaped by askama.
#[derive(askama::Template)]
#[template(path = "projects.html")]
struct ListPage {
    projects: Vec<Row>,
    /// Whether detached runs can be started here (tmux is on `PATH`).
    tmux: bool,
    /// Registry entries that do not read as a project, shown so they can be fixed.
    skipped: Vec<String>,
}

/// The project list, updated in place every few seconds by its own script.
async fn index() -> Response {
    let page = blocking(|| {
        let projects = summaries().iter().map(Row::of).collect();
        ListPage {
            projects,
            tmux: crate::session::require_tmux().is_ok(),
            skipped: projects::unreadable(),
        }
    })
    .await;
    match page.map(|p| askama::Template::render(&p)) {
        Some(Ok(html)) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Some(Err(e)) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        None => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page could not be built",
        ),
    }
}

/// The router, with the guard in front of every route.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/projects/{id}", get(page))
        .route("/projects/{id}/dashboard.html", get(dashboard))
        .route("/api/projects", get(list_projects))
        .route("/api/projects/{id}", get(project))
        .route("/api/projects/{id}/tasks", get(tasks))
        .route("/api/projects/{id}/tasks/{task}", get(task_detail))
        .route("/api/projects/{id}/events", get(events))
        .route("/api/projects/{id}/log", get(log))
        .route("/api/projects/{id}/stream", get(stream))
        .route("/api/stream", get(stream_all))
        .route("/api/projects/{id}/start", post(actions::start))
        .route("/api/projects/{id}/stop", post(actions::stop))
        .route("/api/projects/{id}/forget", post(actions::forget))
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "no such page") })
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

/// The most threads that do the server's file work at once. Each thread that allocates keeps
/// memory of its own for a while, so a crowd of requests is worked by a few threads in turn
/// rather than by hundreds at once (which held about 4 MiB each).
const FILE_THREADS: usize = 16;

/// The server's runtime: one thread for the connections, [`FILE_THREADS`] for file work, let go
/// soon after a burst.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(FILE_THREADS)
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .build()
}

/// How soon the server stops after SIGINT, SIGTERM or SIGHUP (an idle server wakes only this
/// often).
const STOP_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Serves on `addr` until SIGINT or SIGTERM; `on_ready` is told the address bound (the port may
/// have been 0).
pub async fn serve(
    addr: SocketAddr,
    token: Option<String>,
    on_ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let port = bound.port();
    let hosts = bound.ip().is_loopback().then(|| {
        // `{bound}` writes an IPv6 address in brackets (`[::1]:8080`), as a browser's Host does.
        Arc::new(vec![
            format!("{bound}"),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
        ])
    });
    if hosts.is_none() && token.is_none() {
        return Err(std::io::Error::other(
            "a server reachable from other machines needs an access token",
        ));
    }
    // Signals are turned into a clean stop before the address is announced.
    let cancel = crate::exec::Cancel::default();
    crate::exec::cancel_on_signals_every(&cancel, STOP_CHECK)?;
    let shared = Shared {
        hosts,
        token: token.map(Arc::new),
        cancel: cancel.clone(),
        watch: watch::Watch::start(),
    };
    on_ready(bound);
    let stop = async move {
        while cancel.level() == crate::exec::CancelLevel::None {
            tokio::time::sleep(STOP_CHECK).await;
        }
    };
    conn::accept(listener, router(shared), stop).await
}

/// Where the registry says a project's files are, for the CLI's messages.
pub fn registry_file() -> Option<PathBuf> {
    projects::state_dir().map(|d| d.join("projects.json"))
}
