//! Between epochs of `run --epochs N`: go on with a queue that still has pending tasks, or ask
//! the agent (read-only) to plan the remaining work from the queue's `planning_source`, its
//! execution state and its learning journal, and add the new tasks to the queue (backed up
//! first). The tasks of earlier epochs stay, with their epoch recorded; a new task that says it
//! `supersedes` earlier ones has that recorded on them (`superseded_by`).

use serde_json::json;

use super::Runner;
use crate::error::{Error, Result};
use crate::journal::event::{Level, RunEnd};
use crate::plan::{self, oneshot};
use crate::task::{Backup, Counts, TaskFile};

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
        let counts = Counts::of(queue.tasks.iter().map(|t| t.status(&[])));
        let (completed, blocked, pending) = (counts.completed, counts.blocked, counts.pending);
        if queue.next_task().is_some() {
            self.note(
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
                self.note(
                    Level::Warn,
                    format!(
                        "cannot re-plan for epoch {next}/{max_epochs}: {why}. Queues made by \
                         `autodev plan` can be re-planned; otherwise run with --epochs 1"
                    ),
                );
                return Ok(Next::Stop(None));
            }
        };
        self.note(
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
        if let Some(refused) = self.budget_gate() {
            return Ok(Next::Stop(Some((RunEnd::Budget, refused.detail))));
        }
        let (used, answer) = oneshot::ask(&call, &prompt, &self.cancel, None).await;
        // Counted whether or not the call answered: a failed call may have spent too.
        if answer.is_ok() || used.reported() {
            self.spend("replan", used.usage, used.cost_usd, false);
        }
        let answer = match answer {
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
        let new = match plan::queue_from_answer(&answer.text, &project, source, doc.as_deref()) {
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
            self.note(
                Level::Info,
                "Re-planning found no further work; the run is complete".to_string(),
            );
            return Ok(Next::Stop(None));
        }
        let mut history = queue.epoch_history.clone().unwrap_or_default();
        history.push(
            json!({"epoch": epoch, "completed": completed, "blocked": blocked,
            "pending": pending, "finished_at": crate::durable::utc_now()}),
        );
        let added = new.tasks.len();
        let updated = self.store.update(Backup::Before, move |q| {
            accumulate(q, new, epoch, history);
            Ok(())
        })?;
        self.note(
            Level::Info,
            format!(
                "Prepared epoch {next}/{max_epochs}: {added} new task(s) added to the queue{}",
                updated
                    .backup
                    .map(|b| format!(" (the previous queue is kept in {})", b.display()))
                    .unwrap_or_default()
            ),
        );
        Ok(Next::Continue)
    }
}

/// Adds the re-planned tasks of `new` to `queue` after epoch `epoch`: earlier tasks stay and
/// get their epoch recorded; a new id already in use is renamed (`E2-T1`), with the new tasks'
/// dependencies on it; `supersedes` on a new task is recorded on the earlier tasks it names.
fn accumulate(queue: &mut TaskFile, new: TaskFile, epoch: u32, history: Vec<serde_json::Value>) {
    for task in &mut queue.tasks {
        task.extra.entry("epoch").or_insert_with(|| json!(epoch));
    }
    let next = epoch + 1;
    let taken: Vec<String> = queue.tasks.iter().map(|t| t.id.clone()).collect();
    let renamed: Vec<(String, String)> = new
        .tasks
        .iter()
        .filter(|t| taken.contains(&t.id))
        .map(|t| {
            let mut id = format!("E{next}-{}", t.id);
            let mut n = 2;
            while taken.contains(&id) {
                id = format!("E{next}-{}-{n}", t.id);
                n += 1;
            }
            (t.id.clone(), id)
        })
        .collect();
    let rename = |id: &str| {
        renamed
            .iter()
            .find(|(old, _)| old == id)
            .map_or(id.to_string(), |(_, new)| new.clone())
    };
    for mut task in new.tasks {
        task.id = rename(&task.id);
        task.depends_on = task.depends_on.iter().map(|d| rename(d)).collect();
        task.extra.insert("epoch".into(), json!(next));
        let supersedes = crate::task::coerce::string_list(task.extra.get("supersedes"));
        for old in queue
            .tasks
            .iter_mut()
            .filter(|t| supersedes.contains(&t.id))
        {
            old.extra
                .insert("superseded_by".into(), json!(task.id.clone()));
        }
        queue.tasks.push(task);
    }
    if new.planning_source.is_some() {
        queue.planning_source = new.planning_source;
    }
    queue.epoch_history = Some(history);
    queue.refresh_statistics();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(value: serde_json::Value) -> TaskFile {
        TaskFile::from_owned(value).expect("queue")
    }

    #[test]
    fn epochs_accumulate_and_keep_ids_unique() {
        let mut queue = file(json!({"tasks": [
            {"id": "T1", "passes": true},
            {"id": "T2", "blocked": true, "block_reason": "no credentials"}
        ]}));
        let new = file(json!({"tasks": [
            {"id": "T1", "title": "again"},
            {"id": "T3", "depends_on": ["T1"], "supersedes": ["T2"]}
        ]}));
        accumulate(&mut queue, new, 1, vec![json!({"epoch": 1})]);
        let ids: Vec<&str> = queue.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T1", "T2", "E2-T1", "T3"]);
        assert_eq!(queue.tasks[0].extra["epoch"], 1);
        assert_eq!(queue.tasks[2].extra["epoch"], 2);
        assert_eq!(queue.tasks[3].depends_on, ["E2-T1"]);
        assert!(
            queue.tasks[1].blocked,
            "a blocked task of epoch 1 stays blocked"
        );
        assert_eq!(queue.tasks[1].extra["superseded_by"], "T3");
        assert_eq!(queue.epoch_history.as_ref().map(Vec::len), Some(1));
    }
}
