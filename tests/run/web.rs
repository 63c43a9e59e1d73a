//! `autodev web`: the JSON API over this user's projects, on loopback, with its guards.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use crate::harness::Repo;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    /// The token the address line carries, if any.
    token: Option<String>,
}

impl Server {
    pub(crate) fn start(repo: &Repo, extra: &[&str]) -> Server {
        let mut args = vec!["web", "--port", "0"];
        args.extend_from_slice(extra);
        Server::spawn(repo.command(&args))
    }

    /// Starts `autodev web --port 0 …` as built by the caller.
    fn spawn(mut command: std::process::Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("web");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("address");
        let address = first
            .trim()
            .strip_prefix("autodev web: ")
            .expect("the address line");
        let (base, token) = match address.split_once("/?token=") {
            Some((base, token)) => (base.to_string(), Some(token.to_string())),
            None => (address.to_string(), None),
        };
        Server { child, base, token }
    }

    pub(crate) fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.get_with(path, &[])
    }

    /// `GET path` with `headers`, carrying the server's token unless they carry credentials of
    /// their own.
    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let bearer = self.bearer();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(bearer) = &bearer
            && !headers.iter().any(|(k, _)| {
                k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("cookie")
            })
        {
            all.push(("Authorization", bearer));
        }
        self.get_url(&format!("{}{path}", self.base), &all)
    }

    /// `Bearer TOKEN`, when the server printed one.
    pub(crate) fn bearer(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    /// The address as printed, token included: what a person opens first.
    pub(crate) fn entry(&self) -> String {
        match &self.token {
            Some(t) => format!("{}/?token={t}", self.base),
            None => format!("{}/", self.base),
        }
    }

    fn get_url(&self, url: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let mut request = agent().get(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        answer(request.call().expect("request"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

fn ran() -> Repo {
    let repo = Repo::new(
        r#"{"tasks": [{"id": "T1", "title": "Create <b>hello</b>", "verification": {"path_patterns": ["hello.txt"]}}]}"#,
        "",
    );
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(
        0,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    assert_eq!(repo.run(&["run"]).code, 0);
    repo
}

#[test]
fn the_api_lists_projects_and_serves_their_status_tasks_events_and_log() {
    let repo = ran();
    let server = Server::start(&repo, &[]);
    let (status, list) = server.get("/api/projects");
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["version"], 1);
    let project = &list["projects"][0];
    assert_eq!(project["name"], "demo");
    assert_eq!(project["status"], "completed");
    assert_eq!(project["counts"]["completed"], 1);
    let id = project["id"].as_str().expect("id").to_string();

    let (status, one) = server.get(&format!("/api/projects/{id}"));
    assert_eq!(status, 200);
    assert_eq!(one["status"]["run"]["status"], "completed");
    let (_, tasks) = server.get(&format!("/api/projects/{id}/tasks"));
    assert_eq!(tasks["tasks"][0]["id"], "T1");
    assert_eq!(
        tasks["tasks"][0]["title"], "Create <b>hello</b>",
        "JSON carries text as it is"
    );

    let (_, all) = server.get(&format!("/api/projects/{id}/events"));
    let events = all["events"].as_array().expect("events");
    assert!(events.len() > 5);
    let seq = events[events.len() - 3]["seq"].as_u64().expect("seq");
    let (_, later) = server.get(&format!("/api/projects/{id}/events?after={seq}"));
    assert_eq!(
        later["events"].as_array().map(Vec::len),
        Some(2),
        "resumes after a seq"
    );

    let (_, log) = server.get(&format!("/api/projects/{id}/log?lines=5000"));
    let lines = log["lines"].as_array().expect("lines");
    assert!(!lines.is_empty() && lines.len() <= 1000);

    let (status, detail) = server.get(&format!("/api/projects/{id}/tasks/T1"));
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["state"], "completed");
    assert_eq!(detail["task"]["passes"], true);
    assert_eq!(detail["task"]["attempt_history"][0]["attempt"], 1);
    assert_eq!(
        detail["commit"]["sha"].as_str().map(str::len),
        Some(40),
        "{detail}"
    );
    assert_eq!(
        detail["commit"]["files"],
        serde_json::json!([{"status": "A", "path": "hello.txt"}])
    );
    let (status, _) = server.get("/projects/%22%3Balert(1)%2F%2F");
    assert_eq!(status, 404);
    let (status, _) = server.get(&format!("/api/projects/{id}/tasks/NOPE"));
    assert_eq!(status, 404);
    let (status, missing) = server.get("/api/projects/nope");
    assert_eq!(status, 404);
    assert_eq!(missing["error"], "no such project");
    let (status, page) = server.get(&format!("/projects/{id}"));
    assert_eq!(status, 200);
    let page = page.as_str().expect("an HTML page");
    assert!(page.contains("<!DOCTYPE html>"));
    assert!(
        page.contains("Create &#60;b&#62;hello&#60;/b&#62;"),
        "{page}"
    );
    assert!(page.contains(&format!("var id = \"{id}\"")), "{page}");
    assert!(page.contains("new EventSource("), "{page}");
    assert!(
        !page.contains("http-equiv=\"refresh\""),
        "the page updates itself, never reloads"
    );
    let (status, raw) = server.get(&format!("/projects/{id}/dashboard.html"));
    assert_eq!(status, 200);
    assert!(
        raw.as_str()
            .unwrap()
            .contains("Create &#60;b&#62;hello&#60;/b&#62;")
    );
    let (status, index) = server.get("/");
    assert_eq!(status, 200);
    assert!(
        index
            .as_str()
            .unwrap_or("")
            .contains(&format!("/projects/{id}"))
    );
}

#[test]
fn a_corrupt_status_file_shows_one_project_as_unreadable_and_breaks_nothing_else() {
    let good = ran();
    let bad = ran();
    // Both share one registry (the harness gives each its own: join them).
    let registry = |r: &Repo| r.state.join("xdg-state/autodev/projects.json");
    let one: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(registry(&good)).unwrap()).unwrap();
    let two: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(registry(&bad)).unwrap()).unwrap();
    let mut both = one.clone();
    both["projects"]
        .as_array_mut()
        .unwrap()
        .extend(two["projects"].as_array().unwrap().clone());
    std::fs::write(registry(&good), both.to_string()).unwrap();
    bad.write("logs/runtime-status.json", "{ this is not json");
    let server = Server::start(&good, &[]);
    let (status, list) = server.get("/api/projects");
    assert_eq!(status, 200);
    let states: Vec<&str> = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, ["completed", "unreadable"]);
}

#[test]
fn a_foreign_host_is_refused_and_a_token_is_required_when_set() {
    let repo = ran();
    let server = Server::start(&repo, &[]);
    let (status, body) = server.get_with("/api/projects", &[("Host", "attacker.example:8080")]);
    assert_eq!(status, 403, "DNS rebinding: {body}");
    drop(server);

    let server = Server::start(&repo, &["--token", "s3cret"]);
    let (status, _) = server.get_url(&format!("{}/api/projects", server.base), &[]);
    assert_eq!(status, 401);
    let opened = agent()
        .get(format!("{}/?token=s3cret", server.base))
        .call()
        .expect("the printed address");
    assert_eq!(opened.status().as_u16(), 200);
    let cookie = opened.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(pair, "autodev_token=s3cret");
    // The page's links then work without the token in them.
    let (status, _) = server.get_with("/api/projects", &[("Cookie", pair)]);
    assert_eq!(status, 200);
    let (status, _) = server.get_with("/api/projects", &[("Cookie", "autodev_token=wrong")]);
    assert_eq!(status, 401);
    let (status, _) = server.get_with("/api/projects", &[("Authorization", "Bearer s3cret")]);
    assert_eq!(status, 200);
    let (status, _) = server.get_with("/api/projects", &[("Authorization", "Bearer wrong")]);
    assert_eq!(status, 401);
}

#[test]
fn a_server_open_to_other_machines_generates_a_token_and_accepts_any_host_with_it() {
    let repo = ran();
    let server = Server::start(&repo, &["--host", "0.0.0.0"]);
    let token = server
        .token
        .clone()
        .expect("a generated token in the address line");
    assert_eq!(token.len(), 32, "{token}");
    let local = server.base.replace("0.0.0.0", "127.0.0.1");
    let get = |url: String, headers: &[(&str, &str)]| server.get_url(&url, headers).0;
    assert_eq!(get(format!("{local}/api/projects"), &[]), 401);
    assert_eq!(
        get(
            format!("{local}/api/projects?token={token}"),
            &[("Host", "192.0.2.7:8080")]
        ),
        200,
        "reached under a name the server cannot know, the token is what counts"
    );
}

/// Reads a server-sent-events response on a thread: each event as (id, event name, data).
fn sse(url: &str, headers: &[(&str, &str)]) -> std::sync::mpsc::Receiver<(u64, String, String)> {
    let mut request = ureq::get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.call().expect("stream");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let reader = BufReader::new(response.into_body().into_reader());
        let (mut id, mut name, mut data) = (0, String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("event: ") {
                name = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = v.to_string();
            } else if line.is_empty()
                && !data.is_empty()
                && tx
                    .send((id, std::mem::take(&mut name), std::mem::take(&mut data)))
                    .is_err()
            {
                return;
            }
        }
    });
    rx
}

