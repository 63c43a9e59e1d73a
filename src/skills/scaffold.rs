//! `autodev init`: the files of a new project and of one tool's wrappers. Nothing that exists
//! is ever overwritten; each entry is created whole or not at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use include_dir::Dir;
use serde_json::json;

use super::{BUNDLED, DEFAULT_SKILLS, Tool};
use crate::config::{self, LoadOptions};
use crate::durable;
use crate::error::{Error, Result};

const AGENT: &str = include_str!("../../templates/init/AGENT.md");
const GUIDE: &str = include_str!("../../templates/init/guide.md");
const RULES: &str = include_str!("../../templates/init/rules-core.md");
const INSTALL: &str = include_str!("../../templates/init/INSTALL.md");
const CLAUDE_SPEC_DEV: &str = include_str!("../../templates/init/command-spec-dev.md");
const CLAUDE_COCA: &str = include_str!("../../templates/init/command-coca-spec.md");
const GEMINI_SPEC_DEV: &str = include_str!("../../templates/init/command-spec-dev.toml");
const GEMINI_COCA: &str = include_str!("../../templates/init/command-coca-spec.toml");
const CONFIG: &str = include_str!("../../autodev.toml.example");

/// The name of the Claude Code plugin and marketplace, and of the Gemini CLI extension.
pub(super) const CLAUDE_PLUGIN: &str = "autodev-local-skills";
pub(super) const GEMINI_EXTENSION: &str = "autodev-local";

