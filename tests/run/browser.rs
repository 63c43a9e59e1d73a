//! `autodev web` in a real headless Chromium, driven over the DevTools protocol: the page shows
//! the project and its tasks, follows a real run without a reload, shows a hostile title as
//! text without running it, and reads at phone width (a screenshot is kept as an artifact).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::WebSocket;
use tungstenite::stream::MaybeTlsStream;

use crate::harness::Repo;
use crate::web::Server;

/// One headless Chromium with one page, spoken to over its DevTools WebSocket.
struct Browser {
    child: Child,
    page: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Protocol events seen so far (method, params).
    events: Vec<(String, Value)>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium must be installed (.ci/run installs Debian's chromium)");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let browser_ws = loop {
            let line = lines
                .next()
                .expect("chromium ended before it listened")
                .expect("stderr");
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                break url.trim().to_string();
            }
        };
        // Keep reading chromium's chatter so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let http = browser_ws
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .expect("host:port")
            .to_string();
        let page_ws = {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let body = ureq::get(format!("http://{http}/json/list"))
                    .call()
                    .expect("targets")
                    .body_mut()
                    .read_to_string()
                    .expect("targets' text");
                let targets: Value = serde_json::from_str(&body).expect("targets' json");
                let page = targets
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_string));
                if let Some(url) = page {
                    break url;
                }
                assert!(Instant::now() < deadline, "no page target: {targets}");
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        let (page, _) = tungstenite::connect(page_ws.as_str()).expect("the page's socket");
        let mut browser = Browser {
            child,
            page,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        };
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser
    }

    /// Sends one command and waits for its answer, keeping the events that come meanwhile.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.page
            .send(tungstenite::Message::text(message))
            .expect("send");
        loop {
            let message = self.page.read().expect("read");
            let Ok(text) = message.to_text() else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if value["id"].as_u64() == Some(id) {
                assert!(value["error"].is_null(), "{method}: {value}");
                return value["result"].clone();
            }
            if let Some(event) = value["method"].as_str() {
                if event == "Page.javascriptDialogOpening" {
                    // Never leave the page blocked on a dialog; the test sees the event.
                    let dismiss = json!({"id": 0, "method": "Page.handleJavaScriptDialog",
                        "params": {"accept": false}});
                    let _ = self
                        .page
                        .send(tungstenite::Message::text(dismiss.to_string()));
                }
                self.events
                    .push((event.to_string(), value["params"].clone()));
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        result["result"]["value"].clone()
    }

    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for("document.readyState === 'complete'", "the page to load");
    }

    /// Polls an expression until it is true (10 s), and says what it waited for if never.
    fn wait_for(&mut self, expression: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.eval(expression) != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "waited 15 s for {what}; the page says: {}",
                self.eval("document.body ? document.body.innerText : ''")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn dialogs(&self) -> usize {
        self.events
            .iter()
            .filter(|(m, _)| m == "Page.javascriptDialogOpening")
            .count()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of task `id`'s row in the page's queue table.
fn row(id: &str) -> String {
    format!(
        "(Array.from(document.querySelectorAll('tr')).find(r => r.cells[0] && r.cells[0].textContent === '{id}') || {{textContent: ''}}).textContent"
    )
}

#[test]
fn the_page_follows_a_real_run_without_a_reload_and_shows_a_hostile_title_as_text() {
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let tasks = json!({"tasks": [
        {"id": "T1", "title": hostile, "verification": {"path_patterns": ["one.txt"]}},
        {"id": "T2", "title": "Write two", "verification": {"path_patterns": ["two.txt"]}},
    ]});
    let repo = Repo::new(&tasks.to_string(), "");
    repo.sample("codex-exec-json-success.jsonl");
    repo.script(1, "write one.txt one\ncat codex-exec-json-success.jsonl\n");
    repo.script(
        2,
        "sleep 5\nwrite two.txt two\ncat codex-exec-json-success.jsonl\n",
    );
    let mut browser = Browser::launch();
    let server = Server::start(&repo, &[]);
    let mut run = repo.spawn(&["run"]);
    repo.wait_for_calls(2);
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"]
        .as_str()
        .expect("the running project is listed")
        .to_string();

    // The project list names the project and links to its page (the printed address, with
    // its token, sets the cookie the page then goes on with).
    browser.open(&server.entry());
    assert_eq!(
        browser.eval(&format!(
            "!!document.querySelector('a[href=\"/projects/{id}\"]')"
        )),
        Value::Bool(true),
        "{}",
        browser.eval("document.body.innerHTML")
    );

    // The project page, while T2's agent works.
    browser.open(&format!("{}/projects/{id}", server.base));
    browser.eval("window.__not_reloaded = true");
    let t1 = browser.eval(&row("T1"));
    assert!(
        t1.as_str().unwrap_or("").contains(hostile),
        "the hostile title shows as text: {t1}"
    );
    assert!(
        !browser
            .eval(&row("T2"))
            .as_str()
            .unwrap_or("")
            .contains("COMPLETED"),
        "T2 is still being worked on"
    );

    // The run finishes T2; the page shows it without a reload.
    browser.wait_for(
        &format!("{}.includes('COMPLETED')", row("T2")),
        "T2 to show as completed",
    );
    assert_eq!(
        browser.eval("window.__not_reloaded === true"),
        Value::Bool(true)
    );
    assert_eq!(
        browser.eval("document.documentElement.getAttribute('data-live')"),
        "stream"
    );
    assert_eq!(run.wait().expect("the run").code(), Some(0));

    // Nothing the title carried ran: no dialog, no element made from it.
    assert_eq!(browser.dialogs(), 0, "{:?}", browser.events);
    assert_eq!(
        browser.eval("document.querySelectorAll('img[src=x]').length"),
        0
    );

    // A task's details: its attempts, the agent's last message, its commit and files; the log.
    browser.eval(
        "Array.from(document.querySelectorAll('main tr')).find(r => r.cells[0].textContent === 'T1').click()",
    );
    browser.wait_for(
        "document.getElementById('detail').innerText.includes('one.txt')",
        "T1's commit and its files",
    );
    let detail = browser.eval("document.getElementById('detail').innerText");
    let detail = detail.as_str().unwrap_or("");
    assert!(detail.contains("Attempt 1"), "{detail}");
    assert!(
        detail.contains(hostile),
        "the title is text here too: {detail}"
    );
    assert!(detail.contains("Commit "), "{detail}");
    browser.wait_for(
        "document.getElementById('log').textContent.length > 0",
        "the log tail",
    );
    assert_eq!(browser.dialogs(), 0, "{:?}", browser.events);

    // At phone width the page fits; the screenshot is kept for a person to look at.
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": true}),
    );
    browser.open(&format!("{}/projects/{id}", server.base));
    browser.eval(
        "Array.from(document.querySelectorAll('main tr')).find(r => r.cells[0].textContent === 'T1').click()",
    );
    browser.wait_for(
        "document.getElementById('detail').innerText.includes('one.txt')",
        "T1's details at phone width",
    );
    assert_eq!(
        browser.eval("document.documentElement.scrollWidth <= 375"),
        Value::Bool(true),
        "no sideways scrolling at 375 px: {}",
        browser.eval("document.documentElement.scrollWidth")
    );
    let shot = browser.call(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true}),
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().expect("png data"))
        .expect("base64");
    assert!(png.starts_with(b"\x89PNG"));
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-project-375px.png");
    std::fs::write(&artifact, &png).expect("artifact");
    eprintln!("phone-width screenshot: {}", artifact.display());
}

