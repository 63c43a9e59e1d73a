//! Terminal presentation: when to colour, the state badges, and writing to stdout/stderr.
//!
//! Colour is on for a stream only when it is a terminal and `NO_COLOR` is unset (or forced with
//! `--color always`). Badges are `[STATE]` with the state's colour; their visible width never
//! depends on colour, so columns line up either way.

use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;

/// The `--color` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// How output is styled for one run of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ui {
    /// Colour on stdout.
    pub color: bool,
    /// Colour on stderr.
    pub color_err: bool,
}

fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl Ui {
    pub fn new(choice: ColorChoice) -> Ui {
        let decide = |is_tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_tty && !no_color_env(),
        };
        Ui {
            color: decide(io::stdout().is_terminal()),
            color_err: decide(io::stderr().is_terminal()),
        }
    }

    /// `[STATE]` for a task or run status (`retry_wait` → `[RETRY WAIT]`), coloured if enabled.
    pub fn badge(&self, status: &str) -> String {
        paint(self.color, badge_color(status), &badge_text(status))
    }

    /// A badge for a line written to stderr.
    pub fn badge_err(&self, status: &str) -> String {
        paint(self.color_err, badge_color(status), &badge_text(status))
    }

    /// Writes a whole command's output to stdout; a closed pipe (`| head`) is not an error.
    pub fn print(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }

    /// A `warning:` line on stderr (a closed stderr is not an error).
    pub fn warn(&self, message: &str) {
        let _ = writeln!(
            io::stderr(),
            "{} {message}",
            paint(self.color_err, "1;33", "warning:")
        );
    }

    /// An `error:` line and its hints on stderr (a closed stderr is not an error).
    pub fn error(&self, message: &str, hints: &[String]) {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "{} {message}", paint(self.color_err, "1;31", "error:"));
        for hint in hints {
            let _ = writeln!(err, "{} {hint}", paint(self.color_err, "1;36", "hint:"));
        }
    }
}

/// The plain badge text.
pub fn badge_text(status: &str) -> String {
    format!("[{}]", status.replace('_', " ").to_uppercase())
}

/// How a status looks, in one table: its class on the pages (`running`, `waiting`, `warning`,
/// `completed`, `blocked`, `pending`, `idle`) and its ANSI colour in the terminal (the
/// original's palette).
fn look(status: &str) -> (&'static str, &'static str) {
    match status {
        "starting" | "running" => ("running", "0;36"),
        "validating" => ("running", "0;35"),
        "retry_wait" | "waiting" | "held" => ("waiting", "0;90"),
        "retry" | "interrupted" | "budget_stopped" | "discarded" => ("warning", "1;33"),
        "completed" | "kept" | "pass" => ("completed", "0;32"),
        "blocked" | "env_error" | "failed" | "fail" => ("blocked", "0;31"),
        "pending" => ("pending", "0;34"),
        "idle" => ("idle", "0;90"),
        _ => ("idle", "0;34"),
    }
}

/// The class of a status on the pages (see [`look`]).
pub fn class_of(status: &str) -> &'static str {
    look(status).0
}

/// The ANSI colour of a status's badge (see [`look`]).
fn badge_color(status: &str) -> &'static str {
    look(status).1
}

fn paint(enabled: bool, code: &str, text: &str) -> String {
    if enabled {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Pads `styled` (which may hold colour codes) to `width` visible characters of `plain`.
pub fn pad(styled: &str, plain: &str, width: usize) -> String {
    let visible = plain.chars().count();
    format!("{styled}{}", " ".repeat(width.saturating_sub(visible)))
}

/// A line on stderr that turns while a model thinks (`plan: waiting for codex (12s)`), for
/// commands a person waits on at a terminal; [`Spinner::at_terminal`] gives none elsewhere, and
/// an unattended run never makes one.
pub struct Spinner {
    text: String,
    frame: usize,
}

impl Spinner {
    /// A spinner when stderr is a terminal.
    pub fn at_terminal(label: &str, backend: &str) -> Option<Spinner> {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal().then(|| Spinner {
            text: format!("{label}: waiting for {backend}"),
            frame: 0,
        })
    }

    /// Draws the next frame.
    pub fn draw(&mut self, elapsed: std::time::Duration) {
        use std::io::Write;
        const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} {} ({}s)",
            FRAMES[self.frame % FRAMES.len()],
            self.text,
            elapsed.as_secs()
        );
        let _ = err.flush();
        self.frame += 1;
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

/// Up to `limit` paths, then how many more.
pub fn preview(paths: &[String], limit: usize) -> String {
    if paths.is_empty() {
        return "none".to_string();
    }
    let shown = paths
        .iter()
        .take(limit)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match paths.len().saturating_sub(limit) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges() {
        assert_eq!(badge_text("retry_wait"), "[RETRY WAIT]");
        let ui = Ui {
            color: true,
            color_err: false,
        };
        assert_eq!(ui.badge("completed"), "\x1b[0;32m[COMPLETED]\x1b[0m");
        assert_eq!(ui.badge("mystery"), "\x1b[0;34m[MYSTERY]\x1b[0m");
        let plain = Ui {
            color: false,
            color_err: false,
        };
        assert_eq!(plain.badge("blocked"), "[BLOCKED]");
    }

    #[test]
    fn pad_counts_visible_width() {
        let ui = Ui {
            color: true,
            color_err: true,
        };
        let padded = pad(&ui.badge("running"), "[RUNNING]", 12);
        assert!(padded.ends_with("\x1b[0m   "));
    }
}
