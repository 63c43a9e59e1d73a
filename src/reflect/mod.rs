//! Reflection: after a failed attempt, a read-only one-shot call asks the agent to refine the
//! task's guidance. The answer may change only the allowed fields (steps, docs, output, notes and
//! the verification settings); the refined task must pass the refinement audit, or nothing is
//! applied.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::task::Task;
use crate::task::audit::audit_refinement;
use crate::task::model::append_unique;

/// What the failed attempt left to learn from.
pub struct Failure<'a> {
    pub attempt: u32,
    pub max_attempts: u32,
    /// How the agent ended, in words.
    pub outcome: String,
    pub changed: &'a [String],
    pub errors: &'a [String],
    /// The last lines of the attempt log.
    pub log_tail: String,
}

/// The reflection prompt for `task` after `failure`.
pub fn prompt(task: &Task, failure: &Failure) -> String {
    let list = crate::template::bullets;
    let mut vars = BTreeMap::new();
    vars.insert("attempt", failure.attempt.to_string());
    vars.insert("max_attempts", failure.max_attempts.to_string());
    vars.insert("outcome", failure.outcome.clone());
    vars.insert(
        "task_json",
        serde_json::to_string_pretty(&task.to_value()).unwrap_or_default(),
    );
    let changed: Vec<String> = failure.changed.iter().take(40).cloned().collect();
    vars.insert("changed_files", list(&changed, "No changed files"));
    vars.insert(
        "verification_errors",
        list(failure.errors, "No verification errors"),
    );
    vars.insert(
        "log_tail",
        if failure.log_tail.trim().is_empty() {
            "(the attempt log is empty)".to_string()
        } else {
            failure.log_tail.clone()
        },
    );
    crate::template::render(crate::template::REFLECT_PROMPT, &vars)
}

/// The refinement an answer proposes, normalised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refinement {
    pub summary: String,
    pub steps: Option<Vec<String>>,
    pub docs: Vec<String>,
    pub output: Vec<String>,
    pub implementation_notes: Vec<String>,
    pub verification_notes: Vec<String>,
    pub learning_notes: Vec<String>,
    pub verification: Map<String, Value>,
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the model's answer.
pub fn parse(answer: &str) -> Result<Refinement, String> {
    let map = crate::plan::json::extract_object(answer)?;
    let steps = strings(map.get("steps"));
    let mut verification = Map::new();
    if let Some(Value::Object(v)) = map.get("verification") {
        for key in ["path_patterns", "validate_commands"] {
            let list = strings(v.get(key));
            if !list.is_empty() {
                verification.insert(key.into(), Value::from(list));
            }
        }
        if let Some(t) = v
            .get("validate_timeout_seconds")
            .and_then(Value::as_f64)
            .filter(|t| *t >= 1.0)
        {
            verification.insert("validate_timeout_seconds".into(), Value::from(t as u64));
        }
        if let Some(dir) = v
            .get("validate_working_directory")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            verification.insert("validate_working_directory".into(), Value::from(dir));
        }
        if let Some(Value::Object(env)) = v.get("validate_environment") {
            let env: Map<String, Value> = env
                .iter()
                .filter(|(k, _)| !k.trim().is_empty())
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.trim().to_string(), Value::from(text))
                })
                .collect();
            verification.insert("validate_environment".into(), Value::Object(env));
        }
    }
    Ok(Refinement {
        summary: map
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string(),
        steps: (!steps.is_empty()).then_some(steps),
        docs: strings(map.get("docs")),
        output: strings(map.get("output")),
        implementation_notes: strings(map.get("implementation_notes")),
        verification_notes: strings(map.get("verification_notes")),
        learning_notes: strings(map.get("learning_notes")),
        verification,
    })
}

