//! Times one snapshot plus diff of a project tree, as the run loop takes after each attempt.
//! Used by `bench/snapshot.sh`.
//!
//! Usage: `cargo run --release --example snapshot -- PROJECT_DIR [RUNS]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use autodev::config::{self, LoadOptions};
use autodev::snapshot::{Rules, Snapshot, diff};

// The same allocator as the autodev binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: snapshot PROJECT_DIR [RUNS]");
        return ExitCode::from(2);
    };
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(10);
    let options = LoadOptions {
        config_path: None,
        cwd: dir,
        overrides: Vec::new(),
    };
    let rules = match config::load(&options, std::env::vars_os())
        .and_then(|s| Rules::new(&s.config, &s.paths))
    {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let before = Snapshot::take(&rules, None);
    let mut samples = Vec::with_capacity(runs);
    let mut changed = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let after = Snapshot::take(&rules, Some(&before));
        changed = diff(&before, &after).count();
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "files={} changed={} median_ms={:.2} min_ms={:.2} max_ms={:.2}",
        before.len(),
        changed,
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1]
    );
    ExitCode::SUCCESS
}
