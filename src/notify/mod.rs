//! Notifications: a webhook (an HTTP POST of a JSON body) and/or a command (run with the JSON
//! body on stdin), told when a task is blocked, the run halts, a budget warns or stops, and when
//! the run finishes. Exactly one notification per event and channel. Delivery runs on a thread
//! of its own, off the run's critical path. A failed delivery is tried again with backoff a
//! bounded number of times, then written to `logs/notify.log`; it never blocks or fails the run.
//! The body's schema is versioned and documented in `docs/notify.md`; it carries no secrets.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::model::NotifySection;
use crate::report::Sink;
use crate::runner::event::{Event, RunEnd};

/// The body's schema version.
pub const VERSION: u32 = 1;
/// How long the end of a run waits for deliveries still under way.
const DRAIN: Duration = Duration::from_secs(30);

/// Where a notification goes and how.
#[derive(Debug, Clone)]
pub struct Channels {
    pub webhook_url: String,
    pub command: String,
    pub retries: u32,
    pub timeout: Duration,
    /// Where the command runs.
    pub cwd: PathBuf,
}

impl Channels {
    pub fn of(settings: &NotifySection, cwd: &Path) -> Option<Channels> {
        let any = !settings.webhook_url.trim().is_empty() || !settings.command.trim().is_empty();
        any.then(|| Channels {
            webhook_url: settings.webhook_url.trim().to_string(),
            command: settings.command.trim().to_string(),
            retries: settings.retries,
            timeout: Duration::from_secs(settings.timeout_seconds.max(1)),
            cwd: cwd.to_path_buf(),
        })
    }
}

/// A notification body: the event, when, the project, the dashboard, and the event's data.
pub fn body(
    event: &str,
    project: &str,
    path: &Path,
    log_dir: &Path,
    message: &str,
    data: Value,
) -> Value {
    let mut body = json!({
        "schema": "autodev-notification",
        "version": VERSION,
        "event": event,
        "time": crate::durable::utc_now(),
        "project": {"name": project, "path": path},
        "dashboard": log_dir.join(crate::config::log_files::DASHBOARD),
        "message": message,
    });
    if let (Value::Object(b), Value::Object(d)) = (&mut body, data) {
        b.extend(d);
    }
    body
}

fn webhook(url: &str, timeout: Duration, text: &str) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .build()
        .into();
    agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("autodev/", env!("CARGO_PKG_VERSION")))
        .send(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn command(line: &str, cwd: &Path, timeout: Duration, text: &str) -> Result<(), String> {
    let mut spec = crate::exec::Spec::new("sh", cwd);
    spec.args = vec!["-c".into(), line.into()];
    spec.stdin = crate::exec::Input::Bytes(text.as_bytes().to_vec());
    let limits = crate::exec::Limits {
        wall: Some(timeout),
        idle: None,
        grace: Duration::from_secs(2),
    };
    let outcome = crate::exec::run_blocking(
        &spec,
        &limits,
        &mut crate::exec::Tee::default(),
        &mut crate::exec::Ignore,
        &crate::exec::Cancel::default(),
    )
    .map_err(|e| e.to_string())?;
    if outcome.exit.success() && outcome.stopped.is_none() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            outcome.exit,
            crate::backend::last_line(&outcome.stderr.tail_lines(3))
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        ))
    }
}

/// Delivers `body` on every channel, each once, trying again with backoff; what failed.
pub fn deliver(channels: &Channels, body: &Value) -> Vec<String> {
    let text = body.to_string();
    let mut failures = Vec::new();
    let mut each = |name: &str, send: &dyn Fn() -> Result<(), String>| {
        let mut last = String::new();
        for attempt in 0..=channels.retries {
            match send() {
                Ok(()) => return,
                Err(e) => last = e,
            }
            if attempt < channels.retries {
                std::thread::sleep(Duration::from_secs(1 << attempt.min(5)));
            }
        }
        failures.push(format!(
            "{name}: {last} (after {} tries)",
            channels.retries + 1
        ));
    };
    if !channels.webhook_url.is_empty() {
        each("webhook", &|| {
            webhook(&channels.webhook_url, channels.timeout, &text)
        });
    }
    if !channels.command.is_empty() {
        each("command", &|| {
            command(&channels.command, &channels.cwd, channels.timeout, &text)
        });
    }
    failures
}

/// The sink: turns run events into notifications and hands them to the delivery thread.
pub struct NotifySink {
    events: Vec<String>,
    project: String,
    root: PathBuf,
    log_dir: PathBuf,
    queue: Option<mpsc::Sender<Value>>,
    done: Option<mpsc::Receiver<()>>,
}

impl NotifySink {
    /// A sink for `project` at `root`, delivering on `channels` the `events` named.
    pub fn new(
        channels: Channels,
        events: Vec<String>,
        project: String,
        root: PathBuf,
        log_dir: PathBuf,
    ) -> NotifySink {
        let (queue, inbox) = mpsc::channel::<Value>();
        let (finished, done) = mpsc::channel();
        let log = log_dir.join("notify.log");
        std::thread::spawn(move || {
            for body in inbox {
                let event = body["event"].as_str().unwrap_or("").to_string();
                let failures = deliver(&channels, &body);
                let line = if failures.is_empty() {
                    format!("[{}] delivered {event}\n", crate::durable::utc_now())
                } else {
                    format!(
                        "[{}] could not deliver {event}: {}\n",
                        crate::durable::utc_now(),
                        failures.join("; ")
                    )
                };
                let _ = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
            }
            let _ = finished.send(());
        });
        NotifySink {
            events,
            project,
            root,
            log_dir,
            queue: Some(queue),
            done: Some(done),
        }
    }

    fn send(&self, event: &str, message: &str, data: Value) {
        if !self.events.iter().any(|e| e == event) {
            return;
        }
        let body = body(
            event,
            &self.project,
            &self.root,
            &self.log_dir,
            message,
            data,
        );
        if let Some(queue) = &self.queue {
            let _ = queue.send(body);
        }
    }
}

impl Sink for NotifySink {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::TaskBlocked { task, reason, .. } => self.send(
                "task_blocked",
                &format!("{} blocked: {reason}", task.id),
                json!({"task": {"id": task.id, "title": task.title, "reason": reason}}),
            ),
            Event::BudgetWarning { message } => {
                self.send("budget_warning", message, json!({}));
            }
            Event::RunFinished {
                end,
                message,
                summary,
                ..
            } => {
                let summary = serde_json::to_value(summary).unwrap_or(Value::Null);
                match end {
                    RunEnd::EnvError => self.send("run_halted", message, json!({})),
                    RunEnd::Budget => self.send("budget_stopped", message, json!({})),
                    _ => {}
                }
                self.send(
                    "run_finished",
                    message,
                    json!({"end": end, "summary": summary}),
                );
            }
            _ => {}
        }
        Ok(())
    }
}

impl Drop for NotifySink {
    /// The run is over: deliveries still under way get a little time to finish.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(done) = self.done.take() {
            let _ = done.recv_timeout(DRAIN);
        }
    }
}
