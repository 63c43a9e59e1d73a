//! The verdict on a measured number: a pure function of the value, the reference it is compared
//! with, and the task's numeric completion settings.

use serde::{Deserialize, Serialize};

use crate::task::contract::{NumericCompletion, format_number};

/// How a measurement compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Better than the reference by at least `min_improvement`.
    Improved,
    /// Within `unchanged_tolerance`, or better by less than `min_improvement`.
    Unchanged,
    /// Worse than the reference.
    Regressed,
    /// No number could be read.
    Invalid,
    /// The target was reached: success whatever the reference.
    TargetMet,
    /// A number without anything to compare it with.
    Measured,
}

impl Verdict {
    /// The name written to files and logs (`target_met`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Regressed => "regressed",
            Verdict::Invalid => "invalid",
            Verdict::TargetMet => "target_met",
            Verdict::Measured => "measured",
        }
    }
}

/// The verdict, whether the completion counts as passed, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub passed: bool,
    pub detail: String,
}

fn lower_is_better(completion: &NumericCompletion) -> Result<bool, String> {
    match completion.direction.as_str() {
        "lower_is_better" => Ok(true),
        "higher_is_better" => Ok(false),
        other => Err(format!(
            "unsupported direction {other:?} (use \"lower_is_better\" or \"higher_is_better\")"
        )),
    }
}

/// Judges `value` (or the reason there is none) against `reference`.
pub fn judge(
    value: Result<f64, String>,
    reference: Option<f64>,
    completion: &NumericCompletion,
) -> Judgement {
    let invalid = |detail: String| Judgement {
        verdict: Verdict::Invalid,
        passed: false,
        detail,
    };
    let lower = match lower_is_better(completion) {
        Ok(lower) => lower,
        Err(message) => return invalid(message),
    };
    let value = match value {
        Ok(value) => value,
        Err(message) => return invalid(message),
    };
    let n = format_number;
    if let Some(target) = completion.target {
        let met = if lower {
            value <= target
        } else {
            value >= target
        };
        if met {
            return Judgement {
                verdict: Verdict::TargetMet,
                passed: true,
                detail: format!("{} reached the target {}", n(value), n(target)),
            };
        }
    }
    let target_note = completion
        .target
        .map(|t| format!("; target {} not reached", n(t)))
        .unwrap_or_default();
    let Some(reference) = reference else {
        return Judgement {
            verdict: Verdict::Measured,
            passed: completion.target.is_none(),
            detail: format!(
                "measured {} (nothing to compare with){target_note}",
                n(value)
            ),
        };
    };
    let improvement = if lower {
        reference - value
    } else {
        value - reference
    };
    let (verdict, why) = if (value - reference).abs() <= completion.unchanged_tolerance {
        (
            Verdict::Unchanged,
            format!("within the tolerance {}", n(completion.unchanged_tolerance)),
        )
    } else if improvement > 0.0 && improvement < completion.min_improvement {
        (
            Verdict::Unchanged,
            format!(
                "better by {}, less than min_improvement {}",
                n(improvement),
                n(completion.min_improvement)
            ),
        )
    } else if improvement > 0.0 {
        (Verdict::Improved, format!("better by {}", n(improvement)))
    } else {
        (Verdict::Regressed, format!("worse by {}", n(-improvement)))
    };
    Judgement {
        verdict,
        passed: verdict != Verdict::Regressed && completion.target.is_none(),
        detail: format!(
            "measured {} against {}: {why}{target_note}",
            n(value),
            n(reference)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(direction: &str, min: f64, tol: f64, target: Option<f64>) -> NumericCompletion {
        NumericCompletion {
            source: "json_stdout".into(),
            name: "latency".into(),
            direction: direction.into(),
            json_path: "$.v".into(),
            min_improvement: min,
            unchanged_tolerance: tol,
            target,
            ..NumericCompletion::default()
        }
    }

    /// direction, min_improvement, tolerance, target, value, reference, verdict, passed
    type Row = (
        &'static str,
        f64,
        f64,
        Option<f64>,
        f64,
        Option<f64>,
        Verdict,
        bool,
    );

    #[test]
    fn verdicts() {
        use Verdict::*;
        let lower = "lower_is_better";
        let higher = "higher_is_better";
        let table: &[Row] = &[
            (lower, 0.0, 0.0, None, 90.0, Some(100.0), Improved, true),
            (lower, 0.0, 0.0, None, 110.0, Some(100.0), Regressed, false),
            (higher, 0.0, 0.0, None, 110.0, Some(100.0), Improved, true),
            (higher, 0.0, 0.0, None, 90.0, Some(100.0), Regressed, false),
            (lower, 0.0, 0.5, None, 100.4, Some(100.0), Unchanged, true),
            (lower, 5.0, 0.0, None, 97.0, Some(100.0), Unchanged, true),
            (lower, 5.0, 0.0, None, 95.0, Some(100.0), Improved, true),
            (lower, 0.0, 0.0, None, 100.0, Some(100.0), Unchanged, true),
            (lower, 0.0, 0.0, None, 42.0, None, Measured, true),
            (lower, 0.0, 0.0, Some(50.0), 42.0, None, TargetMet, true),
            (lower, 0.0, 0.0, Some(50.0), 60.0, None, Measured, false),
            (
                lower,
                0.0,
                0.0,
                Some(50.0),
                60.0,
                Some(100.0),
                Improved,
                false,
            ),
            // Reaching the target is success even when the reference was better.
            (
                lower,
                0.0,
                0.0,
                Some(50.0),
                45.0,
                Some(40.0),
                TargetMet,
                true,
            ),
            (
                higher,
                0.0,
                0.0,
                Some(0.9),
                0.95,
                Some(0.8),
                TargetMet,
                true,
            ),
        ];
        for (i, (dir, min, tol, target, value, reference, verdict, passed)) in
            table.iter().enumerate()
        {
            let j = judge(
                Ok(*value),
                *reference,
                &completion(dir, *min, *tol, *target),
            );
            assert_eq!(
                (j.verdict, j.passed),
                (*verdict, *passed),
                "row {i}: {}",
                j.detail
            );
        }
    }

    #[test]
    fn no_value_or_a_bad_direction_is_invalid() {
        let j = judge(
            Err("no output".into()),
            Some(1.0),
            &completion("lower_is_better", 0.0, 0.0, None),
        );
        assert_eq!((j.verdict, j.passed), (Verdict::Invalid, false));
        assert_eq!(j.detail, "no output");
        let j = judge(Ok(1.0), None, &completion("smaller", 0.0, 0.0, None));
        assert_eq!(j.verdict, Verdict::Invalid);
        assert!(j.detail.contains("unsupported direction"));
    }

    #[test]
    fn details_explain_the_comparison() {
        let j = judge(
            Ok(97.0),
            Some(100.0),
            &completion("lower_is_better", 5.0, 0.0, None),
        );
        assert_eq!(
            j.detail,
            "measured 97 against 100: better by 3, less than min_improvement 5"
        );
    }
}
