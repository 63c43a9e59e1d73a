//! The verification gate: autodev's evidence that a task is done.
//!
//! A [`Plan`] is the verification in force for one task (its own settings, falling back to
//! `[verification]`). [`run_checks`] runs its `validate_commands` through `sh -c` under
//! [`crate::exec`] supervision, keeping stdout and stderr. [`judge`] then decides, as a pure
//! function of the changed files and the check results: protected paths untouched, enough files
//! changed, the `path_patterns` matched, every check passed, and the completion met (all checks
//! passing, or a metric read from a check's output judged by [`verdict::judge`]).

mod metric;
mod protect;
pub mod verdict;

pub use metric::{from_json, from_lines, metric_name};
pub use protect::Guard;
pub use verdict::{Judgement, Verdict};

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Config, ProjectPaths, absolutize};
use crate::exec::{self, Cancel, Exit, Ignore, Limits, Spec, StopReason, Tee};
use crate::snapshot::PathPatterns;
use crate::task::Task;
use crate::task::contract::Completion;

/// Lines of a failed check's output kept in its result (all of it is in the attempt log).
const OUTPUT_TAIL_LINES: usize = 30;

/// The verification in force for one task.
#[derive(Debug, Clone)]
pub struct Plan {
    pub path_patterns: Vec<String>,
    pub commands: Vec<String>,
    pub timeout_seconds: u64,
    pub workdir: PathBuf,
    pub env: Vec<(String, String)>,
    pub min_changed_files: usize,
    pub completion: Completion,
    pub protected_paths: Vec<String>,
}

fn env_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Plan {
    /// The task's own verification settings, each falling back to `[verification]`.
    pub fn new(task: &Task, config: &Config, paths: &ProjectPaths) -> Plan {
        let v = &task.verification;
        let global = &config.verification;
        let workdir = v
            .validate_working_directory
            .as_deref()
            .unwrap_or(&global.validate_working_directory)
            .trim();
        let env = match &v.validate_environment {
            Some(map) => map.iter().map(|(k, v)| (k.clone(), env_text(v))).collect(),
            None => global
                .validate_environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let commands = v
            .validate_commands
            .clone()
            .unwrap_or_else(|| global.validate_commands.clone());
        let workdir = if workdir.is_empty() {
            paths.code_dir.clone()
        } else {
            absolutize(&paths.code_dir, std::path::Path::new(workdir))
        };
        let mut protected_paths = global.protected_paths.clone();
        if global.protect_checks {
            let mut config = vec![paths.root.join("autodev.toml")];
            config.extend(paths.template_file.clone());
            // A file the task is meant to change (its path_patterns) is its to change.
            let own = (!v.path_patterns.is_empty())
                .then(|| PathPatterns::new(&v.path_patterns).ok())
                .flatten();
            protected_paths.extend(
                protect::check_files(&commands, &workdir, &paths.code_dir, &config)
                    .into_iter()
                    .filter(|f| !own.as_ref().is_some_and(|p| p.matches(f))),
            );
        }
        Plan {
            path_patterns: v.path_patterns.clone(),
            commands,
            timeout_seconds: v
                .validate_timeout_seconds
                .unwrap_or(global.validate_timeout_seconds),
            workdir,
            env,
            min_changed_files: global.min_changed_files as usize,
            completion: task.completion.clone(),
            protected_paths,
        }
    }
}

impl Plan {
    /// The same plan for the copy of the code directory `from` at `to` (a linked worktree): a
    /// working directory inside `from` moves to the same place inside `to`.
    pub fn in_tree(mut self, from: &std::path::Path, to: &std::path::Path) -> Plan {
        if let Ok(rest) = self.workdir.strip_prefix(from) {
            self.workdir = to.join(rest);
        }
        self
    }
}

/// One validate command as it ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckRun {
    pub command: String,
    /// `None` when the command could not be started.
    pub exit: Option<Exit>,
    pub stopped: Option<StopReason>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed_ms: u64,
    /// Why the command could not start.
    pub error: Option<String>,
}

impl CheckRun {
    pub fn succeeded(&self) -> bool {
        self.exit.is_some_and(Exit::success) && self.stopped.is_none()
    }

    /// Why it failed, in a few words.
    fn failure(&self, timeout_seconds: u64) -> String {
        if let Some(error) = &self.error {
            return error.clone();
        }
        match (self.stopped, self.exit) {
            (Some(StopReason::WallTimeout), _) => format!("timed out after {timeout_seconds} s"),
            (Some(StopReason::Cancelled), _) => "interrupted".to_string(),
            (_, Some(exit)) => exit.to_string(),
            (_, None) => "did not run".to_string(),
        }
    }

