//! Measuring an experiment: the build step, a series of samples in one tree, and interleaved
//! pairs in two trees (the reference and the candidate measured next to each other in ABBA
//! order, see [`crate::experiment::stats::order`]).

use std::path::PathBuf;
use std::time::Instant;

use super::super::{Runner, append, first_line, task_ref};
use crate::error::Result;
use crate::exec::{CancelLevel, Tee};
use crate::experiment::Series;
use crate::experiment::stats::{self, Arm, Sequential, order};
use crate::gate::{self, CheckRun, Plan};
use crate::journal::event::Event;
use crate::task::Task;

/// One tree an experiment measures in.
pub(super) struct Bench {
    /// The checks, run in this tree.
    pub plan: Plan,
    /// The commit checked out in it.
    pub at: String,
    /// The commit the build step last succeeded for (`None`: not built yet).
    pub built: Option<String>,
}

impl Bench {
    pub(super) fn new(plan: Plan, at: &str) -> Bench {
        Bench {
            plan,
            at: at.to_string(),
            built: None,
        }
    }
}

/// What a measurement found.
pub(super) struct Measured {
    /// The candidate's samples (the tree's, for a series), or why there are none.
    pub series: std::result::Result<Series, String>,
    /// Interleaved: the reference's samples, pair by pair with the candidate's, or why a
    /// reference sample failed.
    pub reference: Option<std::result::Result<Series, String>>,
    /// The order the samples were taken in: `A` the reference, `B` the candidate.
    pub order: String,
    /// The check runs of the last candidate sample, and of the last reference sample.
    pub runs: Vec<CheckRun>,
    pub reference_runs: Vec<CheckRun>,
    pub elapsed_ms: u64,
    pub interrupted: bool,
}

type Samples = std::result::Result<Series, String>;

impl Measured {
    /// Nothing measured yet.
    fn empty(series: Samples, reference: Option<Samples>) -> Measured {
        Measured {
            series,
            reference,
            order: String::new(),
            runs: Vec::new(),
            reference_runs: Vec::new(),
            elapsed_ms: 0,
            interrupted: false,
        }
    }

    fn stopped(started: Instant) -> Measured {
        Measured {
            elapsed_ms: started.elapsed().as_millis() as u64,
            interrupted: true,
            ..Measured::empty(Err("interrupted".into()), None)
        }
    }
}

/// One sample taken or failed.
enum Sampled {
    Value(f64, Vec<CheckRun>),
    Failed(String, Vec<CheckRun>),
    Interrupted,
}

