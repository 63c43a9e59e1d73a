//! `autodev install-skills`: registers the project's skills with the CLI of `backend.default`.
//! Codex and OpenCode get user-level links to each skill; Claude Code and Gemini CLI are told
//! through their own plugin and extension commands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::runtime::Runtime;

use super::Tool;
use super::scaffold::{CLAUDE_PLUGIN, GEMINI_EXTENSION};
use crate::backend::install_hint;
use crate::error::{Error, Result};
use crate::exec::{self, Spec};

/// Longest a registration command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

fn run_first(tool: Tool) -> String {
    format!("run `autodev init . --use {}` first", tool.name())
}

/// Where the user-level skill links of Codex or OpenCode live, under `home`.
pub fn link_dir(tool: Tool, home: &Path, xdg_config: Option<&Path>) -> Option<PathBuf> {
    match tool {
        Tool::Codex => Some(home.join(".agents/skills")),
        Tool::Opencode => Some(
            xdg_config
                .map(Path::to_path_buf)
                .unwrap_or_else(|| home.join(".config"))
                .join("opencode/skills"),
        ),
        Tool::Claude | Tool::Gemini => None,
    }
}

/// The user's home and config folders from the environment.
pub(super) fn user_dirs() -> Result<(PathBuf, Option<PathBuf>)> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| Error::Setup {
            message: "HOME is not set, so there is no user folder to link skills into".into(),
            hint: "set HOME to your home directory and run again".into(),
        })?;
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|x| !x.is_empty())
        .map(PathBuf::from);
    Ok((home, xdg))
}

/// The skill folders (holding a `SKILL.md`) of the tool's `skills` entry, sorted by name.
fn tool_skills(root: &Path, tool: Tool) -> Result<Vec<(String, PathBuf)>> {
    let dir = root.join(tool.root()).join("skills");
    let entries = std::fs::read_dir(&dir).map_err(|_| Error::Setup {
        message: format!(
            "the {} skills folder is missing: {}",
            tool.label(),
            dir.display()
        ),
        hint: run_first(tool),
    })?;
    let mut skills: Vec<(String, PathBuf)> = entries
        .filter_map(std::result::Result::ok)
        .filter(|e| e.path().join("SKILL.md").is_file())
        .filter_map(|e| {
            let source = e.path().canonicalize().ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), source))
        })
        .collect();
    skills.sort();
    if skills.is_empty() {
        return Err(Error::Setup {
            message: format!("no skills found in {}", dir.display()),
            hint: run_first(tool),
        });
    }
    Ok(skills)
}

/// Links every skill of the project into `target_dir`; one line per skill.
fn link_all(root: &Path, tool: Tool, target_dir: &Path) -> Result<Vec<String>> {
    let skills = tool_skills(root, tool)?;
    std::fs::create_dir_all(target_dir).map_err(|e| Error::io("create", target_dir, e))?;
    // Every target is checked before any link is made, so a conflict changes nothing.
    for (name, source) in &skills {
        let target = target_dir.join(name);
        if std::fs::symlink_metadata(&target).is_ok()
            && target.canonicalize().ok().as_ref() != Some(source)
        {
            return Err(Error::Setup {
                message: format!(
                    "{} already exists and is not a link to {}",
                    target.display(),
                    source.display()
                ),
                hint: format!(
                    "move or remove {} (it may be another project's skill), then run again",
                    target.display()
                ),
            });
        }
    }
    let mut lines = Vec::new();
    for (name, source) in &skills {
        let target = target_dir.join(name);
        let state = if std::fs::symlink_metadata(&target).is_ok() {
            "existing"
        } else {
            std::os::unix::fs::symlink(source, &target)
                .map_err(|e| Error::io("link", &target, e))?;
            "linked"
        };
        lines.push(format!("[{state}] {name} -> {}", target.display()));
    }
    Ok(lines)
}

