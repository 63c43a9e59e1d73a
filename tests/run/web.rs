//! `autodev web`: the JSON API over this user's projects, on loopback, with its guards.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use crate::harness::Repo;

struct Server {
    child: Child,
    base: String,
    /// The token the address line carries, if any.
    token: Option<String>,
}

impl Server {
    fn start(repo: &Repo, extra: &[&str]) -> Server {
        let mut args = vec!["web", "--port", "0"];
        args.extend_from_slice(extra);
        let mut child = repo
            .command(&args)
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

    fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.get_with(path, &[])
    }

    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
        self.get_url(&format!("{}{path}", self.base), headers)
    }

    fn get_url(&self, url: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.get(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let mut response = request.call().expect("request");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        )
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

    let (status, missing) = server.get("/api/projects/nope");
    assert_eq!(status, 404);
    assert_eq!(missing["error"], "no such project");
    let (status, page) = server.get(&format!("/projects/{id}"));
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap_or("").contains("<!DOCTYPE html>"));
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
    let (status, _) = server.get("/api/projects");
    assert_eq!(status, 401);
    let (status, _) = server.get("/api/projects?token=s3cret");
    assert_eq!(status, 200);
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