    /// The end of what it printed, stderr first (where failures are explained).
    fn output_tail(&self) -> String {
        let tail = |text: &str| {
            let lines: Vec<&str> = text.trim_end().lines().collect();
            lines[lines.len().saturating_sub(OUTPUT_TAIL_LINES)..].join("\n")
        };
        [tail(&self.stderr), tail(&self.stdout)]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Runs the plan's commands one after the other (all of them, even after a failure), each as
/// `sh -c COMMAND`, teeing their output under a `$ COMMAND` header.
/// A check's heartbeat: every `every`, `on` is told which command is running and for how long.
pub struct CheckBeat<'a> {
    pub every: Duration,
    pub on: &'a mut dyn FnMut(&str, Duration),
}

/// Runs the plan's check commands in order, with a heartbeat when `beat` is given.
pub async fn run_checks(
    plan: &Plan,
    tee: &mut Tee,
    cancel: &Cancel,
    mut beat: Option<CheckBeat<'_>>,
) -> Vec<CheckRun> {
    let limits = Limits {
        wall: (plan.timeout_seconds > 0).then(|| Duration::from_secs(plan.timeout_seconds)),
        idle: None,
        grace: Duration::from_secs(5),
    };
    let mut runs = Vec::with_capacity(plan.commands.len());
    for command in &plan.commands {
        let mut spec = Spec::new("sh", &plan.workdir);
        spec.args = vec!["-c".into(), command.clone()];
        spec.env = plan.env.clone();
        tee.note(&format!("$ {command}"));
        let every = beat.as_ref().map(|b| b.every);
        let ran = exec::beating(
            exec::run(&spec, &limits, tee, &mut Ignore, cancel),
            every,
            |elapsed| {
                if let Some(b) = beat.as_mut() {
                    (b.on)(command, elapsed);
                }
            },
        )
        .await;
        let run = match ran {
            Ok(outcome) => CheckRun {
                command: command.clone(),
                exit: Some(outcome.exit),
                stopped: outcome.stopped,
                stdout: outcome.stdout.text(),
                stderr: outcome.stderr.text(),
                elapsed_ms: outcome.elapsed.as_millis() as u64,
                error: None,
            },
            Err(e) => CheckRun {
                command: command.clone(),
                exit: None,
                stopped: None,
                stdout: String::new(),
                stderr: String::new(),
                elapsed_ms: 0,
                error: Some(if plan.workdir.is_dir() {
                    e.to_string()
                } else {
                    format!(
                        "the working directory {} does not exist",
                        plan.workdir.display()
                    )
                }),
            },
        };
        runs.push(run);
    }
    runs
}

/// One line of the gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    /// The end of a failed command's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// The metric of a numeric completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricReport {
    pub name: String,
    pub value: Option<f64>,
    pub reference: Option<f64>,
    pub verdict: Verdict,
    pub detail: String,
}

/// The gate's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GateReport {
    pub passed: bool,
    pub changed_files: Vec<String>,
    pub checks: Vec<Check>,
    /// One sentence per failed check, for the agent's next prompt.
    pub errors: Vec<String>,
    pub metric: Option<MetricReport>,
    /// Protected files that were changed.
    pub tampered: Vec<String>,
}

