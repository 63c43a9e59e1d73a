//! Notifications, against a webhook listening on loopback and a command.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::Repo;

/// A webhook on 127.0.0.1 that fails its first `fail_first` requests with 500 and records the
/// bodies it accepts. It stops by itself after a minute.
struct Hook {
    url: String,
    accepted: Arc<Mutex<Vec<serde_json::Value>>>,
    tries: Arc<Mutex<u32>>,
}

impl Hook {
    fn start(fail_first: u32) -> Hook {
        Hook::at(0, fail_first)
    }

    /// The same, on `port` (0: any free port).
    fn at(port: u16, fail_first: u32) -> Hook {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let tries = Arc::new(Mutex::new(0));
        let (keep, count) = (accepted.clone(), tries.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                stream.set_nonblocking(false).expect("blocking");
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let n = {
                    let mut t = count.lock().unwrap();
                    *t += 1;
                    *t
                };
                let status = if n <= fail_first {
                    "500 Internal Server Error"
                } else {
                    keep.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap_or_default());
                    "200 OK"
                };
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Hook {
            url,
            accepted,
            tries,
        }
    }

    fn events(&self) -> Vec<String> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["event"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

const TWO: &str = r#"{"tasks": [
  {"id": "T1", "title": "One", "verification": {"path_patterns": ["one.txt"]}},
  {"id": "T2", "title": "Two", "verification": {"path_patterns": ["two.txt"], "validate_commands": ["false"]}}
]}"#;

fn repo(toml: &str) -> Repo {
    let repo = Repo::new(TWO, &format!("[reflection]\nenabled = false\n{toml}"));
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(1, "write one.txt one\ncat codex-exec-json-success.jsonl\n");
    repo.script(2, "write two.txt two\ncat codex-exec-json-success.jsonl\n");
    repo
}

