#!/usr/bin/env bash
# Orchestrator overhead of `autodev run`: 50 tasks worked by an instant fake agent (it writes one
# file and exits), on a committed repository of 1,000 and of 100,000 files. The figure is the
# run's wall time per task minus the fake agent's own time per call (measured alone), shown
# beside `git status --porcelain` on the same tree.
# Targets (issue 6): <= 15 ms per task at 1,000 files (the original: about 420 ms);
# within 3x a `git status` per task at 100,000 files.
#
# Usage: bench/run.sh [TASKS]   (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${1:-50}
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/autodev"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The scripted fake agent is a hidden subcommand of autodev itself.
fake="$work/fake-agent"
printf '#!/bin/sh\nexec "%s" __fake-agent codex "$@"\n' "$bin" > "$fake"
chmod +x "$fake"

python3 - "$work" "$tasks" "$bin" "$fake" <<'PY'
import json, os, statistics, subprocess, sys, time
work, tasks, binary, fake = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def make(root, files):
    os.makedirs(root)
    for i in range(files):
        d = os.path.join(root, "src", f"m{i // 1000:03d}", f"d{(i // 100) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.rs"), "w") as f:
            f.write(f"// file {i}\n")
    with open(os.path.join(root, "autodev.toml"), "w") as f:
        f.write('[project]\nname = "bench"\n[run]\ndelay_between_tasks = 0\n'
                '[git]\nauto_commit = false\n[reflection]\nenabled = false\n')
    queue = {"tasks": [{"id": f"T{n}", "title": f"task {n}",
                        "verification": {"path_patterns": [f"out/{n}.txt"]}} for n in range(1, tasks + 1)]}
    with open(os.path.join(root, "task.json"), "w") as f:
        json.dump(queue, f)
    with open(os.path.join(root, ".gitignore"), "w") as f:
        f.write("logs/\n")
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "tree"], ["status", "--porcelain"]):
        subprocess.run(["git", "-C", root] + args, check=True, env=env, stdout=subprocess.DEVNULL)
    os.sync()        # a user's tree is not in the middle of being written back
    time.sleep(2.5)  # older than the snapshot's racy window, like a user's files

def fake_state(path):
    os.makedirs(path, exist_ok=True)
    for n in range(1, tasks + 1):
        with open(os.path.join(path, f"script-{n}"), "w") as f:
            f.write(f"write out/{n}.txt done\n")

def git_status(root, runs=7):
    s = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(["git", "-C", root, "status", "--porcelain"], stdout=subprocess.DEVNULL, check=True)
        s.append((time.perf_counter() - t) * 1000)
    return statistics.median(s)

for files in (1000, 100000):
    root = os.path.join(work, f"repo{files}")
    make(root, files)
    bindir = os.path.join(work, f"bin{files}")
    os.makedirs(bindir)
    os.symlink(fake, os.path.join(bindir, "codex"))
    # The fake agent alone, called the way autodev calls it (prompt on stdin).
    alone = os.path.join(work, f"alone{files}")
    fake_state(alone)
    scratch = os.path.join(work, f"scratch{files}")
    os.makedirs(scratch)
    t = time.perf_counter()
    for _ in range(tasks):
        subprocess.run([os.path.join(bindir, "codex")], input=b"prompt", cwd=scratch, check=True,
                       env=dict(os.environ, FAKE_AGENT_DIR=alone), stdout=subprocess.DEVNULL)
    agent_ms = (time.perf_counter() - t) * 1000 / tasks
    state = os.path.join(work, f"state{files}")
    fake_state(state)
    env = dict(os.environ, FAKE_AGENT_DIR=state, PATH=bindir + ":" + os.environ["PATH"])
    t = time.perf_counter()
    r = subprocess.run([binary, "run", "--quiet"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    total_ms = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"run failed ({r.returncode}): {r.stderr.decode()[-2000:]}")
    per_task = total_ms / tasks
    overhead = per_task - agent_ms
    gs = git_status(root)
    print(f"{files:>6} files: {per_task:7.1f} ms per task, fake agent alone {agent_ms:5.1f} ms "
          f"-> orchestrator {overhead:6.1f} ms per task | git status {gs:6.1f} ms "
          f"({overhead / gs:.2f}x)")
PY
