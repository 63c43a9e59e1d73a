//! Iterative tasks: the experiment loop.
//!
//! The baseline is measured first. Each iteration then asks the agent for one change, commits
//! it (commit-before-compare), pins the commit under
//! `refs/autodev/experiments/<task>/<run>/<iteration>`, measures it, and lets
//! [`crate::experiment::decide`] keep it (the branch stays on it) or discard it (the branch goes
//! back to the last kept commit, with no revert commit). The reference is measured again after a
//! keep and after a run of discards. The loop ends at the target, a stop threshold or the last
//! iteration; the task completes only if the kept result beats the baseline.

use std::path::PathBuf;
use std::time::Instant;

use super::agent::Turn;
use super::event::{Event, ExperimentProgress, Level};
use super::policy::{self, Next};
use super::prompt::ExperimentContext;
use super::records::AttemptRecord;
use super::{Runner, TaskEnd, append, pause, task_ref};
use crate::backend::{AgentReport, Outcome as AgentOutcome};
use crate::durable;
use crate::error::Result;
use crate::exec::{CancelLevel, Tee};
use crate::experiment::decide::short;
use crate::experiment::{
    Action, Outcome, Policy, Record, Series, Tally, conclude, decide, journal,
};
use crate::gate::{self, CheckRun, Plan};
use crate::git::{self, Committed};
use crate::task::Task;
use crate::task::contract::{Completion, Execution, Iterative};

/// Records of earlier measurements shown in an iteration's prompt.
const HISTORY_IN_PROMPT: usize = 5;

/// One measurement: its samples, or why it has none.
struct Measured {
    series: std::result::Result<Series, String>,
    /// The check runs of the last sample.
    runs: Vec<CheckRun>,
    elapsed_ms: u64,
    interrupted: bool,
}

/// The state of one experiment.
struct Lab {
    task: Task,
    settings: Iterative,
    policy: Policy,
    target_summary: String,
    repeats: u32,
    plan: Plan,
    /// The run's ref directory: `refs/autodev/experiments/<task>/<stamp>`.
    refs: String,
    baseline: Series,
    /// The latest measurement of the last kept commit.
    reference: Series,
    reference_runs: Vec<CheckRun>,
    kept_sha: String,
    tally: Tally,
    history: Vec<Record>,
    last: Option<(f64, Outcome)>,
    last_report: Option<AgentReport>,
    /// Every file a kept candidate changed.
    kept_files: Vec<String>,
}

impl Lab {
    fn progress(&self, iteration: u32, message: String) -> ExperimentProgress {
        let show = |v: f64| self.policy.show(v);
        ExperimentProgress {
            iteration,
            max_iterations: self.settings.max_iterations,
            completion_name: self.policy.name.clone(),
            completion_target_summary: self.target_summary.clone(),
            baseline: show(self.baseline.value()),
            best: show(self.reference.value()),
            last: self.last.map(|(v, _)| show(v)).unwrap_or_default(),
            last_outcome: self
                .last
                .map(|(_, o)| o.as_str().to_string())
                .unwrap_or_default(),
            kept: self.tally.kept,
            discarded: self.tally.discarded,
            no_improvement_streak: self.tally.no_improvement_streak,
            message,
        }
    }

