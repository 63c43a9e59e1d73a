//! Before a run: is the agent CLI installed, and which version is it? A missing CLI is an error
//! that names the install command; the version goes into the run's log.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Outcome;
use super::report::{clip, strip_ansi};
use crate::config::{BackendName, Config};
use crate::error::{Error, Result};
use crate::exec::{self, Spec};

/// What preflight found.
#[derive(Debug, Clone, PartialEq)]
pub struct Preflight {
    pub program: String,
    /// Where the program was found.
    pub path: PathBuf,
    /// The first line the CLI printed for `--version`, when it answered in time.
    pub version: Option<String>,
}

/// What a person does when a backend halts the run for its environment: what to set or run.
pub fn fix_hint(name: BackendName, outcome: Outcome) -> Option<&'static str> {
    Some(match (outcome, name) {
        (Outcome::Auth, BackendName::Claude) => {
            "log in: run `claude` and then `/login` (`claude auth status` checks it), or set ANTHROPIC_API_KEY"
        }
        (Outcome::Auth, BackendName::Codex) => {
            "log in with `codex login` (`codex login status` checks it), or set OPENAI_API_KEY \
             (a custom provider reads the variable its env_key names)"
        }
        (Outcome::Auth, BackendName::Gemini) => {
            "set GEMINI_API_KEY (or GOOGLE_GENAI_USE_VERTEXAI / GOOGLE_GENAI_USE_GCA), or choose an \
             auth method in ~/.gemini/settings.json"
        }
        (Outcome::Auth, BackendName::Opencode) => {
            "log in with `opencode auth login` (`opencode auth list` shows what is set), or set the \
             provider's API key variable"
        }
        (Outcome::Auth, BackendName::Command) => {
            "set the credentials your command needs in the environment autodev runs in"
        }
        (Outcome::QuotaExhausted, _) => {
            "the provider says the account has no quota or credit left: check its plan and \
             billing, or switch with --backend, then run again"
        }
        (Outcome::Misconfigured, _) => {
            "the CLI's own words are above; `autodev backend` shows the exact command autodev runs"
        }
        _ => return None,
    })
}

/// How to install a backend's CLI.
pub fn install_hint(name: BackendName) -> &'static str {
    match name {
        BackendName::Claude => "install Claude Code: npm install -g @anthropic-ai/claude-code",
        BackendName::Codex => "install the Codex CLI: npm install -g @openai/codex",
        BackendName::Gemini => "install the Gemini CLI: npm install -g @google/gemini-cli",
        BackendName::Opencode => "install OpenCode: npm install -g opencode-ai",
        BackendName::Command => {
            "check backend.command.argv: its first word must be a program on PATH or a path"
        }
    }
}

pub use crate::exec::find_program;

/// Checks that backend `name` can run (searching `path_var`, normally `$PATH`), and reads its
/// version.
pub async fn preflight(
    config: &Config,
    name: BackendName,
    cwd: &Path,
    path_var: Option<&OsStr>,
) -> Result<Preflight> {
    let program = super::program(&config.backend, name)?;
    let path = find_program(&program, path_var, cwd).ok_or_else(|| Error::Setup {
        message: format!(
            "the {} CLI is not installed: `{program}` was not found on PATH",
            name.as_str()
        ),
        hint: install_hint(name).to_string(),
    })?;
    // An arbitrary command may not know `--version`, or may do something else with it.
    let version = if name == BackendName::Command {
        None
    } else {
        let mut spec = Spec::new(path.to_string_lossy(), cwd);
        spec.args = vec!["--version".into()];
        match exec::quick(&spec, Duration::from_secs(15)).await {
            Ok(outcome) if outcome.exit.success() => first_line(&outcome.stdout.text())
                .or_else(|| first_line(&outcome.stderr.text()))
                .map(|line| clip(&line, 120)),
            _ => None,
        }
    };
    Ok(Preflight {
        program,
        path,
        version,
    })
}

fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(|l| strip_ansi(l).trim().to_string())
        .find(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_halt_names_what_to_set_or_run() {
        let table = [
            (BackendName::Claude, Outcome::Auth, "ANTHROPIC_API_KEY"),
            (BackendName::Codex, Outcome::Auth, "OPENAI_API_KEY"),
            (BackendName::Gemini, Outcome::Auth, "GEMINI_API_KEY"),
            (BackendName::Opencode, Outcome::Auth, "opencode auth login"),
            (BackendName::Codex, Outcome::QuotaExhausted, "billing"),
            (
                BackendName::Gemini,
                Outcome::Misconfigured,
                "autodev backend",
            ),
        ];
        for (name, outcome, words) in table {
            let hint = fix_hint(name, outcome).unwrap_or_default();
            assert!(hint.contains(words), "{name:?} {outcome:?}: {hint}");
        }
        assert_eq!(fix_hint(BackendName::Codex, Outcome::Crashed), None);
    }
}
