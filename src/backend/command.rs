//! The `command` backend: any program configured by argv (aider, goose, a script).
//!
//! The prompt arrives on stdin, or — when an argument contains `{prompt_file}` — in a file whose
//! path replaces that placeholder (stdin is then `/dev/null`). Whatever the program prints on
//! stdout is the final text; its exit code is the outcome. autodev cannot make an arbitrary
//! program read-only, so `oneshot_argv` should name a mode of the program that does not edit.

use super::{Invocation, Purpose, Request};
use crate::config::CommandSettings;
use crate::error::Result;
use crate::exec::{Input, Spec};

const PLACEHOLDER: &str = "{prompt_file}";

/// The configured command line for `purpose`; an error when none is configured.
pub fn argv(s: &CommandSettings, purpose: Purpose) -> Result<&[String]> {
    let argv = match purpose {
        Purpose::OneShot if !s.oneshot_argv.is_empty() => &s.oneshot_argv,
        _ => &s.argv,
    };
    if argv.first().is_none_or(|program| program.trim().is_empty()) {
        return Err(super::setup_error(
            "backend.default is \"command\" but backend.command.argv is empty",
            "set it in autodev.toml, e.g. [backend.command] argv = [\"aider\", \"--yes-always\", \
             \"--message-file\", \"{prompt_file}\"], or choose another backend.default",
        ));
    }
    Ok(argv)
}

pub fn invocation(s: &CommandSettings, request: &Request) -> Result<Invocation> {
    let argv = argv(s, request.purpose)?;
    let prompt_file = super::side_file(request.scratch, ".prompt.md");
    let file_text = prompt_file.to_string_lossy();
    let uses_file = argv.iter().any(|a| a.contains(PLACEHOLDER));
    let mut spec = Spec::new(argv[0].replace(PLACEHOLDER, &file_text), request.cwd);
    spec.args = argv[1..]
        .iter()
        .map(|a| a.replace(PLACEHOLDER, &file_text))
        .collect();
    spec.env = s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    spec.stdin = if uses_file {
        Input::Null
    } else {
        super::stdin_prompt(request)
    };
    Ok(Invocation {
        spec,
        last_message_file: None,
        prompt_file: uses_file.then_some(prompt_file),
        notes: Vec::new(),
    })
}
