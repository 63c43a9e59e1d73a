#!/usr/bin/env bash
# What working each task in a worktree of its own costs (issue 29): one `autodev run` of one
# delivery task with an instant agent and an instant check, on committed repositories of 1,000
# and 100,000 files: in place, in the worker's worktree the first time (it is made: a checkout of
# every file), and again once the worktree exists (it is moved to the next task's start: only
# what differs is written). Beside `git status` and one `git worktree add` of the same tree.
#
# Usage: bench/isolation.sh [RUNS] [FILES...]   (default 3 runs, the median printed; 1000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
sizes=("$@")
if [ ${#sizes[@]} -eq 0 ]; then sizes=(1000 100000); fi
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/autodev"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$runs" "$bin" "${sizes[@]}" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
work, runs, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sizes = [int(n) for n in sys.argv[4:]]
env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
           GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b", GIT_CONFIG_GLOBAL="/dev/null")

def git(root, *args):
    subprocess.run(["git", "-C", root, *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def make(root, files, isolation, tasks):
    os.makedirs(root)
    for i in range(files):
        d = os.path.join(root, "src", f"m{i // 1000:03d}", f"d{(i // 100) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.rs"), "w") as f:
            f.write(f"// file {i}\n")
    # The agent writes the file its task names (the prompt carries the description).
    agent = ["sh", "-c", 'n=$(grep -o "res-[0-9][0-9]*" | head -1); echo done > "$n.txt"']
    with open(os.path.join(root, "autodev.toml"), "w") as f:
        f.write('[project]\nname = "bench"\n[run]\ndelay_between_tasks = 0\n'
                f'isolation = "{isolation}"\n'
                '[reflection]\nenabled = false\n[backend]\ndefault = "command"\n'
                f'[backend.command]\nargv = {json.dumps(agent)}\n')
    queue = {"tasks": [{"id": f"T{n}", "title": f"write res-{n}",
                        "description": f"Write res-{n}.txt",
                        "verification": {"path_patterns": [f"res-{n}.txt"],
                                         "validate_commands": [f"test -f res-{n}.txt"]}}
                       for n in range(1, tasks + 1)]}
    with open(os.path.join(root, "task.json"), "w") as f:
        json.dump(queue, f)
    with open(os.path.join(root, ".gitignore"), "w") as f:
        f.write("logs/\nTASK.md\nprogress.txt\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tree")
    git(root, "status", "--porcelain")

def timed(argv, cwd):
    start = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{argv} failed in {cwd}:\n{r.stderr[-2000:]}")
    return took

def done(root, n):
    return json.load(open(os.path.join(root, "task.json")))["tasks"][n - 1].get("passes") is True

print(f"median of {runs} run(s); seconds")
print(f"{'files':>8} {'git status':>11} {'worktree add':>13} {'in place':>9} "
      f"{'worktree, first':>16} {'worktree, reused':>17}")
for files in sizes:
    status, add, inplace, first, reused = [], [], [], [], []
    for r in range(runs):
        base = os.path.join(work, f"{files}-{r}")
        a = base + "-inplace"
        make(a, files, "in-place", 1)
        status.append(timed(["git", "status", "--porcelain"], a))
        add.append(timed(["git", "worktree", "add", "-q", "--detach", a + "-wt"], a))
        inplace.append(timed([binary, "run", "--max-tasks", "1"], a))
        b = base + "-worktree"
        make(b, files, "worktree", 2)
        first.append(timed([binary, "run", "--max-tasks", "1"], b))
        reused.append(timed([binary, "run", "--max-tasks", "1"], b))
        if not (done(a, 1) and done(b, 1) and done(b, 2)):
            raise SystemExit("a task did not complete")
        for d in (a, a + "-wt", b):
            shutil.rmtree(d, ignore_errors=True)
    m = statistics.median
    print(f"{files:>8} {m(status):>11.3f} {m(add):>13.3f} {m(inplace):>9.3f} "
          f"{m(first):>16.3f} {m(reused):>17.3f}")
PY