/// Decides the gate from the changed files and the check results. `reference` is the number a
/// metric is compared with (a baseline or the best so far); `enforce_changes` is false where no
/// change is expected (an experiment's baseline).
pub fn judge(
    plan: &Plan,
    changed: &[String],
    runs: &[CheckRun],
    reference: Option<f64>,
    enforce_changes: bool,
) -> GateReport {
    let mut checks = Vec::new();
    let mut errors = Vec::new();
    let mut add = |check: Check, error: Option<String>| {
        if !check.passed
            && let Some(error) = error
        {
            errors.push(error);
        }
        checks.push(check);
    };

    let mut tampered = Vec::new();
    if !plan.protected_paths.is_empty() {
        match PathPatterns::new(&plan.protected_paths) {
            Ok(protected) => {
                tampered = changed
                    .iter()
                    .filter(|p| protected.matches(p))
                    .cloned()
                    .collect();
                let passed = tampered.is_empty();
                let detail = if passed {
                    "no protected file changed".to_string()
                } else {
                    format!("changed: {}", tampered.join(", "))
                };
                add(
                    Check {
                        name: "protected paths".into(),
                        passed,
                        detail,
                        output: None,
                    },
                    Some(format!(
                        "protected files were changed: {} (the checks' own files and \
                         verification.protected_paths); change the code, not the checks",
                        tampered.join(", ")
                    )),
                );
            }
            Err(message) => add(
                Check {
                    name: "protected paths".into(),
                    passed: false,
                    detail: message.clone(),
                    output: None,
                },
                Some(message),
            ),
        }
    }

    if enforce_changes {
        for (check, error) in change_checks(plan, changed) {
            add(check, Some(error));
        }
    }

    for run in runs {
        let passed = run.succeeded();
        let detail = if passed {
            format!("exit 0 in {} ms", run.elapsed_ms)
        } else {
            run.failure(plan.timeout_seconds)
        };
        let output = (!passed)
            .then(|| run.output_tail())
            .filter(|t| !t.is_empty());
        let error = format!(
            "check `{}` failed: {detail}{}",
            run.command,
            output
                .as_deref()
                .map(|o| format!("\n{o}"))
                .unwrap_or_default()
        );
        add(
            Check {
                name: format!("check: {}", run.command),
                passed,
                detail,
                output,
            },
            Some(error),
        );
    }

    let metric = match &plan.completion {
        Completion::Boolean => None,
        Completion::Numeric(numeric) => {
            let name = metric_name(numeric).to_string();
            let value = read_metric(numeric, runs);
            let measured = value.as_ref().ok().copied();
            let judgement = verdict::judge(value, reference, numeric);
            add(
                Check {
                    name: format!("metric: {name}"),
                    passed: judgement.passed,
                    detail: format!("{}: {}", judgement.verdict.as_str(), judgement.detail),
                    output: None,
                },
                Some(format!("metric {name} did not pass: {}", judgement.detail)),
            );
            Some(MetricReport {
                name,
                value: measured,
                reference,
                verdict: judgement.verdict,
                detail: judgement.detail,
            })
        }
    };

    GateReport {
        passed: checks.iter().all(|c| c.passed),
        changed_files: changed.to_vec(),
        checks,
        errors,
        metric,
        tampered,
    }
}

/// The evidence that there is a change at all: enough changed files, and one matching the
/// task's `path_patterns`. Each check with the error it gives when it fails.
fn change_checks(plan: &Plan, changed: &[String]) -> Vec<(Check, String)> {
    let count = changed.len();
    let mut out = vec![(
        Check {
            name: "changed files".into(),
            passed: count >= plan.min_changed_files,
            detail: format!("{count} changed (minimum {})", plan.min_changed_files),
            output: None,
        },
        format!(
            "too few changed files: {count}, at least {} expected",
            plan.min_changed_files
        ),
    )];
    if !plan.path_patterns.is_empty() {
        let (passed, detail) = match PathPatterns::new(&plan.path_patterns) {
            Ok(patterns) => match changed.iter().find(|p| patterns.matches(p)) {
                Some(hit) => (
                    true,
                    format!("{hit} matches {}", patterns.patterns().join(", ")),
                ),
                None => (
                    false,
                    format!("no changed file matches {}", patterns.patterns().join(", ")),
                ),
            },
            Err(message) => (false, message),
        };
        out.push((
            Check {
                name: "path patterns".into(),
                passed,
                detail: detail.clone(),
                output: None,
            },
            detail,
        ));
    }
    out
}

/// Why `changed` is not evidence of a change (too few files, no path pattern matched); empty
/// when it is.
pub fn change_errors(plan: &Plan, changed: &[String]) -> Vec<String> {
    change_checks(plan, changed)
        .into_iter()
        .filter(|(check, _)| !check.passed)
        .map(|(_, error)| error)
        .collect()
}

/// One sample of a numeric completion's metric: every check must succeed (the first failure is
/// the error, with the end of its output), and the metric is read as in [`judge`].
pub fn sample(plan: &Plan, runs: &[CheckRun]) -> Result<f64, String> {
    let Completion::Numeric(numeric) = &plan.completion else {
        return Err("the task's completion is not numeric".into());
    };
    if let Some(failure) = first_failure(plan, runs) {
        return Err(format!("check {failure}"));
    }
    read_metric(numeric, runs)
}

/// How the first run that failed failed: "`COMMAND` failed: REASON", with the end of its
/// output on the lines after; `None` when every run succeeded.
pub fn first_failure(plan: &Plan, runs: &[CheckRun]) -> Option<String> {
    let failed = runs.iter().find(|r| !r.succeeded())?;
    let tail = failed.output_tail();
    Some(format!(
        "`{}` failed: {}{}",
        failed.command,
        failed.failure(plan.timeout_seconds),
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n{tail}")
        }
    ))
}