#[test]
fn one_blocked_and_one_finished_notification_even_when_the_first_try_fails() {
    let hook = Hook::start(1);
    let repo = repo(&format!("[notify]\nwebhook_url = \"{}\"\n", hook.url));
    let run = repo
        .command(&["run", "--max-retries", "1"])
        .env("OPENAI_API_KEY", "sk-very-secret")
        .output()
        .expect("run");
    assert_eq!(
        run.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The run waits for deliveries still under way before it exits.
    let mut events = hook.events();
    events.sort();
    assert_eq!(
        events,
        ["run_finished", "task_blocked"],
        "exactly one of each"
    );
    assert_eq!(
        *hook.tries.lock().unwrap(),
        3,
        "the failed first try was tried again, once"
    );
    let bodies = hook.accepted.lock().unwrap().clone();
    let blocked = bodies
        .iter()
        .find(|b| b["event"] == "task_blocked")
        .expect("blocked");
    assert_eq!(blocked["schema"], "autodev-notification");
    assert_eq!(blocked["version"], 1);
    assert_eq!(blocked["project"]["name"], "demo");
    assert_eq!(blocked["task"]["id"], "T2");
    assert!(
        blocked["dashboard"]
            .as_str()
            .unwrap_or("")
            .ends_with("logs/dashboard.html")
    );
    let finished = bodies
        .iter()
        .find(|b| b["event"] == "run_finished")
        .expect("finished");
    assert_eq!(finished["end"], "blocked");
    assert_eq!(finished["summary"]["completed"], 1);
    assert_eq!(finished["summary"]["blocked_tasks"][0]["id"], "T2");
    for body in &bodies {
        assert!(
            !body.to_string().contains("sk-very-secret"),
            "no secret in a body"
        );
    }
    let log = repo.read("logs/notify.log");
    assert_eq!(log.matches("delivered").count(), 2, "{log}");
}

#[test]
fn a_command_gets_each_body_on_stdin_and_events_filter() {
    let repo = repo("");
    let out = repo.state.join("notes.jsonl");
    repo.write(
        "autodev.toml",
        &format!(
            "[project]\nname = \"demo\"\n[run]\ndelay_between_tasks = 0\n[reflection]\nenabled = false\n\
             [notify]\ncommand = \"cat >> '{}'; echo >> '{}'\"\nevents = [\"run_finished\"]\n",
            out.display(),
            out.display()
        ),
    );
    let run = repo.run(&["run", "--max-retries", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(lines.len(), 1, "only the events asked for");
    assert_eq!(lines[0]["event"], "run_finished");
}

#[test]
fn a_failing_webhook_never_fails_the_run_and_is_logged() {
    // Nothing listens on this port (the listener is dropped at once).
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let repo = repo(&format!(
        "[notify]\nwebhook_url = \"http://127.0.0.1:{port}/hook\"\nretries = 1\ntimeout_seconds = 2\n"
    ));
    let run = repo.run(&["run", "--max-retries", "1"]);
    assert_eq!(run.code, 2, "the run's own exit code: {}", run.stderr);
    let log = repo.read("logs/notify.log");
    assert!(
        log.contains("could not deliver task_blocked (") && log.contains("): webhook:"),
        "{log}"
    );
    assert!(log.contains("(after 2 tries)"), "{log}");
}

#[test]
fn notify_test_sends_a_sample_and_says_how_it_went() {
    let hook = Hook::start(0);
    let repo = repo(&format!("[notify]\nwebhook_url = \"{}\"\n", hook.url));
    let ok = repo.run(&["notify", "test"]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("webhook: delivered to"), "{}", ok.stdout);
    assert_eq!(hook.events(), ["test"]);
    let none = Repo::new(TWO, "").run(&["notify", "test"]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr
            .contains("no notification channel is configured"),
        "{}",
        none.stderr
    );
}

#[test]
fn a_budget_warning_and_stop_are_notified_once_each() {
    let repo = repo("");
    let out = repo.state.join("notes.jsonl");
    repo.write(
        "autodev.toml",
        &format!(
            "[project]\nname = \"demo\"\n[run]\ndelay_between_tasks = 0\n[reflection]\nenabled = false\n\
             [pricing]\ninput_per_million = 1000\noutput_per_million = 1000\n\
             [notify]\ncommand = \"cat >> '{}'; echo >> '{}'\"\n",
            out.display(),
            out.display()
        ),
    );
    // $20.75 a call: 83% of $25 after the first, and the second would pass it.
    let run = repo.run(&["run", "--max-cost", "25"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let events: Vec<String> = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|b| b["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(events, ["budget_warning", "budget_stopped", "run_finished"]);
}

/// A webhook on 127.0.0.1 that accepts connections and never answers (for a minute).
fn hung_hook() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    url
}

/// The deliveries waiting in the outbox: (file name, body).
fn outbox(repo: &Repo) -> Vec<(String, serde_json::Value)> {
    let Ok(entries) = std::fs::read_dir(repo.path().join("logs/notify-outbox")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).expect("outbox file");
            let pending: serde_json::Value = serde_json::from_str(&text).expect("json");
            (
                e.file_name().to_string_lossy().into_owned(),
                pending["body"].clone(),
            )
        })
        .collect()
}

fn point_at(repo: &Repo, url: &str) {
    repo.write(
        "autodev.toml",
        &format!(
            "[project]\nname = \"demo\"\n[run]\ndelay_between_tasks = 0\n[reflection]\nenabled = false\n\
             [notify]\nwebhook_url = \"{url}\"\n"
        ),
    );
}

#[test]
fn a_hung_webhook_holds_the_run_no_longer_than_its_timeout_and_loses_nothing() {
    let repo = repo(&format!(
        "[notify]\nwebhook_url = \"{}\"\nretries = 0\ntimeout_seconds = 2\n",
        hung_hook()
    ));
    let started = Instant::now();
    let run = repo.run(&["run", "--max-retries", "1"]);
    let took = started.elapsed();
    assert_eq!(run.code, 2, "{}", run.stderr);
    // A hang guard, not a speed figure: each delivery is bounded by its 2 s and the end of the
    // run waits at most that long (the old drain waited 30 s and then dropped what was left).
    assert!(took < Duration::from_secs(20), "the run took {took:?}");
    // Each event either failed for good within the run (its one try timed out) or was still
    // under way when the run's 2 s were up, and is kept for the next run; which one depends on
    // how the timeouts fall.
    let log = repo.read("logs/notify.log");
    let left = outbox(&repo);
    let mut ids = Vec::new();
    for event in ["task_blocked", "run_finished"] {
        let failed = log.contains(&format!("could not deliver {event} ("));
        let kept: Vec<_> = left.iter().filter(|(_, b)| b["event"] == event).collect();
        assert_eq!(
            usize::from(failed) + kept.len(),
            1,
            "{event}: logged as failed, or kept for the next run:\n{log}\n{left:?}"
        );
        ids.extend(kept.iter().map(|(_, b)| b["id"].clone()));
    }
    assert_eq!(
        log.contains("the next run sends them"),
        !left.is_empty(),
        "what is kept is said to be kept: {log}"
    );
    // The next run, with an endpoint that answers, sends what was left, under the same ids.
    let hook = Hook::start(0);
    point_at(&repo, &hook.url);
    let again = repo.run(&["run"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let got: Vec<serde_json::Value> = hook.accepted.lock().unwrap().clone();
    for id in &ids {
        assert_eq!(
            got.iter().filter(|b| &b["id"] == id).count(),
            1,
            "{id} sent once by the next run: {got:?}"
        );
    }
    assert!(outbox(&repo).is_empty(), "the outbox is empty once sent");
}

#[test]
fn a_delivery_in_backoff_survives_kill_9_and_the_next_run_sends_it_once() {
    let three = r#"{"tasks": [
  {"id": "T1", "title": "One", "verification": {"path_patterns": ["one.txt"]}},
  {"id": "T2", "title": "Two", "verification": {"path_patterns": ["two.txt"], "validate_commands": ["false"]}},
  {"id": "T3", "title": "Three", "verification": {"path_patterns": ["three.txt"]}}
]}"#;
    // Nothing listens on this port: every try fails, and waits longer before the next.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let repo = Repo::new(
        three,
        &format!(
            "[reflection]\nenabled = false\n[notify]\nwebhook_url = \"http://127.0.0.1:{port}/hook\"\nretries = 6\n"
        ),
    );
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(1, "write one.txt one\ncat codex-exec-json-success.jsonl\n");
    repo.script(2, "write two.txt two\ncat codex-exec-json-success.jsonl\n");
    repo.script(
        3,
        "write three.txt three\nsh touch \"$FAKE_AGENT_DIR/working\"\nhang\n",
    );
    repo.script(
        4,
        "write three.txt three\ncat codex-exec-json-success.jsonl\n",
    );
    let mut child = repo
        .command(&["run", "--max-retries", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run");
    crate::recovery::wait_for(&repo.state.join("working"));
    let waiting = outbox(&repo);
    assert_eq!(
        waiting.len(),
        1,
        "task_blocked waits in the outbox: {waiting:?}"
    );
    let body = waiting[0].1.clone();
    assert_eq!(body["event"], "task_blocked");
    let id = body["id"].as_str().expect("an id").to_string();
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // Now the endpoint answers (on the same port: the configuration stays as it was).
    let hook = Hook::at(port, 0);
    let run = repo.run(&["run", "--max-retries", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.task("T3")["passes"], true);
    let got = hook.accepted.lock().unwrap().clone();
    let resent: Vec<_> = got.iter().filter(|b| b["id"] == id.as_str()).collect();
    assert_eq!(resent.len(), 1, "sent once, under its id: {got:?}");
    assert_eq!(resent[0]["task"]["id"], "T2");
    let finished: Vec<_> = got
        .iter()
        .filter(|b| b["event"] == "run_finished")
        .collect();
    assert_eq!(finished.len(), 1, "{got:?}");
    assert_ne!(
        finished[0]["id"], resent[0]["id"],
        "each notification has its own id"
    );
    assert!(outbox(&repo).is_empty());
    assert!(
        repo.read("logs/notify.log")
            .contains(&format!("delivered task_blocked ({id})")),
        "{}",
        repo.read("logs/notify.log")
    );
}
