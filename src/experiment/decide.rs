//! The keep/discard decision for one candidate, the tally of an experiment, when it stops, and
//! how it ends. Everything here is a pure function of numbers and settings.

use serde::Serialize;

use super::stats::{Comparison, Series, compare, compare_pairs};
use crate::task::contract::{Iterative, NumericCompletion, format_number};

/// The chance of keeping a candidate that changed nothing, when samples are repeated: a gain
/// must be clear at 95% confidence (see `bench/experiment.sh` for what that buys).
pub const ALPHA: f64 = 0.05;

/// What a measurement turned out to be, as written to `experiments.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Baseline,
    Improved,
    Unchanged,
    /// Interleaved measurement: the mean pair difference sits inside the noise floor.
    Equivalent,
    Regressed,
    Invalid,
    TargetMet,
    /// As good as the reference within the noise, and shorter: kept, never an improvement.
    Simplification,
}

impl Outcome {
    /// The outcome named `name` in `experiments.jsonl`.
    pub fn parse(name: &str) -> Option<Outcome> {
        [
            Outcome::Baseline,
            Outcome::Improved,
            Outcome::Unchanged,
            Outcome::Equivalent,
            Outcome::Regressed,
            Outcome::Invalid,
            Outcome::TargetMet,
            Outcome::Simplification,
        ]
        .into_iter()
        .find(|o| o.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Baseline => "baseline",
            Outcome::Improved => "improved",
            Outcome::Unchanged => "unchanged",
            Outcome::Equivalent => "equivalent",
            Outcome::Regressed => "regressed",
            Outcome::Invalid => "invalid",
            Outcome::TargetMet => "target_met",
            Outcome::Simplification => "simplification",
        }
    }
}

/// What becomes of the candidate commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The branch stays on it.
    Keep,
    /// The branch goes back to the last kept commit; the candidate stays under its ref.
    Discard,
    /// `rollback_on_failure = false`: it stays on the branch and the task stops for a person.
    Hold,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Discard => "discard",
            Action::Hold => "hold",
        }
    }

    /// The action named `name` in `experiments.jsonl`.
    pub fn parse(name: &str) -> Option<Action> {
        [Action::Keep, Action::Discard, Action::Hold]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// The settings that decide, read from the task's completion and execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub lower_is_better: bool,
    pub min_improvement: f64,
    pub unchanged_tolerance: f64,
    pub target: Option<f64>,
    pub keep_on_equal: bool,
    pub rollback_on_failure: bool,
    /// The accepted chance of keeping a change that did nothing (see [`ALPHA`]).
    pub alpha: f64,
}

impl Policy {
    /// The policy of a task; an unusable direction is the error.
    pub fn new(numeric: &NumericCompletion, iterative: &Iterative) -> Result<Policy, String> {
        if numeric.repeats == 2 {
            return Err(crate::task::contract::TWO_REPEATS.into());
        }
        let lower_is_better = match numeric.direction.as_str() {
            "lower_is_better" => true,
            "higher_is_better" => false,
            other => {
                return Err(format!(
                    "completion.direction is {other:?}; an experiment needs \"lower_is_better\" or \"higher_is_better\""
                ));
            }
        };
        Ok(Policy {
            name: crate::gate::metric_name(numeric).to_string(),
            lower_is_better,
            min_improvement: numeric.min_improvement.max(0.0),
            unchanged_tolerance: numeric.unchanged_tolerance.max(0.0),
            target: numeric.target,
            keep_on_equal: iterative.keep_on_equal,
            rollback_on_failure: iterative.rollback_on_failure,
            alpha: ALPHA,
        })
    }

    /// How much better `value` is than `reference` (negative: worse).
    pub fn better_by(&self, reference: f64, value: f64) -> f64 {
        if self.lower_is_better {
            reference - value
        } else {
            value - reference
        }
    }

    pub fn meets_target(&self, value: f64) -> bool {
        match self.target {
            Some(target) if self.lower_is_better => value <= target,
            Some(target) => value >= target,
            None => false,
        }
    }

    /// `name=value`, as shown in logs and status.
    pub fn show(&self, value: f64) -> String {
        format!("{}={}", self.name, short(value))
    }
}

/// A number rounded for people: three significant digits (`0.123`, `12.3`), whole from 100
/// up (`117`, `12346`).
pub fn short(value: f64) -> String {
    if !value.is_finite() || value == 0.0 {
        return format_number(value);
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 12);
    let scale = 10f64.powi(decimals);
    format_number((value * scale).round() / scale)
}

