//! A task's contracts: how its work is verified, what counts as complete, and how it executes.
//!
//! Each contract is read leniently from `task.json` (legacy `gate`, `experiment` and
//! `execution_mode` forms included), normalised, and written back in canonical form. Keys a
//! contract does not know are kept on round trip. The audit of contracts lives in
//! [`super::audit`]; running checks lives in the gate.

use serde_json::{Map, Value, json};

use super::coerce;
use crate::config::Promotion;

/// `verification`: the evidence checks of a task.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verification {
    /// Globs over project-relative paths; at least one changed file must match one.
    pub path_patterns: Vec<String>,
    /// Shell commands; `None` means "use `verification.validate_commands` from autodev.toml".
    pub validate_commands: Option<Vec<String>>,
    pub validate_timeout_seconds: Option<u64>,
    pub validate_working_directory: Option<String>,
    pub validate_environment: Option<Map<String, Value>>,
    pub extra: Map<String, Value>,
}

impl Verification {
    /// Reads the object in one pass; unknown keys are kept in order, `evidence_keys` dropped.
    pub fn from_owned(map: Map<String, Value>) -> Verification {
        let mut out = Verification::default();
        for (key, value) in map {
            let v = Some(&value);
            match key.as_str() {
                "path_patterns" => out.path_patterns = coerce::string_list(v),
                "validate_commands" => out.validate_commands = Some(coerce::string_list(v)),
                "validate_timeout_seconds" => {
                    out.validate_timeout_seconds = coerce::integer(v)
                        .filter(|n| *n > 0)
                        .and_then(|n| u64::try_from(n).ok());
                }
                "validate_working_directory" => {
                    out.validate_working_directory = Some(coerce::text(v));
                }
                "validate_environment" => {
                    if let Value::Object(env) = value {
                        out.validate_environment = Some(env);
                    }
                }
                "evidence_keys" => {}
                _ => {
                    out.extra.insert(key, value);
                }
            }
        }
        out
    }

    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("path_patterns".into(), json!(self.path_patterns));
        if let Some(commands) = &self.validate_commands {
            map.insert("validate_commands".into(), json!(commands));
        }
        if let Some(seconds) = self.validate_timeout_seconds {
            map.insert("validate_timeout_seconds".into(), json!(seconds));
        }
        if let Some(dir) = &self.validate_working_directory {
            map.insert("validate_working_directory".into(), json!(dir));
        }
        if let Some(env) = &self.validate_environment {
            map.insert("validate_environment".into(), Value::Object(env.clone()));
        }
        map.extend(self.extra.clone());
        Value::Object(map)
    }
}

/// Where a numeric completion's metric is read from.
pub const METRIC_SOURCES: [&str; 2] = ["json_stdout", "metric_lines"];
pub const DIRECTIONS: [&str; 2] = ["higher_is_better", "lower_is_better"];
pub const COMPLETION_KINDS: [&str; 2] = ["boolean", "numeric"];
pub const COMPLETION_SOURCES: [&str; 3] = ["gate", "json_stdout", "metric_lines"];
pub const STRATEGIES: [&str; 2] = ["iterative", "single_pass"];

