//! Planning: from an intent, a PRD or a COCA spec to a queue of tasks that passes the audit.
//!
//! [`Source`] is the input as given (intent text, a file, stdin); [`is_coca`] tells a COCA spec
//! from anything else; the prompts are rendered from `templates/` ([`spec_prompt`],
//! [`plan_prompt`], [`replan_prompt`]); [`oneshot`] asks the model, read-only; [`json`] finds the
//! JSON in its answer and [`queue_from_answer`] turns that into a normalised, audited
//! [`TaskFile`]. Writing files and printing belong to the commands (`cli/spec.rs`,
//! `cli/plan.rs`) and to the runner (re-planning between epochs).

pub mod json;
pub mod oneshot;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::task::{Lifecycle, TaskFile, audit};

/// Where the planning input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Intent,
    Stdin,
    File,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Intent => "intent",
            SourceKind::Stdin => "stdin",
            SourceKind::File => "file",
        }
    }
}

/// The planning input.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub kind: SourceKind,
    /// How it is named in messages: `inline intent`, `stdin`, or the file's name.
    pub label: String,
    /// The base of the spec's file name: the file's stem, or `intent` / `stdin`.
    pub name: String,
    pub text: String,
    /// The input file, absolute.
    pub file: Option<PathBuf>,
}

/// The four section headings of a COCA spec.
const COCA_HEADINGS: [&str; 4] = ["Context", "Outcome", "Constraints", "Assertions"];

/// The COCA section headings `text` lacks (compared in any case).
fn missing_coca_sections(text: &str) -> Vec<&'static str> {
    let lower = text.to_lowercase();
    COCA_HEADINGS
        .into_iter()
        .filter(|h| !lower.contains(&format!("## {}", h.to_lowercase())))
        .collect()
}

/// Whether `text` is already a COCA spec: it has the four section headings (any case, any
/// order).
pub fn is_coca(text: &str) -> bool {
    missing_coca_sections(text).is_empty()
}

/// A file-name slug: lower case, runs of anything but `a-z0-9` become one `-`, no `-` at either
/// end; `intent` when nothing is left.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "intent".into()
    } else {
        trimmed.to_string()
    }
}

/// Where a generated spec goes by default: `<code_dir>/<specs_dir>/<slug>-coca-spec.md`, or,
/// when that file exists (an earlier plan's spec), the first free `<slug>-coca-spec-<n>.md`: a
/// spec is never overwritten unasked.
pub fn default_spec_path(code_dir: &Path, specs_dir: &str, source: &Source) -> PathBuf {
    let dir = code_dir.join(specs_dir);
    let base = slug(&source.name);
    std::iter::once(dir.join(format!("{base}-coca-spec.md")))
        .chain((2..).map(|n| dir.join(format!("{base}-coca-spec-{n}.md"))))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| dir.join(format!("{base}-coca-spec.md")))
}

/// The prompt asking for a COCA spec of `intent`.
pub fn spec_prompt(project: &str, intent: &str) -> String {
    let vars = BTreeMap::from([
        ("project_name", project.to_string()),
        ("intent", intent.trim().to_string()),
    ]);
    crate::template::render(crate::template::SPEC_PROMPT, &vars)
}

/// The spec in a model's answer: trimmed, without a wrapping code fence; an error when empty.
pub fn clean_spec(answer: &str) -> Result<String, String> {
    let mut text = answer.trim();
    if text.starts_with("```") {
        text = text.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
        if let Some(body) = text.trim_end().strip_suffix("```") {
            text = body;
        }
    }
    let text = text.trim();
    if text.is_empty() {
        return Err("the answer was empty".into());
    }
    let missing = missing_coca_sections(text);
    if !missing.is_empty() {
        let start: String = text.chars().take(200).collect();
        return Err(format!(
            "the answer is not a COCA spec: it has no {} section (it begins: {:?})",
            missing
                .iter()
                .map(|h| format!("`## {h}`"))
                .collect::<Vec<_>>()
                .join(", "),
            start
        ));
    }
    Ok(format!("{text}\n"))
}