/// ` (20%)`: `part` as a share of `of`, rounded for people.
pub fn percent(part: f64, of: f64) -> String {
    if of == 0.0 {
        String::new()
    } else {
        format!(" ({}%)", short(100.0 * part / of.abs()))
    }
}

/// [`percent`] of a change of a metric: none for a lower-is-better metric whose change would be
/// more than all of it (a paired gain estimated past the reference's median), which no reader
/// could make sense of.
fn change_percent(policy: &Policy, part: f64, of: f64) -> String {
    if policy.lower_is_better && part.abs() > of.abs() {
        String::new()
    } else {
        percent(part, of)
    }
}

/// The decision on one candidate, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub action: Action,
    /// The candidate's value (the median of its samples).
    pub value: Option<f64>,
    /// How much better than the reference (negative: worse).
    pub improvement: Option<f64>,
    /// How much of the improvement noise could account for: the improvement minus the gain the
    /// samples guarantee at confidence `1 - alpha` (`None`: single samples, or too few).
    pub noise: Option<f64>,
    /// One minus the chance of seeing a gain this clear from a change that did nothing
    /// (`None`: single samples).
    pub confidence: Option<f64>,
    pub reason: String,
}

/// Judges a candidate's series against the reference series (the last kept commit, measured
/// afresh), or records why there is no usable candidate.
///
/// With one sample each, any gain of at least `min_improvement` (and beyond
/// `unchanged_tolerance`) counts. With repeated samples the gain must also be clear of noise:
/// the rank test must find it at confidence `1 - alpha`.
pub fn decide(policy: &Policy, reference: &Series, candidate: Result<&Series, &str>) -> Decision {
    let candidate = match candidate {
        Ok(series) if !series.is_empty() => series,
        Ok(_) => return invalid(policy, "no sample was taken".into()),
        Err(why) => return invalid(policy, why.to_string()),
    };
    let (value, before) = (candidate.value(), reference.value());
    let oriented = |s: &Series| -> Vec<f64> {
        s.samples
            .iter()
            .map(|v| if policy.lower_is_better { -v } else { *v })
            .collect()
    };
    let comparison = compare(&oriented(reference), &oriented(candidate), policy.alpha);
    judge(
        policy,
        Measures {
            value,
            before,
            delta: policy.better_by(before, value),
            comparison,
            floor: None,
        },
    )
}

/// Judges an interleaved measurement: `pairs` of (reference, candidate) samples taken next to
/// each other, compared by their differences with a paired test. The gain is the mean pair
/// difference, which a drift of the machine does not bias (see [`super::stats::order`]);
/// `floor` is the noise floor an A/A measurement found, inside which the two are called
/// equivalent.
pub fn decide_pairs(
    policy: &Policy,
    pairs: Result<(&Series, &Series), &str>,
    floor: Option<f64>,
) -> Decision {
    let (reference, candidate) = match pairs {
        Ok((r, c)) if !c.is_empty() && r.len() == c.len() => (r, c),
        Ok(_) => return invalid(policy, "the pairs of samples are incomplete".into()),
        Err(why) => return invalid(policy, why.to_string()),
    };
    let gains: Vec<f64> = reference
        .samples
        .iter()
        .zip(&candidate.samples)
        .map(|(r, c)| policy.better_by(*r, *c))
        .collect();
    let paired = compare_pairs(&gains, policy.alpha);
    let delta = match &paired {
        Some(p) => p.mean,
        None => gains.iter().sum::<f64>() / gains.len() as f64,
    };
    judge(
        policy,
        Measures {
            value: candidate.value(),
            before: reference.value(),
            delta,
            comparison: paired.map(|p| p.comparison),
            floor,
        },
    )
}

/// What a decision is made from.
struct Measures {
    /// The candidate's value and the reference's (medians).
    value: f64,
    before: f64,
    /// The gain (negative: a loss).
    delta: f64,
    comparison: Option<Comparison>,
    /// The noise floor, for an interleaved measurement.
    floor: Option<f64>,
}

