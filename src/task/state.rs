//! Task states, the transitions between them, and which task runs next.
//!
//! A task's stored state is one of pending, completed or blocked (`passes` wins over
//! `blocked`). What `task list` and `status` show adds three views on top: RETRY (pending, with
//! earlier attempts on record), and RUNNING / WAITING (the task a live run is working on,
//! producing output or waiting). Every change of stored state goes through the methods here.

use super::model::{Task, TaskFile};

/// The stored lifecycle state of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Pending,
    Completed,
    Blocked,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Pending => "pending",
            Lifecycle::Completed => "completed",
            Lifecycle::Blocked => "blocked",
        }
    }
}

/// What a live run is doing with its current task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivePhase {
    /// The agent or a check is working and producing output.
    Running,
    /// Waiting on the model, a rate limit or reflection.
    Waiting,
}

/// The task a live run is working on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTask {
    pub task_id: String,
    pub phase: ActivePhase,
}

/// The state shown to people: a badge in listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Pending,
    Retry,
    Running,
    Waiting,
    Completed,
    Blocked,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Retry => "retry",
            TaskStatus::Running => "running",
            TaskStatus::Waiting => "waiting",
            TaskStatus::Completed => "completed",
            TaskStatus::Blocked => "blocked",
        }
    }
}

/// Totals of a queue as shown in listings: running includes waiting, pending includes retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Counts {
    pub total: usize,
    pub completed: usize,
    pub running: usize,
    pub blocked: usize,
    pub pending: usize,
}

impl Counts {
    pub fn of(statuses: impl IntoIterator<Item = TaskStatus>) -> Counts {
        let mut counts = Counts::default();
        for status in statuses {
            counts.total += 1;
            match status {
                TaskStatus::Completed => counts.completed += 1,
                TaskStatus::Blocked => counts.blocked += 1,
                TaskStatus::Running | TaskStatus::Waiting => counts.running += 1,
                TaskStatus::Pending | TaskStatus::Retry => counts.pending += 1,
            }
        }
        counts
    }
}

/// Now, in the form `blocked_at` is written in (UTC, microseconds, `+00:00`, as the original).
pub fn blocked_at_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

impl Task {
    pub fn lifecycle(&self) -> Lifecycle {
        if self.passes {
            Lifecycle::Completed
        } else if self.blocked {
            Lifecycle::Blocked
        } else {
            Lifecycle::Pending
        }
    }

    /// The badge state, given the tasks a live run is working on.
    pub fn status(&self, live: &[LiveTask]) -> TaskStatus {
        match self.lifecycle() {
            Lifecycle::Completed => TaskStatus::Completed,
            Lifecycle::Blocked => TaskStatus::Blocked,
            Lifecycle::Pending => match live.iter().find(|l| l.task_id == self.id) {
                Some(l) => match l.phase {
                    ActivePhase::Running => TaskStatus::Running,
                    ActivePhase::Waiting => TaskStatus::Waiting,
                },
                _ if !self.attempt_history.is_empty() => TaskStatus::Retry,
                _ => TaskStatus::Pending,
            },
        }
    }

    /// The block reason worth showing: only for a blocked task, and only when it says something.
    pub fn shown_block_reason(&self) -> Option<&str> {
        let reason = self.block_reason.trim();
        (self.lifecycle() == Lifecycle::Blocked && !reason.is_empty()).then_some(reason)
    }

    /// Marks the task complete; a completed task is never also blocked.
    pub fn complete(&mut self) {
        self.passes = true;
        self.blocked = false;
        self.block_reason.clear();
        if self.blocked_at.is_some() {
            self.blocked_at = Some(String::new());
        }
    }

    /// Blocks the task with a reason, at `at` (an ISO-8601 timestamp, see [`blocked_at_now`]).
    pub fn block(&mut self, reason: &str, at: String) {
        self.passes = false;
        self.blocked = true;
        self.block_reason = reason.trim().to_string();
        self.blocked_at = Some(at);
    }