/// `completion`: what makes the task complete.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Complete when every gate check passes.
    Boolean,
    /// Complete by a measured number.
    Numeric(Box<NumericCompletion>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NumericCompletion {
    /// `json_stdout` (a JSONPath into the last check's JSON output) or `metric_lines`.
    pub source: String,
    pub name: String,
    /// `higher_is_better` or `lower_is_better`; anything else fails the audit.
    pub direction: String,
    pub json_path: String,
    pub min_improvement: f64,
    pub unchanged_tolerance: f64,
    pub target: Option<f64>,
    /// Samples per measurement (the median is the value); 1 takes no noise into account.
    pub repeats: u32,
    /// Interleaved pairs taken one at a time, from 3 up to `repeats`, until the evidence is
    /// clear (`sequential`; `None`: not set, see [`NumericCompletion::sequential_pairs`]).
    pub sequential: Option<bool>,
    pub extra: Map<String, Value>,
}

/// The `repeats` from which interleaved pairs are sequential unless a task says otherwise:
/// where stopping early has room to save pairs, and the figures of `bench/experiment.sh` show
/// it keeps fewer no-op changes than fixed pairs while keeping nearly every real gain.
pub const SEQUENTIAL_FROM: u32 = 6;

impl NumericCompletion {
    /// Whether interleaved pairs are taken one at a time until the evidence is clear: as the
    /// task says, else from [`SEQUENTIAL_FROM`] repeats on.
    pub fn sequential_pairs(&self) -> bool {
        self.sequential.unwrap_or(self.repeats >= SEQUENTIAL_FROM)
    }
}

/// The most samples one measurement may take.
pub const MAX_REPEATS: u32 = 50;
/// Why `repeats = 2` is refused: two samples against two can never clear 95% confidence.
pub const TWO_REPEATS: &str = "completion.repeats = 2 can never tell a change from noise; use 1 (no noise check) or 3 or more";

const NUMERIC_KEYS: [&str; 10] = [
    "sequential",
    "kind",
    "source",
    "name",
    "direction",
    "json_path",
    "min_improvement",
    "unchanged_tolerance",
    "target",
    "repeats",
];

impl NumericCompletion {
    fn from_map(map: &Map<String, Value>) -> NumericCompletion {
        let source = coerce::text(map.get("source")).trim().to_ascii_lowercase();
        let mut extra = map.clone();
        for key in NUMERIC_KEYS {
            extra.remove(key);
        }
        NumericCompletion {
            source: if METRIC_SOURCES.contains(&source.as_str()) {
                source
            } else {
                "json_stdout".into()
            },
            name: coerce::text(map.get("name")).trim().to_string(),
            direction: coerce::text(map.get("direction")).trim().to_string(),
            json_path: coerce::text(map.get("json_path")).trim().to_string(),
            min_improvement: coerce::number(map.get("min_improvement")).unwrap_or(0.0),
            unchanged_tolerance: coerce::number(map.get("unchanged_tolerance")).unwrap_or(0.0),
            target: coerce::number(map.get("target")),
            repeats: coerce::positive_or(map.get("repeats"), 1).min(MAX_REPEATS),
            sequential: map
                .get("sequential")
                .filter(|v| !v.is_null())
                .map(|v| coerce::bool_or(Some(v), false)),
            extra,
        }
    }

    fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("kind".into(), json!("numeric"));
        map.insert("source".into(), json!(self.source));
        map.insert("name".into(), json!(self.name));
        map.insert("direction".into(), json!(self.direction));
        map.insert("json_path".into(), json!(self.json_path));
        map.insert("min_improvement".into(), json!(self.min_improvement));
        map.insert(
            "unchanged_tolerance".into(),
            json!(self.unchanged_tolerance),
        );
        if let Some(target) = self.target {
            map.insert("target".into(), json!(target));
        }
        map.insert("repeats".into(), json!(self.repeats));
        if let Some(sequential) = self.sequential {
            map.insert("sequential".into(), json!(sequential));
        }
        map.extend(self.extra.clone());
        Value::Object(map)
    }
}