fn judge(policy: &Policy, m: Measures) -> Decision {
    let Measures {
        value,
        before,
        delta,
        comparison,
        floor,
    } = m;
    let sure = 100.0 * (1.0 - policy.alpha);
    let decision = |outcome, action, reason: String| Decision {
        outcome,
        action,
        value: Some(value),
        improvement: Some(delta),
        noise: comparison
            .as_ref()
            .and_then(|c| c.lower_bound)
            .map(|bound| (delta - bound).max(0.0)),
        confidence: comparison.as_ref().map(|c| 1.0 - c.p_better),
        reason: format!("{} against {}: {reason}", policy.show(value), short(before)),
    };
    if policy.meets_target(value) {
        return decision(
            Outcome::TargetMet,
            Action::Keep,
            format!(
                "reached the target {}",
                short(policy.target.unwrap_or(value))
            ),
        );
    }
    let clear_gain = comparison
        .as_ref()
        .is_none_or(|c| c.p_better <= policy.alpha);
    let clear_loss = comparison
        .as_ref()
        .is_none_or(|c| c.p_worse <= policy.alpha);
    let beyond_tolerance = delta.abs() > policy.unchanged_tolerance;
    let paired = if floor.is_some() { " (paired)" } else { "" };
    // One story in the numbers: the change told is the one between the two values the reason
    // states, unless that points the other way from the gain the decision rests on (pairs).
    let stated = policy.better_by(before, value);
    let told = if stated != 0.0 && stated.signum() == delta.signum() {
        stated
    } else {
        delta
    };
    if delta > 0.0 && beyond_tolerance && delta >= policy.min_improvement && clear_gain {
        let sureness = match comparison.as_ref().and_then(|c| c.lower_bound) {
            // A bound above the change told would read as a contradiction: say it is clear.
            Some(bound) if bound <= told => {
                format!(", at least {} with {sure:.0}% confidence", short(bound))
            }
            Some(_) => format!(", clear with {sure:.0}% confidence"),
            None => " (one sample each: noise not measured)".into(),
        };
        return decision(
            Outcome::Improved,
            Action::Keep,
            format!(
                "better by {}{}{paired}{sureness}",
                short(told),
                change_percent(policy, told, before)
            ),
        );
    }
    if delta < 0.0 && beyond_tolerance && clear_loss {
        let action = if policy.rollback_on_failure {
            Action::Discard
        } else {
            Action::Hold
        };
        return decision(
            Outcome::Regressed,
            action,
            format!(
                "worse by {}{}{paired}",
                short(-told),
                change_percent(policy, -told, before)
            ),
        );
    }
    let on_equal = if policy.keep_on_equal {
        Action::Keep
    } else {
        Action::Discard
    };
    if let Some(floor) = floor
        && delta.abs() <= floor
    {
        return decision(
            Outcome::Equivalent,
            on_equal,
            format!(
                "equivalent: the pairs differ by {} on average, inside the noise floor {}",
                short(delta),
                short(floor)
            ),
        );
    }
    let why = if !beyond_tolerance {
        format!(
            "within unchanged_tolerance {}",
            short(policy.unchanged_tolerance)
        )
    } else if delta > 0.0 && delta < policy.min_improvement {
        format!(
            "better by {}, less than min_improvement {}",
            short(told),
            short(policy.min_improvement)
        )
    } else {
        let confidence = comparison
            .as_ref()
            .map(|c| 100.0 * (1.0 - c.p_better.min(c.p_worse)))
            .unwrap_or(0.0);
        format!(
            "{} by {}{paired}, which noise could explain (only {confidence:.0}% sure, {sure:.0}% needed)",
            if delta > 0.0 { "better" } else { "worse" },
            short(told.abs())
        )
    };
    decision(Outcome::Unchanged, on_equal, why)
}

fn invalid(policy: &Policy, reason: String) -> Decision {
    Decision {
        outcome: Outcome::Invalid,
        action: if policy.rollback_on_failure {
            Action::Discard
        } else {
            Action::Hold
        },
        value: None,
        improvement: None,
        noise: None,
        confidence: None,
        reason,
    }
}

/// Where an experiment stands, by its iterations in a row without improvement: each stage
/// asks the agent for a different kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Any focused change that should move the metric.
    Explore,
    /// Build on the best kept change (`refine_after` iterations without improvement).
    Refine,
    /// An approach unlike everything tried (`pivot_after`).
    Pivot,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Explore => "explore",
            Stage::Refine => "refine",
            Stage::Pivot => "pivot",
        }
    }

    /// The stage of an experiment `streak` iterations in a row without improvement.
    pub fn of(streak: u32, settings: &Iterative) -> Stage {
        if streak >= settings.pivot_after {
            Stage::Pivot
        } else if streak >= settings.refine_after {
            Stage::Refine
        } else {
            Stage::Explore
        }
    }
}

/// How many lines a candidate adds and removes against the last kept commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lines {
    pub added: u64,
    pub removed: u64,
}

