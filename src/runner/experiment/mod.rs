//! Iterative tasks: the experiment loop.
//!
//! An experiment runs in a git worktree of its own on a branch `autodev/<task>`, made from the
//! user's `HEAD` ([`trees`]): the agent works there and the checks measure there, so the user's
//! working tree, index and uncommitted work are never touched while it runs. With `repeats` of
//! 3 or more a second, detached worktree holds the reference (the last kept commit) and the two
//! are measured in interleaved pairs ([`measure`]); the first such measurement, of the start
//! against itself (A/A), gives the noise floor.
//!
//! The baseline is measured first. Each iteration then asks the agent for one change, commits
//! it (commit-before-compare), pins the commit under
//! `refs/autodev/experiments/<task>/<run>/<iteration>`, measures it, and lets
//! [`crate::experiment::decide`] keep it (the branch stays on it) or discard it (the branch goes
//! back to the last kept commit, with no revert commit). Measured one series at a time, the
//! reference is measured again after a keep and after a run of discards. The loop ends at the
//! target, a stop threshold or the last iteration; the task completes only if the kept result
//! beats the baseline, and the result is then fast-forwarded onto the user's branch when that is
//! safe, or left on its branch with the command that merges it.

mod measure;
pub(super) mod promote;
mod trees;

use std::path::PathBuf;
use std::time::Instant;

use measure::{Bench, Measured};
use trees::Trees;

use super::agent::Turn;
use super::policy::{self, Next};
use super::prompt::ExperimentContext;
use super::records::{AttemptRecord, AttemptStatus};
use super::recover::Resume;
use super::{Runner, TaskEnd, pause, task_ref};
use crate::backend::{AgentReport, Outcome as AgentOutcome};
use crate::durable;
use crate::error::Result;
use crate::exec::CancelLevel;
use crate::experiment::decide::{Lines, Stage, short, simplification};
use crate::experiment::ideas;
use crate::experiment::stats::{self, detectable, pairs_needed};
use crate::experiment::{
    Action, Decision, Outcome, Policy, Record, Series, Tally, conclude, decide, decide_pairs,
    journal,
};
use crate::gate::{self, CheckRun, Plan};
use crate::git::{self, Committed, worktree};
use crate::journal::event::{Event, ExperimentProgress, Level};
use crate::task::Task;
use crate::task::contract::{Completion, Execution, Iterative};

/// Records of earlier measurements shown in an iteration's prompt.
const HISTORY_IN_PROMPT: usize = 5;

/// The state of one experiment.
struct Lab {
    task: Task,
    settings: Iterative,
    policy: Policy,
    target_summary: String,
    repeats: u32,
    /// The candidate's tree (where the agent works) and, for interleaved measurement, the
    /// reference's tree with its root.
    candidate: Bench,
    reference_bench: Option<(Bench, PathBuf)>,
    build: Option<String>,
    /// Interleaved measurement: the noise floor the A/A measurement found.
    floor: Option<f64>,
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
    /// The iterations done before this run (a resumed experiment).
    done_before: u32,
    /// The ideas backlog, `logs/ideas/<task>.md` (`None`: the task turned it off).
    ideas: Option<PathBuf>,
    /// The stage its prompts are in, once told.
    stage: Option<Stage>,
    /// Interleaved pairs taken one at a time until the evidence is clear
    /// (`completion.sequential`); `None`: always `repeats` pairs.
    sequential: Option<stats::Sequential>,
}

/// How the loop ended.
enum Ended {
    /// It ran its course: the summary, and whether the goal was met.
    Concluded { summary: String, completed: bool },
    /// It stopped early; the worktrees stay.
    Early(TaskEnd),
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

    /// What the iterations of the current run without improvement tried, from the ideas
    /// backlog (`None` when it is off or says nothing).
    fn tried_lately(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.ideas.as_ref()?).ok()?;
        let tried = ideas::tried(&text, self.tally.no_improvement_streak as usize);
        (!tried.is_empty()).then(|| tried.join("; "))
    }

    /// The experiment part of an iteration's prompt.
    fn context(&self, iteration: u32) -> ExperimentContext {
        let backlog = self
            .ideas
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(|text| ideas::digest(&text))
            .unwrap_or_default();
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
        let stage = Stage::of(self.tally.no_improvement_streak, &self.settings);
        lines.push(format!("- stage: {}", stage.as_str()));
        lines.push(match stage {
            Stage::Explore => "- Make one focused change that should move the metric.".to_string(),
            Stage::Refine => format!(
                "- {} iteration(s) in a row brought no improvement. Refine: build on the best \
                 kept change ({}), adjusting or extending it, rather than trying something \
                 unrelated.",
                self.tally.no_improvement_streak,
                git::short_sha(&self.kept_sha)
            ),
            Stage::Pivot => format!(
                "- {} iteration(s) in a row brought no improvement, refining included. Pivot: \
                 try an approach unlike everything the ideas backlog lists; the experiment \
                 halts after {} pivot(s) without a gain.",
                self.tally.no_improvement_streak, self.settings.halt_after_pivots
            ),
        });
        lines.push(
            "- autodev commits your change, measures it, and keeps it only if it is clearly \
             better; otherwise the branch goes back to the best kept commit."
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
                    let action = match r.action {
                        None => String::new(),
                        Some(a) => format!(", {}", a.as_str()),
                    };
                    let outcome = r.outcome.map_or("unknown", Outcome::as_str);
                    format!("- {what} {outcome}{action}: {}", r.notes)
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let history = match (backlog.is_empty(), self.ideas.as_ref()) {
            (false, Some(path)) => format!(
                "{history}\n\n{backlog}\n(The whole backlog: {})",
                path.display()
            ),
            _ => history,
        };
        ExperimentContext {
            execution: lines.join("\n"),
            history,
        }
    }
}