    /// Returns the task to pending; the number of fields that changed.
    ///
    /// Unlike the original, this also clears the refinement counter, so a reset task can be
    /// refined by reflection again. Attempt history and notes are kept: they are what was learnt.
    pub fn reset(&mut self) -> usize {
        let mut changed = 0;
        if self.passes {
            self.passes = false;
            changed += 1;
        }
        if self.blocked {
            self.blocked = false;
            changed += 1;
        }
        if !self.block_reason.trim().is_empty() {
            changed += 1;
        }
        self.block_reason.clear();
        if self
            .blocked_at
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty())
        {
            self.blocked_at = Some(String::new());
            changed += 1;
        }
        if self.refinement_count != 0 {
            self.refinement_count = 0;
            changed += 1;
        }
        changed
    }

    /// Returns a blocked task to pending; false (and no change) for any other task.
    pub fn retry(&mut self) -> bool {
        if self.lifecycle() != Lifecycle::Blocked {
            return false;
        }
        self.reset();
        true
    }
}

impl TaskFile {
    /// The next task to work: the first pending task, in queue order, whose dependencies are
    /// all completed.
    pub fn next_task(&self) -> Option<&Task> {
        self.next_task_where(|_| true)
    }

    /// The first pending task, in queue order, whose dependencies are all completed and that
    /// `may` accepts.
    pub fn next_task_where(&self, may: impl Fn(&Task) -> bool) -> Option<&Task> {
        self.tasks
            .iter()
            .find(|t| t.lifecycle() == Lifecycle::Pending && self.waits_on(t).is_empty() && may(t))
    }