/// A candidate the measurement cannot tell from the reference (equivalent inside the noise
/// floor, or unchanged within the tolerance) that removes more lines than it adds is kept as a
/// simplification: the same numbers with less code. It never counts as an improvement: the
/// run of iterations without one goes on.
pub fn simplification(decision: Decision, lines: Lines) -> Decision {
    let same = matches!(decision.outcome, Outcome::Equivalent | Outcome::Unchanged);
    if !same || decision.action != Action::Discard || lines.removed <= lines.added {
        return decision;
    }
    Decision {
        outcome: Outcome::Simplification,
        action: Action::Keep,
        reason: format!(
            "{}, and {} line(s) shorter ({} added, {} removed): kept as a simplification",
            decision.reason,
            lines.removed - lines.added,
            lines.added,
            lines.removed
        ),
        ..decision
    }
}

/// The running counts of an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Tally {
    pub iterations: u32,
    pub kept: u32,
    /// Of the kept, those kept as simplifications.
    pub simplified: u32,
    pub discarded: u32,
    pub invalid: u32,
    /// Iterations since the last improvement (unchanged, regressed or invalid).
    pub no_improvement_streak: u32,
    /// Discards in a row, for re-measuring the reference against drift.
    pub discards_in_a_row: u32,
    pub target_met: bool,
}

impl Tally {
    pub fn record(&mut self, decision: &Decision) {
        self.count(decision.outcome, decision.action);
    }

    /// The tally of the iterations recorded in `experiments.jsonl` (for a resumed experiment).
    pub fn replay(records: &[super::Record]) -> Tally {
        let mut tally = Tally::default();
        for r in records {
            if let (Some(outcome), Some(action)) = (r.outcome, r.action)
                && r.iteration > 0
                && outcome != Outcome::Baseline
            {
                tally.count(outcome, action);
            }
        }
        tally
    }

    fn count(&mut self, outcome: Outcome, action: Action) {
        self.iterations += 1;
        match outcome {
            Outcome::Improved | Outcome::TargetMet => self.no_improvement_streak = 0,
            _ => self.no_improvement_streak += 1,
        }
        if outcome == Outcome::Invalid {
            self.invalid += 1;
        }
        if outcome == Outcome::TargetMet {
            self.target_met = true;
        }
        if outcome == Outcome::Simplification {
            self.simplified += 1;
        }
        match action {
            Action::Keep | Action::Hold => {
                if action == Action::Keep && outcome != Outcome::Invalid {
                    self.kept += 1;
                }
                self.discards_in_a_row = 0;
            }
            Action::Discard => {
                self.discarded += 1;
                self.discards_in_a_row += 1;
            }
        }
    }

    /// Why the loop ends after this iteration, if it does.
    pub fn stop(&self, settings: &Iterative) -> Option<String> {
        if self.target_met {
            return Some("the target was reached".into());
        }
        if self.invalid >= settings.stop_after_invalid {
            return Some(format!(
                "{} invalid result(s) (execution.stop_after_invalid = {})",
                self.invalid, settings.stop_after_invalid
            ));
        }
        let pivots = self
            .no_improvement_streak
            .saturating_sub(settings.pivot_after);
        if settings.pivot_after < settings.stop_after_no_improvement
            && pivots >= settings.halt_after_pivots
        {
            return Some(format!(
                "halted after {pivots} pivot(s) without a gain (execution.halt_after_pivots = {})",
                settings.halt_after_pivots
            ));
        }
        if self.no_improvement_streak >= settings.stop_after_no_improvement {
            return Some(format!(
                "{} iteration(s) in a row without improvement (execution.stop_after_no_improvement = {})",
                self.no_improvement_streak, settings.stop_after_no_improvement
            ));
        }
        if self.iterations >= settings.max_iterations {
            return Some(format!(
                "the last of {} iteration(s) (execution.max_iterations)",
                settings.max_iterations
            ));
        }
        None
    }

    /// Whether the reference should be measured again before the next comparison: after a keep
    /// (a fresh, unselected measurement of the new best) or after `every` discards in a row
    /// (the machine may have drifted).
    pub fn remeasure_due(&self, last: &Decision, every: u32) -> bool {
        match last.action {
            Action::Keep => last.outcome != Outcome::Invalid,
            Action::Hold => false,
            Action::Discard => every > 0 && self.discards_in_a_row.is_multiple_of(every),
        }
    }
}

/// How an experiment ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Conclusion {
    pub completed: bool,
    pub summary: String,
}