/// The metric from the last successful check that yields one; otherwise why none did.
fn read_metric(
    numeric: &crate::task::contract::NumericCompletion,
    runs: &[CheckRun],
) -> Result<f64, String> {
    if runs.is_empty() {
        return Err("there are no validate_commands to read the metric from".into());
    }
    let mut first_error = None;
    for run in runs.iter().rev().filter(|r| r.succeeded()) {
        match metric::read(numeric, &run.stdout) {
            Ok(value) => return Ok(value),
            Err(e) => {
                first_error.get_or_insert(format!("`{}`: {e}", run.command));
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        "no check succeeded, and the metric is read from a successful check's stdout".into()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::contract::NumericCompletion;

    fn plan(completion: Completion) -> Plan {
        Plan {
            path_patterns: vec!["src/**/*.rs".into()],
            commands: Vec::new(),
            timeout_seconds: 60,
            workdir: PathBuf::from("/p"),
            env: Vec::new(),
            min_changed_files: 1,
            completion,
            protected_paths: vec!["tests/**".into()],
        }
    }

    fn ran(command: &str, code: i32, stdout: &str) -> CheckRun {
        CheckRun {
            command: command.into(),
            exit: Some(Exit::Code(code)),
            stopped: None,
            stdout: stdout.into(),
            stderr: if code == 0 {
                String::new()
            } else {
                "it broke\n".into()
            },
            elapsed_ms: 5,
            error: None,
        }
    }

    fn names_failed(report: &GateReport) -> Vec<&str> {
        report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn every_rule_can_fail_on_its_own() {
        let p = plan(Completion::Boolean);
        let ok = [ran("cargo test", 0, "")];
        let good = ["src/lib.rs".to_string()];
        assert!(judge(&p, &good, &ok, None, true).passed);

        let r = judge(&p, &[], &ok, None, true);
        assert_eq!(names_failed(&r), ["changed files", "path patterns"]);

        let r = judge(&p, &["docs/a.md".to_string()], &ok, None, true);
        assert_eq!(names_failed(&r), ["path patterns"]);

        let r = judge(
            &p,
            &["src/lib.rs".to_string(), "tests/t.rs".to_string()],
            &ok,
            None,
            true,
        );
        assert_eq!(names_failed(&r), ["protected paths"]);
        assert_eq!(r.tampered, ["tests/t.rs"]);

        let r = judge(&p, &good, &[ran("cargo test", 101, "")], None, true);
        assert_eq!(names_failed(&r), ["check: cargo test"]);
        assert!(r.errors[0].contains("exit 101"), "{:?}", r.errors);
        assert!(
            r.errors[0].contains("it broke"),
            "stderr reaches the agent: {:?}",
            r.errors
        );
    }

    #[test]
    fn a_baseline_does_not_need_changes() {
        let p = plan(Completion::Boolean);
        assert!(judge(&p, &[], &[ran("true", 0, "")], None, false).passed);
    }

    #[test]
    fn the_metric_comes_from_the_last_successful_check() {
        let numeric = NumericCompletion {
            source: "json_stdout".into(),
            name: "latency".into(),
            direction: "lower_is_better".into(),
            json_path: "$.ms".into(),
            ..NumericCompletion::default()
        };
        let p = plan(Completion::Numeric(Box::new(numeric)));
        let good = ["src/lib.rs".to_string()];
        let runs = [
            ran("bench old", 0, r#"{"ms": 200}"#),
            ran("bench", 0, r#"{"ms": 80}"#),
            ran("lint", 0, "not json"),
        ];
        let r = judge(&p, &good, &runs, Some(100.0), true);
        let metric = r.metric.as_ref().unwrap();
        // "lint" is last but yields nothing; "bench" is the last one that does.
        assert_eq!(metric.value, Some(80.0));
        assert_eq!(metric.verdict, Verdict::Improved);
        assert!(r.passed);

        let r = judge(
            &p,
            &good,
            &[ran("bench", 0, r#"{"ms": 120}"#)],
            Some(100.0),
            true,
        );
        assert_eq!(r.metric.as_ref().unwrap().verdict, Verdict::Regressed);
        assert!(!r.passed);

        let r = judge(&p, &good, &[ran("bench", 1, r#"{"ms": 1}"#)], None, true);
        assert_eq!(r.metric.as_ref().unwrap().verdict, Verdict::Invalid);
        assert!(
            r.metric
                .as_ref()
                .unwrap()
                .detail
                .contains("no check succeeded")
        );
    }
}
