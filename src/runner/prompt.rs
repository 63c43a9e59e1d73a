//! What the agent reads: the task prompt (a template with `{{name}}` placeholders) and the
//! `TASK.md` brief.
//!
//! The template is `prompt.template_file`, else `prompt.template`, else the built-in
//! `templates/task-prompt.md`, rendered by [`crate::template::render`].

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::config::{Config, ProjectPaths};
use crate::error::{Error, Result};
use crate::git::Commit;
use crate::task::Task;
use crate::task::contract::Completion;

/// The template text in force.
pub fn template(config: &Config, paths: &ProjectPaths) -> Result<String> {
    if let Some(path) = &paths.template_file
        && path.is_file()
    {
        return std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e));
    }
    if !config.prompt.template.trim().is_empty() {
        return Ok(config.prompt.template.clone());
    }
    Ok(crate::template::TASK_PROMPT.to_string())
}

/// `- item` lines, or `- None yet`.
fn bullets(items: &[String]) -> String {
    crate::template::bullets(items, "None yet")
}

fn verification_summary(task: &Task, config: &Config, paths: &ProjectPaths) -> String {
    let v = &task.verification;
    let mut lines = Vec::new();
    if !v.path_patterns.is_empty() {
        lines.push(format!(
            "- At least one changed file must match: {}",
            v.path_patterns.join(", ")
        ));
    }
    let commands = v
        .validate_commands
        .clone()
        .unwrap_or_else(|| config.verification.validate_commands.clone());
    for command in &commands {
        lines.push(format!("- Must succeed: `{command}`"));
    }
    if let Completion::Numeric(n) = &task.completion {
        lines.push(format!(
            "- Metric {} ({}){}",
            crate::gate::metric_name(n),
            n.direction.replace('_', " "),
            n.target
                .map(|t| format!(", target {}", crate::task::contract::format_number(t)))
                .unwrap_or_default()
        ));
    }
    let protected = crate::gate::Plan::new(task, config, paths).protected_paths;
    if !protected.is_empty() {
        lines.push(format!(
            "- Must stay unchanged (the checks depend on them; a change is undone and fails the \
             attempt): {}",
            protected.join(", ")
        ));
    }
    if lines.is_empty() {
        "- The change itself (at least one changed file)".to_string()
    } else {
        lines.join("\n")
    }
}

fn attempt_history(task: &Task) -> String {
    let start = task.attempt_history.len().saturating_sub(3);
    let lines: Vec<String> = task.attempt_history[start..]
        .iter()
        .map(|entry| {
            let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("").trim();
            let number = entry
                .get("attempt")
                .map(|v| v.to_string())
                .unwrap_or_else(|| "?".into());
            let mut line = match text("summary") {
                "" => format!("- Attempt {number} [{}]", text("status")),
                summary => format!("- Attempt {number} [{}]: {summary}", text("status")),
            };
            // What the failing check printed, so the next attempt sees the real error.
            if let Some(Value::Array(output)) = entry.get("check_output")
                && !output.is_empty()
            {
                line.push_str("\n  The failing check printed (last lines):");
                for item in output {
                    line.push_str(&format!("\n    {}", item.as_str().unwrap_or("")));
                }
            }
            line
        })
        .collect();
    if lines.is_empty() {
        "- No earlier attempts".to_string()
    } else {
        lines.join("\n")
    }
}

/// `<task_id>: <summary>` for the newest journal entries with a summary.
fn journal(entries: &[Map<String, Value>], limit: usize) -> String {
    let lines = crate::task::model::journal_summaries(entries);
    let start = lines.len().saturating_sub(limit);
    bullets(&lines[start..])
}

/// Everything the template can use.
pub struct PromptInput<'a> {
    pub task: &'a Task,
    pub config: &'a Config,
    pub paths: &'a ProjectPaths,
    /// Where the agent works: the project's code directory, or an experiment's worktree.
    pub code_dir: &'a Path,
    pub project_name: &'a str,
    pub journal: &'a [Map<String, Value>],
    pub commits: &'a [Commit],
    /// The state of the experiment, for an iteration of an iterative task.
    pub experiment: Option<&'a ExperimentContext>,
}