/// Runs one registration command on `runtime`; an error naming it and what it printed when it
/// fails.
fn command(runtime: &Runtime, root: &Path, tool: Tool, args: &[&str]) -> Result<()> {
    let program = tool.name();
    let line = format!("{program} {}", args.join(" "));
    let mut spec = Spec::new(program, root);
    spec.args = args.iter().map(|a| a.to_string()).collect();
    let outcome = match runtime.block_on(exec::quick(&spec, COMMAND_TIMEOUT)) {
        Ok(outcome) => outcome,
        Err(exec::SpawnError::NotFound { .. }) => {
            return Err(Error::Setup {
                message: format!("`{program}` was not found on PATH"),
                hint: install_hint(tool.backend()).to_string(),
            });
        }
        Err(e) => {
            return Err(Error::Setup {
                message: format!("could not run `{line}`: {e}"),
                hint: format!("check that `{program}` runs in this shell"),
            });
        }
    };
    if outcome.exit.success() && outcome.stopped.is_none() {
        return Ok(());
    }
    let said = [outcome.stderr.tail_lines(5), outcome.stdout.tail_lines(5)]
        .into_iter()
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "no output".into());
    Err(Error::Setup {
        message: format!("`{line}` failed: {said}"),
        hint: format!("fix what {program} reports, then run `autodev install-skills` again"),
    })
}

fn runtime() -> Result<Runtime> {
    exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))
}

fn require(path: &Path, what: &str, tool: Tool) -> Result<()> {
    if path.exists() {
        Ok(())
    } else {
        Err(Error::Setup {
            message: format!("{what} is missing: {}", path.display()),
            hint: run_first(tool),
        })
    }
}

/// Registers the skills of the project at `root` with `tool`; the lines to print.
pub fn install(root: &Path, tool: Tool) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    match tool {
        Tool::Codex | Tool::Opencode => {
            let (home, xdg) = user_dirs()?;
            let Some(target) = link_dir(tool, &home, xdg.as_deref()) else {
                return Ok(lines);
            };
            lines.push(format!(
                "Linked {} skills from {} into {} (backend.default={}):",
                tool.label(),
                root.join(tool.root()).join("skills").display(),
                target.display(),
                tool.name()
            ));
            lines.extend(
                link_all(root, tool, &target)?
                    .into_iter()
                    .map(|l| format!("  {l}")),
            );
        }
        Tool::Claude => {
            let rt = runtime()?;
            let dir = root.join(".claude-plugin");
            let plugin = dir.join("plugin.json");
            let marketplace = dir.join("marketplace.json");
            require(&plugin, "the Claude Code plugin manifest", tool)?;
            require(&marketplace, "the Claude Code marketplace manifest", tool)?;
            let plugin_name = manifest_name(&plugin)?;
            let market_name = manifest_name(&marketplace)?;
            let text = |p: &Path| p.to_string_lossy().into_owned();
            command(&rt, root, tool, &["plugin", "validate", &text(&plugin)])?;
            command(
                &rt,
                root,
                tool,
                &["plugin", "validate", &text(&marketplace)],
            )?;
            command(
                &rt,
                root,
                tool,
                &[
                    "plugin",
                    "marketplace",
                    "add",
                    &text(&dir),
                    "--scope",
                    "local",
                ],
            )?;
            let id = format!("{plugin_name}@{market_name}");
            command(
                &rt,
                root,
                tool,
                &["plugin", "install", &id, "--scope", "local"],
            )?;
            lines.push("Registered the skills with Claude Code (backend.default=claude):".into());
            lines.push(format!("  validated {}", plugin.display()));
            lines.push(format!("  validated {}", marketplace.display()));
            lines.push(format!(
                "  added marketplace {market_name} from {}",
                dir.display()
            ));
            lines.push(format!("  installed plugin {id} in the local scope"));
        }
        Tool::Gemini => {
            let rt = runtime()?;
            let ext = root.join(".gemini/extensions").join(GEMINI_EXTENSION);
            require(&ext, "the Gemini CLI extension", tool)?;
            let text = ext.to_string_lossy().into_owned();
            command(&rt, root, tool, &["extensions", "validate", &text])?;
            command(&rt, root, tool, &["extensions", "link", &text, "--consent"])?;
            lines.push("Registered the skills with Gemini CLI (backend.default=gemini):".into());
            lines.push(format!("  validated {}", ext.display()));
            lines.push(format!("  linked extension {GEMINI_EXTENSION}"));
        }
    }
    Ok(lines)
}

/// The `name` of a plugin or marketplace manifest.
fn manifest_name(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Setup {
        message: format!("{}: invalid JSON: {e}", path.display()),
        hint: format!("fix the file, or delete it and run `autodev init . --use claude` to write it again ({CLAUDE_PLUGIN})"),
    })?;
    value
        .get("name")
        .and_then(|n| n.as_str())
        .filter(|n| !n.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::Setup {
            message: format!("{}: no `name`", path.display()),
            hint: "add a \"name\" field".into(),
        })
}
