#!/usr/bin/env bash
# Fault injection: kills `autodev run` with SIGKILL at random moments over a two-task queue
# (agent, checks, a pre-commit hook) and over an experiment in its worktrees (agent, build,
# interleaved measurement, the fast-forward, the user's uncommitted work beside it), and stops
# the two-task queue politely (SIGINT, SIGTERM or SIGHUP, once or twice in a row, or by its
# budget) and kills it with notifications queued or under way, and kills a run of four workers
# with up to four tasks in flight over a six-task queue; runs it again, and prints, per
# invariant, how many times it was checked and how often it was violated.
#
#   bench/faults.sh [TRIALS] [SEED]     (default 120 trials, a seed from the clock)
set -euo pipefail
cd "$(dirname "$0")/.."
export AUTODEV_FAULT_TRIALS="${1:-120}"
if [ -n "${2:-}" ]; then export AUTODEV_FAULT_SEED="$2"; fi
cargo test --locked --quiet --test run faults::random_ -- --nocapture --test-threads 1 2>&1 \
  | grep -v '^$' | grep -v '^running ' | grep -v '^test result' | grep -v '^test faults'
