//! Notifications: a webhook (an HTTP POST of a JSON body) and/or a command (run with the JSON
//! body on stdin), told when a task is blocked, the run halts, a budget warns or stops, and when
//! the run finishes. The body's schema is versioned and documented in `docs/notify.md`; it
//! carries a stable `id` to de-duplicate on, and no secrets.
//!
//! Each delivery (one notification on one channel) is first written to the outbox,
//! `logs/notify-outbox/`, then made by that channel's thread, in order, off the run's critical
//! path. A failed try is made again with backoff a bounded number of times. A delivery leaves the
//! outbox once it is made or has failed for good, with a line in `logs/notify.log` either way.
//! The end of a run waits for deliveries under way no longer than one delivery's time limit;
//! what a run left in the outbox (killed, or ended before an endpoint answered) is sent first by
//! the next run.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::model::NotifySection;
use crate::journal::event::{Event, RunEnd};
use crate::journal::{Sink, Stamped};

/// The body's schema version.
pub const VERSION: u32 = 1;
/// The folder, in the log directory, of deliveries not made yet.
const OUTBOX: &str = "notify-outbox";

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

/// One way a notification goes out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Webhook,
    Command,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Command => "command",
        }
    }
}

impl Channels {
    /// The channels configured, in order.
    fn list(&self) -> Vec<Channel> {
        let mut list = Vec::new();
        if !self.webhook_url.is_empty() {
            list.push(Channel::Webhook);
        }
        if !self.command.is_empty() {
            list.push(Channel::Command);
        }
        list
    }

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

/// A notification body: its id, the event, when, the project, the dashboard, and the event's
/// data.
pub fn body(
    id: &str,
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
        "id": id,
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

fn webhook(url: &str, timeout: Duration, text: &str, id: &str) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .build()
        .into();
    agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("autodev/", env!("CARGO_PKG_VERSION")))
        .header("Idempotency-Key", id)
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

/// Delivers `body` on `channel`, trying again with backoff; why it failed for good.
fn deliver_on(channels: &Channels, channel: Channel, body: &Value) -> Result<(), String> {
    let text = body.to_string();
    let id = body["id"].as_str().unwrap_or_default();
    let mut last = String::new();
    for attempt in 0..=channels.retries {
        let sent = match channel {
            Channel::Webhook => webhook(&channels.webhook_url, channels.timeout, &text, id),
            Channel::Command => command(&channels.command, &channels.cwd, channels.timeout, &text),
        };
        match sent {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        if attempt < channels.retries {
            std::thread::sleep(Duration::from_secs(1 << attempt.min(5)));
        }
    }
    Err(format!(
        "{}: {last} (after {} tries)",
        channel.name(),
        channels.retries + 1
    ))
}

/// Delivers `body` on every channel, each once, trying again with backoff; what failed.
pub fn deliver(channels: &Channels, body: &Value) -> Vec<String> {
    channels
        .list()
        .into_iter()
        .filter_map(|channel| deliver_on(channels, channel, body).err())
        .collect()
}

/// A delivery waiting in the outbox: what is written there.
#[derive(Serialize, Deserialize)]
struct Pending {
    channel: Channel,
    body: Value,
}

/// One delivery for a channel's thread: its outbox file (if it could be written) and body.
struct Job {
    file: Option<PathBuf>,
    body: Value,
}

/// The sink: turns run events into notifications and delivers them through the outbox.
pub struct NotifySink {
    channels: Arc<Channels>,
    events: Vec<String>,
    project: String,
    root: PathBuf,
    log_dir: PathBuf,
    /// The run's id: each notification's `id` is it and a count.
    run_id: String,
    sent: u64,
    /// Each configured channel's queue, served in order by a thread of its own.
    queues: Vec<(Channel, mpsc::Sender<Job>)>,
    /// Deliveries queued and not yet told finished.
    under_way: usize,
    told: mpsc::Receiver<()>,
}

/// Serves one channel's queue, in order, until it closes; tells `finished` after each job.
fn serve(
    channels: Arc<Channels>,
    channel: Channel,
    inbox: mpsc::Receiver<Job>,
    finished: mpsc::Sender<()>,
    log_dir: PathBuf,
) {
    for job in inbox {
        let event = job.body["event"].as_str().unwrap_or_default();
        let id = job.body["id"].as_str().unwrap_or_default();
        let line = match deliver_on(&channels, channel, &job.body) {
            Ok(()) => format!("delivered {event} ({id}) by {}", channel.name()),
            Err(why) => format!("could not deliver {event} ({id}): {why}"),
        };
        log(&log_dir, &line);
        if let Some(file) = job.file {
            let _ = std::fs::remove_file(file);
        }
        let _ = finished.send(());
    }
}

impl NotifySink {
    /// A sink for `project` at `root`, delivering on `channels` the `events` named; the run's
    /// id makes each notification's. What earlier runs left in the outbox is sent first.
    pub fn new(
        channels: Channels,
        events: Vec<String>,
        project: String,
        root: PathBuf,
        log_dir: PathBuf,
        run_id: String,
    ) -> NotifySink {
        let channels = Arc::new(channels);
        let (finished, told) = mpsc::channel();
        let queues = channels
            .list()
            .into_iter()
            .map(|channel| {
                let (queue, inbox) = mpsc::channel::<Job>();
                let (channels, finished, log_dir) =
                    (Arc::clone(&channels), finished.clone(), log_dir.clone());
                std::thread::spawn(move || serve(channels, channel, inbox, finished, log_dir));
                (channel, queue)
            })
            .collect();
        let mut sink = NotifySink {
            channels,
            events,
            project,
            root,
            log_dir,
            run_id,
            sent: 0,
            queues,
            under_way: 0,
            told,
        };
        sink.send_leftovers();
        sink
    }

    fn outbox(&self) -> PathBuf {
        self.log_dir.join(OUTBOX)
    }

    /// Queues the deliveries an earlier run left in the outbox, oldest first.
    fn send_leftovers(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.outbox()) else {
            return;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let pending = crate::durable::read_regular(&file, 16 << 20)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Pending>(&bytes).ok());
            let why = match pending {
                None => "not a delivery autodev can read".to_string(),
                Some(Pending { channel, body }) => {
                    if self.queue(channel, Some(file.clone()), body) {
                        continue;
                    }
                    format!("its channel, {}, is no longer configured", channel.name())
                }
            };
            log(&self.log_dir, &format!("dropped {}: {why}", file.display()));
            let _ = std::fs::remove_file(&file);
        }
    }