/// What an experiment iteration's prompt says about the experiment so far.
#[derive(Debug, Clone, Default)]
pub struct ExperimentContext {
    /// `- key: value` lines: iteration, metric, baseline, best, streak, rules.
    pub execution: String,
    /// One line per recent measurement, oldest first.
    pub history: String,
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// The variables of the prompt template.
pub fn variables(input: &PromptInput) -> BTreeMap<&'static str, String> {
    let task = input.task;
    let mut vars = BTreeMap::new();
    vars.insert("task_id", task.id.clone());
    vars.insert("task_name", task.display_title().to_string());
    vars.insert(
        "task_description",
        if task.description.trim().is_empty() {
            "(no description)".to_string()
        } else {
            task.description.trim().to_string()
        },
    );
    vars.insert("task_steps", bullets(&task.steps));
    vars.insert("task_docs", bullets(&task.docs));
    vars.insert(
        "task_implementation_notes",
        bullets(&task.implementation_notes),
    );
    vars.insert(
        "task_verification",
        verification_summary(task, input.config, input.paths),
    );
    vars.insert("task_verification_notes", bullets(&task.verification_notes));
    vars.insert("task_learning_notes", bullets(&task.learning_notes));
    vars.insert("task_attempt_history", attempt_history(task));
    vars.insert(
        "project_learning_notes",
        journal(
            input.journal,
            input.config.reflection.prompt_learning_limit as usize,
        ),
    );
    let (execution, history) = match input.experiment {
        Some(e) => (e.execution.clone(), e.history.clone()),
        None => (
            format!("- execution_mode: {}", task.execution.mode()),
            "- No recent experiments".to_string(),
        ),
    };
    vars.insert("execution_context", execution);
    vars.insert("recent_experiment_history", history);
    vars.insert(
        "recent_git_history",
        if input.commits.is_empty() {
            "- No recent commits".to_string()
        } else {
            input
                .commits
                .iter()
                .map(|c| format!("- {} {} ({})", c.sha, c.subject, c.committed_at))
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    let paths = input.paths;
    vars.insert("task_file", path_text(&paths.task_json));
    vars.insert("task_brief", path_text(&paths.task_brief));
    vars.insert("progress_file", path_text(&paths.progress));
    vars.insert("execution_guide", path_text(&paths.execution_guide));
    vars.insert("code_dir", path_text(input.code_dir));
    vars.insert("project_name", input.project_name.to_string());
    vars
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `TASK.md` while no task is being worked.
pub fn idle_brief(paths: &ProjectPaths) -> String {
    format!(
        "# Current task\n\nNo task is being worked right now.\n\n## Where the truth lives\n\n\
         - `{}`: the task queue\n- `{}`: how to work in this project\n- `{}`: what was done\n",
        file_name(&paths.task_json),
        file_name(&paths.execution_guide),
        file_name(&paths.progress),
    )
}

/// `TASK.md` during an attempt.
pub fn active_brief(task: &Task, attempt: u32, max_attempts: u32, paths: &ProjectPaths) -> String {
    let list = crate::template::bullets;
    format!(
        "# Current task\n\n## Task\n\n- ID: {}\n- Title: {}\n- Attempt: {attempt} of {max_attempts}\n\n\
         ## Summary\n\n{}\n\n## Steps\n\n{}\n\n## Docs\n\n{}\n\n## Where the truth lives\n\n\
         - `{}`: the task queue\n- `{}`: how to work in this project\n- `{}`: what was done\n",
        task.id,
        task.display_title(),
        if task.description.trim().is_empty() {
            "No description."
        } else {
            task.description.trim()
        },
        list(&task.steps, "No steps listed"),
        list(&task.docs, "No docs listed"),
        file_name(&paths.task_json),
        file_name(&paths.execution_guide),
        file_name(&paths.progress),
    )
}