/// What `init` did: entries relative to the project root.
#[derive(Debug, Clone, PartialEq)]
pub struct InitReport {
    pub root: PathBuf,
    pub created: Vec<String>,
    /// Entries that already existed and were left as they were.
    pub kept: Vec<String>,
    /// Existing files that got lines added (`.gitignore`), with what was added.
    pub updated: Vec<(String, Vec<String>)>,
}

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The example configuration with `key` of `[section]` set to `value` (a TOML literal).
fn set_key(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut current = String::new();
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = trimmed.trim_matches(['[', ']']).to_string();
        }
        let is_key = trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if current == section && is_key {
            out.push_str(&format!("{key} = {value}\n"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The agent a new project is made for: one of the CLIs autodev knows (with its wrapper files),
/// or any program, by its command line (the `command` backend).
pub enum Agent {
    Tool(Tool),
    Command(Vec<String>),
}

/// The `autodev.toml` of a new project.
pub(super) fn config_text(name: &str, agent: &Agent) -> String {
    let text = set_key(CONFIG, "project", "name", &toml_string(name));
    match agent {
        Agent::Tool(tool) => set_key(&text, "backend", "default", &toml_string(tool.name())),
        Agent::Command(argv) => {
            let text = set_key(&text, "backend", "default", &toml_string("command"));
            let list = argv.iter().map(|a| toml_string(a)).collect::<Vec<_>>();
            set_key(
                &text,
                "backend.command",
                "argv",
                &format!("[{}]", list.join(", ")),
            )
        }
    }
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Collects created and kept entries while writing.
struct Writer {
    root: PathBuf,
    report: InitReport,
}

impl Writer {
    fn file(&mut self, path: &Path, text: &str) -> Result<()> {
        let created =
            durable::create_new(path, text.as_bytes()).map_err(|e| Error::io("create", path, e))?;
        let name = rel(&self.root, path);
        if created {
            self.report.created.push(name);
        } else {
            self.report.kept.push(name);
        }
        Ok(())
    }

    /// Makes `.gitignore` cover `lines`: a new file, or the missing lines appended to the
    /// user's (nothing of theirs changes).
    fn ignore(&mut self, lines: &[String]) -> Result<()> {
        let path = self.root.join(".gitignore");
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let Some(mut text) = existing else {
            let text = format!(
                "# autodev's run logs, queue backups and temporary files\n{}\n",
                lines.join("\n")
            );
            return self.file(&path, &text);
        };
        // `logs/` and `/logs/` both cover the folder at the top.
        let have: Vec<&str> = text
            .lines()
            .map(|l| l.trim().trim_start_matches('/'))
            .collect();
        let missing: Vec<String> = lines
            .iter()
            .filter(|l| !have.contains(&l.trim_start_matches('/')))
            .cloned()
            .collect();
        if missing.is_empty() {
            self.report.kept.push(".gitignore".into());
            return Ok(());
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("# autodev's run logs, queue backups and temporary files\n");
        for line in &missing {
            text.push_str(line);
            text.push('\n');
        }
        durable::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io("write", &path, e))?;
        self.report.updated.push((".gitignore".into(), missing));
        Ok(())
    }

    fn at(&mut self, rel_path: &str, text: &str) -> Result<()> {
        let path = self.root.join(rel_path);
        self.file(&path, text)
    }

    /// A bundled skill folder, created whole (built in a temporary folder, then renamed).
    fn skill(&mut self, skills: &Path, name: &str) -> Result<()> {
        let target = skills.join(name);
        let shown = format!("{}/", rel(&self.root, &target));
        if std::fs::symlink_metadata(&target).is_ok() {
            self.report.kept.push(shown);
            return Ok(());
        }
        let Some(source) = BUNDLED.get_dir(name) else {
            return Ok(());
        };
        std::fs::create_dir_all(skills).map_err(|e| Error::io("create", skills, e))?;
        let temp = tempfile::Builder::new()
            .prefix(".autodev-skill.")
            .tempdir_in(skills)
            .map_err(|e| Error::io("create a folder in", skills, e))?;
        write_dir(source, Path::new(name), temp.path())?;
        match std::fs::rename(temp.path(), &target) {
            Ok(()) => {
                // The folder now lives at its target; nothing is left to clean up.
                let _ = temp.keep();
                self.report.created.push(shown);
            }
            // Created by someone else meanwhile: theirs stays.
            Err(_) if target.exists() => self.report.kept.push(shown),
            Err(e) => return Err(Error::io("create", &target, e)),
        }
        Ok(())
    }

    /// `<tool>/skills` → `../.skills`, or a copy where links cannot be made.
    fn link(&mut self, tool: Tool) -> Result<()> {
        let link = self.root.join(tool.root()).join("skills");
        let shown = rel(&self.root, &link);
        if std::fs::symlink_metadata(&link).is_ok() {
            self.report.kept.push(shown);
            return Ok(());
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        if std::os::unix::fs::symlink("../.skills", &link).is_err() {
            copy_tree(&self.root.join(".skills"), &link)?;
        }
        self.report.created.push(shown);
        Ok(())
    }
}

/// Writes the files of an embedded folder (`prefix` is its path in the bundle) under `to`.
fn write_dir(dir: &Dir, prefix: &Path, to: &Path) -> Result<()> {
    for file in dir.files() {
        let path = to.join(file.path().strip_prefix(prefix).unwrap_or(file.path()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        std::fs::write(&path, file.contents()).map_err(|e| Error::io("write", &path, e))?;
    }
    for sub in dir.dirs() {
        write_dir(sub, prefix, to)?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io("create", to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| Error::io("read", from, e))?;
    for entry in entries.filter_map(std::result::Result::ok) {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|e| Error::io("copy", &target, e))?;
        }
    }
    Ok(())
}

/// Pretty JSON with a trailing newline, as every JSON file `init` writes.
/// What a project's `.gitignore` needs for autodev: the log folder, the queue's backups and the
/// temporary files an older autodev made beside the queue.
fn ignore_lines(root: &Path, paths: &crate::config::ProjectPaths) -> Vec<String> {
    let anchored = |path: &Path| {
        let rel = rel(root, path);
        if rel.starts_with('/') {
            rel
        } else {
            format!("/{rel}")
        }
    };
    let queue = anchored(&paths.task_json);
    vec![
        format!("{}/", anchored(&paths.log_dir)),
        format!("{queue}.bak.*"),
        {
            let (dir, name) = queue.rsplit_once('/').unwrap_or(("", &queue));
            format!("{dir}/.{name}.*.tmp")
        },
    ]
}

fn json_file(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn claude_manifests() -> (String, String) {
    let description = "The project's autodev skills, from .skills/";
    let plugin = json!({
        "name": CLAUDE_PLUGIN,
        "description": description,
        "version": "1.0.0",
        "author": {"name": "autodev"},
        "license": "MIT",
        "skills": "./.skills/",
    });
    let marketplace = json!({
        "name": CLAUDE_PLUGIN,
        "displayName": "autodev local skills",
        "description": description,
        "owner": {"name": "autodev"},
        "plugins": [{
            "name": CLAUDE_PLUGIN,
            "source": "./",
            "description": description,
            "version": "1.0.0",
        }],
    });
    (json_file(&plugin), json_file(&marketplace))
}

fn install_steps(tool: Tool) -> String {
    match tool {
        Tool::Codex => "- links each skill into `~/.agents/skills/<name>`\n  (by hand: `ln -s \"$PWD/.skills/<name>\" ~/.agents/skills/<name>`)".into(),
        Tool::Opencode => "- links each skill into `~/.config/opencode/skills/<name>`\n  (by hand: `ln -s \"$PWD/.skills/<name>\" ~/.config/opencode/skills/<name>`)".into(),
        Tool::Gemini => format!("- `gemini extensions validate .gemini/extensions/{GEMINI_EXTENSION}`\n- `gemini extensions link .gemini/extensions/{GEMINI_EXTENSION} --consent`"),
        Tool::Claude => format!("- `claude plugin validate .claude-plugin/plugin.json` (and `marketplace.json`)\n- `claude plugin marketplace add .claude-plugin --scope local`\n- `claude plugin install {CLAUDE_PLUGIN}@{CLAUDE_PLUGIN} --scope local`"),
    }
}

/// Creates the project in `dir` (made if missing) for `agent`; `name` defaults to the folder
/// name.
pub fn init(dir: &Path, name: Option<&str>, agent: &Agent) -> Result<InitReport> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", "the current directory", e))?;
    let root = cwd.join(dir);
    std::fs::create_dir_all(&root).map_err(|e| Error::io("create", &root, e))?;
    let root = root
        .canonicalize()
        .map_err(|e| Error::io("resolve", &root, e))?;
    let project = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            root.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "project".into())
        });
    let mut w = Writer {
        root: root.clone(),
        report: InitReport {
            root: root.clone(),
            created: Vec::new(),
            kept: Vec::new(),
            updated: Vec::new(),
        },
    };

    // Base files. The configuration (new or the user's) decides where the others go.
    w.at("autodev.toml", &config_text(&project, agent))?;
    let settings = config::load(
        &LoadOptions {
            config_path: Some(root.join("autodev.toml")),
            cwd: root.clone(),
            overrides: Vec::new(),
        },
        std::iter::empty(),
    )?;
    let paths = &settings.paths;
    let queue = json!({"project": project, "learning_journal": [], "tasks": []});
    w.file(&paths.task_json, &json_file(&queue))?;
    w.ignore(&ignore_lines(&root, paths))?;
    let vars = match agent {
        Agent::Tool(tool) => BTreeMap::from([
            ("project_name", project.clone()),
            ("tool_label", tool.label().to_string()),
            ("tool", tool.name().to_string()),
            ("root", tool.root().to_string()),
            ("steps", install_steps(*tool)),
        ]),
        Agent::Command(_) => BTreeMap::from([("project_name", project.clone())]),
    };
    let render = |template: &str| crate::template::render(template, &vars);
    w.file(&paths.execution_guide, &render(AGENT))?;
    w.file(&paths.task_brief, &crate::runner::idle_brief(paths))?;
    w.file(
        &paths.progress,
        &format!(
            "# Progress of {project}\n\nautodev adds one record per attempt below, newest last.\n"
        ),
    )?;

    // The canonical skills; a CLI autodev knows also gets its wrappers and a link to them.
    let skills = root.join(".skills");
    for name in DEFAULT_SKILLS {
        w.skill(&skills, name)?;
    }
    if let Agent::Tool(tool) = agent {
        let tool = *tool;
        // How the tool finds the skills.
        match tool {
            Tool::Claude => {
                let (plugin, marketplace) = claude_manifests();
                w.at(".claude-plugin/plugin.json", &plugin)?;
                w.at(".claude-plugin/marketplace.json", &marketplace)?;
            }
            other => w.at(&format!("{}/INSTALL.md", other.root()), &render(INSTALL))?,
        }

        // The thin wrappers.
        let root_dir = tool.root();
        w.at(&format!("{root_dir}/{}", tool.guide()), &render(GUIDE))?;
        w.at(&format!("{root_dir}/rules/core.md"), RULES)?;
        match tool {
            Tool::Claude => {
                w.at(".claude/commands/spec-dev.md", CLAUDE_SPEC_DEV)?;
                w.at(".claude/commands/coca-spec.md", CLAUDE_COCA)?;
            }
            Tool::Gemini => {
                w.at(".gemini/commands/autodev/spec-dev.toml", GEMINI_SPEC_DEV)?;
                w.at(".gemini/commands/autodev/coca-spec.toml", GEMINI_COCA)?;
                w.at(".gemini/settings.json", "{\n  \"mcpServers\": {}\n}\n")?;
                let ext = format!(".gemini/extensions/{GEMINI_EXTENSION}");
                let manifest = json!({
                    "name": GEMINI_EXTENSION,
                    "version": "1.0.0",
                    "description": "The project's autodev skills and commands",
                    "contextFileName": "GEMINI.md",
                });
                w.at(
                    &format!("{ext}/gemini-extension.json"),
                    &json_file(&manifest),
                )?;
                w.at(&format!("{ext}/GEMINI.md"), &render(GUIDE))?;
                w.at(
                    &format!("{ext}/commands/autodev/spec-dev.toml"),
                    GEMINI_SPEC_DEV,
                )?;
                w.at(
                    &format!("{ext}/commands/autodev/coca-spec.toml"),
                    GEMINI_COCA,
                )?;
            }
            Tool::Codex | Tool::Opencode => {}
        }
        w.link(tool)?;
    }

    let attempts = &paths.attempt_log_dir;
    if !attempts.is_dir() {
        std::fs::create_dir_all(attempts).map_err(|e| Error::io("create", attempts, e))?;
        w.report
            .created
            .push(format!("{}/", rel(&root, &paths.log_dir)));
    }
    Ok(w.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_for_toml() {
        for name in [
            "plain",
            "with \"quotes\"",
            "back\\slash",
            "tab\there",
            "ünï 名前",
        ] {
            let text = config_text(name, &Agent::Tool(Tool::Gemini));
            let table: toml::Table = toml::from_str(&text).expect("valid TOML");
            assert_eq!(table["project"]["name"].as_str(), Some(name));
            assert_eq!(table["backend"]["default"].as_str(), Some("gemini"));
        }
    }
}