    /// Hands one delivery to its channel's thread; false when the channel is not configured.
    fn queue(&mut self, channel: Channel, file: Option<PathBuf>, body: Value) -> bool {
        let Some((_, queue)) = self.queues.iter().find(|(c, _)| *c == channel) else {
            return false;
        };
        if queue.send(Job { file, body }).is_ok() {
            self.under_way += 1;
        }
        true
    }

    fn send(&mut self, event: &str, message: &str, data: Value) {
        if !self.events.iter().any(|e| e == event) {
            return;
        }
        self.sent += 1;
        let body = body(
            &format!("{}-{}", self.run_id, self.sent),
            event,
            &self.project,
            &self.root,
            &self.log_dir,
            message,
            data,
        );
        for channel in self.channels.list() {
            let pending = Pending {
                channel,
                body: body.clone(),
            };
            let file = self.outbox().join(format!(
                "{}-{:04}.{}.json",
                self.run_id,
                self.sent,
                channel.name()
            ));
            // Written (and synced) before the delivery starts: a kill from here on leaves it
            // for the next run. Should the write fail, the delivery is still made.
            let kept = serde_json::to_vec(&pending)
                .map_err(std::io::Error::other)
                .and_then(|bytes| {
                    std::fs::create_dir_all(self.outbox())?;
                    crate::durable::write_atomic(&file, &bytes)
                });
            self.queue(channel, kept.is_ok().then_some(file), pending.body);
        }
    }
}

/// Adds a line to `logs/notify.log`.
fn log(log_dir: &Path, text: &str) {
    let line = format!("[{}] {text}\n", crate::durable::utc_now());
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join("notify.log"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
}

impl Sink for NotifySink {
    fn stamped(&mut self, stamped: Stamped<'_>) -> std::io::Result<()> {
        let event = stamped.event;
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
    /// The run is over: deliveries under way get up to one delivery's time limit to finish;
    /// what is still under way then stays in the outbox for the next run.
    fn drop(&mut self) {
        // Closing the queues lets each channel's thread end once its queue is served.
        self.queues.clear();
        let deadline = Instant::now() + self.channels.timeout;
        while self.under_way > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.told.recv_timeout(left).is_err() {
                break;
            }
            self.under_way -= 1;
        }
        if self.under_way > 0 {
            log(
                &self.log_dir,
                &format!(
                    "{} deliveries still under way when the run ended; they stay in {} and \
                     the next run sends them",
                    self.under_way,
                    self.outbox().display()
                ),
            );
        }
    }
}
