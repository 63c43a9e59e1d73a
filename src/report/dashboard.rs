//! `logs/dashboard.html`: the run at a glance, in one self-contained page (no external assets,
//! readable from `file://` and at 375 px wide), rewritten atomically by the status writer
//! whenever the run state changes. It shows the run, the current task and its completion
//! contract, the queue with its block reasons, recent events, and for an experiment the
//! baseline, best and last values with an inline chart of every measurement. Everything that
//! came from a model, a task file or a person goes through askama's HTML escaping.

use askama::Template;

use super::runtime_status::Snapshot;
use crate::experiment::{Action, Outcome, Record};

/// Measurements kept for the chart.
pub const CHART_POINTS: usize = 200;
/// The most entries of an experiment's ideas backlog the page lists.
pub const TRIED_SHOWN: usize = 8;

struct Current {
    id: String,
    title: String,
    attempt: String,
    elapsed: String,
    contract: String,
}

/// One worker of a run of several, and the task it has in hand.
struct WorkerRow {
    worker: u32,
    id: String,
    title: String,
    attempt: String,
    state: String,
    class: String,
    message: String,
    branch: String,
}

struct Row {
    id: String,
    title: String,
    state: String,
    class: &'static str,
    reason: String,
}

struct EventRow {
    time: String,
    time_iso: String,
    label: String,
    class: String,
    task: String,
    message: String,
}

struct Point {
    x: String,
    y: String,
    kind: &'static str,
    iteration: u32,
    value: String,
}

