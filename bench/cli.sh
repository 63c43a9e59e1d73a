#!/usr/bin/env bash
# Startup and listing speed of the autodev binary, each figure beside an anchor measured the
# same way on the same machine. Usage: bench/cli.sh [runs]   (default 30 runs per command)
#
# Targets (issue 2): `autodev --help` median <= 5 ms; `task list` and `status` on a
# 1,000-task task.json median <= 10 ms. The Python original: 140 ms, 322 ms, 354 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
cargo build --release --locked -q
bin="$PWD/target/release/autodev"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 bench/make_queue.py "$work" 1000
git -C "$work" init -q && git -C "$work" add -A && git -C "$work" -c user.name=b -c user.email=b@b commit -qm base

python3 - "$runs" "$work" "$bin" <<'PY'
import os, statistics, subprocess, sys, time
runs, work, binary = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def measure(argv):
    samples = []
    for _ in range(runs + 3):
        start = time.perf_counter()
        subprocess.run(argv, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    samples = samples[3:]  # warm-up runs are dropped
    return statistics.median(samples), min(samples), max(samples)

rows = [
    ("anchor: true (process spawn floor)", ["true"], None),
    ("anchor: git status --porcelain (same tree)", ["git", "status", "--porcelain"], None),
    ("autodev --help", [binary, "--help"], 5.0),
    ("autodev task list (1,000 tasks)", [binary, "task", "list"], 10.0),
    ("autodev task list --json (1,000 tasks)", [binary, "task", "list", "--json"], None),
    ("autodev status (1,000 tasks)", [binary, "status"], 10.0),
]
print(f"{runs} runs each; milliseconds")
print(f"{'command':<46} {'median':>8} {'min':>8} {'max':>8}  target")
for name, argv, target in rows:
    med, lo, hi = measure(argv)
    verdict = "" if target is None else (f"<= {target:g}  " + ("ok" if med <= target else "MISSED"))
    print(f"{name:<46} {med:8.2f} {lo:8.2f} {hi:8.2f}  {verdict}")
PY
