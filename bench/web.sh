#!/usr/bin/env bash
# `autodev web` under load (issue 27): an idle server, one project's stream followed by 200
# clients during a run, 100 streams that never read while 40 MB is appended, 1,000 projects
# and their list streams, and 1,500 connections that never finish a request. Prints p50/p99
# latency, RSS and CPU beside the figures measured before the fixes.
#
# Usage: bench/web.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/autodev"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import json, os, subprocess, sys
work = sys.argv[1]

def project(root):
    os.makedirs(f"{root}/logs")
    with open(f"{root}/autodev.toml", "w") as f:
        f.write('[project]\nname = "bench"\n')
    with open(f"{root}/task.json", "w") as f:
        json.dump({"tasks": [{"id": "T1", "title": "one"}]}, f)
    with open(f"{root}/logs/events.jsonl", "w") as f:
        for n in range(20):
            f.write(json.dumps({"v": 1, "seq": n, "run_id": "old", "type": "heartbeat"}) + "\n")
    return {"root": root, "config": f"{root}/autodev.toml", "name": os.path.basename(root),
            "log_dir": f"{root}/logs", "sessions": [{"name": "autodev-" + os.path.basename(root),
                                                      "started_at": "2026-12-01T00:00:00Z"}]}

for state, count in (("one", 1), ("many", 1000)):
    entries = [project(f"{work}/{'p' if count == 1 else state}{n}") for n in range(count)]
    os.makedirs(f"{work}/{state}/autodev")
    with open(f"{work}/{state}/autodev/projects.json", "w") as f:
        json.dump({"version": 1, "projects": entries}, f)
os.makedirs(f"{work}/home")
PY
python3 bench/web_load.py "$bin" "$work"