struct Lab {
    task: String,
    metric: String,
    baseline: String,
    best: String,
    last: String,
    kept: u32,
    discarded: u32,
    /// Its stage (`explore`, `refine`, `pivot`; `-` before one is told).
    stage: String,
    /// The newest entries of its ideas backlog, a line each.
    tried: Vec<String>,
    width: u32,
    height: u32,
    /// The value axis: the highest and lowest measurement, and where they are drawn.
    axis_top: String,
    axis_bottom: String,
    axis_top_y: String,
    axis_bottom_y: String,
    /// Under the right end of the time axis: how many measurements there are.
    axis_last: String,
    line: String,
    points: Vec<Point>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Page {
    project: String,
    live: bool,
    status_label: String,
    status_class: String,
    message: String,
    backend: String,
    epoch: String,
    started: String,
    started_iso: String,
    elapsed: String,
    updated: String,
    updated_iso: String,
    tokens: String,
    cost: String,
    completed: usize,
    blocked: usize,
    pending: usize,
    current: Option<Current>,
    /// Every worker at work, when the run has more than one.
    workers: Vec<WorkerRow>,
    experiment: Option<Lab>,
    tasks: Vec<Row>,
    events: Vec<EventRow>,
}

fn clip(text: &str, n: usize) -> String {
    crate::backend::clip(&text.split_whitespace().collect::<Vec<_>>().join(" "), n)
}

/// `1h 02m`, `3m 05s`, `42s`.
fn duration(seconds: i64) -> String {
    match seconds.max(0) {
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

fn seconds_between(from: &str, to: &str) -> Option<i64> {
    let a: jiff::Timestamp = from.parse().ok()?;
    let b: jiff::Timestamp = to.parse().ok()?;
    Some(b.as_second() - a.as_second())
}

/// The chart of every measurement of the newest experiment in `records`.
fn lab(snapshot: &Snapshot, records: &[Record], tried: &[String]) -> Option<Lab> {
    let last = records.last()?;
    let task = last.task_id.clone();
    let mine: Vec<&Record> = records.iter().filter(|r| r.task_id == task).collect();
    let values: Vec<f64> = mine.iter().filter_map(|r| r.measured_value).collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let (width, height, pad) = (600u32, 200u32, 16.0);
    // Room on the left for the value axis.
    let left = 56.0;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = (f64::from(width) - left - pad) / (mine.len().max(2) - 1) as f64;
    let mut points = Vec::new();
    for (i, r) in mine.iter().enumerate() {
        let kind = match (r.outcome, r.action, r.measured_value) {
            (Some(Outcome::Baseline), _, _) => "baseline",
            (Some(Outcome::Invalid), _, _) | (_, _, None) => "invalid",
            (_, Some(Action::Keep), _) => "kept",
            _ => "discarded",
        };
        let x = left + step * i as f64;
        // An invalid measurement has no value: it is marked apart, on the bottom edge.
        let y = match r.measured_value {
            Some(v) => f64::from(height) - pad - (v - lo) / span * (f64::from(height) - 2.0 * pad),
            None => f64::from(height) - 4.0,
        };
        points.push(Point {
            x: format!("{x:.1}"),
            y: format!("{y:.1}"),
            kind,
            iteration: r.iteration,
            value: r
                .measured_value
                .map_or_else(|| "no value".to_string(), crate::experiment::decide::short),
        });
    }
    let line = points
        .iter()
        .filter(|p| p.kind != "invalid")
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    let run = &snapshot.run;
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let (top, bottom) = if values.is_empty() {
        (0.0, 0.0)
    } else {
        (hi, lo)
    };
    Some(Lab {
        axis_top: crate::experiment::decide::short(top),
        axis_bottom: crate::experiment::decide::short(bottom),
        axis_top_y: format!("{:.1}", pad + 4.0),
        axis_bottom_y: format!("{:.1}", f64::from(height) - pad + 4.0),
        axis_last: format!("measurement {}", mine.len()),
        metric: last.metric_name.clone(),
        task,
        baseline: or_dash(&run.baseline_metric),
        best: or_dash(&run.best_metric),
        last: or_dash(&run.last_metric),
        kept: run.kept_count,
        discarded: run.reverted_count,
        stage: or_dash(&run.experiment_stage),
        tried: tried.to_vec(),
        width,
        height,
        line,
        points,
    })
}

/// An ISO timestamp as people read it, `2026-12-07 04:30:32 UTC`; anything else as it is. The
/// page keeps the exact value in `<time datetime>`, which the live page turns into "3 min ago".
pub(crate) fn readable(iso: &str) -> String {
    match iso.parse::<jiff::Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => iso.to_string(),
    }
}

/// A run's cost as pages show it: `$1.23`, `$1.23 (estimated)` when any of it was estimated
/// rather than reported by the CLI, or `not reported`.
pub(crate) fn cost_words(cost: Option<f64>, estimated: bool) -> String {
    match cost {
        Some(c) if estimated => format!("${c:.2} (estimated)"),
        Some(c) => format!("${c:.2}"),
        None => "not reported".to_string(),
    }
}

/// The page for `snapshot`, with `records` (the run's experiment measurements, oldest first)
/// for the chart and `tried` (the newest entries of that experiment's ideas backlog); `now` is
/// the moment the page is made.
pub fn render(
    snapshot: &Snapshot,
    (records, tried): (&[Record], &[String]),
    live: bool,
    now: &str,
) -> String {
    let run = &snapshot.run;
    let tokens = if run.tokens_reported {
        format!("{} in / {} out", run.tokens_input, run.tokens_output)
    } else {
        "not reported".to_string()
    };
    let cost = cost_words(run.cost_usd, run.cost_estimated);
    let end = if run.finished_at.is_empty() {
        now
    } else {
        &run.finished_at
    };
    let elapsed = seconds_between(&run.started_at, end).map_or_else(|| "-".to_string(), duration);
    let workers: Vec<WorkerRow> = if run.workers.len() > 1 {
        run.workers
            .iter()
            .map(|w| WorkerRow {
                worker: w.worker,
                id: w.task_id.clone(),
                title: w.task_title.clone(),
                attempt: format!("{}/{}", w.attempt, w.max_attempts),
                state: w.status.label(),
                class: crate::ui::class_of(w.status.as_str()).to_string(),
                message: clip(&w.message, 200),
                branch: w.branch.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let one_task = workers.is_empty() && !run.current_task_id.is_empty();
    let current = one_task.then(|| Current {
        id: run.current_task_id.clone(),
        title: run.current_task_title.clone(),
        attempt: if run.max_iterations > 0 {
            format!("iteration {}/{}", run.current_iteration, run.max_iterations)
        } else {
            format!("{}/{}", run.current_attempt, run.max_attempts)
        },
        elapsed: duration(run.heartbeat_elapsed_seconds as i64),
        contract: snapshot
            .tasks
            .iter()
            .find(|t| t.id == run.current_task_id)
            .map(|t| {
                if t.completion_kind == "numeric" {
                    t.completion_target_summary.clone()
                } else {
                    "every check passes".to_string()
                }
            })
            .unwrap_or_default(),
    });
    let headline = super::runtime_status::headline(&run.status, snapshot.counts.blocked as u64);
    let page = Page {
        project: snapshot.project.clone(),
        live,
        status_label: headline.label(),
        status_class: crate::ui::class_of(headline.as_str()).to_string(),
        message: clip(&run.message, 300),
        backend: snapshot.backend.clone(),
        epoch: format!("{}/{}", run.current_epoch, run.max_epochs),
        started: if run.started_at.is_empty() {
            "-".into()
        } else {
            readable(&run.started_at)
        },
        started_iso: run.started_at.clone(),
        elapsed,
        updated: readable(&run.updated_at),
        updated_iso: run.updated_at.clone(),
        tokens,
        cost,
        completed: snapshot.counts.completed,
        blocked: snapshot.counts.blocked,
        pending: snapshot.counts.pending,
        current,
        workers,
        experiment: lab(snapshot, records, tried),
        tasks: snapshot
            .tasks
            .iter()
            .map(|t| Row {
                id: t.id.clone(),
                title: clip(&t.title, 200),
                class: crate::ui::class_of(&t.status),
                state: t.status.to_uppercase(),
                reason: if t.blocked && !t.passes {
                    clip(&t.block_reason, 240)
                } else {
                    run.waiting
                        .iter()
                        .find(|w| w.task_id == t.id)
                        .map(|w| clip(&w.message, 400))
                        .unwrap_or_default()
                },
            })
            .collect(),
        events: snapshot
            .events
            .iter()
            .take(15)
            .map(|e| EventRow {
                time: readable(&e.timestamp),
                time_iso: e.timestamp.clone(),
                label: e.status_label.clone(),
                class: e.status_class.clone(),
                task: e.task_id.clone(),
                message: clip(&e.message, 240),
            })
            .collect(),
    };
    page.render()
        .unwrap_or_else(|e| format!("<!DOCTYPE html><p>dashboard error: {e}</p>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::runtime_status::{Event as StatusEvent, PersistedRun, RunState};
    use crate::task::TaskFile;

    fn snapshot(tasks: serde_json::Value, run: RunState, events: Vec<StatusEvent>) -> Snapshot {
        let queue = TaskFile::from_owned(tasks).expect("queue");
        let persisted = PersistedRun {
            run,
            events,
            counts: None,
            live: false,
        };
        Snapshot::assemble("demo", "codex", &queue, &persisted)
    }

    fn running() -> RunState {
        RunState {
            status: super::super::runtime_status::RunStatus::Running,
            status_label: "Running".into(),
            message: "Executing T2: <b>bold</b> move".into(),
            started_at: "2026-12-01T02:00:00Z".into(),
            updated_at: "2026-12-01T02:42:05Z".into(),
            current_task_id: "T2".into(),
            current_task_title: "Add the <script>alert(1)</script> page".into(),
            current_attempt: 2,
            max_attempts: 3,
            heartbeat_elapsed_seconds: 125,
            tokens_reported: true,
            tokens_input: 48210,
            tokens_output: 1904,
            backend: "codex".into(),
            ..RunState::default()
        }
    }

    fn event(status: &str, task: &str, message: &str) -> StatusEvent {
        StatusEvent {
            timestamp: "2026-12-01T02:41:00Z".into(),
            status: status.into(),
            status_label: status.into(),
            status_class: status.into(),
            task_id: task.into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_delivery_run_shows_the_run_the_current_task_and_the_queue_escaped() {
        let tasks = serde_json::json!({"tasks": [
            {"id": "T1", "title": "Create hello", "passes": true},
            {"id": "T2", "title": "Add the <script>alert(1)</script> page"},
            {"id": "T3", "title": "Publish", "blocked": true,
             "block_reason": "Failed 3 attempt(s); the last: check `sh publish.sh` failed (exit 1): no credentials <img src=x onerror=alert(2)>"}
        ]});
        let page = render(
            &snapshot(
                tasks,
                running(),
                vec![event("blocked", "T3", "Failed 3 attempt(s)")],
            ),
            (&[], &[]),
            true,
            "2026-12-01T02:42:05Z",
        );
        assert!(
            !page.contains("<script>alert"),
            "a title is text, never markup"
        );
        assert!(
            !page.contains("<img src=x"),
            "a block reason is text, never markup"
        );
        assert!(
            page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{page}"
        );
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external asset"
        );
        insta::assert_snapshot!("dashboard_delivery", page);
    }

    #[test]
    fn an_experiment_shows_baseline_best_last_and_a_chart_of_every_measurement() {
        let tasks = serde_json::json!({"tasks": [
            {"id": "E1", "title": "Make it faster",
             "completion": {"kind": "numeric", "source": "metric_lines", "name": "latency",
                            "direction": "lower_is_better"},
             "execution": {"strategy": "iterative", "max_iterations": 3}}
        ]});
        let run = RunState {
            status: super::super::runtime_status::RunStatus::Running,
            status_label: "Running".into(),
            started_at: "2026-12-01T02:00:00Z".into(),
            finished_at: "2026-12-01T02:10:00Z".into(),
            current_task_id: "E1".into(),
            experiment_stage: "refine".into(),
            current_task_title: "Make it faster".into(),
            current_iteration: 3,
            max_iterations: 3,
            baseline_metric: "latency=120".into(),
            best_metric: "latency=100".into(),
            last_metric: "latency=130".into(),
            kept_count: 1,
            reverted_count: 1,
            ..RunState::default()
        };
        let record = |iteration: u32, outcome: &str, action: &str, value: Option<f64>| Record {
            task_id: "E1".into(),
            iteration,
            metric_name: "latency".into(),
            measured_value: value,
            outcome: Outcome::parse(outcome),
            action: Action::parse(action),
            ..Record::default()
        };
        let records = [
            record(0, "baseline", "", Some(120.0)),
            record(1, "improved", "keep", Some(100.0)),
            record(2, "regressed", "discard", Some(130.0)),
            record(3, "invalid", "discard", None),
        ];
        // What the backlog says is listed, escaped like everything else on the page.
        let tried = vec![
            "iteration 1 kept (improved): Cached the <b>parser</b>".to_string(),
            "iteration 2 discarded (regressed): Unrolled the loop".to_string(),
        ];
        let page = render(
            &snapshot(tasks, run, Vec::new()),
            (&records, &tried),
            false,
            "2026-12-01T02:10:00Z",
        );
        assert!(
            page.contains(
                "<li>iteration 1 kept (improved): Cached the &#60;b&#62;parser&#60;/b&#62;</li>"
            ),
            "{page}"
        );
        assert!(page.contains("class=\"dot-kept\""));
        assert!(page.contains("class=\"dot-discarded\""));
        assert!(page.contains("class=\"dot-baseline\""));
        assert!(
            page.contains("class=\"dot-invalid\""),
            "an invalid measurement is marked apart"
        );
        assert!(
            !page.contains("http-equiv=\"refresh\""),
            "a finished run's page stays still"
        );
        insta::assert_snapshot!("dashboard_experiment", page);
    }
}