impl Completion {
    pub fn to_value(&self) -> Value {
        match self {
            Completion::Boolean => {
                json!({"kind": "boolean", "source": "gate", "success_when": "all_checks_pass"})
            }
            Completion::Numeric(n) => n.to_value(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Completion::Boolean => "boolean",
            Completion::Numeric(_) => "numeric",
        }
    }

    /// The metric name, or `gate` for boolean completion.
    pub fn name(&self) -> &str {
        match self {
            Completion::Numeric(n) if !n.name.is_empty() => &n.name,
            _ => "gate",
        }
    }

    /// One-line description of what counts as complete.
    pub fn target_summary(&self) -> String {
        match self {
            Completion::Boolean => "all_checks_pass".into(),
            Completion::Numeric(n) => {
                let direction = if n.direction.is_empty() {
                    "unspecified"
                } else {
                    &n.direction
                };
                let mut text = format!(
                    "{}, source={}, direction={direction}",
                    self.name(),
                    n.source
                );
                if let Some(target) = n.target {
                    text.push_str(&format!(", target={}", format_number(target)));
                }
                text
            }
        }
    }
}

/// Shortest plain rendering of a number (`95`, `0.5`), like `%g` without exponents for
/// ordinary magnitudes.
pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// `execution`: how the task is worked.
#[derive(Debug, Clone, PartialEq)]
pub enum Execution {
    /// One change, verified once (a delivery task).
    SinglePass,
    /// A bounded experiment loop over a metric.
    Iterative(Iterative),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Iterative {
    pub max_iterations: u32,
    pub rollback_on_failure: bool,
    pub keep_on_equal: bool,
    pub commit_prefix: String,
    pub stop_after_no_improvement: u32,
    pub stop_after_invalid: u32,
    /// Measure the reference again after this many discards in a row (drift); 0: never.
    pub remeasure_after_discards: u32,
    /// Run once in a tree before it is measured, whenever its commit changed (a compile step);
    /// the measuring checks then never build.
    pub build_command: Option<String>,
    /// Keep a candidate the measurement cannot tell from the reference that removes more lines
    /// than it adds (`keep_simplifications`).
    pub keep_simplifications: bool,
    /// Record each iteration in the ideas backlog (`logs/ideas/<task>.md`) and show its digest
    /// in the next prompt (`ideas`).
    pub ideas: bool,
    /// Iterations in a row without improvement after which the prompt asks to build on the
    /// best kept change (the `refine` stage).
    pub refine_after: u32,
    /// … after which it asks for an approach unlike everything tried (`pivot`).
    pub pivot_after: u32,
    /// Pivots without a gain after which the experiment halts.
    pub halt_after_pivots: u32,
    /// How a winning result comes to the user's branch (`None`: `experiments.promotion`).
    pub promotion: Option<Promotion>,
    pub extra: Map<String, Value>,
}

impl Default for Iterative {
    fn default() -> Self {
        Iterative {
            max_iterations: 3,
            rollback_on_failure: true,
            keep_on_equal: false,
            commit_prefix: "experiment".into(),
            stop_after_no_improvement: 3,
            stop_after_invalid: 2,
            remeasure_after_discards: 2,
            build_command: None,
            keep_simplifications: true,
            ideas: true,
            refine_after: 2,
            pivot_after: 4,
            halt_after_pivots: 2,
            promotion: None,
            extra: Map::new(),
        }
    }
}

const ITERATIVE_KEYS: [&str; 15] = [
    "promotion",
    "refine_after",
    "pivot_after",
    "halt_after_pivots",
    "keep_simplifications",
    "ideas",
    "strategy",
    "max_iterations",
    "rollback_on_failure",
    "keep_on_equal",
    "commit_prefix",
    "stop_after_no_improvement",
    "stop_after_invalid",
    "remeasure_after_discards",
    "build_command",
];

impl Iterative {
    /// Reads the fields under their current or legacy (`experiment` object) names.
    fn from_map(map: &Map<String, Value>, legacy: bool) -> Iterative {
        let d = Iterative::default();
        let field = |current: &str, old: &str| map.get(if legacy { old } else { current });
        let prefix = coerce::text(field("commit_prefix", "commit_prefix"));
        let mut extra = if legacy { Map::new() } else { map.clone() };
        for key in ITERATIVE_KEYS {
            extra.remove(key);
        }
        let promotion = Promotion::parse(&coerce::text(field("promotion", "promotion")));
        // A value that is not one stays as written (the queue check names it).
        if promotion.is_none()
            && let Some(value) = map.get("promotion").filter(|_| !legacy)
        {
            extra.insert("promotion".into(), value.clone());
        }
        Iterative {
            max_iterations: coerce::positive_or(
                field("max_iterations", "max_iterations"),
                d.max_iterations,
            ),
            rollback_on_failure: coerce::bool_or(
                field("rollback_on_failure", "rollback_on_regression"),
                d.rollback_on_failure,
            ),
            keep_on_equal: coerce::bool_or(
                field("keep_on_equal", "keep_on_equal"),
                d.keep_on_equal,
            ),
            commit_prefix: if prefix.trim().is_empty() {
                d.commit_prefix
            } else {
                prefix.trim().to_string()
            },
            stop_after_no_improvement: coerce::positive_or(
                field("stop_after_no_improvement", "no_improvement_threshold"),
                d.stop_after_no_improvement,
            ),
            stop_after_invalid: coerce::positive_or(
                field("stop_after_invalid", "invalid_result_threshold"),
                d.stop_after_invalid,
            ),
            remeasure_after_discards: coerce::integer(field(
                "remeasure_after_discards",
                "remeasure_after_discards",
            ))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(d.remeasure_after_discards),
            build_command: Some(coerce::text(field("build_command", "build_command")))
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty()),
            keep_simplifications: coerce::bool_or(
                field("keep_simplifications", "keep_simplifications"),
                d.keep_simplifications,
            ),
            ideas: coerce::bool_or(field("ideas", "ideas"), d.ideas),
            refine_after: coerce::positive_or(
                field("refine_after", "refine_after"),
                d.refine_after,
            ),
            pivot_after: coerce::positive_or(field("pivot_after", "pivot_after"), d.pivot_after),
            halt_after_pivots: coerce::positive_or(
                field("halt_after_pivots", "halt_after_pivots"),
                d.halt_after_pivots,
            ),
            promotion,
            extra,
        }
    }
}

impl Execution {
    pub fn to_value(&self) -> Value {
        match self {
            Execution::SinglePass => json!({"strategy": "single_pass"}),
            Execution::Iterative(it) => {
                let mut map = Map::new();
                map.insert("strategy".into(), json!("iterative"));
                map.insert("max_iterations".into(), json!(it.max_iterations));
                map.insert("rollback_on_failure".into(), json!(it.rollback_on_failure));
                map.insert("keep_on_equal".into(), json!(it.keep_on_equal));
                map.insert("commit_prefix".into(), json!(it.commit_prefix));
                map.insert(
                    "stop_after_no_improvement".into(),
                    json!(it.stop_after_no_improvement),
                );
                map.insert("stop_after_invalid".into(), json!(it.stop_after_invalid));
                map.insert(
                    "remeasure_after_discards".into(),
                    json!(it.remeasure_after_discards),
                );
                if let Some(build) = &it.build_command {
                    map.insert("build_command".into(), json!(build));
                }
                // Written when turned off: a queue that never named them stays as it was.
                if !it.keep_simplifications {
                    map.insert("keep_simplifications".into(), json!(false));
                }
                if !it.ideas {
                    map.insert("ideas".into(), json!(false));
                }
                let d = Iterative::default();
                for (key, value, default) in [
                    ("refine_after", it.refine_after, d.refine_after),
                    ("pivot_after", it.pivot_after, d.pivot_after),
                    (
                        "halt_after_pivots",
                        it.halt_after_pivots,
                        d.halt_after_pivots,
                    ),
                ] {
                    if value != default {
                        map.insert(key.into(), json!(value));
                    }
                }
                if let Some(promotion) = it.promotion {
                    map.insert("promotion".into(), json!(promotion.as_str()));
                }
                map.extend(it.extra.clone());
                Value::Object(map)
            }
        }
    }