#[test]
fn attempts_say_what_became_of_them_in_which_run_and_when_and_times_read_as_people_say_them() {
    let tasks = json!({"tasks": [{"id": "T1", "title": "Say two",
        "verification": {"path_patterns": ["hello.txt"], "validate_commands": ["grep -q two hello.txt"]}}]});
    let repo = Repo::new(&tasks.to_string(), "[reflection]\nenabled = false\n");
    repo.sample("codex-exec-json-success.jsonl");
    // The first night's only attempt fails its check (the agent itself ends its turn fine).
    repo.script(
        1,
        "write hello.txt one\ncat codex-exec-json-success.jsonl\n",
    );
    repo.script(
        2,
        "write hello.txt two\ncat codex-exec-json-success.jsonl\n",
    );
    assert_eq!(repo.run(&["run", "--max-retries", "1"]).code, 2);
    assert_eq!(repo.run(&["task", "retry"]).code, 0);
    assert_eq!(repo.run(&["run"]).code, 0);
    let mut browser = Browser::launch();
    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"]
        .as_str()
        .expect("listed")
        .to_string();

    // The list: a finished project offers no run, and says what is left to do.
    browser.open(&server.entry());
    let text = browser.eval("document.getElementById('projects').innerText");
    let text = text.as_str().unwrap_or("");
    assert!(text.contains("Nothing left to do"), "{text}");
    assert!(!text.contains("Start a detached run"), "{text}");
    assert_eq!(
        browser.eval("document.querySelector('.project time').textContent"),
        "just now"
    );

    browser.open(&format!("{}/projects/{id}", server.base));
    browser.wait_for(
        "Array.from(document.querySelectorAll('main time')).some(t => t.textContent === 'just now' && t.title.length > 0)",
        "times in words, the exact time on hover",
    );
    browser.eval(
        "Array.from(document.querySelectorAll('main tr')).find(r => r.cells[0].textContent === 'T1').click()",
    );
    browser.wait_for(
        "document.getElementById('detail').innerText.includes('Attempt 1')",
        "T1's attempts",
    );
    let detail = browser.eval("document.getElementById('detail').innerText");
    let detail = detail.as_str().unwrap_or("");
    assert!(detail.contains("Attempt 1 · failed"), "{detail}");
    assert!(
        !detail.contains("· ok"),
        "the agent's own ok is no attempt outcome: {detail}"
    );
    assert!(
        detail.contains("run of just now · ended just now"),
        "{detail}"
    );
}

#[test]
fn the_page_shows_a_task_from_its_first_event_and_the_list_badges_blocked_work() {
    let tasks = json!({"tasks": [
        {"id": "T1", "title": "Slow one", "verification": {"path_patterns": ["one.txt"]}},
        {"id": "T2", "title": "Stuck", "blocked": true, "block_reason": "needs a token"},
    ]});
    let repo = Repo::new(&tasks.to_string(), "");
    repo.script(
        1,
        "write one.txt one\nsh touch \"$FAKE_AGENT_DIR/working\"\nsleep 30\n",
    );
    let mut browser = Browser::launch();
    let server = Server::start(&repo, &[]);
    let mut run = repo.spawn(&["run"]);
    crate::recovery::wait_for(&repo.state.join("working"));
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"]
        .as_str()
        .expect("listed")
        .to_string();
    browser.open(&server.entry());
    // Well before the first heartbeat (20 s), the page names the task being worked.
    let started = Instant::now();
    browser.open(&format!("{}/projects/{id}", server.base));
    browser.wait_for(
        "document.querySelector('main').innerText.includes('Now: T1')",
        "the current task on the page",
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Killed: the run never writes its end, and its status file still says "running".
    let _ = run.kill();
    let _ = run.wait();
    // The run is over; a task is blocked: the list's badge says blocked, not how the run ended.
    browser.open(&server.entry());
    assert_eq!(
        browser.eval("document.querySelector('.project .badge').textContent"),
        "blocked"
    );
}