#[test]
fn the_journal_streams_live_and_resumes_after_the_last_event_id() {
    let repo = ran();
    let server = Server::start(&repo, &[]);
    let (_, project) = server.get("/api/projects");
    let id = project["projects"][0]["id"].as_str().unwrap().to_string();
    let (_, all) = server.get(&format!("/api/projects/{id}/events"));
    let seqs: Vec<u64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.len() > 3, "{all}");
    let wait = std::time::Duration::from_secs(10);

    // A browser that reconnects sends the last id it saw and gets what followed, in order.
    let url = format!("{}/api/projects/{id}/stream", server.base);
    let bearer = server.bearer().expect("a token");
    let resumed = sse(
        &url,
        &[
            ("Last-Event-ID", &seqs[1].to_string()),
            ("Authorization", &bearer),
        ],
    );
    let mut got = Vec::new();
    while got.len() < seqs.len() - 2 {
        let (seq, name, data) = resumed.recv_timeout(wait).expect("a resumed event");
        assert_eq!(name, "journal");
        let line: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!(line["seq"].as_u64(), Some(seq));
        got.push(seq);
    }
    assert_eq!(got, seqs[2..]);

    // A fresh stream starts from now, and shows the next run's events as they are written.
    let live = sse(&url, &[("Authorization", &bearer)]);
    let every = sse(
        &format!("{}/api/stream", server.base),
        &[("Authorization", &bearer)],
    );
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(repo.run(&["run"]).code, 0);
    // The list page's stream carries every project's lines, each naming its project.
    let (_, name, data) = every
        .recv_timeout(wait)
        .expect("a line on the list's stream");
    assert_eq!(name, "journal");
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["project"], id.as_str());
    assert!(
        data["event"]["seq"].as_u64().unwrap() > *seqs.last().unwrap(),
        "{data}"
    );
    let (seq, _, data) = live.recv_timeout(wait).expect("the next run's first event");
    assert!(seq > *seqs.last().unwrap(), "{seq} after {seqs:?}");
    let types: Vec<String> = std::iter::once(data)
        .chain(std::iter::from_fn(|| {
            live.recv_timeout(wait).ok().map(|e| e.2)
        }))
        .map(|d| serde_json::from_str::<serde_json::Value>(&d).unwrap()["type"].to_string())
        .take_while(|t| t != "\"run_ended\"")
        .collect();
    assert!(types.iter().any(|t| t == "\"run_started\""), "{types:?}");
    assert!(
        live.recv_timeout(std::time::Duration::from_millis(900))
            .is_err(),
        "nothing after the run ended"
    );

    // An open stream never holds up a clean stop.
    let mut server = server;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let started = std::time::Instant::now();
    assert_eq!(server.child.wait().expect("exit").code(), Some(0));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