/// `task` with the refinement applied, or the audit's objections. `note_cap` bounds each notes
/// list (0: unbounded).
pub fn apply(task: &Task, r: &Refinement, note_cap: usize) -> Result<Task, Vec<String>> {
    let original = match task.to_value() {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut raw = original.clone();
    if let Some(steps) = &r.steps {
        raw.insert("steps".into(), Value::from(steps.clone()));
    }
    let mut refined = Task::from_owned(raw);
    append_unique(&mut refined.docs, &r.docs, 0);
    append_unique(&mut refined.output, &r.output, 0);
    append_unique(
        &mut refined.implementation_notes,
        &r.implementation_notes,
        note_cap,
    );
    append_unique(
        &mut refined.verification_notes,
        &r.verification_notes,
        note_cap,
    );
    append_unique(&mut refined.learning_notes, &r.learning_notes, note_cap);
    let v = &mut refined.verification;
    for (key, value) in &r.verification {
        match key.as_str() {
            "path_patterns" => v.path_patterns = strings(Some(value)),
            "validate_commands" => v.validate_commands = Some(strings(Some(value))),
            "validate_timeout_seconds" => v.validate_timeout_seconds = value.as_u64(),
            "validate_working_directory" => {
                v.validate_working_directory = value.as_str().map(str::to_string);
            }
            "validate_environment" => v.validate_environment = value.as_object().cloned(),
            _ => {}
        }
    }
    if !r.summary.is_empty() {
        refined.last_reflection_summary = r.summary.clone();
    }
    refined.refinement_count += 1;
    let after = match refined.to_value() {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let issues = audit_refinement(&original, &after);
    if issues.is_empty() {
        Ok(refined)
    } else {
        Err(issues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task() -> Task {
        Task::from_owned(
            json!({
                "id": "T1", "title": "Parser", "description": "Parse it",
                "steps": ["write it"],
                "verification": {"path_patterns": ["src/**"], "validate_commands": ["cargo test"]}
            })
            .as_object()
            .cloned()
            .unwrap(),
        )
    }

    #[test]
    fn allowed_fields_are_applied() {
        let answer = r#"Here you go:
```json
{"summary": "tests need the fixture", "steps": ["add fixture", "write parser"],
 "learning_notes": ["fixtures live in tests/data"],
 "verification": {"validate_commands": ["cargo test parser"], "validate_timeout_seconds": 600}}
```"#;
        let r = parse(answer).unwrap();
        let refined = apply(&task(), &r, 20).unwrap();
        assert_eq!(refined.steps, ["add fixture", "write parser"]);
        assert_eq!(refined.learning_notes, ["fixtures live in tests/data"]);
        assert_eq!(
            refined.verification.validate_commands,
            Some(vec!["cargo test parser".to_string()])
        );
        assert_eq!(refined.verification.validate_timeout_seconds, Some(600));
        assert_eq!(refined.refinement_count, 1);
        assert_eq!(refined.last_reflection_summary, "tests need the fixture");
        assert_eq!(refined.description, "Parse it");
    }

    #[test]
    fn the_scope_cannot_change_through_an_answer() {
        // Extra keys (a new title) are not read at all.
        let r = parse(r#"{"title": "Something else", "summary": "x"}"#).unwrap();
        let refined = apply(&task(), &r, 20).unwrap();
        assert_eq!(refined.title, "Parser");
    }

    #[test]
    fn bad_answers_are_errors() {
        assert!(parse("I could not decide.").is_err());
    }

    #[test]
    fn the_prompt_carries_the_failure() {
        let failure = Failure {
            attempt: 1,
            max_attempts: 3,
            outcome: "finished".into(),
            changed: &["src/lib.rs".to_string()],
            errors: &["check `cargo test` failed: exit 101\nthread panicked".to_string()],
            log_tail: "error[E0425]".into(),
        };
        let text = prompt(&task(), &failure);
        assert!(text.contains("- Attempt: 1 of 3"));
        assert!(text.contains("- src/lib.rs"));
        assert!(text.contains("- check `cargo test` failed: exit 101"));
        assert!(text.contains("error[E0425]"));
        assert!(text.contains("\"id\": \"T1\""));
    }
}
