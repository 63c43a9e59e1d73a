//! What follows an attempt: waiting for a provider, reflecting on a failure, recording the
//! attempt in `task.json`, completing the task and committing its files.

use std::path::Path;

use serde_json::{Value, json};

use super::records::{AttemptRecord, AttemptStatus, history_entry};
use super::{MAX_SINGLE_WAIT, Runner, TaskEnd, append, pause, task_ref};
use crate::backend::{self, AgentReport, Purpose, Request};
use crate::error::Result;
use crate::exec::{self, Tee};
use crate::gate::GateReport;
use crate::journal::event::{Event, Level};
use crate::task::model::{append_unique, keep_last};
use crate::task::{Backup, Task};

impl Runner<'_> {
    /// Reflection on a failed attempt: the task with its refined guidance, or `None` (told as a
    /// warning) when the reflection could not be made.
    pub(super) async fn refine(
        &mut self,
        task: &Task,
        failure: &crate::reflect::Failure<'_>,
        log_path: &Path,
    ) -> Option<Task> {
        match self.reflect(task, failure, log_path).await {
            Ok(refined) => {
                self.note(
                    Level::Info,
                    format!(
                        "Updated the guidance of {} after the failed attempt",
                        task.id
                    ),
                );
                Some(refined)
            }
            Err(why) => {
                self.note(Level::Warn, format!("reflection skipped: {why}"));
                None
            }
        }
    }

    /// Asks the agent, read-only, to refine the task after a failed attempt; the refined task,
    /// already saved, or why nothing was applied.
    async fn reflect(
        &mut self,
        task: &Task,
        failure: &crate::reflect::Failure<'_>,
        log_path: &Path,
    ) -> std::result::Result<Task, String> {
        let settings = self.settings;
        let config = &settings.config;
        if let Some(refused) = self.budget_gate() {
            return Err(format!(
                "the reflection call was not made: {}",
                refused.detail
            ));
        }
        self.emit(Event::Reflecting {
            task: task_ref(task),
            attempt: failure.attempt,
            max_attempts: failure.max_attempts,
        });
        let prompt = crate::reflect::prompt(task, failure);
        let scratch = log_path.with_extension("reflect");
        let request = Request {
            purpose: Purpose::OneShot,
            ..self.request(&prompt, &scratch, &[])
        };
        let invocation = backend::invocation(config, self.options.backend, &request)
            .map_err(|e| e.to_string())?;
        let mut log = append(log_path).map_err(|e| e.to_string())?;
        {
            use std::io::Write;
            let _ = writeln!(log, "\n$ reflection: {}", invocation.spec.command_line());
        }
        let mut tee = Tee::new(vec![Box::new(log)]);
        let limits = exec::Limits::from_seconds(
            config.reflection.prompt_timeout_seconds,
            config.backend.idle_timeout_seconds,
            config.backend.kill_grace_seconds,
        );
        let (report, _) = self
            .call(&invocation, &limits, &mut tee, None)
            .await
            .map_err(|e| e.to_string())?;
        if !report.answered() {
            return Err(format!(
                "the reflection call {}: {}",
                report.outcome.describe(),
                report.detail
            ));
        }
        let refinement = crate::reflect::parse(&report.final_text)?;
        let current = self
            .store
            .load()
            .ok()
            .and_then(|q| q.tasks.iter().find(|t| t.id == task.id).cloned())
            .unwrap_or_else(|| task.clone());
        let refined = crate::reflect::apply(
            &current,
            &refinement,
            config.reflection.max_learning_notes as usize,
        )
        .map_err(|issues| format!("the refinement failed the audit: {}", issues.join("; ")))?;
        let id = task.id.clone();
        let saved = refined.clone();
        self.store
            .update(Backup::None, move |q| {
                if let Some(t) = q.find_mut(&id) {
                    *t = saved;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        Ok(refined)
    }

    /// Commits the task's changed files, and only those (`[git] auto_commit`), journalling the
    /// start and the result. `started` is the `HEAD` and message of a commit a killed run had
    /// begun: when that commit landed, it is taken as made. Why it failed, if it did.
    pub(super) async fn commit(
        &mut self,
        task: &Task,
        changed: &[String],
        started: Option<(String, String)>,
    ) -> std::result::Result<(), String> {
        if changed.is_empty() {
            return Ok(());
        }
        let dir = self.tree.dir.clone();
        if let Some((before, message)) = started
            && let Some(sha) = crate::git::landed(&dir, &before, &message).await
        {
            crate::git::sync_index(&dir, changed).await?;
            self.emit(Event::CommitMade {
                task: task_ref(task),
                sha,
                ignored: Vec::new(),
            });
            return Ok(());
        }
        let message = self
            .settings
            .config
            .git
            .commit_message_template
            .replace("{task_id}", &task.id)
            .replace("{task_name}", task.display_title());
        self.emit(Event::CommitStarted {
            task: task_ref(task),
            paths: changed.to_vec(),
            message: message.clone(),
            head: crate::git::head(&dir).await.ok(),
        });
        match crate::git::commit_paths(&dir, changed, &message).await {
            crate::git::Committed::Made { sha, ignored } => {
                self.emit(Event::CommitMade {
                    task: task_ref(task),
                    sha,
                    ignored,
                });
                Ok(())
            }
            crate::git::Committed::Nothing => {
                self.note(Level::Info, "No task changes to commit".to_string());
                Ok(())
            }
            crate::git::Committed::Skipped(why) => {
                self.note(Level::Warn, format!("auto-commit skipped: {why}"));
                Ok(())
            }
            crate::git::Committed::Failed(why) => {
                self.emit(Event::CommitFailed {
                    task: task_ref(task),
                    reason: why.clone(),
                });
                Err(why)
            }
        }
    }

    /// Waits for a provider that is rate-limited, overloaded or unreachable; `Some` ends the
    /// task (interrupted, or the total waiting cap reached).
    pub(super) async fn wait_for_provider(
        &mut self,
        task: &Task,
        report: &AgentReport,
    ) -> Option<TaskEnd> {
        let settings = self.settings;
        let cb = &settings.config.circuit_breaker;
        let now = std::time::Instant::now();
        let seconds = {
            let mut waits = self.shared.waits.borrow_mut();
            match waits.until.filter(|until| *until > now) {
                // Another worker is waiting the provider out already: this one waits with it.
                Some(until) => until.duration_since(now).as_secs().max(1),
                None => {
                    let seconds = (cb.rate_limit_cooldown.max(1) << waits.streak.min(10))
                        .min(MAX_SINGLE_WAIT);
                    if waits.waited + seconds > cb.max_wait_seconds {
                        return Some(TaskEnd::Halt(format!(
                            "the provider is still unavailable after {} s of waiting (circuit_breaker.max_wait_seconds); last report: {}",
                            waits.waited, report.detail
                        )));
                    }
                    waits.streak += 1;
                    waits.waited += seconds;
                    waits.until = Some(now + std::time::Duration::from_secs(seconds));
                    seconds
                }
            }
        };
        self.emit(Event::Waiting {
            task: task_ref(task),
            reason: format!("{} ({})", report.outcome.describe(), report.detail),
            seconds,
        });
        if pause(seconds as f64, &self.cancel).await {
            return Some(TaskEnd::Interrupted);
        }
        None
    }

    /// Before an agent call: while the provider is waited out (another worker was told to slow
    /// down), this worker holds its call too, and says so; a signal ends the hold.
    pub(super) async fn hold_for_provider(&mut self, task: &Task) {
        let now = std::time::Instant::now();
        let until = self.shared.waits.borrow().until.filter(|u| *u > now);
        let Some(until) = until else {
            return;
        };
        let seconds = until.duration_since(now).as_secs_f64();
        self.emit(Event::Waiting {
            task: task_ref(task),
            reason: "another worker's call was refused by the provider; every worker waits".into(),
            seconds: seconds.ceil() as u64,
        });
        pause(seconds, &self.cancel).await;
    }

    /// A call went through: the provider's backoff starts again from its first step.
    pub(super) fn provider_answered(&self) {
        self.shared.waits.borrow_mut().streak = 0;
    }

    /// Writes a failed or interrupted attempt into task.json (history, and the journal for a
    /// failure); the refreshed task.
    pub(super) fn record_failure(&self, task: &Task, failed: &AttemptRecord) -> Result<Task> {
        self.record(task, failed, |_| {})
    }

    pub(super) fn complete(
        &mut self,
        task: &Task,
        attempt: u32,
        report: &AgentReport,
        changed: &[String],
        gate: &GateReport,
    ) -> Result<bool> {
        let mut summary = format!("Completed on attempt {attempt}");
        if !task.last_reflection_summary.trim().is_empty() {
            summary = format!(
                "Completed after refinement: {}",
                task.last_reflection_summary.trim()
            );
        }
        let mut notes = vec![format!("Completed on attempt {attempt}.")];
        let passing: Vec<&str> = gate
            .checks
            .iter()
            .filter(|c| c.passed)
            .map(|c| c.name.as_str())
            .take(4)
            .collect();
        if !passing.is_empty() {
            notes.push(format!("Passing checks: {}.", passing.join(", ")));
        }
        if !changed.is_empty() {
            notes.push(format!(
                "Key changed paths: {}.",
                changed
                    .iter()
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.record_completion(
            task,
            &AttemptRecord {
                status: AttemptStatus::Completed,
                attempt,
                report: Some(report),
                changed,
                gate: Some(gate),
                summary: &summary,
                notes: &notes,
            },
        )
    }

    /// Marks the task complete with `completed` as its last history entry, and tells it; false
    /// when a person blocked the task while it was worked (their block stands, and is told).
    pub(super) fn record_completion(
        &mut self,
        task: &Task,
        completed: &AttemptRecord,
    ) -> Result<bool> {
        let cap = self.settings.config.reflection.max_learning_notes as usize;
        let notes = completed.notes.to_vec();
        let saved = self.record(task, completed, |t| {
            t.complete();
            append_unique(&mut t.learning_notes, &notes, cap);
        })?;
        if saved.blocked && !task.blocked {
            self.told_blocked_by_hand(task, saved.block_reason);
            return Ok(false);
        }
        self.emit(Event::TaskCompleted {
            task: task_ref(task),
            attempt: completed.attempt,
            summary: completed.summary.to_string(),
            changed: completed.changed.to_vec(),
            gate: Box::new(completed.gate.cloned().unwrap_or_default()),
            learning_notes: notes,
        });
        Ok(true)
    }

    /// The reason a person blocked `task` (as the run knew it, unblocked) while it was worked.
    pub(super) fn blocked_by_hand(&self, task: &Task) -> Result<Option<String>> {
        if task.blocked {
            return Ok(None);
        }
        let queue = self.store.load()?;
        Ok(queue
            .tasks
            .iter()
            .find(|t| t.id == task.id && t.blocked && !t.passes)
            .map(|t| t.block_reason.clone()))
    }

    /// Tells that the task stops because a person blocked it while it was worked.
    pub(super) fn told_blocked_by_hand(&mut self, task: &Task, reason: String) {
        self.shared
            .blocked_now
            .borrow_mut()
            .push(crate::journal::event::BlockedTask {
                id: task.id.clone(),
                reason: reason.clone(),
            });
        self.note(
            Level::Warn,
            format!(
                "{} was blocked by hand while it was being worked; the run leaves it blocked",
                task.id
            ),
        );
        self.emit(Event::TaskBlocked {
            task: task_ref(task),
            reason,
            evidence: Vec::new(),
        });
    }

    /// Appends the attempt's history entry and (unless it was interrupted) a journal entry,
    /// applies `change`, saves.
    fn record(
        &self,
        task: &Task,
        attempt: &AttemptRecord,
        change: impl FnOnce(&mut Task),
    ) -> Result<Task> {
        let reflection = &self.settings.config.reflection;
        let id = task.id.clone();
        let mut entry = history_entry(attempt);
        entry["run_started_at"] = json!(&*self.started_at);
        let status = attempt.status;
        let journal_entry = json!({"task_id": id, "status": status.as_str(), "summary": attempt.summary,
            "learning_notes": attempt.notes});
        let updated = self.store.update(Backup::None, |q| {
            let mut out = None;
            if let Some(t) = q.find_mut(&id) {
                if let Value::Object(map) = entry {
                    t.attempt_history.push(map);
                }
                keep_last(
                    &mut t.attempt_history,
                    reflection.max_attempt_history_entries as usize,
                );
                // A block a person made while the attempt ran is not undone by the run.
                if !t.blocked || task.blocked {
                    change(t);
                }
                out = Some(t.clone());
            }
            // An interruption teaches nothing about the project.
            if let (Value::Object(map), false) =
                (journal_entry, status == AttemptStatus::Interrupted)
            {
                let journal = q.learning_journal.get_or_insert_with(Vec::new);
                journal.push(map);
                keep_last(journal, reflection.max_project_learning_entries as usize);
            }
            q.refresh_statistics();
            Ok(out)
        })?;
        // A task removed from the file by someone else keeps its in-memory form.
        Ok(updated.value.unwrap_or_else(|| task.clone()))
    }
}
