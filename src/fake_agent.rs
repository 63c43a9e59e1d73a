//! The scripted stand-in for an agent CLI, `autodev __fake-agent NAME [ARGS...]`: what the test
//! suite and `autodev demo` run instead of a model, so the two cannot drift apart. It is never
//! called unless a configuration or a test names it.
//!
//! Its state lives in `$FAKE_AGENT_DIR`. Call N (1, 2, …) records its arguments (one per
//! line) in `call-N.argv`, its working directory in `call-N.cwd`, `NAME` in `call-N.name`, its
//! pid in `call-N.pid` and what it read on stdin in `call-N.stdin`. Then it runs the steps of
//! `script-N` (or of `script`), one a line:
//!
//! | step | does |
//! | --- | --- |
//! | `write PATH TEXT...` | writes TEXT and a newline to PATH (folders are created) |
//! | `print TEXT...`, `eprint TEXT...` | prints TEXT on stdout, on stderr |
//! | `cat FILE`, `ecat FILE` | copies FILE (relative to the state folder) to stdout, stderr |
//! | `sleep SECONDS` | pauses |
//! | `chatter N SECONDS` | prints a line every SECONDS, N times |
//! | `flood MEGABYTES` | prints that many megabytes of short lines |
//! | `ignore-term` | ignores SIGTERM from then on |
//! | `grandchild` | starts a process that keeps stdout open and ignores SIGTERM (`grandchild.pid`) |
//! | `hang` | never ends |
//! | `sh COMMAND...` | runs COMMAND with `sh -c` (`FAKE_CALL` holds the call number) |
//! | `exec COMMAND...` | runs COMMAND the same way, then ends with its exit code |
//! | `exit CODE` | ends with CODE (else 0) |
//!
//! Words are split on white space and joined again with one space. `--version` prints a
//! version line and records nothing.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The hidden subcommand.
pub const SUBCOMMAND: &str = "__fake-agent";

fn fail(message: &str, code: i32) -> ! {
    eprintln!("fake-agent: {message}");
    std::process::exit(code)
}

/// Runs the stand-in with its arguments (after the subcommand); never returns.
pub fn main(args: Vec<OsString>) -> ! {
    let mut args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    let name = args.next().unwrap_or_else(|| "fake-agent".into());
    let rest: Vec<String> = args.collect();
    if rest.first().map(String::as_str) == Some("--version") {
        println!("fake-agent 1.0 ({name})");
        std::process::exit(0);
    }
    let Some(dir) = std::env::var_os("FAKE_AGENT_DIR").map(PathBuf::from) else {
        fail("FAKE_AGENT_DIR must name the fake agent's state folder", 2);
    };
    let record = |file: String, text: &[u8]| {
        if std::fs::write(dir.join(file), text).is_err() {
            fail("cannot write to FAKE_AGENT_DIR", 2);
        }
    };
    // Calls made at once (several workers) each take a number of their own.
    let counting = std::fs::File::create(dir.join("calls.lock"))
        .and_then(|file| file.lock().map(|()| file))
        .unwrap_or_else(|_| fail("cannot lock FAKE_AGENT_DIR/calls.lock", 2));
    let n = std::fs::read_to_string(dir.join("calls"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    record("calls".into(), format!("{n}\n").as_bytes());
    drop(counting);
    record(
        format!("call-{n}.pid"),
        format!("{}\n", std::process::id()).as_bytes(),
    );
    record(format!("call-{n}.name"), format!("{name}\n").as_bytes());
    let cwd = std::env::current_dir().unwrap_or_default();
    record(
        format!("call-{n}.cwd"),
        format!("{}\n", cwd.display()).as_bytes(),
    );
    let argv: String = rest.iter().map(|a| format!("{a}\n")).collect();
    record(format!("call-{n}.argv"), argv.as_bytes());
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    record(format!("call-{n}.stdin"), &stdin);

    let script = [format!("script-{n}"), "script".to_string()]
        .into_iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file());
    let Some(script) = script else {
        std::process::exit(0);
    };
    let text = std::fs::read_to_string(&script).unwrap_or_default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((step, rest)) = words.split_first() else {
            continue;
        };
        step_(&dir, n, step, rest);
        let _ = std::io::stdout().flush();
    }
    std::process::exit(0)
}

fn resolve(dir: &Path, file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

fn seconds(text: Option<&&str>) -> Duration {
    Duration::from_secs_f64(
        text.and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(0.0)
            .max(0.0),
    )
}

fn step_(dir: &Path, n: u32, step: &str, rest: &[&str]) {
    let joined = rest.join(" ");
    let mut out = std::io::stdout();
    match step {
        s if s.starts_with('#') => {}
        "write" => {
            let Some((path, words)) = rest.split_first() else {
                fail("write needs a path", 98);
            };
            let path = Path::new(path);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(parent);
            }
            if std::fs::write(path, format!("{}\n", words.join(" "))).is_err() {
                fail(&format!("cannot write {}", path.display()), 1);
            }
        }
        "print" => {
            let _ = writeln!(out, "{joined}");
        }
        "eprint" => eprintln!("{joined}"),
        "cat" | "ecat" => {
            let bytes = std::fs::read(resolve(dir, &joined)).unwrap_or_default();
            if step == "cat" {
                let _ = out.write_all(&bytes);
            } else {
                let _ = std::io::stderr().write_all(&bytes);
            }
        }
        "sleep" => std::thread::sleep(seconds(rest.first())),
        "chatter" => {
            let times: u32 = rest.first().and_then(|t| t.parse().ok()).unwrap_or(0);
            for i in 1..=times {
                let _ = writeln!(out, "working ({i})");
                let _ = out.flush();
                std::thread::sleep(seconds(rest.get(1)));
            }
        }
        "flood" => {
            let megabytes: usize = rest.first().and_then(|t| t.parse().ok()).unwrap_or(0);
            let line = b"fake agent output line, long enough to look like a log of real work\n";
            let mut left = megabytes * 1024 * 1024;
            while left > 0 {
                let take = left.min(line.len());
                if out.write_all(&line[..take]).is_err() {
                    break;
                }
                left -= take;
            }
        }
        "ignore-term" => {
            // SAFETY: ignoring a signal is always sound.
            unsafe {
                let _ = nix::sys::signal::signal(
                    nix::sys::signal::Signal::SIGTERM,
                    nix::sys::signal::SigHandler::SigIgn,
                );
            }
        }
        "grandchild" => {
            let child = std::process::Command::new("sh")
                .args(["-c", "trap '' TERM; while :; do sleep 1; done"])
                .stdin(std::process::Stdio::null())
                .spawn();
            if let Ok(child) = child {
                let _ = std::fs::write(dir.join("grandchild.pid"), format!("{}\n", child.id()));
            }
        }
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        "sh" | "exec" => {
            let _ = out.flush();
            let status = std::process::Command::new("sh")
                .args(["-c", &joined])
                .env("FAKE_CALL", n.to_string())
                .status();
            if step == "exec" {
                std::process::exit(status.ok().and_then(|s| s.code()).unwrap_or(1));
            }
        }
        "exit" => {
            let _ = out.flush();
            std::process::exit(rest.first().and_then(|c| c.parse().ok()).unwrap_or(0));
        }
        other => fail(&format!("unknown step '{other}'"), 98),
    }
}
