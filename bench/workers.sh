#!/usr/bin/env bash
# Several workers (issue 29). Three figures, each from real runs of the release binary with an
# agent that is a shell command:
#
#  1. 16 independent tasks whose agent sleeps 3 s, at 1, 2, 4 and 8 workers: the wall time, the
#     speed-up over one worker and its share of the ideal (the goal: at least 0.85 x N, since
#     the agent only sleeps), and the orchestrator's own cost per task: the worker-seconds not
#     spent in the agent (wall x workers - 16 x 3 s) over 16.
#  2. 8 tasks that all append a line to the same file, at 4 workers, with no path_patterns to
#     keep them apart: each must land on your branch or be blocked with its conflict named,
#     its result still on a branch; none lost.
#  3. The same queue as 1 on a tree of 1,000 files, to show the figures do not depend on a tiny
#     tree.
#
# Usage: bench/workers.sh [SLEEP_SECONDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
sleep_s=${1:-3}
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/autodev"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$bin" "$sleep_s" <<'PY'
import json, os, subprocess, sys, time
work, binary, nap = sys.argv[1], sys.argv[2], float(sys.argv[3])
env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
           GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b", GIT_CONFIG_GLOBAL="/dev/null")
env["AUTODEV_RUN_MEASURE_LOCK"] = "off"

def git(root, *args, out=False):
    r = subprocess.run(["git", "-C", root, *args], check=True, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout

def make(root, files, tasks, agent, patterns):
    os.makedirs(root)
    for i in range(files):
        d = os.path.join(root, "src", f"d{i // 100:03d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.rs"), "w") as f:
            f.write(f"// file {i}\n")
    with open(os.path.join(root, "autodev.toml"), "w") as f:
        f.write('[project]\nname = "bench"\n[run]\ndelay_between_tasks = 0\n'
                '[reflection]\nenabled = false\n[backend]\ndefault = "command"\n'
                f'[backend.command]\nargv = {json.dumps(["sh", "-c", agent])}\n')
    queue = {"tasks": []}
    for n in range(1, tasks + 1):
        v = {"validate_commands": [f"grep -q 'res-{n}$' res-{n}.txt shared.txt 2>/dev/null"]}
        if patterns:
            v["path_patterns"] = [f"res-{n}.txt"]
        queue["tasks"].append({"id": f"T{n}", "title": f"write res-{n}",
                               "description": f"Write res-{n}", "verification": v})
    with open(os.path.join(root, "task.json"), "w") as f:
        json.dump(queue, f)
    with open(os.path.join(root, ".gitignore"), "w") as f:
        f.write("logs/\nTASK.md\nprogress.txt\n")
    with open(os.path.join(root, "shared.txt"), "w") as f:
        f.write("lines:\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tree")

def run(root, workers):
    start = time.perf_counter()
    r = subprocess.run([binary, "run", "--quiet", "--workers", str(workers)], cwd=root,
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - start, r.returncode, r.stderr

def tasks_of(root):
    return json.load(open(os.path.join(root, "task.json")))["tasks"]

# The agent finds its task's number in the prompt (on stdin).
own = 'n=$(grep -o "res-[0-9][0-9]*" | head -1); sleep %s; echo "$n" > "$n.txt"' % nap
for files in (0, 1000):
    print(f"\n16 independent tasks, the agent sleeping {nap:g} s, a tree of {files} files")
    print(f"{'workers':>8} {'wall s':>8} {'speed-up':>9} {'of ideal':>9} {'cost/task ms':>13}")
    base = None
    for workers in (1, 2, 4, 8):
        root = os.path.join(work, f"ind-{files}-{workers}")
        make(root, files, 16, own, True)
        wall, code, err = run(root, workers)
        done = sum(1 for t in tasks_of(root) if t.get("passes") is True)
        if code != 0 or done != 16:
            raise SystemExit(f"{workers} workers: exit {code}, {done}/16 done\n{err[-3000:]}")
        base = base or wall
        speed = base / wall
        cost = (wall * workers - 16 * nap) / 16 * 1000
        print(f"{workers:>8} {wall:>8.2f} {speed:>8.2f}x {speed / workers:>8.0%} {cost:>13.0f}")

print("\n8 tasks appending to the same file, 4 workers, nothing keeping them apart")
same = ('n=$(grep -o "res-[0-9][0-9]*" | head -1); sleep 1; echo "$n" >> shared.txt')
root = os.path.join(work, "same")
make(root, 0, 8, same, False)
wall, code, err = run(root, 4)
landed = set(git(root, "show", "HEAD:shared.txt").split())
tasks = tasks_of(root)
branches = git(root, "branch", "--list", "autodev/*", "--format=%(refname:short)").split()
lost = []
for t in tasks:
    n = t["id"][1:]
    mark = f"res-{n}"
    if t.get("passes") is True:
        if mark not in landed:
            lost.append(f"{t['id']} completed but its line is not on the branch")
    elif t.get("blocked") is True:
        reason = t.get("block_reason", "")
        kept = [b for b in branches if mark in git(root, "show", f"{b}:shared.txt")]
        if "conflict" not in reason or not kept:
            lost.append(f"{t['id']} blocked without its conflict named or its result kept: {reason}")
    else:
        lost.append(f"{t['id']} neither completed nor blocked")
done = sum(1 for t in tasks if t.get("passes") is True)
blocked = sum(1 for t in tasks if t.get("blocked") is True)
print(f"wall {wall:.2f} s; landed {done}, blocked with the conflict named {blocked}, "
      f"lost {len(lost)}; exit {code}")
for l in lost:
    print("  LOST:", l)
PY
