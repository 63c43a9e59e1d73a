#!/usr/bin/env bash
# Supervision cost: a child prints 200 MB; autodev tees every byte to a log file while holding
# only a bounded head and tail in memory. Prints autodev's peak RSS (target: under 20 MB), checks
# that the log holds every byte, and compares the wall time with the same output written
# straight to a file by the shell (the anchor).
#
# Usage: bench/exec.sh [MEGABYTES]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-200}
bytes=$((mb * 1048576))
cargo build --release --quiet --example supervise
cargo build --release --quiet
target="${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The scripted fake agent is a hidden subcommand of autodev itself.
printf '#!/bin/sh\nexec "%s" __fake-agent codex "$@"\n' "$(cd "$(dirname "$target")" && pwd)/$(basename "$target")/release/autodev" > "$work/fake-agent"
chmod +x "$work/fake-agent"
mkdir -p "$work/state"
echo "flood $mb" > "$work/state/script"

start=$(date +%s%N)
{ yes 'fake agent output line, long enough to look like a log of real work' || true; } | head -c "$bytes" > "$work/anchor.log"
anchor_ms=$(( ($(date +%s%N) - start) / 1000000 ))

result=$(FAKE_AGENT_DIR="$work/state" "$target/release/examples/supervise" "$work/attempt.log" "$work/fake-agent")
logged=$(stat -c %s "$work/attempt.log")
echo "anchor: shell writes ${mb} MB to a file in ${anchor_ms} ms"
echo "autodev: $result"
echo "log file: $logged bytes (expected $bytes)"
rss=$(sed -n 's/.*peak_rss_kib=\([0-9]*\).*/\1/p' <<<"$result")
if [ "$logged" -ne "$bytes" ]; then
  echo "FAIL: the log lost bytes" >&2
  exit 1
fi
if [ "$rss" -ge $((20 * 1024)) ]; then
  echo "FAIL: peak RSS ${rss} KiB is over 20 MB" >&2
  exit 1
fi
echo "ok: every byte logged, peak RSS ${rss} KiB < 20480 KiB"
