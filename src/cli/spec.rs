//! `autodev spec`: an intent or PRD in, a COCA spec out (`docs/specs/<slug>-coca-spec.md`
//! unless `-o` says otherwise).

use super::Context;
use super::plan::{Input, write_spec};
use crate::error::{Error, Exit, Result};
use crate::exec::{self, Cancel};
use crate::plan::{self, oneshot::Call};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
}

pub fn run(context: &Context, args: Args) -> Result<Exit> {
    let settings = context.settings()?;
    let source = args.input.source(&context.cwd, "spec")?;
    let backend = args.input.backend(&settings);
    let paths = &settings.paths;
    let path = args.input.output(&context.cwd).unwrap_or_else(|| {
        plan::default_spec_path(
            &paths.code_dir,
            &settings.config.planning.specs_dir,
            &source,
        )
    });
    let call = Call {
        config: &settings.config,
        backend,
        code_dir: &paths.code_dir,
        log_dir: &paths.log_dir,
        label: "spec",
    };
    let runtime = exec::runtime().map_err(|e| Error::io("start", "the async runtime", e))?;
    runtime.block_on(async {
        let cancel = Cancel::default();
        exec::cancel_on_signals(&cancel).map_err(|e| Error::io("watch", "signals", e))?;
        write_spec(
            &call,
            &settings.config.project.name,
            &source,
            &path,
            &cancel,
        )
        .await
    })?;
    context.print(&format!(
        "Generated COCA spec from {} with {} -> {}\n",
        source.label,
        backend.as_str(),
        plan::doc_reference(&context.cwd, &path)
    ))?;
    Ok(Exit::Success)
}