fn post(server: &Server, path: &str, origin: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = agent().post(format!("{}{path}", server.base));
    if let Some(bearer) = server.bearer() {
        request = request.header("Authorization", bearer);
    }
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    answer(request.send_empty().expect("request"))
}

/// A client that hands back every status instead of failing on 4xx and 5xx.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// The status and the body: JSON when it parses, the text otherwise.
fn answer(mut response: ureq::http::Response<ureq::Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    )
}

#[test]
fn changes_come_only_from_the_page_s_origin_and_only_a_missing_project_is_forgotten() {
    let repo = ran();
    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"].as_str().unwrap().to_string();
    let origin = server.base.clone();

    for bad in [None, Some("http://attacker.example"), Some("null")] {
        let (status, body) = post(&server, &format!("/api/projects/{id}/forget"), bad);
        assert_eq!(status, 403, "{bad:?}: {body}");
    }
    let (status, body) = post(
        &server,
        &format!("/api/projects/{id}/forget"),
        Some(&origin),
    );
    assert_eq!(
        status, 409,
        "a project still there is not forgotten: {body}"
    );
    let (status, _) = post(&server, "/api/projects/nope/forget", Some(&origin));
    assert_eq!(status, 404);
    let (status, body) = post(&server, &format!("/api/projects/{id}/stop"), Some(&origin));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "no detached run of this project is live");

    // Moved away, it shows as missing and can be forgotten.
    let away = repo.path().with_extension("moved");
    std::fs::rename(repo.path(), &away).unwrap();
    let (_, list) = server.get("/api/projects");
    assert_eq!(list["projects"][0]["status"], "missing");
    let (_, page) = server.get("/");
    assert!(
        page.as_str().unwrap().contains("data-action=\"forget\""),
        "{page}"
    );
    let (status, body) = post(
        &server,
        &format!("/api/projects/{id}/forget"),
        Some(&origin),
    );
    std::fs::rename(&away, repo.path()).unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, list) = server.get("/api/projects");
    assert_eq!(list["projects"], serde_json::json!([]));
}