/// The chance a sequential measurement may keep a change that did nothing, over all its looks
/// (`bench/experiment.sh`: with 3 to 6 pairs, 0.7% false keeps and 98.8% of 5% gains kept in
/// 4.4 pairs on average, on a drifting machine with 1% noise).
const SEQUENTIAL_ALPHA: f64 = 0.01;

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
    /// Works an iterative task as an experiment in its own worktree; `resume` continues one a
    /// crash cut off.
    pub(super) async fn experiment(
        &mut self,
        task: Task,
        resume: Option<Resume>,
    ) -> Result<TaskEnd> {
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
        let repeats = numeric.repeats.max(1);
        let interleaved = repeats >= 3;
        let trees = match self.open_trees(&task, interleaved, resume).await? {
            Ok(trees) => trees,
            Err(why) => return self.block(&task, why),
        };
        let user_dir = self.settings.paths.code_dir.clone();
        let candidate_dir = trees.layout.inside(&trees.candidate);
        let plan = Plan::new(&task, &self.settings.config, &self.settings.paths);
        let reference_bench = trees.reference.as_ref().map(|root| {
            let dir = trees.layout.inside(root);
            (
                Bench::new(plan.clone().in_tree(&user_dir, &dir), &trees.kept),
                root.clone(),
            )
        });
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
            candidate: Bench::new(plan.in_tree(&user_dir, &candidate_dir), &trees.kept),
            reference_bench,
            build: settings.build_command.clone(),
            floor: None,
            target_summary: task.completion.target_summary(),
            repeats,
            settings: settings.clone(),
            policy,
            refs,
            baseline: Series::default(),
            reference: Series::default(),
            reference_runs: Vec::new(),
            kept_sha: trees.kept.clone(),
            tally: Tally::default(),
            history,
            last: None,
            last_report: None,
            kept_files: Vec::new(),
            done_before: 0,
            stage: None,
            sequential: (interleaved && numeric.sequential_pairs()).then_some(stats::Sequential {
                min: 3,
                max: repeats as usize,
                alpha: SEQUENTIAL_ALPHA,
            }),
            ideas: settings
                .ideas
                .then(|| ideas::path(&self.settings.paths.log_dir, &task.id)),
            task,
        };
        // The agent and the checks work in the candidate's tree until the experiment ends.
        let inner = self.tree.copy_at(&candidate_dir);
        let user_tree = std::mem::replace(&mut self.tree, inner);
        let ended = self.run_lab(&mut lab, &trees).await;
        self.tree = user_tree;
        let task = lab.task.clone();
        match ended? {
            Ended::Early(end) => {
                if matches!(end, TaskEnd::Blocked) {
                    self.keep_trees(&task, &trees);
                }
                Ok(end)
            }
            Ended::Concluded { summary, completed } => {
                let kept = lab.kept_sha.clone();
                if let Some(reason) = self.blocked_by_hand(&task)? {
                    let why = format!("blocked by hand: {reason}");
                    self.land(&task, &mut lab, &trees, &kept, (false, &why))
                        .await;
                    self.told_blocked_by_hand(&task, reason);
                    return Ok(TaskEnd::Blocked);
                }
                let landed = self
                    .land(&task, &mut lab, &trees, &kept, (completed, &summary))
                    .await;
                match landed {
                    Some(landing) => self.finish_experiment(&lab, landing.summary, completed),
                    None => Ok(TaskEnd::Interrupted),
                }
            }
        }
    }

    /// The experiment itself, in its trees: the baseline, then the iterations.
    async fn run_lab(&mut self, lab: &mut Lab, trees: &Trees) -> Result<Ended> {
        let resumed =
            trees.resumed && (self.resumed_records(lab, trees) || trees.kept != trees.start);
        self.note(
            Level::Info,
            format!(
                "Experiment {}: {}, then up to {} iteration(s); {} sample(s) per measurement{}",
                lab.task.id,
                if resumed {
                    "the kept commit measured again"
                } else {
                    "baseline"
                },
                lab.settings.max_iterations,
                lab.repeats,
                if lab.reference_bench.is_some() {
                    ", each interleaved with the reference's in ABBA order"
                } else {
                    ""
                }
            ),
        );

        if let Err(end) = self.measure_start(lab, resumed).await? {
            return Ok(Ended::Early(end));
        }
        if lab.policy.meets_target(lab.reference.value()) {
            lab.tally.target_met = true;
            let summary = format!(
                "The {} already meets the target: {}",
                if resumed { "kept commit" } else { "baseline" },
                lab.policy.show(lab.reference.value())
            );
            return Ok(Ended::Concluded {
                summary,
                completed: true,
            });
        }

        let mut iteration = lab.done_before;
        let stop = loop {
            if let Some(stop) = (iteration > 0 && iteration == lab.done_before)
                .then(|| lab.tally.stop(&lab.settings))
                .flatten()
            {
                break stop;
            }
            if self.cancel.level() != CancelLevel::None {
                return Ok(Ended::Early(TaskEnd::Interrupted));
            }
            iteration += 1;
            if let Some(reason) = self.blocked_by_hand(&lab.task)? {
                let task = lab.task.clone();
                self.told_blocked_by_hand(&task, reason);
                return Ok(Ended::Early(TaskEnd::Blocked));
            }
            match self.iterate(lab, iteration).await? {
                Step::Decided => {}
                Step::Again => {
                    iteration -= 1;
                    continue;
                }
                Step::End(end) => return Ok(Ended::Early(end)),
            }
            if let Some(stop) = lab.tally.stop(&lab.settings) {
                break stop;
            }
            self.warn_if_stagnant(lab);
            if pause(self.settings.config.run.delay_between_tasks, &self.cancel).await {
                return Ok(Ended::Early(TaskEnd::Interrupted));
            }
        };
        // Stopped by its run of iterations without improvement (stagnation, or a halt after
        // its pivots): the reason says what they tried.
        let by_streak = lab.tally.no_improvement_streak
            >= lab
                .settings
                .stop_after_no_improvement
                .min(lab.settings.pivot_after + lab.settings.halt_after_pivots);
        let stop = match lab.tried_lately() {
            Some(tried) if by_streak => format!("{stop}; tried meanwhile: {tried}"),
            _ => stop,
        };
        let conclusion = conclude(
            &lab.policy,
            lab.baseline.value(),
            lab.reference.value(),
            &lab.tally,
            &stop,
        );
        Ok(Ended::Concluded {
            summary: conclusion.summary,
            completed: conclusion.completed,
        })
    }

    /// Measures where the experiment starts: the baseline (interleaved, the start against
    /// itself, which also gives the noise floor), or for a resumed one the kept commit afresh;
    /// it becomes the reference. `Err`: how the task ends instead.
    async fn measure_start(
        &mut self,
        lab: &mut Lab,
        resumed: bool,
    ) -> Result<std::result::Result<(), TaskEnd>> {
        let log = self.step_log(&lab.task, "baseline")?;
        let what = if lab.reference_bench.is_some() {
            "A/A: the start against itself"
        } else {
            "baseline"
        };
        let measured = match self.measure_lab(lab, what, log, false).await? {
            Ok(measured) => measured,
            Err(why) => {
                let task = lab.task.clone();
                return self.block(&task, why).map(Err);
            }
        };
        if measured.interrupted {
            return Ok(Err(TaskEnd::Interrupted));
        }
        let first = match (&measured.series, &measured.reference) {
            (Err(why), _) | (_, Some(Err(why))) => {
                let task = lab.task.clone();
                let why = format!("Experiment baseline failed: {why}");
                return self.block(&task, why).map(Err);
            }
            (Ok(b), Some(Ok(a))) => {
                let gains: Vec<f64> = a
                    .samples
                    .iter()
                    .zip(&b.samples)
                    .map(|(a, b)| b - a)
                    .collect();
                let sd = stats::compare_pairs(&gains, lab.policy.alpha).map_or(0.0, |p| p.sd);
                lab.floor = Some(detectable(sd, lab.repeats as usize, lab.policy.alpha));
                let mut all = a.samples.clone();
                all.extend(&b.samples);
                let all = Series::new(all);
                self.tell_noise_floor(lab, sd, all.value());
                all
            }
            (Ok(series), None) => series.clone(),
        };
        lab.reference = first.clone();
        lab.reference_runs = measured.runs.clone();
        if resumed {
            let message = format!(
                "the kept commit {} measured again after a restart: {}",
                git::short_sha(&lab.kept_sha),
                lab.policy.show(lab.reference.value())
            );
            self.log_reference(lab, lab.done_before, &measured, message);
        } else {
            lab.baseline = first;
            let message = format!(
                "baseline {} from {} sample(s)",
                lab.policy.show(lab.baseline.value()),
                lab.baseline.len()
            );
            self.log_reference(lab, 0, &measured, message);
        }
        Ok(Ok(()))
    }

    /// For a resumed experiment: the baseline and the tally recorded before the restart,
    /// replayed from the journal's measurements (from `experiments.jsonl` when the journal no
    /// longer has the baseline: rotated away, or deleted); whether there were any.
    fn resumed_records(&mut self, lab: &mut Lab, trees: &Trees) -> bool {
        let baseline_at = |records: &[crate::experiment::Record]| {
            records.iter().rposition(|r| {
                r.iteration == 0
                    && r.outcome == Some(Outcome::Baseline)
                    && r.commit_sha == trees.start
            })
        };
        let from_log;
        let (records, at) = match baseline_at(&trees.journalled) {
            Some(at) => (&trees.journalled[..], at),
            None => {
                from_log =
                    journal::recent(&self.settings.paths.experiments_log(), &lab.task.id, 10_000);
                match baseline_at(&from_log) {
                    Some(at) => (&from_log[..], at),
                    None => {
                        self.tell_no_baseline(lab, trees);
                        return false;
                    }
                }
            }
        };
        let since = &records[at..];
        // Keeps never go back to the start: records that kept something while the journal says
        // the experiment stands at its start belong to another line of it (one begun afresh),
        // and this one starts over.
        if trees.kept == trees.start
            && since
                .iter()
                .any(|r| r.iteration > 0 && r.action == Some(Action::Keep))
        {
            return false;
        }
        lab.baseline = Series::new(since[0].samples.clone());
        if !since[0].reference_samples.is_empty() {
            lab.baseline.samples.extend(&since[0].reference_samples);
        }
        if let Some(value) = since[0].measured_value
            && lab.baseline.is_empty()
        {
            lab.baseline = Series::new(vec![value]);
        }
        lab.tally = Tally::replay(since);
        lab.done_before = since.iter().map(|r| r.iteration).max().unwrap_or(0);
        lab.floor = since[0].noise_floor;
        true
    }

    fn tell_no_baseline(&mut self, lab: &Lab, trees: &Trees) {
        if trees.kept != trees.start {
            self.note(
                Level::Warn,
                format!(
                    "the baseline of the resumed experiment {} is neither in the journal nor in \
                     experiments.jsonl; the kept commit {} stands in for it",
                    lab.task.id,
                    git::short_sha(&trees.kept)
                ),
            );
        }
    }

    /// Says what the A/A measurement found, and warns when the noise floor is above the
    /// smallest gain the task asks for, with the repeats that would be needed.
    fn tell_noise_floor(&mut self, lab: &Lab, sd: f64, value: f64) {
        let Some(floor) = lab.floor else { return };
        let p = &lab.policy;
        let base = value.abs().max(f64::MIN_POSITIVE);
        if sd == 0.0 {
            self.note(
                Level::Info,
                format!(
                    "noise floor of {}: the start measured the same in both trees every time (a \
                     deterministic metric), so any difference counts",
                    lab.task.id
                ),
            );
            return;
        }
        let told = format!(
            "noise floor of {}: pairs of the same commit differ by {} (standard deviation), so \
             with {} pair(s) a gain must exceed about {}{} to be told from noise",
            lab.task.id,
            short(sd),
            lab.repeats,
            short(floor),
            crate::experiment::decide::percent(floor, base)
        );
        if p.min_improvement > 0.0 && floor > p.min_improvement {
            let needed = match pairs_needed(sd, p.min_improvement, p.alpha, 1000) {
                Some(n) => format!(
                    "set completion.repeats to {n} to keep a real gain of {} four times in five",
                    short(p.min_improvement)
                ),
                None => "even 1000 repeats would not be enough: quiet the benchmark or raise \
                         min_improvement"
                    .to_string(),
            };
            self.note(
                Level::Warn,
                format!(
                    "{told}; that is above min_improvement {}, so most real gains of that size \
                     will be discarded: {needed}",
                    short(p.min_improvement)
                ),
            );
        } else {
            self.note(Level::Info, told);
        }
    }

    /// One iteration: the agent's change, its commit, its measurement, the decision.
    async fn iterate(&mut self, lab: &mut Lab, iteration: u32) -> Result<Step> {
        self.tell_stage(lab);
        let max = lab.settings.max_iterations;
        let context = lab.context(iteration);
        let started = Instant::now();
        let step = format!("iteration_{iteration}");
        let mut turn = self
            .turn(&lab.task, iteration, max, &step, Some(&context))
            .await?;
        lab.last_report = Some(turn.report.clone());
        let next = policy::after_agent(turn.report.outcome, turn.tee_error.is_some());
        let task = lab.task.clone();
        if let Some(end) =
            self.stopped_after_turn(&task, next, &turn.report, turn.tee_error.take())?
        {
            return Ok(Step::End(end));
        }
        if next == Next::Interrupted {
            return Ok(Step::End(TaskEnd::Interrupted));
        }
        // Whatever the agent left becomes a candidate commit first, so nothing is lost.
        let candidate = match self.commit_candidate(lab, iteration, &turn.changed).await {
            Ok(candidate) => candidate,
            Err(why) => return self.block(&task, why).map(Step::End),
        };
        if next == Next::Wait {
            // A provider problem is not the candidate's fault: put its partial work aside and
            // try the same iteration again after the wait.
            if let Some(sha) = &candidate
                && let Err(why) = self.take_off(lab, iteration, sha).await
            {
                let why = discard_failed(iteration, sha, &why);
                return self.block(&task, why).map(Step::End);
            }
            return Ok(match self.wait_for_provider(&task, &turn.report).await {
                Some(end) => Step::End(end),
                None => Step::Again,
            });
        }
        self.provider_answered();
        let judged = match self
            .judge_candidate(lab, iteration, &turn, candidate.is_some())
            .await?
        {
            Ok(judged) => judged,
            Err(step) => return Ok(step),
        };
        let best_before = lab.reference.value();
        let reverted = match &candidate {
            Some(sha) => match self
                .apply(lab, iteration, sha, &judged, &turn.changed)
                .await
            {
                Ok(reverted) => reverted,
                Err(why) => return self.block(&task, why).map(Step::End),
            },
            None => String::new(),
        };
        let decision = judged.decision.clone();
        self.note_idea(lab, (iteration, best_before), &turn, &decision);
        self.record_iteration(
            lab,
            iteration,
            judged,
            Candidate {
                sha: candidate.clone(),
                reverted,
                best_before,
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
        );
        if decision.action == Action::Hold {
            let why = format!(
                "Experiment iteration {iteration} ended {} with rollback_on_failure = false: the \
                 candidate {} stays on the experiment's branch for a person to review ({})",
                decision.outcome.as_str(),
                candidate
                    .as_deref()
                    .map(git::short_sha)
                    .unwrap_or("(no commit)"),
                decision.reason
            );
            return self.block(&task, why).map(Step::End);
        }
        self.remeasure_if_due(lab, iteration, &decision).await
    }

    /// Journals and tells the experiment's stage when it changed since the last iteration (or
    /// at its first): what its prompts ask of the agent from now on.
    fn tell_stage(&mut self, lab: &mut Lab) {
        let streak = lab.tally.no_improvement_streak;
        let stage = Stage::of(streak, &lab.settings);
        if lab.stage.replace(stage) == Some(stage) {
            return;
        }
        let message = match stage {
            Stage::Explore if streak == 0 && lab.tally.iterations > 0 => {
                "an improvement: back to exploring".to_string()
            }
            Stage::Explore => "each iteration tries one focused change".to_string(),
            Stage::Refine => format!(
                "{streak} iteration(s) in a row without improvement: the next ones build on the \
                 best kept change"
            ),
            Stage::Pivot => format!(
                "{streak} iteration(s) in a row without improvement: the next ones try an \
                 approach unlike everything tried so far, and it halts after {} pivot(s) without \
                 a gain",
                lab.settings.halt_after_pivots
            ),
        };
        self.emit(Event::ExperimentStage {
            task: task_ref(&lab.task),
            stage: stage.as_str().to_string(),
            message,
        });
    }

    /// Warns, once the iterations without improvement reach two thirds of
    /// `stop_after_no_improvement`, that the experiment will stop if it goes on like this.
    fn warn_if_stagnant(&mut self, lab: &Lab) {
        let stop_at = lab.settings.stop_after_no_improvement;
        let streak = lab.tally.no_improvement_streak;
        if stop_at < 3 || streak != (2 * stop_at).div_ceil(3) {
            return;
        }
        self.note(
            Level::Warn,
            format!(
                "experiment {}: {streak} iteration(s) in a row without improvement; it stops at \
                 {stop_at} (execution.stop_after_no_improvement)",
                lab.task.id
            ),
        );
    }

    /// Appends the iteration to the ideas backlog (what the agent said it tried, its files, the
    /// measurement and the decision); a backlog that cannot be written is said once a run.
    /// `best_before` is the reference's value the candidate was compared with.
    fn note_idea(
        &mut self,
        lab: &Lab,
        (iteration, best_before): (u32, f64),
        turn: &Turn,
        decision: &Decision,
    ) {
        let Some(path) = &lab.ideas else { return };
        let measured = decision
            .value
            .map(|value| {
                format!(
                    "{} against {} (baseline {})",
                    lab.policy.show(value),
                    short(best_before),
                    short(lab.baseline.value())
                )
            })
            .unwrap_or_default();
        let action = match decision.action {
            Action::Keep => "kept",
            Action::Discard => "discarded",
            Action::Hold => "held",
        };
        let at = jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string();
        let text = ideas::entry(&ideas::Entry {
            iteration,
            action,
            outcome: decision.outcome.as_str(),
            tried: &turn.report.final_text,
            files: &turn.changed,
            measured: &measured,
            why: &decision.reason,
            at: &at,
        });
        let appended = (|| -> std::io::Result<()> {
            use std::io::Write;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let new = !path.exists();
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            if new {
                file.write_all(ideas::header(&lab.task.id, lab.task.display_title()).as_bytes())?;
            }
            file.write_all(text.as_bytes())
        })();
        if let Err(e) = appended {
            self.note(
                Level::Warn,
                format!("could not add to the ideas backlog {}: {e}", path.display()),
            );
        }
    }

    /// Commits what the agent changed as the iteration's candidate, pinned at its own ref;
    /// `None` when it changed nothing. `Err`: why it could not be committed.
    async fn commit_candidate(
        &mut self,
        lab: &mut Lab,
        iteration: u32,
        changed: &[String],
    ) -> std::result::Result<Option<String>, String> {
        if changed.is_empty() {
            return Ok(None);
        }
        let dir = self.tree.dir.clone();
        let message = commit_message(&lab.task, &lab.settings.commit_prefix, iteration);
        let sha = match git::commit_paths(&dir, changed, &message).await {
            Committed::Made { sha, ignored } => {
                if !ignored.is_empty() {
                    self.note(
                        Level::Warn,
                        format!(
                            "not in the candidate commit because git ignores them: {}",
                            ignored.join(", ")
                        ),
                    );
                }
                sha
            }
            Committed::Nothing => return Ok(None),
            Committed::Skipped(why) | Committed::Failed(why) => {
                return Err(format!(
                    "Experiment iteration {iteration} could not commit its candidate \
                     (commit-before-compare is required): {why}; the changes are left in the \
                     experiment's worktree"
                ));
            }
        };
        let git_ref = format!("{}/{iteration}", lab.refs);
        lab.candidate.at = sha.clone();
        if let Err(why) = git::set_ref(&dir, &git_ref, &sha).await {
            self.note(Level::Warn, format!("could not create {git_ref}: {why}"));
        }
        self.emit(Event::CandidateCommitted {
            task: task_ref(&lab.task),
            iteration,
            sha: sha.clone(),
            kept: lab.kept_sha.clone(),
            git_ref,
        });
        Ok(Some(sha))
    }

    /// Judges the turn's candidate: invalid without a measurement (the agent failed, protected
    /// files were touched, nothing changed, the change breaks the task's rules), else measured
    /// and decided. `Err`: the step the experiment ends on instead.
    async fn judge_candidate(
        &mut self,
        lab: &mut Lab,
        iteration: u32,
        turn: &Turn,
        committed: bool,
    ) -> Result<std::result::Result<Judged, Step>> {
        let invalid = if turn.report.outcome != AgentOutcome::Ok {
            Some(turn.report.summary())
        } else if !turn.restored.is_empty() {
            Some(format!(
                "tampering: the candidate changed protected files ({}), which were put back",
                turn.restored.join(", ")
            ))
        } else if !committed {
            Some("no candidate: the agent changed no files".to_string())
        } else {
            gate::change_errors(&lab.candidate.plan, &turn.changed)
                .first()
                .cloned()
        };
        if let Some(why) = invalid {
            return Ok(Ok(Judged {
                decision: decide(&lab.policy, &lab.reference, Err(&why)),
                measured: None,
            }));
        }
        let what = format!("iteration {iteration}");
        let measured = match self
            .measure_lab(lab, &what, turn.log_path.clone(), lab.sequential.is_some())
            .await?
        {
            Ok(measured) => measured,
            Err(why) => {
                let task = lab.task.clone();
                return self.block(&task, why).map(|end| Err(Step::End(end)));
            }
        };
        if measured.interrupted {
            return Ok(Err(Step::End(TaskEnd::Interrupted)));
        }
        let decision = match &measured.reference {
            None => decide(
                &lab.policy,
                &lab.reference,
                measured.series.as_ref().map_err(String::as_str),
            ),
            Some(Err(why)) => return self.kept_unmeasurable(lab, why).map(Err),
            Some(Ok(fresh)) => {
                self.tell_drift(lab, fresh);
                lab.reference = fresh.clone();
                lab.reference_runs = measured.reference_runs.clone();
                let pairs = measured.series.as_ref().map(|c| (fresh, c));
                // A sequential measurement keeps only what one of its looks calls clear.
                let policy = match lab.sequential {
                    Some(plan) => Policy {
                        alpha: plan.alpha / (plan.max.saturating_sub(plan.min) + 1) as f64,
                        ..lab.policy.clone()
                    },
                    None => lab.policy.clone(),
                };
                decide_pairs(&policy, pairs.map_err(String::as_str), lab.floor)
            }
        };
        let decision = if lab.settings.keep_simplifications {
            let dir = self.tree.dir.clone();
            match worktree::lines_changed(&dir, &lab.kept_sha, &lab.candidate.at).await {
                Ok((added, removed)) => simplification(decision, Lines { added, removed }),
                Err(_) => decision,
            }
        } else {
            decision
        };
        Ok(Ok(Judged {
            decision,
            measured: Some(measured),
        }))
    }

    /// Carries out the decision on the candidate commit `sha`: kept as the new reference, or
    /// taken off the branch (held ones stay); the commit taken off, if any. `Err`: why the
    /// discard failed.
    async fn apply(
        &mut self,
        lab: &mut Lab,
        iteration: u32,
        sha: &str,
        judged: &Judged,
        changed: &[String],
    ) -> std::result::Result<String, String> {
        match judged.decision.action {
            Action::Keep => {
                self.emit(Event::CandidateKept {
                    task: task_ref(&lab.task),
                    iteration,
                    sha: sha.to_string(),
                });
                lab.kept_sha = sha.to_string();
                for path in changed {
                    if !lab.kept_files.contains(path) {
                        lab.kept_files.push(path.clone());
                    }
                }
                // Until it is measured again, the candidate's own samples stand for the kept
                // commit.
                if let Some(m) = &judged.measured
                    && let Ok(series) = &m.series
                    && !series.is_empty()
                {
                    lab.reference = series.clone();
                    lab.reference_runs = m.runs.clone();
                }
                Ok(String::new())
            }
            Action::Discard => {
                if let Err(why) = self.take_off(lab, iteration, sha).await {
                    return Err(discard_failed(iteration, sha, &why));
                }
                Ok(sha.to_string())
            }
            Action::Hold => Ok(String::new()),
        }
    }

    /// Records the iteration: the tally, the prompt's history, `experiments.jsonl` and the
    /// journal.
    fn record_iteration(&mut self, lab: &mut Lab, iteration: u32, judged: Judged, c: Candidate) {
        let Judged { decision, measured } = judged;
        lab.tally.record(&decision);
        lab.last = decision.value.map(|value| (value, decision.outcome));
        let (samples, reference_samples, order) = match measured {
            Some(m) => (
                m.series.map(|s| s.samples).unwrap_or_default(),
                m.reference
                    .and_then(|r| r.ok())
                    .map(|r| r.samples)
                    .unwrap_or_default(),
                m.order,
            ),
            None => (Vec::new(), Vec::new(), String::new()),
        };
        let git_ref = match &c.sha {
            Some(_) => format!("{}/{iteration}", lab.refs),
            None => String::new(),
        };
        let record = Record {
            task_id: lab.task.id.clone(),
            iteration,
            metric_name: lab.policy.name.clone(),
            baseline_value: Some(lab.baseline.value()),
            best_before: Some(c.best_before),
            measured_value: decision.value,
            samples,
            reference_samples,
            order,
            noise_floor: lab.floor,
            outcome: Some(decision.outcome),
            action: Some(decision.action),
            noise: decision.noise,
            confidence: decision.confidence,
            commit_sha: c.sha.unwrap_or_default(),
            reverted_sha: c.reverted,
            git_ref,
            notes: decision.reason.clone(),
            duration_ms: c.elapsed_ms,
            recorded_at: durable::utc_now(),
        };
        let told = match decision.action {
            Action::Keep => format!("{} → kept", decision.reason),
            Action::Discard => format!("{} → discarded", decision.reason),
            Action::Hold => format!("{} → left on the branch for review", decision.reason),
        };
        self.emit_record(lab, record, iteration, told);
    }

    /// Measures the reference again when it is due: one series at a time, after a keep and
    /// after runs of discards (interleaved, every comparison measures it afresh anyway).
    async fn remeasure_if_due(
        &mut self,
        lab: &mut Lab,
        iteration: u32,
        decision: &Decision,
    ) -> Result<Step> {
        if lab.reference_bench.is_some()
            || lab.tally.target_met
            || !lab
                .tally
                .remeasure_due(decision, lab.settings.remeasure_after_discards)
        {
            return Ok(Step::Decided);
        }
        let why = if decision.action == Action::Keep {
            "after a keep"
        } else {
            "after discards in a row (drift check)"
        };
        let log = self.step_log(&lab.task, "reference")?;
        let build = lab.build.clone();
        let measured = self
            .measure_series(
                &lab.task,
                &mut lab.candidate,
                build.as_deref(),
                ("reference", lab.repeats),
                log,
            )
            .await?;
        if measured.interrupted {
            return Ok(Step::End(TaskEnd::Interrupted));
        }
        match &measured.series {
            Ok(series) => {
                let before = lab.reference.value();
                lab.reference = series.clone();
                lab.reference_runs = measured.runs.clone();
                let message = format!(
                    "reference measured again {why}: {} (was {})",
                    lab.policy.show(lab.reference.value()),
                    short(before)
                );
                self.log_reference(lab, iteration, &measured, message);
                Ok(Step::Decided)
            }
            Err(why) => self.kept_unmeasurable(lab, why),
        }
    }

    /// Measures the candidate's tree: interleaved with the reference's tree (checked out at the
    /// kept commit first) when there is one, else as a series. `Err` when the reference tree
    /// could not be checked out.
    /// With `sequential` (a candidate's comparison, when the task asks for it), pairs are taken
    /// until the evidence is clear.
    async fn measure_lab(
        &mut self,
        lab: &mut Lab,
        what: &str,
        log: PathBuf,
        sequential: bool,
    ) -> Result<std::result::Result<Measured, String>> {
        let build = lab.build.clone();
        let Some((reference, root)) = &mut lab.reference_bench else {
            return self
                .measure_series(
                    &lab.task,
                    &mut lab.candidate,
                    build.as_deref(),
                    (what, lab.repeats),
                    log,
                )
                .await
                .map(Ok);
        };
        if reference.at != lab.kept_sha {
            if let Err(why) = worktree::check_out(root, &lab.kept_sha).await {
                return Ok(Err(format!(
                    "the reference worktree could not check out the kept commit {}: {why}",
                    git::short_sha(&lab.kept_sha)
                )));
            }
            reference.at = lab.kept_sha.clone();
        }
        let stop = lab
            .sequential
            .filter(|_| sequential)
            .map(|plan| (plan, lab.policy.lower_is_better));
        self.measure_pairs(
            &lab.task,
            (reference, &mut lab.candidate),
            build.as_deref(),
            (what, lab.repeats, stop),
            log,
        )
        .await
        .map(Ok)
    }

    /// Blocks the task because its kept commit no longer measures.
    fn kept_unmeasurable(&mut self, lab: &Lab, why: &str) -> Result<Step> {
        let task = lab.task.clone();
        self.block(
            &task,
            format!(
                "the kept commit {} no longer measures: {why}",
                git::short_sha(&lab.kept_sha)
            ),
        )
        .map(Step::End)
    }

    /// Notes a move of the reference beyond the noise floor between two comparisons: the
    /// machine drifted (interleaving keeps it out of the decision).
    fn tell_drift(&mut self, lab: &Lab, fresh: &Series) {
        let Some(floor) = lab.floor else { return };
        let (before, now) = (lab.reference.value(), fresh.value());
        if (now - before).abs() > floor.max(lab.policy.unchanged_tolerance) {
            self.note(
                Level::Info,
                format!(
                    "drift: the kept commit {} measures {} now against {} before; the pairs \
                     cancel it",
                    git::short_sha(&lab.kept_sha),
                    short(now),
                    short(before)
                ),
            );
        }
    }

    /// Takes candidate `sha` off the experiment's branch, back to the last kept commit,
    /// journalling the start and the end so that a discard cut short is finished by the next run.
    async fn take_off(
        &mut self,
        lab: &mut Lab,
        iteration: u32,
        sha: &str,
    ) -> std::result::Result<(), String> {
        self.emit(Event::DiscardStarted {
            task: task_ref(&lab.task),
            iteration,
            sha: sha.to_string(),
            kept: lab.kept_sha.clone(),
        });
        git::discard(&self.tree.dir, &lab.kept_sha, sha).await?;
        lab.candidate.at = lab.kept_sha.clone();
        self.emit(Event::CandidateDiscarded {
            task: task_ref(&lab.task),
            iteration,
            sha: sha.to_string(),
        });
        Ok(())
    }

    /// Records a measurement of the reference (the baseline, or the kept commit again).
    fn log_reference(
        &mut self,
        lab: &mut Lab,
        iteration: u32,
        measured: &Measured,
        message: String,
    ) {
        let (samples, reference_samples) = match (&measured.series, &measured.reference) {
            (Ok(b), Some(Ok(a))) => (b.samples.clone(), a.samples.clone()),
            _ => (lab.reference.samples.clone(), Vec::new()),
        };
        let record = Record {
            task_id: lab.task.id.clone(),
            iteration,
            metric_name: lab.policy.name.clone(),
            baseline_value: Some(if lab.baseline.is_empty() {
                lab.reference.value()
            } else {
                lab.baseline.value()
            }),
            best_before: None,
            measured_value: Some(lab.reference.value()),
            samples,
            reference_samples,
            order: measured.order.clone(),
            noise_floor: lab.floor,
            outcome: Some(Outcome::Baseline),
            action: None,
            noise: None,
            confidence: None,
            commit_sha: lab.kept_sha.clone(),
            reverted_sha: String::new(),
            git_ref: String::new(),
            notes: message.clone(),
            duration_ms: measured.elapsed_ms,
            recorded_at: durable::utc_now(),
        };
        self.emit_record(lab, record, iteration, message);
    }

    fn emit_record(&mut self, lab: &mut Lab, record: Record, iteration: u32, message: String) {
        lab.history.push(record.clone());
        let drop = lab.history.len().saturating_sub(HISTORY_IN_PROMPT);
        lab.history.drain(..drop);
        let progress = lab.progress(iteration, message);
        self.emit(Event::Experiment {
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
            &lab.candidate.plan,
            &lab.kept_files,
            &lab.reference_runs,
            Some(lab.baseline.value()),
            false,
        );
        let completed = self.record_completion(
            &lab.task,
            &AttemptRecord {
                status: AttemptStatus::Completed,
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

/// A candidate's decision, and what was measured for it (`None`: judged invalid unmeasured).
struct Judged {
    decision: Decision,
    measured: Option<Measured>,
}

/// What became of an iteration's candidate commit, for its record.
struct Candidate {
    /// The commit (`None`: the agent changed nothing).
    sha: Option<String>,
    /// The commit taken off the branch by a discard (empty otherwise).
    reverted: String,
    /// The reference's value it was compared with.
    best_before: f64,
    elapsed_ms: u64,
}

/// How an iteration ended for the loop.
enum Step {
    Decided,
    /// Not counted: the provider was unavailable; run the same iteration again.
    Again,
    End(TaskEnd),
}

fn discard_failed(iteration: u32, sha: &str, why: &str) -> String {
    format!(
        "Experiment iteration {iteration}: could not take the candidate {} off the experiment's \
         branch ({why}); it is still checked out in its worktree, so look at it before running \
         again",
        git::short_sha(sha)
    )
}
