//! Skills and project scaffolding: the five skills autodev ships (the top-level `skills/`
//! folder, embedded at build time), `autodev init`, reading a skill catalog for `skills list`
//! and `skills recommend`, registering skills with an agent CLI (`install-skills`), and
//! checking the layout (`skills doctor`).
//!
//! The layout is one canonical copy of everything (`AGENT.md`, `.skills/`) plus thin per-tool
//! folders whose `skills` entry links back to `.skills`. See `docs/skills.md`.

mod catalog;
mod doctor;
mod install;
mod scaffold;

pub use catalog::{Catalog, Skill};
pub use doctor::{Check, Level, doctor};
pub use install::install;
pub use scaffold::{Agent, InitReport, init};

use include_dir::{Dir, include_dir};

use crate::config::BackendName;
use crate::error::{Error, Result};

/// The skills built into autodev.
static BUNDLED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/skills");

/// The skills `init` copies into a project, in this order.
pub const DEFAULT_SKILLS: [&str; 5] = [
    "autodev-runtime",
    "coca-spec",
    "spec-driven-develop",
    "find-skills",
    "skill-creator",
];

/// An agent CLI that `init` can scaffold for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Claude,
    Codex,
    Gemini,
    Opencode,
}

impl Tool {
    pub const ALL: [Tool; 4] = [Tool::Claude, Tool::Codex, Tool::Gemini, Tool::Opencode];

    /// The tool's name, the same as its backend's.
    pub fn name(self) -> &'static str {
        self.backend().as_str()
    }

    pub fn label(self) -> &'static str {
        match self {
            Tool::Claude => "Claude Code",
            Tool::Codex => "Codex",
            Tool::Gemini => "Gemini CLI",
            Tool::Opencode => "OpenCode",
        }
    }

    /// The tool's folder in a project.
    pub fn root(self) -> &'static str {
        match self {
            Tool::Claude => ".claude",
            Tool::Codex => ".codex",
            Tool::Gemini => ".gemini",
            Tool::Opencode => ".opencode",
        }
    }

    /// The guide file the tool reads from its folder.
    pub fn guide(self) -> &'static str {
        match self {
            Tool::Claude => "CLAUDE.md",
            Tool::Codex | Tool::Opencode => "AGENTS.md",
            Tool::Gemini => "GEMINI.md",
        }
    }

    fn names() -> String {
        Tool::ALL.map(Tool::name).join(", ")
    }

    /// The `--use` value of `init`: one tool, any case; empty means codex.
    pub fn parse(text: &str) -> Result<Tool> {
        let text = text.trim().to_lowercase();
        if text.is_empty() {
            return Ok(Tool::Codex);
        }
        let problem = if text.contains(',') {
            "init takes one tool at a time".to_string()
        } else if text == "all" || text == "detected" {
            format!("`{text}` is not a tool")
        } else {
            match Tool::ALL.into_iter().find(|t| t.name() == text) {
                Some(tool) => return Ok(tool),
                None => format!("unknown tool `{text}`"),
            }
        };
        Err(Error::Setup {
            message: format!("--use: {problem}"),
            hint: format!(
                "pass one of {}; run init again with another --use to add a second tool",
                Tool::names()
            ),
        })
    }

    /// The tool of a configured backend; the command backend has no tool folder.
    pub fn of_backend(backend: BackendName) -> Result<Tool> {
        Tool::ALL
            .into_iter()
            .find(|t| t.backend() == backend)
            .ok_or_else(|| Error::Setup {
                message: format!(
                    "backend.default is `{}`, which has no skills folder",
                    backend.as_str()
                ),
                hint: format!(
                    "set backend.default to one of {} in autodev.toml",
                    Tool::names()
                ),
            })
    }

    pub fn backend(self) -> BackendName {
        match self {
            Tool::Claude => BackendName::Claude,
            Tool::Codex => BackendName::Codex,
            Tool::Gemini => BackendName::Gemini,
            Tool::Opencode => BackendName::Opencode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_skill_is_bundled_with_front_matter() {
        for name in DEFAULT_SKILLS {
            let file = BUNDLED
                .get_file(format!("{name}/SKILL.md"))
                .unwrap_or_else(|| panic!("{name} is not bundled"));
            let text = file.contents_utf8().expect("utf-8");
            let skill = catalog::parse(name, text);
            assert_eq!(skill.name, name);
            assert!(!skill.description.is_empty(), "{name} has no description");
            assert!(!skill.triggers.is_empty(), "{name} has no triggers");
        }
    }

    #[test]
    fn tool_selection_takes_one_known_tool() {
        assert_eq!(Tool::parse(" Claude ").expect("claude"), Tool::Claude);
        assert_eq!(Tool::parse("").expect("default"), Tool::Codex);
        for bad in ["claude,codex", "all", "detected", "vim"] {
            let error = Tool::parse(bad).expect_err(bad).to_string();
            assert!(error.starts_with("--use: "), "{error}");
        }
    }
}