#[test]
fn the_page_starts_and_stops_a_detached_run_in_tmux() {
    let repo = Repo::new(
        r#"{"tasks": [{"id": "T1", "title": "Create hello", "verification": {"path_patterns": ["hello.txt"]}}]}"#,
        "",
    );
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(
        0,
        "write hello.txt hello\nsleep 30\ncat codex-exec-json-success.jsonl\n",
    );
    // `init` registers the project; it keeps the existing autodev.toml and task.json.
    let init = repo.run(&["init"]);
    assert_eq!(init.code, 0, "{}{}", init.stdout, init.stderr);
    let tmux_dir = tempfile::tempdir().unwrap();
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(args)
            .env("TMUX_TMPDIR", tmux_dir.path())
            .env_remove("TMUX")
            .output()
            .expect("tmux")
    };
    let mut command = repo.command(&["web", "--port", "0"]);
    command.env("TMUX_TMPDIR", tmux_dir.path());
    let server = Server::spawn(command);
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"]
        .as_str()
        .expect("listed")
        .to_string();
    let (_, page) = server.get("/");
    assert!(
        page.as_str().unwrap().contains("data-action=\"start\""),
        "{page}"
    );

    let origin = server.base.clone();
    let (status, body) = post(&server, &format!("/api/projects/{id}/start"), Some(&origin));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    assert!(
        body["output"].as_str().unwrap().contains("autodev attach"),
        "{body}"
    );
    let (_, list) = server.get("/api/projects");
    assert_eq!(
        list["projects"][0]["live_sessions"],
        serde_json::json!(["autodev-demo"])
    );
    let (_, page) = server.get("/");
    assert!(
        page.as_str().unwrap().contains("data-action=\"stop\""),
        "{page}"
    );
    // A second start while the run is live is refused with the run's own reason.
    let (status, body) = post(&server, &format!("/api/projects/{id}/start"), Some(&origin));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["ok"], false);

    let (status, body) = post(&server, &format!("/api/projects/{id}/stop"), Some(&origin));
    assert_eq!(status, 200, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let state = repo.status()["run"]["status"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if state == "interrupted" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run still says {state}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let t1 = repo.task("T1");
    // Nothing is marked done that is not, and an interruption blocks nothing.
    crate::common::assert_off(&t1, "passes");
    crate::common::assert_off(&t1, "blocked");
    tmux(&["kill-server"]);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let repo = ran();
    let mut server = Server::start(&repo, &[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let status = server.child.wait().expect("exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn an_estimated_cost_is_marked_as_estimated_in_the_api_and_on_the_pages() {
    // codex reports tokens only: with [pricing] the cost is autodev's estimate.
    let repo = Repo::new(
        r#"{"tasks": [{"id": "T1", "title": "One", "verification": {"path_patterns": ["hello.txt"]}}]}"#,
        "[pricing]\ninput_per_million = 1000\noutput_per_million = 1000\n",
    );
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(
        0,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    assert_eq!(repo.run(&["run"]).code, 0);
    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    let project = &list["projects"][0];
    assert_eq!(project["cost_estimated"], true, "{project}");
    let id = project["id"].as_str().expect("id");
    let (_, index) = server.get("/");
    let index = index.as_str().expect("the page");
    assert!(index.contains("$20.75 (estimated)"), "{index}");
    let (_, dashboard) = server.get(&format!("/projects/{id}/dashboard.html"));
    let dashboard = dashboard.as_str().expect("the dashboard");
    assert!(dashboard.contains("$20.75 (estimated)"), "{dashboard}");
}

#[test]
fn a_project_with_a_blocked_task_is_badged_blocked_not_completed() {
    let repo = Repo::new(
        r#"{"tasks": [
  {"id": "T1", "title": "One", "verification": {"path_patterns": ["hello.txt"]}},
  {"id": "T2", "title": "Two", "passes": false, "blocked": true, "block_reason": "needs a token"}
]}"#,
        "",
    );
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(
        0,
        "write hello.txt hello\ncat codex-exec-json-success.jsonl\n",
    );
    let run = repo.run(&["run"]);
    assert_eq!(
        run.code, 0,
        "the run completed what it could: {}",
        run.stderr
    );
    assert_eq!(repo.status()["run"]["status"], "completed");
    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    assert_eq!(list["projects"][0]["status"], "blocked", "{list}");
    let (_, index) = server.get("/");
    assert!(
        index
            .as_str()
            .expect("page")
            .contains(r#"<span class="badge blocked">blocked</span>"#),
        "{index}"
    );
    let page = repo.read("logs/dashboard.html");
    assert!(
        page.contains(r#"<span class="badge blocked">Blocked</span>"#),
        "{page}"
    );
}

/// A raw HTTP/1.1 request to `server`; the whole answer as text.
fn raw(server: &Server, request: &str) -> String {
    use std::io::{Read, Write};
    let address = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn no_page_elsewhere_may_frame_the_dashboard_and_two_hosts_are_refused() {
    let repo = ran();
    let server = Server::start(&repo, &[]);
    let address = server.base.trim_start_matches("http://").to_string();
    let bearer = server.bearer().expect("a token");
    for path in ["/", "/api/projects"] {
        let answer = raw(
            &server,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {bearer}\r\nConnection: close\r\n\r\n"
            ),
        );
        let head = answer.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{path}: {answer}");
        assert!(head.contains("x-frame-options: deny"), "{path}: {answer}");
        assert!(
            head.contains("content-security-policy: frame-ancestors 'none'"),
            "{path}: {answer}"
        );
        assert!(
            head.contains("referrer-policy: no-referrer"),
            "{path}: {answer}"
        );
    }
    let twice = raw(
        &server,
        &format!(
            "GET /api/projects HTTP/1.1\r\nHost: {address}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(twice.starts_with("HTTP/1.1 400"), "{twice}");
    assert!(
        twice.contains("x-frame-options"),
        "refusals carry the headers too: {twice}"
    );
}

#[test]
fn a_repositorys_own_dashboard_file_never_runs_on_the_servers_origin_and_links_are_not_followed() {
    let repo = ran();
    // What a cloned repository (or an agent) could leave in logs/: a page with a script, and
    // links to files that are not the project's.
    let outside = tempfile::tempdir().expect("outside");
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "the neighbour's secret\n").expect("secret");
    repo.write(
        "logs/dashboard.html",
        "<!DOCTYPE html><html><body><main>EVIL<script>fetch('/api/projects/x/start',{method:'POST'})</script></main></body></html>",
    );
    let log = repo.path().join("logs/autodev.log");
    std::fs::remove_file(&log).expect("the run's log");
    std::os::unix::fs::symlink(&secret, &log).expect("link");
    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"].as_str().expect("id").to_string();
    for path in [
        format!("/projects/{id}"),
        format!("/projects/{id}/dashboard.html"),
    ] {
        let (status, page) = server.get(&path);
        let page = page.as_str().unwrap_or("").to_string();
        assert_eq!(status, 200, "{path}");
        assert!(!page.contains("EVIL"), "the file's page was served: {page}");
        assert!(
            page.contains("<td class=\"id\">T1</td>"),
            "rendered from the data: {page}"
        );
    }
    let (_, tail) = server.get(&format!("/api/projects/{id}/log?lines=50"));
    assert!(
        !tail.to_string().contains("neighbour"),
        "a linked log is not followed: {tail}"
    );
    // A linked status file is unreadable, not followed.
    let status = repo.path().join("logs/runtime-status.json");
    std::fs::remove_file(&status).expect("status");
    std::os::unix::fs::symlink(&secret, &status).expect("link");
    let (_, list) = server.get("/api/projects");
    assert_eq!(list["projects"][0]["status"], "unreadable", "{list}");
}

#[test]
fn an_ipv6_loopback_server_answers_its_own_address() {
    let repo = ran();
    let server = Server::start(&repo, &["--host", "::1"]);
    assert!(server.base.starts_with("http://[::1]:"), "{}", server.base);
    let (status, list) = server.get("/api/projects");
    assert_eq!(status, 200, "{list}");
}

#[test]
fn one_bad_registry_entry_is_skipped_and_named_and_never_costs_the_others() {
    let repo = ran();
    let registry = repo.state.join("xdg-state/autodev/projects.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&registry).expect("registry")).expect("json");
    value["projects"]
        .as_array_mut()
        .expect("projects")
        .push(serde_json::json!({"root": 42, "note": "edited by hand"}));
    std::fs::write(&registry, value.to_string()).expect("write");

    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    assert_eq!(list["projects"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["skipped"].as_array().map(Vec::len), Some(1), "{list}");
    assert!(
        list["skipped"][0]
            .as_str()
            .unwrap_or("")
            .contains("edited by hand")
    );
    drop(server);

    // A new project is added; the good entry and the bad one both stay.
    let other = tempfile::tempdir().expect("other");
    let init = repo
        .command(&["init"])
        .current_dir(other.path())
        .output()
        .expect("init");
    assert_eq!(
        init.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let after = std::fs::read_to_string(&registry).expect("registry");
    let after: serde_json::Value = serde_json::from_str(&after).expect("json");
    let entries = after["projects"].as_array().expect("projects");
    assert_eq!(entries.len(), 3, "{after}");
    assert!(after.to_string().contains("edited by hand"), "{after}");
}

#[test]
fn a_token_guards_loopback_too_and_a_run_starts_only_in_a_project_of_ours() {
    let repo = ran();
    // By default: a token, even on loopback (other local users reach loopback too).
    let server = Server::start(&repo, &[]);
    assert!(server.bearer().is_some(), "the address carries a token");
    let (status, _) = server.get_url(&format!("{}/api/projects", server.base), &[]);
    assert_eq!(status, 401);
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"].as_str().expect("id").to_string();

    // A project folder anyone may write to is no place to start a run on our authority.
    let dir = repo.path();
    let mode = std::fs::metadata(dir).expect("dir").permissions();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let (status, body) = post(
        &server,
        &format!("/api/projects/{id}/start"),
        Some(&server.base),
    );
    std::fs::set_permissions(dir, mode).expect("chmod back");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.to_string().contains("may be written by any user"),
        "{body}"
    );
    drop(server);

    // --no-token is for loopback only, and says what it means; an empty token is no token.
    let open = Server::start(&repo, &["--no-token"]);
    let (status, _) = open.get_url(&format!("{}/api/projects", open.base), &[]);
    assert_eq!(status, 200);
    drop(open);
    for args in [
        vec!["web", "--port", "0", "--token", ""],
        vec!["web", "--port", "0", "--no-token", "--host", "0.0.0.0"],
    ] {
        let refused = repo.run(&args);
        assert_eq!(refused.code, 1, "{args:?}: {}", refused.stderr);
    }
}

#[test]
fn a_project_file_that_blocks_hangs_no_answer() {
    let repo = ran();
    // FIFOs where the run's files were: opening one for reading would wait for a writer for ever.
    for name in ["runtime-status.json", "autodev.log", "events.jsonl"] {
        let path = repo.path().join("logs").join(name);
        std::fs::remove_file(&path).expect("the run's file");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    }
    let server = Server::start(&repo, &[]);
    let started = std::time::Instant::now();
    let (status, list) = server.get("/api/projects");
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["projects"][0]["status"], "unreadable", "{list}");
    let id = list["projects"][0]["id"].as_str().expect("id").to_string();
    for path in [
        format!("/projects/{id}"),
        format!("/api/projects/{id}/log"),
        format!("/api/projects/{id}/events"),
        "/".to_string(),
    ] {
        let (status, body) = server.get(&path);
        assert_eq!(status, 200, "{path}: {body}");
    }
    // A hang guard, not a speed figure: a FIFO read would never have answered.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn a_crowd_of_silent_connections_gives_its_places_back() {
    let repo = ran();
    let server = Server::start(&repo, &[]);
    let address = server.base.trim_start_matches("http://").to_string();
    // More silent connections than the server serves at once (256): none sends a request.
    let crowd: Vec<std::net::TcpStream> = (0..300)
        .filter_map(|_| std::net::TcpStream::connect(&address).ok())
        .collect();
    assert!(crowd.len() >= 257, "the crowd connected: {}", crowd.len());
    // The token holder is served once the silent ones have been let go (5 s each), not never.
    let started = std::time::Instant::now();
    let bearer = server.bearer().expect("a token");
    loop {
        // Refused while every place is taken (the connection is closed at once): try again.
        let tried = agent()
            .get(format!("{}/api/projects", server.base))
            .header("Authorization", &bearer)
            .call();
        if tried.is_ok_and(|r| r.status().as_u16() == 200) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "still no answer after 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // A silent connection is closed by the server, not kept for ever.
    let mut silent = crowd.into_iter().next().expect("one of the crowd");
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let read = std::io::Read::read(&mut silent, &mut buf);
    assert!(
        matches!(read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the server closed it: {read:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(14),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_stream_client_that_stops_reading_is_let_go_and_the_server_keeps_answering() {
    use std::io::{Read, Write};
    let repo = ran();
    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"].as_str().expect("id").to_string();
    let address = server.base.trim_start_matches("http://").to_string();
    let mut idle = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        idle,
        "GET /api/projects/{id}/stream HTTP/1.1\r\nHost: {address}\r\nAuthorization: {}\r\n\r\n",
        server.bearer().expect("token")
    )
    .expect("request");
    std::thread::sleep(std::time::Duration::from_millis(500));
    // A burst far larger than the sockets' buffers, which this client never reads.
    let journal = repo.path().join("logs/events.jsonl");
    let pad = "x".repeat(900);
    let burst: String = (1_000_000..1_040_000u64)
        .map(|seq| format!("{{\"v\":1,\"seq\":{seq},\"run_id\":\"burst\",\"type\":\"heartbeat\",\"pad\":\"{pad}\"}}\n"))
        .collect();
    let total = burst.len();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .expect("journal");
    file.write_all(burst.as_bytes()).expect("append");
    drop(file);
    // While it stalls, everyone else is served.
    let (status, _) = server.get("/api/projects");
    assert_eq!(status, 200);
    // Past the 15 s the server grants a write: the connection has been closed. Reading now
    // gets what was in flight, then the end, far short of the burst.
    std::thread::sleep(std::time::Duration::from_secs(20));
    idle.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = loop {
        match idle.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("the server kept the stalled stream open ({got} bytes read): {e}"),
        }
    };
    assert!(ended);
    assert!(
        got < total / 2,
        "{got} of {total} bytes reached a client that did not read"
    );
}

/// A second local user for the tests that need one, made with `useradd` (root only). `None`
/// when this is not root, which CI always is.
fn other_user() -> Option<nix::unistd::User> {
    static MADE: std::sync::Once = std::sync::Once::new();
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root: the second-user tests must not be skipped there"
        );
        eprintln!("skipped: a second local user can be made only as root");
        return None;
    }
    MADE.call_once(|| {
        let _ = std::process::Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", "autodev-other"])
            .status();
    });
    nix::unistd::User::from_name("autodev-other").expect("passwd")
}

/// `curl` as `user`: the HTTP status it got and the body.
fn curl_as(user: &nix::unistd::User, url: &str, extra: &[&str]) -> (u16, String) {
    let out = std::process::Command::new("runuser")
        .args(["-u", &user.name, "--", "curl", "-s", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("runuser curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.trim().parse().expect("a status"), body.to_string())
}

#[test]
fn another_local_user_can_neither_use_the_dashboard_nor_read_through_a_link_nor_start_a_run() {
    let Some(other) = other_user() else { return };
    let repo = ran();
    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"].as_str().expect("id").to_string();

    // Loopback is theirs to reach, but without the token nothing answers, nor does a forged
    // one, nor a page of another origin.
    for (path, extra) in [
        ("/api/projects", vec![]),
        ("/", vec![]),
        (&*format!("/api/projects/{id}/log"), vec![]),
        ("/api/projects", vec!["-H", "Authorization: Bearer guess"]),
        ("/api/projects", vec!["-b", "autodev_token=guess"]),
    ] {
        let (status, body) = curl_as(&other, &format!("{}{path}", server.base), &extra);
        assert_eq!(status, 401, "{path} {extra:?}: {body}");
        assert!(!body.contains("hello"), "{body}");
    }
    let (status, _) = curl_as(
        &other,
        &format!("{}/api/projects/{id}/start", server.base),
        &["-X", "POST", "-H", &format!("Origin: {}", server.base)],
    );
    assert_eq!(status, 401);

    // The project now belongs to them (a folder they made at a registered path): they plant a
    // link to a secret among its logs and press Start through the owner's own page.
    let root = repo.path();
    let mut parent = root.to_path_buf();
    while parent.pop() && parent != std::path::Path::new("/") {
        // Let them reach the folder, as they could reach one of their own.
        let mode = std::fs::metadata(&parent).expect("parent").permissions();
        if std::os::unix::fs::PermissionsExt::mode(&mode) & 0o001 == 0 {
            std::fs::set_permissions(
                &parent,
                std::os::unix::fs::PermissionsExt::from_mode(
                    std::os::unix::fs::PermissionsExt::mode(&mode) | 0o711,
                ),
            )
            .expect("chmod");
        }
    }
    let chown = std::process::Command::new("chown")
        .args(["-R", &format!("{}:{}", other.uid, other.gid)])
        .arg(root)
        .status()
        .expect("chown");
    assert!(chown.success());
    let log = root.join("logs/autodev.log");
    std::fs::remove_file(&log).expect("the run's log");
    let planted = std::process::Command::new("runuser")
        .args(["-u", &other.name, "--", "ln", "-s", "/etc/shadow"])
        .arg(&log)
        .status()
        .expect("ln");
    assert!(planted.success());
    let shadow = std::fs::read_to_string("/etc/shadow").expect("root reads it");
    let first = shadow.lines().next().expect("an entry").to_string();
    let (status, body) = server.get(&format!("/api/projects/{id}/log"));
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains(&first), "{body}");

    let (status, body) = post(
        &server,
        &format!("/api/projects/{id}/start"),
        Some(&server.base),
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.to_string().contains("belongs to another user"),
        "{body}"
    );
    // Nothing was started: no session, and no new line in the journal of theirs.
    let (_, list) = server.get("/api/projects");
    assert_eq!(list["projects"][0]["status"], "completed", "{list}");
}

#[test]
fn a_run_whose_writer_is_gone_is_interrupted_in_the_web_as_in_status() {
    let repo = ran();
    // What a run killed by SIGKILL or a reboot leaves: its file still says running, and the
    // process it names is gone.
    let path = repo.path().join("logs/runtime-status.json");
    let mut status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("status")).expect("json");
    status["run"]["status"] = "running".into();
    status["run"]["current_task_id"] = "T1".into();
    status["run"]["finished_at"] = "".into();
    status["run"]["writer"] = serde_json::json!({"pid": 999_999, "start": 1});
    std::fs::write(&path, status.to_string()).expect("write");

    let shown = repo.run(&["status"]);
    assert!(shown.stdout.contains("[INTERRUPTED]"), "{}", shown.stdout);
    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    assert_eq!(list["projects"][0]["status"], "interrupted", "{list}");
    assert_eq!(list["projects"][0]["current_task"], "", "{list}");
    let id = list["projects"][0]["id"].as_str().expect("id").to_string();
    let (_, one) = server.get(&format!("/api/projects/{id}"));
    assert_eq!(one["status"]["run"]["status"], "interrupted", "{one}");
    assert!(
        one["status"]["run"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ended without finishing")),
        "{one}"
    );
    assert_eq!(one["project"]["counts"]["completed"], 1, "{one}");
}
