//! Runs one command under autodev's supervision, teeing its output to a log file, then prints
//! what the supervisor kept and its own peak memory. Used by `bench/exec.sh`.
//!
//! Usage: `cargo run --release --example supervise -- LOG_FILE PROGRAM [ARGS...]`

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

use autodev::exec::{self, Cancel, Ignore, Limits, Spec, Tee};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [log, program, rest @ ..] = args.as_slice() else {
        eprintln!("usage: supervise LOG_FILE PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let file = match File::create(log) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("cannot create {log}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut spec = Spec::new(program.clone(), ".");
    spec.args = rest.to_vec();
    let mut tee = Tee::new(vec![Box::new(BufWriter::with_capacity(64 * 1024, file))]);
    let limits = Limits::from_seconds(600, 0, 5);
    match exec::run_blocking(&spec, &limits, &mut tee, &mut Ignore, &Cancel::default()) {
        Ok(outcome) => {
            println!(
                "exit={} stdout_bytes={} stderr_bytes={} kept_bytes={} elapsed_ms={} peak_rss_kib={}",
                outcome.exit,
                outcome.stdout.total(),
                outcome.stderr.total(),
                outcome.stdout.text().len() + outcome.stderr.text().len(),
                outcome.elapsed.as_millis(),
                peak_rss_kib().map_or("?".to_string(), |k| k.to_string()),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