    pub fn strategy(&self) -> &'static str {
        match self {
            Execution::SinglePass => "single_pass",
            Execution::Iterative(_) => "iterative",
        }
    }

    /// `experiment` for iterative tasks, `delivery` otherwise (the legacy `execution_mode`).
    pub fn mode(&self) -> &'static str {
        match self {
            Execution::SinglePass => "delivery",
            Execution::Iterative(_) => "experiment",
        }
    }
}

fn non_empty_object(value: Option<&Value>) -> Option<&Map<String, Value>> {
    value.and_then(Value::as_object).filter(|m| !m.is_empty())
}

/// Whether a raw task uses the legacy experiment form.
fn legacy_experiment(raw: &Map<String, Value>) -> Option<Map<String, Value>> {
    let mode = coerce::text(raw.get("execution_mode"))
        .trim()
        .to_ascii_lowercase();
    match non_empty_object(raw.get("experiment")) {
        Some(exp) => Some(exp.clone()),
        None if mode == "experiment" => Some(Map::new()),
        None => None,
    }
}

/// Reads `completion` (or derives it from the legacy `experiment.goal_metric`).
pub fn completion_of(raw: &Map<String, Value>) -> Completion {
    if let Some(map) = non_empty_object(raw.get("completion")) {
        let kind = coerce::text(map.get("kind")).trim().to_ascii_lowercase();
        return if kind == "numeric" {
            Completion::Numeric(Box::new(NumericCompletion::from_map(map)))
        } else {
            Completion::Boolean
        };
    }
    match legacy_experiment(raw) {
        Some(exp) => {
            let goal = exp
                .get("goal_metric")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            Completion::Numeric(Box::new(NumericCompletion::from_map(&goal)))
        }
        None => Completion::Boolean,
    }
}