/// How a source document is shown in prompts and `docs`: relative to the code directory when
/// inside it, absolute otherwise.
pub fn doc_reference(code_dir: &Path, doc: &Path) -> String {
    match doc.strip_prefix(code_dir) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => doc.display().to_string(),
    }
}

/// The prompt asking for tasks from `planning_text` (a COCA spec, or plain intent).
pub fn plan_prompt(project: &str, planning_text: &str, source_doc: Option<&str>) -> String {
    let coca = is_coca(planning_text);
    let vars = BTreeMap::from([
        ("project_name", project.to_string()),
        (
            "input_heading",
            if coca {
                "Approved COCA spec".to_string()
            } else {
                "What to build".to_string()
            },
        ),
        ("planning_text", planning_text.trim().to_string()),
        (
            "source_document",
            source_doc
                .map(|d| format!("\n## Source document\n\n{d}\n"))
                .unwrap_or_default(),
        ),
        (
            "task_format",
            crate::template::TASK_FORMAT.trim().to_string(),
        ),
        (
            "coca_rules",
            if coca {
                COCA_RULES.to_string()
            } else {
                String::new()
            },
        ),
    ]);
    crate::template::render(crate::template::PLAN_PROMPT, &vars)
}

const COCA_RULES: &str = "
Rules for a COCA spec:

- Follow the order of work the spec implies; express it with `depends_on`.
- Context and Constraints become tasks only where there is something to build or set up.
- Turn the Assertions into verification: each assertion should be checked by some task's
  `validate_commands`.
- Put the spec's path in every task's `docs`.
";

/// The prompt asking for the remaining work after an epoch.
pub fn replan_prompt(project: &str, queue: &TaskFile, epoch: u32) -> Result<String, String> {
    let source = queue.planning_source.as_ref();
    let text = |key: &str| {
        source
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let planning_text = match text("planning_text") {
        t if !t.is_empty() => t,
        _ => text("input_text"),
    };
    if planning_text.is_empty() {
        return Err("task.json has no planning_source with the text it was planned from".into());
    }
    let doc = match text("planning_source_doc") {
        d if !d.is_empty() => d,
        _ => match text("source_doc") {
            d if !d.is_empty() => d,
            _ => "(none)".into(),
        },
    };
    let vars = BTreeMap::from([
        ("project_name", project.to_string()),
        ("planning_text", planning_text),
        ("source_document", doc),
        ("execution_state", execution_state(queue, epoch)),
        ("learning_journal", learning_journal(queue)),
        (
            "task_format",
            crate::template::TASK_FORMAT.trim().to_string(),
        ),
    ]);
    Ok(crate::template::render(
        crate::template::REPLAN_PROMPT,
        &vars,
    ))
}

fn execution_state(queue: &TaskFile, epoch: u32) -> String {
    let section = |title: &str, state: Lifecycle| {
        let lines: Vec<String> = queue
            .tasks
            .iter()
            .filter(|t| t.lifecycle() == state)
            .map(|t| match t.shown_block_reason() {
                Some(reason) => format!("- {}: {} (blocked: {reason})", t.id, t.display_title()),
                None => format!("- {}: {}", t.id, t.display_title()),
            })
            .collect();
        let body = if lines.is_empty() {
            "- none".to_string()
        } else {
            lines.join("\n")
        };
        format!("{title}:\n{body}")
    };
    [
        format!("Epoch {epoch} has ended."),
        section("Completed tasks", Lifecycle::Completed),
        section("Blocked tasks", Lifecycle::Blocked),
        section("Pending tasks", Lifecycle::Pending),
    ]
    .join("\n\n")
}

/// The newest twelve journal entries that say something.
fn learning_journal(queue: &TaskFile) -> String {
    let lines: Vec<String> =
        crate::task::model::journal_summaries(queue.learning_journal.as_deref().unwrap_or(&[]))
            .into_iter()
            .map(|line| format!("- {line}"))
            .collect();
    if lines.is_empty() {
        return "- nothing recorded yet".into();
    }
    lines[lines.len().saturating_sub(12)..].join("\n")
}

/// What the queue was planned from, for `planning_source`.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub source_kind: String,
    pub source_label: String,
    pub source_name: String,
    pub input_text: String,
    pub planning_text: String,
    /// The input file (absolute), if any.
    pub source_doc: Option<PathBuf>,
    /// The document the tasks were planned from: the input file or the generated spec.
    pub planning_source_doc: Option<PathBuf>,
    pub generated_spec: Option<PathBuf>,
}

