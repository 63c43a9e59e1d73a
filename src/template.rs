//! Prompt templates: the files under `templates/`, embedded at build time, and their
//! `{{name}}` placeholders.
//!
//! Placeholders are replaced in one pass, so a value that happens to contain `{{...}}` is never
//! substituted again; unknown placeholders are left as written.

use std::collections::BTreeMap;

/// The built-in task prompt.
pub const TASK_PROMPT: &str = include_str!("../templates/task-prompt.md");
/// The built-in reflection prompt.
pub const REFLECT_PROMPT: &str = include_str!("../templates/reflect-prompt.md");
/// The prompt that turns an intent into a COCA spec.
pub const SPEC_PROMPT: &str = include_str!("../templates/spec-prompt.md");
/// The prompt that turns a spec or intent into tasks.
pub const PLAN_PROMPT: &str = include_str!("../templates/plan-prompt.md");
/// The prompt that plans the remaining work between epochs.
pub const REPLAN_PROMPT: &str = include_str!("../templates/replan-prompt.md");
/// The task format and rules shared by the planning prompts.
pub const TASK_FORMAT: &str = include_str!("../templates/task-format.md");

/// Replaces every `{{name}}` whose name is known, in one pass.
pub fn render(template: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if vars.contains_key(after[..end].trim()) => {
                out.push_str(&vars[after[..end].trim()]);
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `- item` lines (the first line of each item, blanks dropped), or `- <none>` when empty.
pub fn bullets(items: &[String], none: &str) -> String {
    let lines: Vec<String> = items
        .iter()
        .map(|i| i.lines().next().unwrap_or("").trim())
        .filter(|i| !i.is_empty())
        .map(|i| format!("- {i}"))
        .collect();
    if lines.is_empty() {
        format!("- {none}")
    } else {
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_once() {
        let mut vars = BTreeMap::new();
        vars.insert("a", "{{b}}".to_string());
        vars.insert("b", "B".to_string());
        assert_eq!(
            render("x {{a}} {{ b }} {{c}} {{", &vars),
            "x {{b}} B {{c}} {{"
        );
    }
}