/// Reads `execution` (or derives it from the legacy `experiment` object).
pub fn execution_of(raw: &Map<String, Value>) -> Execution {
    if let Some(map) = non_empty_object(raw.get("execution")) {
        let strategy = coerce::text(map.get("strategy"))
            .trim()
            .to_ascii_lowercase();
        return if strategy == "iterative" {
            Execution::Iterative(Iterative::from_map(map, false))
        } else {
            Execution::SinglePass
        };
    }
    match legacy_experiment(raw) {
        Some(exp) => Execution::Iterative(Iterative::from_map(&exp, true)),
        None => Execution::SinglePass,
    }
}

/// The legacy `experiment` object, written back for tools that still read it; `None` when the
/// task is neither numeric nor iterative.
pub fn legacy_experiment_value(completion: &Completion, execution: &Execution) -> Option<Value> {
    let iterative = match execution {
        Execution::Iterative(it) => it.clone(),
        Execution::SinglePass if matches!(completion, Completion::Numeric(_)) => {
            Iterative::default()
        }
        Execution::SinglePass => return None,
    };
    let metric = match completion {
        Completion::Numeric(n) => n.as_ref().clone(),
        Completion::Boolean => NumericCompletion {
            source: "json_stdout".into(),
            ..NumericCompletion::default()
        },
    };
    Some(json!({
        "max_iterations": iterative.max_iterations,
        "rollback_on_regression": iterative.rollback_on_failure,
        "keep_on_equal": iterative.keep_on_equal,
        "commit_prefix": iterative.commit_prefix,
        "no_improvement_threshold": iterative.stop_after_no_improvement,
        "invalid_result_threshold": iterative.stop_after_invalid,
        "goal_metric": {
            "name": metric.name,
            "direction": metric.direction,
            "source": metric.source,
            "json_path": metric.json_path,
            "min_improvement": metric.min_improvement,
            "unchanged_tolerance": metric.unchanged_tolerance,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn missing_completion_is_boolean() {
        assert_eq!(completion_of(&raw(json!({}))), Completion::Boolean);
        assert_eq!(
            completion_of(&raw(json!({"completion": {}}))),
            Completion::Boolean
        );
        assert_eq!(
            completion_of(&raw(json!({"completion": {"kind": "weird"}}))),
            Completion::Boolean
        );
        assert_eq!(
            Completion::Boolean.to_value(),
            json!({"kind": "boolean", "source": "gate", "success_when": "all_checks_pass"})
        );
    }

    #[test]
    fn numeric_completion_normalises_fields() {
        let c = completion_of(&raw(json!({"completion": {
            "kind": " Numeric ", "source": "bogus", "name": " latency ",
            "direction": "lower_is_better", "json_path": "$.ms",
            "min_improvement": "0.5", "target": "x", "repeats": 5
        }})));
        let Completion::Numeric(n) = &c else {
            panic!("expected numeric")
        };
        assert_eq!(n.source, "json_stdout");
        assert_eq!(n.name, "latency");
        assert_eq!(n.min_improvement, 0.5);
        assert_eq!(n.target, None);
        assert_eq!(n.repeats, 5);
        assert!(n.extra.is_empty());
        assert_eq!(
            c.target_summary(),
            "latency, source=json_stdout, direction=lower_is_better"
        );
    }

    #[test]
    fn metric_lines_source_is_kept() {
        let c = completion_of(&raw(
            json!({"completion": {"kind": "numeric", "source": "metric_lines", "name": "m", "target": 95}}),
        ));
        assert_eq!(c.to_value()["source"], "metric_lines");
        assert!(c.target_summary().ends_with("target=95"));
    }

    #[test]
    fn legacy_experiment_becomes_numeric_and_iterative() {
        let task = raw(json!({
            "execution_mode": "experiment",
            "experiment": {
                "max_iterations": 5, "rollback_on_regression": "no",
                "no_improvement_threshold": 0, "invalid_result_threshold": 4,
                "goal_metric": {"name": "score", "direction": "higher_is_better",
                                "json_path": "$.score", "min_improvement": 1}
            }
        }));
        let completion = completion_of(&task);
        let execution = execution_of(&task);
        let Execution::Iterative(it) = &execution else {
            panic!("expected iterative")
        };
        assert_eq!(it.max_iterations, 5);
        assert!(!it.rollback_on_failure);
        assert_eq!(it.stop_after_no_improvement, 3);
        assert_eq!(it.stop_after_invalid, 4);
        assert_eq!(completion.name(), "score");
        let legacy = legacy_experiment_value(&completion, &execution).unwrap();
        assert_eq!(legacy["rollback_on_regression"], json!(false));
        assert_eq!(legacy["goal_metric"]["json_path"], json!("$.score"));
    }

    #[test]
    fn execution_mode_experiment_without_object_is_iterative_with_defaults() {
        let task = raw(json!({"execution_mode": "experiment"}));
        assert_eq!(
            execution_of(&task),
            Execution::Iterative(Iterative::default())
        );
    }

    #[test]
    fn unknown_strategy_is_single_pass() {
        let task = raw(json!({"execution": {"strategy": "parallel"}}));
        assert_eq!(execution_of(&task), Execution::SinglePass);
        assert_eq!(
            legacy_experiment_value(&Completion::Boolean, &Execution::SinglePass),
            None
        );
    }

    #[test]
    fn verification_drops_evidence_keys_and_keeps_unknown() {
        let v = Verification::from_owned(raw(json!({
            "path_patterns": ["src/**"], "evidence_keys": ["x"], "protected": true,
            "validate_timeout_seconds": "60"
        })));
        assert_eq!(v.validate_commands, None);
        assert_eq!(v.validate_timeout_seconds, Some(60));
        let out = v.to_value();
        assert!(out.get("evidence_keys").is_none());
        assert_eq!(out["protected"], json!(true));
    }

    #[test]
    fn format_number_is_plain() {
        assert_eq!(format_number(95.0), "95");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(-3.0), "-3");
    }
}