impl Runner<'_> {
    /// Runs `execution.build_command` in `bench` unless it already built the commit checked out
    /// there; why it failed otherwise.
    async fn build(
        &mut self,
        task: &Task,
        bench: &mut Bench,
        command: Option<&str>,
        tee: &mut Tee,
    ) -> std::result::Result<(), String> {
        let Some(command) = command else {
            return Ok(());
        };
        if bench.built.as_deref() == Some(bench.at.as_str()) {
            return Ok(());
        }
        let mut plan = bench.plan.clone();
        plan.commands = vec![command.to_string()];
        tee.note(&format!("# build of {}", crate::git::short_sha(&bench.at)));
        let runs = self.checks(task, &plan, tee).await;
        if self.cancel.level() != CancelLevel::None {
            return Err("the build was interrupted".into());
        }
        match gate::first_failure(&plan, &runs) {
            None => {
                bench.built = Some(bench.at.clone());
                Ok(())
            }
            Some(failure) => Err(format!("the build {}", first_line(&failure))),
        }
    }

    async fn sample(&mut self, task: &Task, bench: &Bench, note: String, tee: &mut Tee) -> Sampled {
        tee.note(&note);
        let runs = self.checks_now(task, &bench.plan, tee).await;
        if self.cancel.level() != CancelLevel::None {
            return Sampled::Interrupted;
        }
        match gate::sample(&bench.plan, &runs) {
            Ok(value) => Sampled::Value(value, runs),
            Err(why) => Sampled::Failed(first_line(&why).to_string(), runs),
        }
    }

    fn validating(&mut self, task: &Task, bench: &Bench) {
        self.emit(Event::Validating {
            task: task_ref(task),
            checks: bench.plan.commands.len(),
        });
    }

    /// Measures the tree of `bench` `repeats` times (built first), the output appended to
    /// `log_path`; stops at the first sample that fails.
    pub(super) async fn measure_series(
        &mut self,
        task: &Task,
        bench: &mut Bench,
        build: Option<&str>,
        (what, repeats): (&str, u32),
        log_path: PathBuf,
    ) -> Result<Measured> {
        self.validating(task, bench);
        let started = Instant::now();
        let mut tee = Tee::new(vec![Box::new(append(&log_path)?)]);
        let mut measured = Measured::empty(Err(String::new()), None);
        if let Err(why) = self.build(task, bench, build, &mut tee).await {
            measured.series = Err(why);
            measured.interrupted = self.cancel.level() != CancelLevel::None;
            return Ok(measured);
        }
        let Some(_quiet) = self.quiet_for_samples().await else {
            return Ok(Measured::stopped(started));
        };
        let mut samples = Vec::new();
        for k in 1..=repeats {
            let note = format!("# {what}: sample {k} of {repeats}");
            match self.sample(task, bench, note, &mut tee).await {
                Sampled::Value(value, runs) => {
                    samples.push(value);
                    measured.runs = runs;
                }
                Sampled::Failed(why, runs) => {
                    measured.runs = runs;
                    measured.series = Err(if repeats > 1 {
                        format!("sample {k} of {repeats}: {why}")
                    } else {
                        why
                    });
                    measured.elapsed_ms = started.elapsed().as_millis() as u64;
                    return Ok(measured);
                }
                Sampled::Interrupted => return Ok(Measured::stopped(started)),
            }
        }
        measured.series = Ok(Series::new(samples));
        measured.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(measured)
    }

    /// Measures `reference` and `candidate` in pairs, `repeats` of each, alternating in ABBA
    /// order; both are built first. Stops at the first sample that fails, saying which arm.
    pub(super) async fn measure_pairs(
        &mut self,
        task: &Task,
        (reference, candidate): (&mut Bench, &mut Bench),
        build: Option<&str>,
        (what, repeats, stop): (&str, u32, Option<(Sequential, bool)>),
        log_path: PathBuf,
    ) -> Result<Measured> {
        self.validating(task, candidate);
        let started = Instant::now();
        let mut tee = Tee::new(vec![Box::new(append(&log_path)?)]);
        let mut measured = Measured::empty(Ok(Series::default()), Some(Ok(Series::default())));
        if let Err(why) = self.build(task, reference, build, &mut tee).await {
            measured.reference = Some(Err(why));
            measured.interrupted = self.cancel.level() != CancelLevel::None;
            return Ok(measured);
        }
        if let Err(why) = self.build(task, candidate, build, &mut tee).await {
            measured.series = Err(why);
            measured.interrupted = self.cancel.level() != CancelLevel::None;
            return Ok(measured);
        }
        let Some(_quiet) = self.quiet_for_samples().await else {
            return Ok(Measured::stopped(started));
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (k, arm) in order(repeats as usize).into_iter().enumerate() {
            let pair = k / 2 + 1;
            let (bench, name) = match arm {
                Arm::Reference => (&*reference, "reference"),
                Arm::Candidate => (&*candidate, "candidate"),
            };
            let note = format!(
                "# {what}: pair {pair} of {repeats}, {name} ({})",
                arm.letter()
            );
            measured.order.push(arm.letter());
            match self.sample(task, bench, note, &mut tee).await {
                Sampled::Value(value, runs) => match arm {
                    Arm::Reference => {
                        a.push(value);
                        measured.reference_runs = runs;
                    }
                    Arm::Candidate => {
                        b.push(value);
                        measured.runs = runs;
                    }
                },
                Sampled::Failed(why, runs) => {
                    let why = format!("pair {pair} of {repeats}: {why}");
                    match arm {
                        Arm::Reference => {
                            measured.reference = Some(Err(why));
                            measured.reference_runs = runs;
                        }
                        Arm::Candidate => {
                            measured.series = Err(why);
                            measured.runs = runs;
                        }
                    }
                    measured.elapsed_ms = started.elapsed().as_millis() as u64;
                    return Ok(measured);
                }
                Sampled::Interrupted => return Ok(Measured::stopped(started)),
            }
            // Sequential: after each whole pair, stop once the evidence is clear.
            if let Some((plan, lower_is_better)) = stop
                && k % 2 == 1
            {
                let turn = |v: f64| if lower_is_better { -v } else { v };
                let gains: Vec<f64> = a.iter().zip(&b).map(|(r, c)| turn(*c) - turn(*r)).collect();
                if stats::look(&gains, plan) != stats::Look::More {
                    if gains.len() < repeats as usize {
                        tee.note(&format!("# {what}: clear after {} pair(s)", gains.len()));
                    }
                    break;
                }
            }
        }
        measured.series = Ok(Series::new(b));
        measured.reference = Some(Ok(Series::new(a)));
        measured.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(measured)
    }
}
