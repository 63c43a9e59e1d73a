#!/usr/bin/env bash
# Change-tracking speed: one snapshot plus diff (what the run loop does after every attempt)
# beside `git status --porcelain` on the same committed tree, at 1,000 and 100,000 files.
# Targets (issue 5): under 10 ms at 1,000 files; within 1.5x of git status at 100,000 files.
# The Python original took 16.6 s per snapshot at 100,000 files (78x git status).
#
# Usage: bench/snapshot.sh [RUNS]   (default 10 runs per figure)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
cargo build --release --quiet --example snapshot
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_tree() { # DIR FILES: a source-like tree, 100 files per directory, committed to git
  python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root, exist_ok=True)
open(os.path.join(root, "autodev.toml"), "w").write('[project]\nname = "bench"\n')
for i in range(n):
    d = os.path.join(root, "src", f"m{i // 1000:03d}", f"d{(i // 100) % 10}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.rs"), "w") as f:
        f.write(f"// file {i}\npub fn f{i}() -> u32 {{ {i} }}\n")
PY
  git -C "$1" init -q
  git -C "$1" add -A
  git -C "$1" -c user.name=b -c user.email=b@b commit -qm tree
  git -C "$1" status --porcelain > /dev/null  # refresh the index once, as a user's repo would be
  # A user's files are older than autodev's racy window (files written in the last 2 s are hashed).
  sleep 3
}

git_median() { # DIR
  python3 - "$1" "$runs" <<'PY'
import statistics, subprocess, sys, time
d, runs = sys.argv[1], int(sys.argv[2])
s = []
for _ in range(runs + 2):
    t = time.perf_counter()
    subprocess.run(["git", "-C", d, "status", "--porcelain"], stdout=subprocess.DEVNULL, check=True)
    s.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(s[2:]):.2f}")
PY
}

for files in 1000 100000; do
  dir="$work/t$files"
  make_tree "$dir" "$files"
  autodev=$(target/release/examples/snapshot "$dir" "$runs")
  ours=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<<"$autodev")
  git=$(git_median "$dir")
  ratio=$(python3 -c "print(f'{$ours / $git:.2f}')")
  echo "$files files: git status --porcelain ${git} ms | autodev snapshot+diff ${ours} ms (${ratio}x) | $autodev"
done