    /// The experiment part of an iteration's prompt.
    fn context(&self, iteration: u32) -> ExperimentContext {
        let p = &self.policy;
        let mut lines = vec![
            "- execution_mode: experiment".to_string(),
            format!(
                "- iteration: {iteration} of {}",
                self.settings.max_iterations
            ),
            format!(
                "- metric: {} ({}), the median of {} run(s) of the checks",
                p.name,
                if p.lower_is_better {
                    "lower is better"
                } else {
                    "higher is better"
                },
                self.repeats
            ),
            format!("- baseline: {}", p.show(self.baseline.value())),
            format!("- best kept so far: {}", p.show(self.reference.value())),
            format!(
                "- iterations without improvement: {}",
                self.tally.no_improvement_streak
            ),
            format!("- min_improvement: {}", short(p.min_improvement)),
        ];
        if let Some(target) = p.target {
            lines.push(format!("- target: {}", short(target)));
        }
        lines.push(
            "- Make one focused change that should move the metric. autodev commits it, measures \
             it, and keeps it only if it is clearly better; otherwise the branch goes back to the \
             best kept commit."
                .to_string(),
        );
        let history = if self.history.is_empty() {
            "- No recent experiments".to_string()
        } else {
            self.history
                .iter()
                .map(|r| {
                    let what = if r.iteration == 0 {
                        "reference".to_string()
                    } else {
                        format!("#{}", r.iteration)
                    };
                    let action = match r.action.as_str() {
                        "" => String::new(),
                        a => format!(", {a}"),
                    };
                    format!("- {what} {}{action}: {}", r.outcome, r.notes)
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        ExperimentContext {
            execution: lines.join("\n"),
            history,
        }
    }
}

/// `<prefix>(<id>): <title, whitespace collapsed> [iteration i]`.
fn commit_message(task: &Task, prefix: &str, iteration: u32) -> String {
    let title = task
        .display_title()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!("{prefix}({}): {title} [iteration {iteration}]", task.id)
}

impl Runner<'_> {
    /// Works an iterative task as an experiment.
    pub(super) async fn experiment(&mut self, task: Task) -> Result<TaskEnd> {
        let (Execution::Iterative(settings), Completion::Numeric(numeric)) =
            (&task.execution, &task.completion)
        else {
            return self.block(
                &task,
                "iterative execution requires numeric completion (completion.kind = \"numeric\")"
                    .into(),
            );
        };
        let policy = match Policy::new(numeric, settings) {
            Ok(policy) => policy,
            Err(why) => return self.block(&task, why),
        };
        let dir = self.settings.paths.code_dir.clone();
        let kept_sha = match git::head(&dir).await {
            Ok(sha) => sha,
            Err(why) => {
                return self.block(
                    &task,
                    format!(
                        "Experiment mode needs a git repository with at least one commit \
                         (commit-before-compare and rollback are done in git): {why}"
                    ),
                );
            }
        };
        let dirty: Vec<String> = git::changed_files(&dir)
            .await?
            .into_iter()
            .filter(|p| !self.rules.is_runtime(p))
            .collect();
        if !dirty.is_empty() {
            return Ok(TaskEnd::Halt(format!(
                "experiment {} needs a clean working tree, and these files have uncommitted \
                 changes: {}. Commit them (git add -A && git commit) or stash them (git stash -u), \
                 then run again; an experiment moves the branch between candidates and must not \
                 touch your work (task {} untouched)",
                task.id,
                crate::report::log::preview(&dirty, 10),
                task.id
            )));
        }
        let refs = format!(
            "refs/autodev/experiments/{}/{}",
            crate::task::safe_id(&task.id),
            durable::file_stamp()
        );
        let history = journal::recent(
            &self.settings.paths.experiments_log(),
            &task.id,
            HISTORY_IN_PROMPT,
        );
        let mut lab = Lab {
            plan: Plan::new(&task, &self.settings.config, &self.settings.paths),
            target_summary: task.completion.target_summary(),
            repeats: numeric.repeats.max(1),
            settings: settings.clone(),
            policy,
            refs,
            baseline: Series::default(),
            reference: Series::default(),
            reference_runs: Vec::new(),
            kept_sha,
            tally: Tally::default(),
            history,
            last: None,
            last_report: None,
            kept_files: Vec::new(),
            task,
        };
        self.sinks.note(
            Level::Info,
            format!(
                "Experiment {}: baseline, then up to {} iteration(s); {} sample(s) per measurement",
                lab.task.id, lab.settings.max_iterations, lab.repeats
            ),
        );

        // The baseline.
        let log = self.step_log(&lab.task, "baseline")?;
        let measured = self.measure(&lab, "baseline", log).await?;
        if measured.interrupted {
            return Ok(TaskEnd::Interrupted);
        }
        match measured.series {
            Ok(series) => {
                lab.baseline = series.clone();
                lab.reference = series;
                lab.reference_runs = measured.runs;
            }
            Err(why) => {
                let task = lab.task.clone();
                return self.block(&task, format!("Experiment baseline failed: {why}"));
            }
        }
        let message = format!(
            "baseline {} from {} sample(s)",
            lab.policy.show(lab.baseline.value()),
            lab.baseline.len()
        );
        self.log_reference(&mut lab, 0, measured.elapsed_ms, message);
        if lab.policy.meets_target(lab.baseline.value()) {
            lab.tally.target_met = true;
            let summary = format!(
                "The baseline already meets the target: {}",
                lab.policy.show(lab.baseline.value())
            );
            return self.finish_experiment(&lab, summary, true);
        }

        let mut iteration = 0;
        let stop = loop {
            if self.cancel.level() != CancelLevel::None {
                return Ok(TaskEnd::Interrupted);
            }
            iteration += 1;
            if let Some(reason) = self.blocked_by_hand(&lab.task)? {
                let task = lab.task.clone();
                self.told_blocked_by_hand(&task, reason);
                return Ok(TaskEnd::Blocked);
            }
            match self.iterate(&mut lab, iteration).await? {
                Step::Decided => {}
                Step::Again => {
                    iteration -= 1;
                    continue;
                }
                Step::End(end) => return Ok(end),
            }
            if let Some(stop) = lab.tally.stop(&lab.settings) {
                break stop;
            }
            if pause(self.settings.config.run.delay_between_tasks, &self.cancel).await {
                return Ok(TaskEnd::Interrupted);
            }
        };
        let conclusion = conclude(
            &lab.policy,
            lab.baseline.value(),
            lab.reference.value(),
            &lab.tally,
            &stop,
        );
        self.finish_experiment(&lab, conclusion.summary, conclusion.completed)
    }

    /// One iteration: the agent's change, its commit, its measurement, the decision.
    async fn iterate(&mut self, lab: &mut Lab, iteration: u32) -> Result<Step> {
        let dir = self.settings.paths.code_dir.clone();
        let max = lab.settings.max_iterations;
        let context = lab.context(iteration);
        let started = Instant::now();
        let Turn {
            report,
            tee_error,
            log_path,
            changed,
            restored,
        } = self
            .turn(
                &lab.task,
                iteration,
                max,
                &format!("iteration_{iteration}"),
                Some(&context),
            )
            .await?;
        let outcome = report.outcome;
        lab.last_report = Some(report.clone());
        let next = policy::after_agent(outcome, tee_error.is_some());
        match next {
            Next::HaltLogs => {
                return Ok(Step::End(TaskEnd::Halt(super::logs_halt(
                    tee_error,
                    &lab.task.id,
                ))));
            }
            Next::HaltEnvironment => {
                return Ok(Step::End(TaskEnd::Halt(
                    self.environment_halt(&report, &lab.task.id),
                )));
            }
            Next::Interrupted => {
                if !changed.is_empty() {
                    self.sinks.note(
                        Level::Warn,
                        format!(
                            "iteration {iteration} was interrupted; its uncommitted changes are left in the tree: {}",
                            crate::report::log::preview(&changed, 10)
                        ),
                    );
                }
                return Ok(Step::End(TaskEnd::Interrupted));
            }
            Next::StopBudget => return Ok(Step::End(TaskEnd::Budget(report.detail))),
            Next::BlockBudget => {
                let task = lab.task.clone();
                let reason = format!("Stopped by {}", report.detail);
                return self.block(&task, reason).map(Step::End);
            }
            Next::Wait | Next::Judge { .. } => {}
        }
        let waiting = next == Next::Wait;

        // Whatever the agent left becomes a candidate commit first, so nothing is lost.
        let message = commit_message(&lab.task, &lab.settings.commit_prefix, iteration);
        let candidate = if changed.is_empty() {
            None
        } else {
            match git::commit_paths(&dir, &changed, &message).await {
                Committed::Made { sha, ignored } => {
                    if !ignored.is_empty() {
                        self.sinks.note(
                            Level::Warn,
                            format!(
                                "not in the candidate commit because git ignores them: {}",
                                ignored.join(", ")
                            ),
                        );
                    }
                    Some(sha)
                }
                Committed::Nothing => None,
                Committed::Skipped(why) | Committed::Failed(why) => {
                    let task = lab.task.clone();
                    return self
                        .block(
                            &task,
                            format!(
                                "Experiment iteration {iteration} could not commit its candidate \
                                 (commit-before-compare is required): {why}; the changes are left \
                                 in the working tree"
                            ),
                        )
                        .map(Step::End);
                }
            }
        };
        let git_ref = format!("{}/{iteration}", lab.refs);
        if let Some(sha) = &candidate {
            if let Err(why) = git::set_ref(&dir, &git_ref, sha).await {
                self.sinks
                    .note(Level::Warn, format!("could not create {git_ref}: {why}"));
            }
            self.sinks.emit(Event::CandidateCommitted {
                task: task_ref(&lab.task),
                iteration,
                sha: sha.clone(),
                kept: lab.kept_sha.clone(),
                git_ref: git_ref.clone(),
            });
        }

        if waiting {
            // A provider problem is not the candidate's fault: put its partial work aside and try
            // the same iteration again after the wait.
            if let Some(sha) = &candidate
                && let Err(why) = self.take_off(lab, iteration, sha).await
            {
                let task = lab.task.clone();
                return self
                    .block(&task, discard_failed(iteration, sha, &why))
                    .map(Step::End);
            }
            let task = lab.task.clone();
            return Ok(match self.wait_for_provider(&task, &report).await {
                Some(end) => Step::End(end),
                None => Step::Again,
            });
        }
        self.wait_streak = 0;

        let mut measured_runs = Vec::new();
        let mut samples = Vec::new();
        let decision = if outcome != AgentOutcome::Ok {
            decide(&lab.policy, &lab.reference, Err(&report.summary()))
        } else if !restored.is_empty() {
            decide(
                &lab.policy,
                &lab.reference,
                Err(&format!(
                    "tampering: the candidate changed protected files ({}), which were put back",
                    restored.join(", ")
                )),
            )
        } else if candidate.is_none() {
            decide(
                &lab.policy,
                &lab.reference,
                Err("no candidate: the agent changed no files"),
            )
        } else if let Some(first) = gate::change_errors(&lab.plan, &changed).first() {
            decide(&lab.policy, &lab.reference, Err(first))
        } else {
            let measured = self
                .measure(lab, &format!("iteration {iteration}"), log_path.clone())
                .await?;
            if measured.interrupted {
                return Ok(Step::End(TaskEnd::Interrupted));
            }
            measured_runs = measured.runs;
            match &measured.series {
                Ok(series) => {
                    samples = series.samples.clone();
                    decide(&lab.policy, &lab.reference, Ok(series))
                }
                Err(why) => decide(&lab.policy, &lab.reference, Err(why)),
            }
        };

        // Apply it.
        let best_before = lab.reference.value();
        let mut reverted = String::new();
        if let Some(sha) = &candidate {
            match decision.action {
                Action::Keep => {
                    self.sinks.emit(Event::CandidateKept {
                        task: task_ref(&lab.task),
                        iteration,
                        sha: sha.clone(),
                    });
                    lab.kept_sha = sha.clone();
                    for path in &changed {
                        if !lab.kept_files.contains(path) {
                            lab.kept_files.push(path.clone());
                        }
                    }
                }
                Action::Discard => {
                    if let Err(why) = self.take_off(lab, iteration, sha).await {
                        let task = lab.task.clone();
                        return self
                            .block(&task, discard_failed(iteration, sha, &why))
                            .map(Step::End);
                    }
                    reverted = sha.clone();
                }
                Action::Hold => {}
            }
        }
        lab.tally.record(&decision);
        if let Some(value) = decision.value {
            lab.last = Some((value, decision.outcome));
        } else {
            lab.last = None;
        }
        if decision.action == Action::Keep && !samples.is_empty() {
            // Until it is measured again, the candidate's own samples stand for the kept commit.
            lab.reference = Series::new(samples.clone());
            lab.reference_runs = measured_runs;
        }
        let record = Record {
            task_id: lab.task.id.clone(),
            iteration,
            metric_name: lab.policy.name.clone(),
            baseline_value: Some(lab.baseline.value()),
            best_before: Some(best_before),
            measured_value: decision.value,
            samples,
            outcome: decision.outcome.as_str().to_string(),
            action: action_name(decision.action).to_string(),
            noise: decision.noise,
            confidence: decision.confidence,
            commit_sha: candidate.clone().unwrap_or_default(),
            reverted_sha: reverted,
            git_ref: if candidate.is_some() {
                git_ref.clone()
            } else {
                String::new()
            },
            notes: decision.reason.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
            recorded_at: durable::utc_now(),
        };
        let told = match decision.action {
            Action::Keep => format!("{} → kept", decision.reason),
            Action::Discard => format!("{} → discarded", decision.reason),
            Action::Hold => format!("{} → left on the branch for review", decision.reason),
        };
        self.emit_record(lab, record, iteration, told);

        if decision.action == Action::Hold {
            let task = lab.task.clone();
            return self
                .block(
                    &task,
                    format!(
                        "Experiment iteration {iteration} ended {} with rollback_on_failure = false: \
                         the candidate {} stays on the branch for a person to review ({})",
                        decision.outcome.as_str(),
                        candidate
                            .as_deref()
                            .map(git::short_sha)
                            .unwrap_or("(no commit)"),
                        decision.reason
                    ),
                )
                .map(Step::End);
        }
        if !lab.tally.target_met
            && lab
                .tally
                .remeasure_due(&decision, lab.settings.remeasure_after_discards)
        {
            let why = if decision.action == Action::Keep {
                "after a keep"
            } else {
                "after discards in a row (drift check)"
            };
            let log = self.step_log(&lab.task, "reference")?;
            let measured = self.measure(lab, "reference", log).await?;
            if measured.interrupted {
                return Ok(Step::End(TaskEnd::Interrupted));
            }
            match measured.series {
                Ok(series) => {
                    let before = lab.reference.value();
                    lab.reference = series;
                    lab.reference_runs = measured.runs;
                    let message = format!(
                        "reference measured again {why}: {} (was {})",
                        lab.policy.show(lab.reference.value()),
                        short(before)
                    );
                    self.log_reference(lab, iteration, measured.elapsed_ms, message);
                }
                Err(why) => {
                    let task = lab.task.clone();
                    return self
                        .block(
                            &task,
                            format!(
                                "the kept commit {} no longer measures: {why}",
                                git::short_sha(&lab.kept_sha)
                            ),
                        )
                        .map(Step::End);
                }
            }
        }
        Ok(Step::Decided)
    }

    /// Measures the current tree `repeats` times, the checks' output appended to `log_path`;
    /// stops at the first sample that fails.
    async fn measure(&mut self, lab: &Lab, what: &str, log_path: PathBuf) -> Result<Measured> {
        self.sinks.emit(Event::Validating {
            task: task_ref(&lab.task),
            checks: lab.plan.commands.len(),
        });
        let started = Instant::now();
        let mut tee = Tee::new(vec![Box::new(append(&log_path)?)]);
        let mut samples = Vec::new();
        let mut runs = Vec::new();
        for k in 1..=lab.repeats {
            tee.note(&format!("# {what}: sample {k} of {}", lab.repeats));
            runs = gate::run_checks(&lab.plan, &mut tee, &self.cancel).await;
            if self.cancel.level() != CancelLevel::None {
                return Ok(Measured {
                    series: Err("interrupted".into()),
                    runs,
                    elapsed_ms: started.elapsed().as_millis() as u64,
                    interrupted: true,
                });
            }
            match gate::sample(&lab.plan, &runs) {
                Ok(value) => samples.push(value),
                Err(why) => {
                    let why = super::first_line(&why).to_string();
                    return Ok(Measured {
                        series: Err(if lab.repeats > 1 {
                            format!("sample {k} of {}: {why}", lab.repeats)
                        } else {
                            why
                        }),
                        runs,
                        elapsed_ms: started.elapsed().as_millis() as u64,
                        interrupted: false,
                    });
                }
            }
        }
        Ok(Measured {
            series: Ok(Series::new(samples)),
            runs,
            elapsed_ms: started.elapsed().as_millis() as u64,
            interrupted: false,
        })
    }

    /// Takes candidate `sha` off the branch, back to the last kept commit, journalling the
    /// start and the end so that a discard cut short is finished by the next run.
    async fn take_off(
        &mut self,
        lab: &Lab,
        iteration: u32,
        sha: &str,
    ) -> std::result::Result<(), String> {
        self.sinks.emit(Event::DiscardStarted {
            task: task_ref(&lab.task),
            iteration,
            sha: sha.to_string(),
            kept: lab.kept_sha.clone(),
        });
        git::discard(&self.settings.paths.code_dir, &lab.kept_sha, sha).await?;
        self.sinks.emit(Event::CandidateDiscarded {
            task: task_ref(&lab.task),
            iteration,
            sha: sha.to_string(),
        });
        Ok(())
    }

    /// Records a measurement of the reference (the baseline, or the kept commit again).
    fn log_reference(&mut self, lab: &mut Lab, iteration: u32, elapsed_ms: u64, message: String) {
        let record = Record {
            task_id: lab.task.id.clone(),
            iteration,
            metric_name: lab.policy.name.clone(),
            baseline_value: Some(lab.baseline.value()),
            best_before: None,
            measured_value: Some(lab.reference.value()),
            samples: lab.reference.samples.clone(),
            outcome: Outcome::Baseline.as_str().to_string(),
            action: String::new(),
            noise: None,
            confidence: None,
            commit_sha: lab.kept_sha.clone(),
            reverted_sha: String::new(),
            git_ref: String::new(),
            notes: message.clone(),
            duration_ms: elapsed_ms,
            recorded_at: durable::utc_now(),
        };
        self.emit_record(lab, record, iteration, message);
    }

    fn emit_record(&mut self, lab: &mut Lab, record: Record, iteration: u32, message: String) {
        lab.history.push(record.clone());
        let drop = lab.history.len().saturating_sub(HISTORY_IN_PROMPT);
        lab.history.drain(..drop);
        let progress = lab.progress(iteration, message);
        self.sinks.emit(Event::Experiment {
            task: task_ref(&lab.task),
            record: Box::new(record),
            progress: Box::new(progress),
        });
    }

    /// Completes or blocks the task with the experiment's summary.
    fn finish_experiment(
        &mut self,
        lab: &Lab,
        summary: String,
        completed: bool,
    ) -> Result<TaskEnd> {
        let notes = vec![
            format!(
                "Experiment baseline {}; best kept {}.",
                lab.policy.show(lab.baseline.value()),
                lab.policy.show(lab.reference.value())
            ),
            format!(
                "Experiment outcomes: kept {}, discarded {}, invalid {}.",
                lab.tally.kept, lab.tally.discarded, lab.tally.invalid
            ),
        ];
        if !completed {
            return self.block(&lab.task, summary);
        }
        let gate = gate::judge(
            &lab.plan,
            &lab.kept_files,
            &lab.reference_runs,
            Some(lab.baseline.value()),
            false,
        );
        let completed = self.record_completion(
            &lab.task,
            &AttemptRecord {
                status: "completed",
                attempt: lab.tally.iterations,
                report: lab.last_report.as_ref(),
                changed: &lab.kept_files,
                gate: Some(&gate),
                summary: &summary,
                notes: &notes,
            },
        )?;
        Ok(if completed {
            TaskEnd::Completed
        } else {
            TaskEnd::Blocked
        })
    }
}

/// How an iteration ended for the loop.
enum Step {
    Decided,
    /// Not counted: the provider was unavailable; run the same iteration again.
    Again,
    End(TaskEnd),
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Keep => "keep",
        Action::Discard => "discard",
        Action::Hold => "hold",
    }
}

fn discard_failed(iteration: u32, sha: &str, why: &str) -> String {
    format!(
        "Experiment iteration {iteration}: could not take the candidate {} off the branch ({why}); \
         it is still checked out, so look at it before running again",
        git::short_sha(sha)
    )
}
