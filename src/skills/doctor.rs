//! `autodev skills doctor`: checks the project's skills layout for `backend.default` and says
//! how to fix each problem.

use std::path::Path;

use super::install::{link_dir, user_dirs};
use super::scaffold::GEMINI_EXTENSION;
use super::{DEFAULT_SKILLS, Tool};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One finding: what was checked, what was found, and the fix when it is not ok.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub level: Level,
    pub label: String,
    pub detail: String,
    pub fix: Option<String>,
}

struct Checks(Vec<Check>);

impl Checks {
    fn ok(&mut self, label: &str, detail: String) {
        self.0.push(Check {
            level: Level::Ok,
            label: label.into(),
            detail,
            fix: None,
        });
    }

    fn problem(&mut self, level: Level, label: &str, detail: String, fix: String) {
        self.0.push(Check {
            level,
            label: label.into(),
            detail,
            fix: Some(fix),
        });
    }

    /// Ok when `path` exists, an error with `fix` otherwise; whether it exists.
    fn exists(&mut self, label: &str, path: &Path, fix: &str) -> bool {
        if path.exists() {
            self.ok(label, path.display().to_string());
            true
        } else {
            self.problem(
                Level::Error,
                label,
                format!("missing: {}", path.display()),
                fix.into(),
            );
            false
        }
    }
}

/// Checks the project at `root` (holding `config_file`) for `tool`.
pub fn doctor(root: &Path, config_file: &Path, tool: Tool) -> Vec<Check> {
    let mut c = Checks(Vec::new());
    let init = format!("run `autodev init . --use {}`", tool.name());
    c.ok("config", config_file.display().to_string());
    c.ok("backend.default", tool.name().to_string());

    let skills = root.join(".skills");
    if c.exists("skills folder", &skills, &init) {
        for name in DEFAULT_SKILLS {
            let file = skills.join(name).join("SKILL.md");
            c.exists(&format!("skill {name}"), &file, &init);
        }
    }

    let tool_root = root.join(tool.root());
    if c.exists(&format!("{} folder", tool.label()), &tool_root, &init) {
        c.exists("guide", &tool_root.join(tool.guide()), &init);
        c.exists("rules", &tool_root.join("rules/core.md"), &init);
        let link = tool_root.join("skills");
        let shown = link.display().to_string();
        let points_home = link.canonicalize().ok() == skills.canonicalize().ok();
        match std::fs::symlink_metadata(&link) {
            Ok(meta) if meta.file_type().is_symlink() && points_home => {
                c.ok("skills link", format!("{shown} -> ../.skills"));
            }
            Ok(meta) if meta.file_type().is_symlink() => c.problem(
                Level::Error,
                "skills link",
                format!("{shown} is a broken link or points elsewhere"),
                format!("remove {shown}, then {init}"),
            ),
            Ok(_) => c.problem(
                Level::Warn,
                "skills link",
                format!("{shown} is a copy, not a link: edits to .skills do not reach it"),
                format!("replace it with a link: rm -r {shown} && ln -s ../.skills {shown}"),
            ),
            Err(_) => c.problem(
                Level::Error,
                "skills link",
                format!("missing: {shown}"),
                init.clone(),
            ),
        }
        match tool {
            Tool::Claude => {
                for name in ["plugin.json", "marketplace.json"] {
                    let path = root.join(".claude-plugin").join(name);
                    c.exists(&format!("claude {name}"), &path, &init);
                }
            }
            Tool::Gemini => {
                let path = root
                    .join(".gemini/extensions")
                    .join(GEMINI_EXTENSION)
                    .join("gemini-extension.json");
                c.exists("gemini extension", &path, &init);
            }
            Tool::Codex | Tool::Opencode => {}
        }
    }

    user_install(&mut c, &skills, tool);
    c.0
}

/// Whether the skills are registered for the user (links for Codex and OpenCode).
fn user_install(c: &mut Checks, skills: &Path, tool: Tool) {
    let fix = "run `autodev install-skills`".to_string();
    let target = user_dirs()
        .ok()
        .and_then(|(home, xdg)| link_dir(tool, &home, xdg.as_deref()));
    let Some(target) = target else {
        c.problem(
            Level::Warn,
            "user install",
            format!("{} registration is not inspected", tool.label()),
            format!("{fix} once; it is safe to repeat"),
        );
        return;
    };
    let mut linked = 0;
    for name in DEFAULT_SKILLS {
        let link = target.join(name);
        let label = format!("user link {name}");
        let resolved = link.canonicalize().ok();
        if resolved.is_some() && resolved == skills.join(name).canonicalize().ok() {
            linked += 1;
            c.ok(&label, link.display().to_string());
        } else if std::fs::symlink_metadata(&link).is_ok() {
            c.problem(
                Level::Warn,
                &label,
                format!("{} belongs to another project or is broken", link.display()),
                format!("remove it, then {fix}"),
            );
        } else {
            c.problem(
                Level::Warn,
                &label,
                format!("missing: {}", link.display()),
                fix.clone(),
            );
        }
    }
    let total = DEFAULT_SKILLS.len();
    if linked == total {
        c.ok(
            "user install",
            format!("all {total} default skills are linked"),
        );
    } else {
        c.problem(
            Level::Warn,
            "user install",
            format!(
                "{linked}/{total} default skills are linked into {}",
                target.display()
            ),
            fix,
        );
    }
}
