#!/usr/bin/env bash
# Recovery's reading of the journal (issue 28): a run resumes from the events of the open work
# (the last run, the last task started), read back from the journal's end as far as that is.
# Its cost should grow with the open task's own events, not with the journal's history.
#
# For journals of 1 MB, 100 MB and 1 GB, twice each: the bulk written BEFORE the interrupted
# task started (old runs' history) and AFTER it (the task's own heartbeats). Each time one
# `autodev run` resumes the task and finishes it with an instant fake agent; the figure is its
# wall time minus that of the same run on an empty history.
#
# Usage: bench/recovery.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/autodev"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$bin" <<'PY'
import json, os, subprocess, sys, time
work, binary = sys.argv[1], sys.argv[2]
os.makedirs(f"{work}/bin")
with open(f"{work}/bin/codex", "w") as f:
    f.write(f"#!/bin/sh\nexec '{binary}' __fake-agent codex \"$@\"\n")
os.chmod(f"{work}/bin/codex", 0o755)
env = dict(os.environ, PATH=f"{work}/bin:" + os.environ["PATH"], HOME=f"{work}/home",
           XDG_STATE_HOME=f"{work}/state", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
           GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
os.makedirs(f"{work}/home")

def heartbeat(seq, run, task):
    return ('{"seq":%d,"time":"2026-12-07T00:00:00Z","run_id":"%s","type":"heartbeat","task":{"id":"%s","title":"t"},'
            '"attempt":1,"max_attempts":3,"elapsed_seconds":%d,"active":true}\n' % (seq, run, task, seq))

def fill(f, seq, size, run, task):
    block, written = [], 0
    while written < size:
        line = heartbeat(seq, run, task)
        seq += 1
        written += len(line)
        block.append(line)
        if len(block) == 10000:
            f.write("".join(block)); block = []
    f.write("".join(block))
    return seq

def project(name, before, after):
    root = f"{work}/{name}"
    os.makedirs(f"{root}/logs")
    with open(f"{root}/autodev.toml", "w") as f:
        f.write('[project]\nname = "bench"\n[run]\ndelay_between_tasks = 0\n[reflection]\nenabled = false\n')
    with open(f"{root}/task.json", "w") as f:
        json.dump({"tasks": [{"id": "T1", "title": "t", "verification": {"path_patterns": ["out.txt"]}}]}, f)
    with open(f"{root}/.gitignore", "w") as f:
        f.write("logs/\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run(["git", "-C", root] + args, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(f"{root}/logs/events.jsonl", "w") as f:
        seq = fill(f, 0, before, "old", "T0")
        f.write('{"seq":%d,"time":"2026-12-07T00:00:00Z","run_id":"r1","type":"run_started","backend":"codex",'
                '"version":null,"max_tasks":9,"max_attempts":3,"dry_run":false}\n' % seq)
        f.write('{"seq":%d,"time":"2026-12-07T00:00:00Z","run_id":"r1","type":"task_started",'
                '"task":{"id":"T1","title":"t"},"number":1}\n' % (seq + 1))
        fill(f, seq + 2, after, "r1", "T1")
    os.makedirs(f"{work}/fake-{name}", exist_ok=True)
    with open(f"{work}/fake-{name}/script-1", "w") as f:
        f.write("write out.txt done\n")
    return root

def timed(name, before, after):
    root = project(name, before, after)
    t = time.perf_counter()
    r = subprocess.run([binary, "run", "--quiet"], cwd=root, env=dict(env, FAKE_AGENT_DIR=f"{work}/fake-{name}"),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ms = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"run failed ({r.returncode}): {r.stderr.decode()[-2000:]}")
    subprocess.run(["rm", "-rf", root, f"{work}/fake-{name}"])
    return ms

base = min(timed(f"base{i}", 0, 0) for i in range(3))
print(f"  resuming run on an empty history: {base:.0f} ms (the figures below are on top of it)")
print(f"  {'journal':>8}  {'history before the task':>24}  {'the task own events':>20}")
for label, size in (("1 MB", 1 << 20), ("100 MB", 100 << 20), ("1 GB", 1 << 30)):
    runs = 3 if size < (1 << 30) else 1
    before = min(timed("before", size, 0) for _ in range(runs)) - base
    after = min(timed("after", 0, size) for _ in range(runs)) - base
    print(f"  {label:>8}  {before:>21.0f} ms  {after:>17.0f} ms")
PY
