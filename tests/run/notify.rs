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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
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
        log.contains("could not deliver task_blocked: webhook:"),
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
