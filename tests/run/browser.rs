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

/// Serves `page` as HTML to every request on a port of its own (another origin than the
/// dashboard's), until the test ends.
fn serve_elsewhere(page: String) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            // One thread a connection: a browser opens some it never sends on.
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = std::io::Read::read(&mut stream, &mut request);
                let _ = std::io::Write::write_all(&mut stream, answer.as_bytes());
            });
        }
    });
    port
}

/// The frames under the page's main frame: (url, unreachable url).
fn child_frames(browser: &mut Browser) -> Vec<(String, String)> {
    let tree = browser.call("Page.getFrameTree", json!({}));
    tree["frameTree"]["childFrames"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["frame"]["url"].as_str().unwrap_or_default().to_string(),
                f["frame"]["unreachableUrl"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn another_site_cannot_frame_the_dashboard_and_a_repositorys_own_page_never_runs() {
    let repo = Repo::new(
        r#"{"tasks": [{"id": "T1", "title": "One", "verification": {"path_patterns": ["one.txt"]}}]}"#,
        "",
    );
    repo.script(0, "write one.txt one\n");
    assert_eq!(repo.run(&["run"]).code, 0);
    // What a cloned repository (or an agent) could leave where the dashboard used to be read.
    std::fs::write(
        repo.path().join("logs/dashboard.html"),
        "<title>planted</title><script>alert('planted'); document.title = 'owned';</script>\
         <p id=planted>planted page</p>",
    )
    .expect("plant");
    let mut browser = Browser::launch();
    let server = Server::start(&repo, &[]);
    let (_, list) = server.get("/api/projects");
    let id = list["projects"][0]["id"].as_str().expect("id").to_string();
    // The person with the token has the cookie: a frame would load their dashboard if allowed.
    browser.open(&server.entry());
    browser.open(&format!("{}/projects/{id}", server.base));
    browser.wait_for(
        "document.querySelector('main').innerText.includes('T1')",
        "the project's page",
    );
    assert_ne!(browser.eval("document.title"), "owned");
    assert_eq!(
        browser.eval("document.getElementById('planted') === null"),
        true
    );
    assert_eq!(browser.dialogs(), 0, "the planted script never ran");

    // A page of another origin (another port of the same host, so the browser even sends the
    // cookie along) frames the list and the project page, beside a frame of a third origin
    // that allows it (which loads: frames work here).
    let own = "<p id=mine>mine</p>".to_string();
    let own_port = serve_elsewhere(own);
    let hostile = format!(
        "<iframe src=\"{base}/\"></iframe><iframe src=\"{base}/projects/{id}\"></iframe>\
         <iframe src=\"http://127.0.0.1:{own_port}/\"></iframe>",
        base = server.base
    );
    let port = serve_elsewhere(hostile);
    browser.open(&format!("http://127.0.0.1:{port}/"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let frames = loop {
        let frames = child_frames(&mut browser);
        if frames.len() == 3 && frames.iter().all(|(u, r)| !u.is_empty() || !r.is_empty()) {
            break frames;
        }
        assert!(Instant::now() < deadline, "frames: {frames:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for (url, unreachable) in &frames[..2] {
        assert!(
            url.starts_with("chrome-error://") && unreachable.starts_with(&server.base),
            "the dashboard was framed: {url} {unreachable}"
        );
    }
    assert_eq!(frames[2].0, format!("http://127.0.0.1:{own_port}/"));
    assert_eq!(browser.dialogs(), 0);
}
