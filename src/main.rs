//! The `autodev` binary: parse arguments, run the command, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

use autodev::cli::{self, Cli};
use autodev::ui::Ui;

// The queue is parsed into many small allocations on every command; mimalloc makes
// `task list` on a 1,000-task queue about 30% faster than the system allocator (bench/cli.sh).
// It is built without transparent huge pages (Cargo.toml): with them a run's resident memory
// doubled (docs/run.md, "Memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut raw = std::env::args_os();
    // The hidden helpers: the keeper of supervised children, the scripted stand-in agent.
    match raw.nth(1) {
        Some(a) if a == autodev::exec::keeper::SUBCOMMAND => {
            autodev::exec::keeper::main(raw.collect())
        }
        Some(a) if a == autodev::fake_agent::SUBCOMMAND => autodev::fake_agent::main(raw.collect()),
        _ => {}
    }
    autodev::exec::enable_keeper();
    // `autodev run` must never die of SIGINT, SIGTERM or SIGHUP, even in its first moments:
    // trap them before parsing, and give them back to any other command.
    let maybe_run = std::env::args_os().skip(1).any(|a| a == "run");
    if maybe_run {
        let _ = autodev::exec::trap_signals();
    }
    let args = Cli::parse();
    if maybe_run && !matches!(args.command, Some(cli::Command::Run(_))) {
        autodev::exec::untrap_signals();
    }
    let ui = Ui::new(args.color);
    match cli::run(args) {
        Ok(exit) => exit.into(),
        Err(error) => {
            ui.error(&error.to_string(), &error.hints());
            error.exit().into()
        }
    }
}
