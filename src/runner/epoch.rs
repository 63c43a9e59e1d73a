//! Between epochs of `run --epochs N`: go on with a queue that still has pending tasks, or ask
//! the agent (read-only) to plan the remaining work from the queue's `planning_source`, its
//! execution state and its learning journal, and replace the queue (backed up first).

use serde_json::json;

use super::Runner;
use super::event::{Level, RunEnd};
use crate::error::{Error, Result};
use crate::plan::{self, oneshot};
use crate::task::Counts;

/// What follows an epoch.
pub(super) enum Next {
    Continue,
    /// End the run here (`None`: judge the queue as it stands).
    Stop(Option<(RunEnd, String)>),
}

impl Runner<'_> {
    /// Prepares epoch `epoch + 1` of `max_epochs`.
    pub(super) async fn next_epoch(&mut self, epoch: u32, max_epochs: u32) -> Result<Next> {
        let next = epoch + 1;
        let queue = self.store.load()?;
        let counts = Counts::of(queue.tasks.iter().map(|t| t.status(None)));
        let (completed, blocked, pending) = (counts.completed, counts.blocked, counts.pending);
        if queue.next_task().is_some() {
            self.sinks.note(
                Level::Info,
                format!(
                    "Epoch {epoch} ended with {pending} pending task(s); epoch {next}/{max_epochs} goes on with the same queue"
                ),
            );
            return Ok(Next::Continue);
        }
        let settings = self.settings;
        let project = queue
            .project_name(&settings.config.project.name)
            .to_string();
        let prompt = match plan::replan_prompt(&project, &queue, epoch) {
            Ok(prompt) => prompt,
            Err(why) => {
                self.sinks.note(
                    Level::Warn,
                    format!(
                        "cannot re-plan for epoch {next}/{max_epochs}: {why}. Queues made by \
                         `autodev plan` can be re-planned; otherwise run with --epochs 1"
                    ),
                );
                return Ok(Next::Stop(None));
            }
        };
        self.sinks.note(
            Level::Info,
            format!("Re-planning the remaining work for epoch {next}/{max_epochs}"),
        );
        let paths = &settings.paths;
        let call = oneshot::Call {
            config: &settings.config,
            backend: self.options.backend,
            code_dir: &paths.code_dir,
            log_dir: &paths.log_dir,
            label: "replan",
        };
        let answer = match oneshot::ask(&call, &prompt, &self.cancel, None).await {
            Ok(answer) => answer,
            Err(Error::Interrupted) => return Ok(Next::Stop(Some(super::interrupted()))),
            Err(e) => {
                return Ok(Next::Stop(Some((
                    RunEnd::EnvError,
                    format!("re-planning for epoch {next} failed: {e}"),
                ))));
            }
        };
        let source = queue.planning_source.clone().unwrap_or_default();
        let doc = source
            .get("planning_source_doc")
            .and_then(|v| v.as_str())
            .filter(|d| !d.trim().is_empty())
            .map(|d| plan::doc_reference(&paths.code_dir, std::path::Path::new(d)));
        let mut new = match plan::queue_from_answer(&answer.text, &project, source, doc.as_deref())
        {
            Ok(new) => new,
            Err(rejected) => {
                let error =
                    plan::unusable(self.options.backend, &answer, &rejected, &paths.task_json);
                return Ok(Next::Stop(Some((
                    RunEnd::EnvError,
                    format!("re-planning for epoch {next} failed: {error}"),
                ))));
            }
        };
        if new.tasks.is_empty() {
            self.sinks.note(
                Level::Info,
                "Re-planning found no further work; the run is complete".to_string(),
            );
            return Ok(Next::Stop(None));
        }
        new.learning_journal = queue.learning_journal.clone();
        let mut history = queue.epoch_history.clone().unwrap_or_default();
        history.push(
            json!({"epoch": epoch, "completed": completed, "blocked": blocked,
            "pending": pending, "finished_at": crate::durable::utc_now()}),
        );
        new.epoch_history = Some(history);
        let backup = self.store.replace(&new)?;
        self.sinks.note(
            Level::Info,
            format!(
                "Prepared epoch {next}/{max_epochs} with {} task(s){}",
                new.tasks.len(),
                backup
                    .map(|b| format!(" (the previous queue is kept in {})", b.display()))
                    .unwrap_or_default()
            ),
        );
        Ok(Next::Continue)
    }
}
