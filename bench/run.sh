#!/usr/bin/env bash
# Orchestrator overhead of `autodev run`: 50 tasks worked by an instant fake agent (it writes one
# file and exits), on a committed repository of 1,000 and of 100,000 files. The figure is the
# run's wall time per task minus the fake agent's own time per call (measured alone), shown
# beside `git status --porcelain` on the same tree.
# Targets (issue 6): <= 15 ms per task at 1,000 files (the original: about 420 ms);
# within 3x a `git status` per task at 100,000 files. Memory (issue 31): the run's peak RSS, and
# its RSS once task 1, 100 and 500 completed (flat across a night), polled from /proc; targets
# <= 20 MiB at 1,000 files and <= 40 MiB at 100,000.
#
# Usage: bench/run.sh [TASKS] [FILES...]   (default 50 tasks, on 1000 and 100000 files)
# AUTODEV_ISOLATION=in-place measures run.isolation = "in-place" instead of the default worktree.
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${1:-50}
sizes="${*:2}"
sizes="${sizes:-1000 100000}"
# AUTODEV_BIN: measure that binary (another commit's build) instead of this tree's.
if [ -z "${AUTODEV_BIN:-}" ]; then
    cargo build --release --quiet
fi
bin="${AUTODEV_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/autodev}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The scripted fake agent is a hidden subcommand of autodev itself.
fake="$work/fake-agent"
printf '#!/bin/sh\nexec "%s" __fake-agent codex "$@"\n' "$bin" > "$fake"
chmod +x "$fake"

python3 - "$work" "$tasks" "$bin" "$fake" "$sizes" "${AUTODEV_ISOLATION:-worktree}" <<'PY'
import json, os, statistics, subprocess, sys, time
work, tasks, binary, fake = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sizes = [int(n) for n in sys.argv[5].split()]
isolation = sys.argv[6]

def make(root, files):
    os.makedirs(root)
    for i in range(files):
        d = os.path.join(root, "src", f"m{i // 1000:03d}", f"d{(i // 100) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.rs"), "w") as f:
            f.write(f"// file {i}\n")
    with open(os.path.join(root, "autodev.toml"), "w") as f:
        f.write('[project]\nname = "bench"\n[run]\ndelay_between_tasks = 0\n'
                f'isolation = "{isolation}"\n'
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

def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None

def watch_memory(proc, journal):
    """The run's peak RSS (VmHWM) and its RSS when task 1, 100 and 500 had completed, from
    /proc, polled while the run goes (the journal says how many tasks completed)."""
    marks, at, done, offset, peak = [1, 100, 500], {}, 0, 0, 0
    while proc.poll() is None:
        hwm = status_kib(proc.pid, "VmHWM")
        if hwm:
            peak = max(peak, hwm)
        try:
            with open(journal, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[:chunk.rfind(b"\n") + 1]
            offset += len(complete)
            done += complete.count(b'"type":"task_completed"')
        except OSError:
            pass
        while marks and done >= marks[0]:
            now = status_kib(proc.pid, "VmRSS")
            if now:
                at[marks[0]] = now
            marks.pop(0)
        time.sleep(0.02)
    return {"peak": peak, "at": at}

for files in sizes:
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
    proc = subprocess.Popen([binary, "run", "--quiet"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rss = watch_memory(proc, os.path.join(root, "logs", "events.jsonl"))
    err = proc.stderr.read()
    code = proc.wait()
    total_ms = (time.perf_counter() - t) * 1000
    if code != 0:
        sys.exit(f"run failed ({code}): {err.decode()[-2000:]}")
    per_task = total_ms / tasks
    overhead = per_task - agent_ms
    gs = git_status(root)
    print(f"{files:>6} files, {isolation}: {per_task:7.1f} ms per task, fake agent alone {agent_ms:5.1f} ms "
          f"-> orchestrator {overhead:6.1f} ms per task | git status {gs:6.1f} ms "
          f"({overhead / gs:.2f}x)")
    marks = ", ".join(f"after task {n}: {kib / 1024:.1f}" for n, kib in sorted(rss["at"].items()))
    print(f"{'':>6}        RSS (MiB): peak {rss['peak'] / 1024:.1f}; {marks}")
PY
