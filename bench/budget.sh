#!/usr/bin/env bash
# Budget trials per CLI: the scripted stand-in prints claude's, opencode's, codex's and gemini's
# real event formats, and a run under a 50,000-token cap meets one call streaming past the cap,
# calls cut short by the idle limit, and a call stopped by SIGTERM and resumed. Prints, per CLI
# and trial, the exit code, the cap, what the stand-in used, what autodev counted, the overrun.
#
#   bench/budget.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --quiet --test run budget::budget_trials_ -- --nocapture 2>&1 \
  | grep -v '^$' | grep -v '^running ' | grep -v '^test result' | grep -v '^test budget'