    /// The dependencies of `task` that are not completed yet, with what holds each one up:
    /// its lifecycle, or `None` for an id that names no task.
    pub fn waits_on<'a>(&'a self, task: &'a Task) -> Vec<(&'a str, Option<Lifecycle>)> {
        task.depends_on
            .iter()
            .filter_map(
                |id| match self.tasks.iter().find(|t| t.id == *id).map(Task::lifecycle) {
                    Some(Lifecycle::Completed) => None,
                    state => Some((id.as_str(), state)),
                },
            )
            .collect()
    }

    /// Selects tasks by id (`None` selects all); unknown ids are returned separately.
    pub fn select<'a>(&self, ids: Option<&'a [String]>) -> (Vec<usize>, Vec<&'a str>) {
        match ids {
            None => ((0..self.tasks.len()).collect(), Vec::new()),
            Some(ids) => {
                let mut indexes = Vec::new();
                let mut unknown = Vec::new();
                for id in ids {
                    let matches: Vec<usize> = self
                        .tasks
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.id == id.trim())
                        .map(|(i, _)| i)
                        .collect();
                    if matches.is_empty() {
                        unknown.push(id.as_str());
                    }
                    for i in matches {
                        if !indexes.contains(&i) {
                            indexes.push(i);
                        }
                    }
                }
                indexes.sort_unstable();
                (indexes, unknown)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(tasks: serde_json::Value) -> TaskFile {
        TaskFile::from_owned(json!({ "tasks": tasks })).unwrap()
    }

    #[test]
    fn the_next_task_is_the_first_whose_dependencies_are_done() {
        let f = file(json!([
            {"id": "a", "passes": true},
            {"id": "b", "depends_on": ["c"]},
            {"id": "c", "depends_on": ["a"]},
        ]));
        assert_eq!(f.next_task().map(|t| t.id.as_str()), Some("c"));
        assert_eq!(f.waits_on(&f.tasks[1]), [("c", Some(Lifecycle::Pending))]);

        let f = file(json!([
            {"id": "a", "blocked": true},
            {"id": "b", "depends_on": ["a"]},
            {"id": "c", "depends_on": ["b", "ghost"]},
            {"id": "d"},
        ]));
        assert_eq!(f.next_task().map(|t| t.id.as_str()), Some("d"));
        assert_eq!(
            f.waits_on(&f.tasks[2]),
            [("b", Some(Lifecycle::Pending)), ("ghost", None)]
        );
    }

    #[test]
    fn lifecycle_table() {
        let f = file(json!([
            {"id": "a"},
            {"id": "b", "passes": true},
            {"id": "c", "blocked": true},
            {"id": "d", "passes": true, "blocked": true},
            {"id": "e", "blocked": "no"},
        ]));
        let states: Vec<Lifecycle> = f.tasks.iter().map(Task::lifecycle).collect();
        assert_eq!(
            states,
            [
                Lifecycle::Pending,
                Lifecycle::Completed,
                Lifecycle::Blocked,
                Lifecycle::Completed,
                Lifecycle::Pending
            ]
        );
    }

    #[test]
    fn status_table() {
        let f = file(json!([
            {"id": "a"},
            {"id": "b", "attempt_history": [{"attempt": 1, "status": "failed"}]},
            {"id": "c", "passes": true},
            {"id": "d", "blocked": true},
        ]));
        let running = LiveTask {
            task_id: "a".into(),
            phase: ActivePhase::Running,
        };
        let waiting_on_b = LiveTask {
            task_id: "b".into(),
            phase: ActivePhase::Waiting,
        };
        let waiting_on_c = LiveTask {
            task_id: "c".into(),
            phase: ActivePhase::Waiting,
        };
        let both = [running.clone(), waiting_on_b.clone()];
        let cases = [
            (0, &[][..], TaskStatus::Pending),
            (0, std::slice::from_ref(&running), TaskStatus::Running),
            (1, &[][..], TaskStatus::Retry),
            (1, std::slice::from_ref(&running), TaskStatus::Retry),
            (1, std::slice::from_ref(&waiting_on_b), TaskStatus::Waiting),
            (
                2,
                std::slice::from_ref(&waiting_on_c),
                TaskStatus::Completed,
            ),
            (3, &[][..], TaskStatus::Blocked),
            // Two workers: each task has its own.
            (0, &both[..], TaskStatus::Running),
            (1, &both[..], TaskStatus::Waiting),
        ];
        for (index, live, expected) in cases {
            assert_eq!(f.tasks[index].status(live), expected, "task {index}");
        }
    }

    #[test]
    fn next_task_skips_completed_and_blocked() {
        let f = file(json!([
            {"id": "a", "passes": true},
            {"id": "b", "blocked": true},
            {"id": "c"},
            {"id": "d"},
        ]));
        assert_eq!(f.next_task().map(|t| t.id.as_str()), Some("c"));
        let done = file(json!([{"id": "a", "passes": true}]));
        assert!(done.next_task().is_none());
    }

    #[test]
    fn block_then_retry_then_complete() {
        let mut f = file(json!([{"id": "a", "refinement_count": 3}]));
        let t = &mut f.tasks[0];
        t.block(" flaky test ", "2026-01-01T00:00:00.000000+00:00".into());
        assert_eq!(t.lifecycle(), Lifecycle::Blocked);
        assert_eq!(t.block_reason, "flaky test");
        assert!(t.retry());
        assert_eq!(t.lifecycle(), Lifecycle::Pending);
        assert_eq!(t.blocked_at.as_deref(), Some(""));
        assert_eq!(t.refinement_count, 0, "retry lets reflection refine again");
        assert!(!t.retry(), "a pending task is not retried");
        t.complete();
        assert_eq!(t.lifecycle(), Lifecycle::Completed);
    }

    #[test]
    fn reset_counts_changed_fields() {
        let mut f = file(json!([
            {"id": "a", "passes": true, "blocked": true, "block_reason": "x",
             "blocked_at": "2026-01-01", "attempt_history": [{"attempt": 1}]},
            {"id": "b"},
        ]));
        assert_eq!(f.tasks[0].reset(), 4);
        assert_eq!(f.tasks[0].attempt_history.len(), 1, "history is kept");
        assert_eq!(f.tasks[1].reset(), 0);
        assert_eq!(f.tasks[0].reset(), 0, "reset twice changes nothing");
    }

    #[test]
    fn select_by_ids_reports_unknown() {
        let f = file(json!([{"id": "a"}, {"id": "b"}, {"id": "c"}]));
        let ids = vec!["c".to_string(), " a ".to_string(), "zz".to_string()];
        let (indexes, unknown) = f.select(Some(&ids));
        assert_eq!(indexes, vec![0, 2]);
        assert_eq!(unknown, vec!["zz"]);
        assert_eq!(f.select(None).0, vec![0, 1, 2]);
    }

    #[test]
    fn counts_fold_views_into_stored_states() {
        let counts = Counts::of([
            TaskStatus::Pending,
            TaskStatus::Retry,
            TaskStatus::Running,
            TaskStatus::Waiting,
            TaskStatus::Completed,
            TaskStatus::Blocked,
        ]);
        assert_eq!(
            counts,
            Counts {
                total: 6,
                completed: 1,
                running: 2,
                blocked: 1,
                pending: 2
            }
        );
    }
}