/// Completed when the target was reached, or when something was kept and the best kept value
/// beats the baseline by at least `min_improvement`; blocked otherwise, saying why.
pub fn conclude(
    policy: &Policy,
    baseline: f64,
    best: f64,
    tally: &Tally,
    stop: &str,
) -> Conclusion {
    let simplified = match tally.simplified {
        0 => String::new(),
        n => format!(" ({n} as simplifications)"),
    };
    let counts = format!(
        "{} iteration(s): kept {}{simplified}, discarded {}, invalid {}",
        tally.iterations, tally.kept, tally.discarded, tally.invalid
    );
    let gain = policy.better_by(baseline, best);
    if tally.target_met {
        return Conclusion {
            completed: true,
            summary: format!(
                "Reached the target: {} from baseline {} after {counts}",
                policy.show(best),
                short(baseline)
            ),
        };
    }
    if tally.kept > 0 && gain > 0.0 && gain >= policy.min_improvement {
        return Conclusion {
            completed: true,
            summary: format!(
                "Improved {} from {} to {}{} after {counts}; stopped at {stop}",
                policy.name,
                short(baseline),
                short(best),
                percent(gain, baseline)
            ),
        };
    }
    let why = if tally.kept > 0 {
        format!(
            "the kept changes measure {} against baseline {}, short of min_improvement {}",
            short(best),
            short(baseline),
            short(policy.min_improvement)
        )
    } else {
        format!("no improvement over baseline {}", policy.show(baseline))
    };
    Conclusion {
        completed: false,
        summary: format!("Experiment ended with {why} after {counts}; stopped at {stop}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            name: "latency".into(),
            lower_is_better: true,
            min_improvement: 0.0,
            unchanged_tolerance: 0.0,
            target: None,
            keep_on_equal: false,
            rollback_on_failure: true,
            alpha: ALPHA,
        }
    }

    fn s(samples: &[f64]) -> Series {
        Series::new(samples.to_vec())
    }

    #[test]
    fn an_equivalent_candidate_that_removes_lines_is_kept_as_a_simplification() {
        let decision = |outcome, action| Decision {
            outcome,
            action,
            value: Some(100.0),
            improvement: Some(0.0),
            noise: None,
            confidence: None,
            reason: "100 against 100: within the noise".into(),
        };
        let lines = |added, removed| Lines { added, removed };
        let table = [
            // (outcome, action, lines, kept as a simplification)
            (Outcome::Equivalent, Action::Discard, lines(3, 10), true),
            (Outcome::Unchanged, Action::Discard, lines(0, 1), true),
            (Outcome::Equivalent, Action::Discard, lines(10, 3), false),
            (Outcome::Equivalent, Action::Discard, lines(5, 5), false),
            (Outcome::Regressed, Action::Discard, lines(0, 50), false),
            (Outcome::Invalid, Action::Discard, lines(0, 50), false),
            (Outcome::Improved, Action::Keep, lines(0, 50), false),
            // keep_on_equal already keeps it: as what it is.
            (Outcome::Unchanged, Action::Keep, lines(0, 50), false),
        ];
        for (outcome, action, lines, simpler) in table {
            let decided = simplification(decision(outcome, action), lines);
            assert_eq!(
                decided.outcome == Outcome::Simplification,
                simpler,
                "{outcome:?} {lines:?}"
            );
            if simpler {
                assert_eq!(decided.action, Action::Keep);
                assert!(
                    decided.reason.contains("line(s) shorter"),
                    "{}",
                    decided.reason
                );
            } else {
                assert_eq!((decided.outcome, decided.action), (outcome, action));
            }
        }
        // Kept, and counted as kept, but never as an improvement.
        let mut tally = Tally::default();
        tally.record(&simplification(
            decision(Outcome::Equivalent, Action::Discard),
            lines(1, 9),
        ));
        assert_eq!((tally.kept, tally.simplified), (1, 1));
        assert_eq!(tally.no_improvement_streak, 1);
    }

    #[test]
    fn decisions() {
        let quiet = s(&[100.0, 101.0, 99.0, 100.0, 100.0]);
        let with = |f: fn(&mut Policy)| {
            let mut p = policy();
            f(&mut p);
            p
        };
        type Case = (&'static str, Policy, Series, Series, Outcome, Action);
        let cases: Vec<Case> = vec![
            (
                "clear gain",
                policy(),
                quiet.clone(),
                s(&[90.0, 91.0, 89.0, 90.0, 90.0]),
                Outcome::Improved,
                Action::Keep,
            ),
            (
                "gain inside the noise",
                policy(),
                s(&[100.0, 110.0, 90.0, 105.0, 95.0]),
                s(&[97.0, 107.0, 87.0, 102.0, 92.0]),
                Outcome::Unchanged,
                Action::Discard,
            ),
            (
                "gain below min_improvement",
                with(|p| p.min_improvement = 15.0),
                quiet.clone(),
                s(&[90.0, 91.0, 89.0, 90.0, 90.0]),
                Outcome::Unchanged,
                Action::Discard,
            ),
            (
                "equal, keep_on_equal",
                with(|p| p.keep_on_equal = true),
                quiet.clone(),
                quiet.clone(),
                Outcome::Unchanged,
                Action::Keep,
            ),
            (
                "clear loss",
                policy(),
                quiet.clone(),
                s(&[120.0, 121.0, 119.0, 120.0, 120.0]),
                Outcome::Regressed,
                Action::Discard,
            ),
            (
                "loss without rollback",
                with(|p| p.rollback_on_failure = false),
                quiet.clone(),
                s(&[120.0, 121.0, 119.0, 120.0, 120.0]),
                Outcome::Regressed,
                Action::Hold,
            ),
            (
                "loss within tolerance",
                with(|p| p.unchanged_tolerance = 25.0),
                quiet.clone(),
                s(&[120.0, 121.0, 119.0, 120.0, 120.0]),
                Outcome::Unchanged,
                Action::Discard,
            ),
            (
                "target reached",
                with(|p| p.target = Some(95.0)),
                quiet.clone(),
                s(&[94.0, 95.0, 93.0, 94.0, 94.0]),
                Outcome::TargetMet,
                Action::Keep,
            ),
            (
                "single samples: any gain counts",
                policy(),
                s(&[100.0]),
                s(&[99.0]),
                Outcome::Improved,
                Action::Keep,
            ),
            (
                "single samples: higher is better",
                with(|p| p.lower_is_better = false),
                s(&[100.0]),
                s(&[99.0]),
                Outcome::Regressed,
                Action::Discard,
            ),
        ];
        for (name, p, reference, candidate, outcome, action) in cases {
            let d = decide(&p, &reference, Ok(&candidate));
            assert_eq!(
                (d.outcome, d.action),
                (outcome, action),
                "{name}: {}",
                d.reason
            );
        }
    }

    #[test]
    fn paired_decisions() {
        let p = policy();
        // latency, lower is better; the machine speeds up by 1 per sample (ABBA order).
        let drift = |k: usize| k as f64;
        let order = crate::experiment::stats::order(5);
        let measure = |gain: f64| {
            let (mut r, mut c) = (Vec::new(), Vec::new());
            for (k, arm) in order.iter().enumerate() {
                match arm {
                    crate::experiment::stats::Arm::Reference => r.push(100.0 - drift(k)),
                    crate::experiment::stats::Arm::Candidate => c.push(100.0 - gain - drift(k)),
                }
            }
            (s(&r), s(&c))
        };
        // No change under drift: the pairs straddle zero, equivalent inside the floor.
        let (r, c) = measure(0.0);
        let d = decide_pairs(&p, Ok((&r, &c)), Some(1.5));
        assert_eq!(
            (d.outcome, d.action),
            (Outcome::Equivalent, Action::Discard)
        );
        assert!(
            d.reason.contains("equivalent: the pairs differ by"),
            "{d:?}"
        );
        assert!(d.reason.contains("inside the noise floor 1.5"), "{d:?}");
        // Without a floor it is merely unchanged.
        let d = decide_pairs(&p, Ok((&r, &c)), None);
        assert_eq!(d.outcome, Outcome::Unchanged, "{d:?}");
        // A real gain of 10 is found and sized by the pairs, not by the drift.
        let (r, c) = measure(10.0);
        let d = decide_pairs(&p, Ok((&r, &c)), Some(1.5));
        assert_eq!(
            (d.outcome, d.action),
            (Outcome::Improved, Action::Keep),
            "{d:?}"
        );
        assert!((d.improvement.unwrap() - 10.0).abs() < 1.01, "{d:?}");
        assert!(d.reason.contains("(paired)"), "{d:?}");
        assert!(d.confidence.unwrap() > 0.95);
        // A real loss is discarded.
        let (r, c) = measure(-10.0);
        let d = decide_pairs(&p, Ok((&r, &c)), Some(1.5));
        assert_eq!((d.outcome, d.action), (Outcome::Regressed, Action::Discard));
        // Broken or lopsided measurements are invalid.
        let d = decide_pairs(&p, Err("sample 2 of 5: exit 1"), None);
        assert_eq!(d.outcome, Outcome::Invalid);
        let d = decide_pairs(&p, Ok((&s(&[1.0, 2.0]), &s(&[1.0]))), None);
        assert_eq!(d.outcome, Outcome::Invalid);
    }

    #[test]
    fn invalid_candidates_are_discarded_or_held() {
        let d = decide(&policy(), &s(&[100.0]), Err("check `bench` failed: exit 1"));
        assert_eq!((d.outcome, d.action), (Outcome::Invalid, Action::Discard));
        assert_eq!(d.reason, "check `bench` failed: exit 1");
        let mut p = policy();
        p.rollback_on_failure = false;
        assert_eq!(decide(&p, &s(&[1.0]), Err("x")).action, Action::Hold);
        assert_eq!(
            decide(&policy(), &s(&[1.0]), Ok(&s(&[]))).outcome,
            Outcome::Invalid
        );
    }

    #[test]
    fn a_reason_tells_one_consistent_story_of_its_numbers() {
        // Medians 0.5 → 0.4 (lower is better) but pairs whose weighted mean gain is larger: the
        // reason tells the change between the values it states, and no bound above it.
        let reference = s(&[0.5, 0.5, 1.4]);
        let candidate = s(&[0.4, 0.4, 0.2]);
        let d = decide_pairs(&policy(), Ok((&reference, &candidate)), None);
        let reason = &d.reason;
        assert!(reason.starts_with("latency=0.4 against 0.5:"), "{reason}");
        assert!(reason.contains("better by 0.1"), "{reason}");
        assert!(
            !reason.contains("0.375"),
            "the pairs' own estimate is not told beside it: {reason}"
        );
    }

    #[test]
    fn numbers_are_rounded_for_people() {
        assert_eq!(short(0.123456), "0.123");
        assert_eq!(short(12.3456), "12.3");
        assert_eq!(short(116.54), "117");
        assert_eq!(short(-0.0004567), "-0.000457");
        assert_eq!(short(20.0), "20");
        assert_eq!(percent(1.0, 3.0), " (33.3%)");
    }

    #[test]
    fn no_lower_is_better_change_is_told_as_more_than_all_of_it() {
        let p = policy();
        assert!(p.lower_is_better);
        assert_eq!(change_percent(&p, 0.466, 0.4), "");
        assert_eq!(change_percent(&p, 0.1, 0.5), " (20%)");
    }

    #[test]
    fn decisions_say_why_and_how_sure() {
        let d = decide(
            &policy(),
            &s(&[100.0, 101.0, 99.0, 100.0, 100.0]),
            Ok(&s(&[90.0, 91.0, 89.0, 90.0, 90.0])),
        );
        assert!(
            d.reason
                .starts_with("latency=90 against 100: better by 10 (10%)"),
            "{}",
            d.reason
        );
        assert!(
            d.reason.contains("at least 9 with 95% confidence"),
            "{}",
            d.reason
        );
        // All five candidate samples beat all five reference samples: 1 arrangement in 252.
        assert!((d.confidence.unwrap() - (1.0 - 1.0 / 252.0)).abs() < 1e-9);
        assert!(d.noise.unwrap() > 0.0);
        let unsure = decide(
            &policy(),
            &s(&[100.0, 110.0, 90.0, 105.0, 95.0]),
            Ok(&s(&[97.0, 107.0, 87.0, 102.0, 92.0])),
        );
        assert!(
            unsure.reason.contains("which noise could explain"),
            "{}",
            unsure.reason
        );
        let single = decide(&policy(), &s(&[100.0]), Ok(&s(&[90.0])));
        assert_eq!(single.confidence, None);
        assert!(
            single.reason.contains("noise not measured"),
            "{}",
            single.reason
        );
    }

    fn settings() -> Iterative {
        Iterative {
            max_iterations: 5,
            stop_after_no_improvement: 2,
            stop_after_invalid: 2,
            ..Iterative::default()
        }
    }

    fn outcome(outcome: Outcome, action: Action) -> Decision {
        Decision {
            outcome,
            action,
            value: None,
            improvement: None,
            noise: None,
            confidence: None,
            reason: String::new(),
        }
    }

    #[test]
    fn the_loop_stops_on_each_threshold() {
        let mut t = Tally::default();
        t.record(&outcome(Outcome::Unchanged, Action::Discard));
        assert_eq!(t.stop(&settings()), None);
        t.record(&outcome(Outcome::Regressed, Action::Discard));
        assert!(
            t.stop(&settings())
                .unwrap()
                .contains("in a row without improvement")
        );

        let mut t = Tally::default();
        t.record(&outcome(Outcome::Invalid, Action::Discard));
        t.record(&outcome(Outcome::Improved, Action::Keep));
        t.record(&outcome(Outcome::Invalid, Action::Discard));
        assert!(t.stop(&settings()).unwrap().contains("2 invalid"));
        assert_eq!(t.no_improvement_streak, 1);

        let mut t = Tally::default();
        t.record(&outcome(Outcome::TargetMet, Action::Keep));
        assert_eq!(t.stop(&settings()).unwrap(), "the target was reached");
        assert_eq!(t.kept, 1);

        let mut t = Tally::default();
        for _ in 0..5 {
            t.record(&outcome(Outcome::Improved, Action::Keep));
        }
        assert!(t.stop(&settings()).unwrap().contains("max_iterations"));
    }

    #[test]
    fn iterations_without_improvement_move_through_the_stages_to_a_halt() {
        let settings = Iterative {
            max_iterations: 20,
            stop_after_no_improvement: 10,
            refine_after: 2,
            pivot_after: 4,
            halt_after_pivots: 2,
            ..Iterative::default()
        };
        let mut t = Tally::default();
        let mut stages = Vec::new();
        while t.stop(&settings).is_none() {
            stages.push(Stage::of(t.no_improvement_streak, &settings).as_str());
            t.record(&outcome(Outcome::Regressed, Action::Discard));
        }
        assert_eq!(
            stages,
            ["explore", "explore", "refine", "refine", "pivot", "pivot"]
        );
        assert_eq!(
            t.stop(&settings).unwrap(),
            "halted after 2 pivot(s) without a gain (execution.halt_after_pivots = 2)"
        );
        // A gain starts again from exploring.
        t.record(&outcome(Outcome::Improved, Action::Keep));
        assert_eq!(
            Stage::of(t.no_improvement_streak, &settings),
            Stage::Explore
        );
        // With the stagnation stop below the pivot, it stops first, as before.
        let mut t = Tally::default();
        for _ in 0..3 {
            t.record(&outcome(Outcome::Regressed, Action::Discard));
        }
        let stop = t.stop(&Iterative::default()).unwrap();
        assert!(
            stop.contains("3 iteration(s) in a row without improvement"),
            "{stop}"
        );
    }

    #[test]
    fn the_reference_is_remeasured_after_keeps_and_runs_of_discards() {
        let mut t = Tally::default();
        let keep = outcome(Outcome::Improved, Action::Keep);
        let drop = outcome(Outcome::Unchanged, Action::Discard);
        t.record(&keep);
        assert!(t.remeasure_due(&keep, 2));
        t.record(&drop);
        assert!(!t.remeasure_due(&drop, 2));
        t.record(&drop);
        assert!(t.remeasure_due(&drop, 2));
        t.record(&drop);
        assert!(!t.remeasure_due(&drop, 2));
        assert!(!t.remeasure_due(&drop, 0), "0 turns drift checks off");
    }

    #[test]
    fn conclusions() {
        let p = policy();
        let mut t = Tally {
            iterations: 5,
            discarded: 5,
            ..Tally::default()
        };
        let c = conclude(&p, 120.0, 120.0, &t, "the end");
        assert!(!c.completed);
        assert!(
            c.summary
                .contains("no improvement over baseline latency=120 after 5 iteration(s)"),
            "{}",
            c.summary
        );
        t.kept = 1;
        let c = conclude(&p, 120.0, 100.0, &t, "the end");
        assert!(c.completed, "{}", c.summary);
        assert!(
            c.summary.contains("from 120 to 100 (16.7%)"),
            "{}",
            c.summary
        );
        let mut strict = policy();
        strict.min_improvement = 30.0;
        assert!(!conclude(&strict, 120.0, 100.0, &t, "x").completed);
        // Kept, but the fresh measurement of the kept commit shows no gain (winner's curse).
        assert!(!conclude(&p, 120.0, 121.0, &t, "x").completed);
        let met = Tally {
            target_met: true,
            iterations: 1,
            kept: 1,
            ..Tally::default()
        };
        assert!(conclude(&p, 120.0, 90.0, &met, "x").completed);
    }
}