impl Origin {
    pub fn to_value(&self) -> Map<String, Value> {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let value = json!({
            "source_kind": self.source_kind,
            "source_label": self.source_label,
            "source_name": self.source_name,
            "input_text": self.input_text,
            "planning_text": self.planning_text,
            "source_doc": path(&self.source_doc),
            "planning_source_doc": path(&self.planning_source_doc),
            "generated_spec_path": path(&self.generated_spec),
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// Why a model's answer could not become a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub message: String,
    /// The audit's findings, one per line.
    pub issues: Vec<String>,
}

/// Turns a planning answer into a queue: the JSON object found, its `tasks` list, normalised,
/// every task given the planning document in `docs` (once, relative when inside the project),
/// the project name from autodev.toml, `planning_source` set, then audited. `docs_entry` is the
/// planning document as it should appear in `docs`.
pub fn queue_from_answer(
    answer: &str,
    project: &str,
    planning_source: Map<String, Value>,
    docs_entry: Option<&str>,
) -> Result<TaskFile, Rejected> {
    let reject = |message: String| Rejected {
        message,
        issues: Vec::new(),
    };
    let mut object = json::extract_object(answer).map_err(reject)?;
    match object.get("tasks") {
        Some(Value::Array(_)) => {}
        Some(_) => return Err(reject("\"tasks\" in the answer is not a list".into())),
        None => {
            let keys: Vec<&String> = object.keys().collect();
            return Err(reject(format!(
                "the answer has no \"tasks\" list (its keys: {keys:?})"
            )));
        }
    }
    // The queue belongs to this project, whatever name the model gave it.
    object.insert("project".into(), json!(project));
    let mut queue = TaskFile::from_owned(Value::Object(object)).map_err(|e| reject(e.0))?;
    queue.planning_source = Some(planning_source);
    if let Some(doc) = docs_entry {
        for task in &mut queue.tasks {
            let same = |d: &String| {
                d == doc
                    || Path::new(d).ends_with(doc) && Path::new(d).is_absolute()
                    || Path::new(doc).ends_with(d.as_str()) && Path::new(doc).is_absolute()
            };
            if !task.docs.iter().any(same) {
                task.docs.insert(0, doc.to_string());
            }
        }
    }
    let issues = audit::audit_queue(&queue.to_value());
    if !issues.is_empty() {
        return Err(Rejected {
            message: format!(
                "the planned tasks fail the audit ({} issue(s))",
                issues.len()
            ),
            issues,
        });
    }
    Ok(queue)
}

/// The error for an answer that is not a usable plan: what is wrong, the start of the answer,
/// where all of it is; the queue is untouched.
pub fn unusable(
    backend: crate::config::BackendName,
    answer: &oneshot::Answer,
    rejected: &Rejected,
    queue: &Path,
) -> crate::error::Error {
    let saved = answer.log.with_extension("answer.txt");
    let saved_note = match std::fs::write(&saved, &answer.text) {
        Ok(()) => format!("the whole answer is in {}", saved.display()),
        Err(_) => format!("the whole output is in {}", answer.log.display()),
    };
    let head: String = answer.text.trim().chars().take(500).collect();
    let mut message = format!(
        "{}'s answer is not a usable plan: {}",
        backend.as_str(),
        rejected.message
    );
    for issue in &rejected.issues {
        message.push_str(&format!("\n  - {issue}"));
    }
    message.push_str(&format!(
        "\nThe answer began with:\n{}{}",
        if head.is_empty() { "(nothing)" } else { &head },
        if answer.text.trim().chars().count() > 500 {
            "\n..."
        } else {
            ""
        }
    ));
    crate::error::Error::Setup {
        message,
        hint: format!("{saved_note}; {} was not changed", queue.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coca_needs_all_four_headings() {
        let spec =
            "# X - COCA Spec\n## Context\n.\n## OUTCOME\n.\n## Constraints\n.\n## Assertions\n";
        assert!(is_coca(spec));
        assert!(!is_coca("## Context\n## Outcome\n## Constraints\n"));
        assert!(!is_coca("Build a CLI that prints the context"));
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Demo Feature"), "demo-feature");
        assert_eq!(slug("  PRD v2 (final)!! "), "prd-v2-final");
        assert_eq!(slug("ünïcode"), "n-code");
        assert_eq!(slug("!!!"), "intent");
        assert_eq!(slug(""), "intent");
    }

    #[test]
    fn specs_lose_a_wrapping_fence_and_must_have_the_coca_sections() {
        let spec = "# A\n## Context\nc\n## Outcome\no\n## Constraints\nx\n## Assertions\na";
        assert_eq!(
            clean_spec(&format!("```markdown\n{spec}\n```\n")).unwrap(),
            format!("{spec}\n")
        );
        assert_eq!(
            clean_spec(&format!("  {spec}  \n")).unwrap(),
            format!("{spec}\n")
        );
        assert!(clean_spec("```\n```").is_err());
        assert!(clean_spec("   ").is_err());
        assert_eq!(
            clean_spec("Sorry, I need more details").unwrap_err(),
            "the answer is not a COCA spec: it has no `## Context`, `## Outcome`, `## Constraints`, `## Assertions` section (it begins: \"Sorry, I need more details\")"
        );
        assert!(clean_spec("# A\n## Context\n## Outcome\n## Constraints\n").is_err());
    }

    fn answer(tasks: &str) -> String {
        format!(
            "Here is the plan:\n```json\n{{\"project\": \"model's name\", \"tasks\": {tasks}}}\n```\nGood luck!"
        )
    }

    const TASK: &str = r#"{"id": "P0-1", "title": "Add parser", "description": "d",
        "steps": ["a"], "docs": ["docs/specs/x-coca-spec.md"],
        "verification": {"validate_commands": ["cargo test"]}}"#;

    #[test]
    fn answers_become_audited_queues() {
        let queue = queue_from_answer(
            &answer(&format!(
                "[{TASK}, {}]",
                TASK.replace("P0-1", "P0-2")
                    .replace("Add parser", "Add printer")
            )),
            "demo",
            Map::new(),
            Some("docs/specs/x-coca-spec.md"),
        )
        .unwrap();
        assert_eq!(queue.project.as_deref(), Some("demo"));
        assert_eq!(queue.tasks.len(), 2);
        // Already listed: not added twice.
        assert_eq!(queue.tasks[0].docs, ["docs/specs/x-coca-spec.md"]);
        let queue = queue_from_answer(
            &answer(&format!("[{TASK}]")),
            "demo",
            Map::new(),
            Some("spec.md"),
        )
        .unwrap();
        assert_eq!(
            queue.tasks[0].docs,
            ["spec.md", "docs/specs/x-coca-spec.md"]
        );
    }

    #[test]
    fn bad_answers_say_what_is_wrong() {
        let err = |text: &str| queue_from_answer(text, "demo", Map::new(), None).unwrap_err();
        assert!(err("no json here").message.contains("no JSON object"));
        assert!(err(r#"{"plan": []}"#).message.contains("no \"tasks\" list"));
        assert!(err(r#"{"tasks": {}}"#).message.contains("not a list"));
        let audit = err(&answer(
            r#"[{"id": "A", "title": "t", "depends_on": ["B"],
            "verification": {"validate_commands": ["true"]}}]"#,
        ));
        assert!(audit.message.contains("fail the audit"), "{audit:?}");
        assert!(audit.issues.iter().any(|i| i.contains("'B'")), "{audit:?}");
    }
}
