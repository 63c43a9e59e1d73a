#!/usr/bin/env bash
# What running an experiment in worktrees of its own costs the orchestrator: a whole
# `autodev run` of a one-iteration experiment with an instant agent and an instant benchmark,
# sequential (repeats = 1: one worktree) and interleaved (repeats = 3: two worktrees, A/A and
# three pairs), on committed repositories of 1,000 and 100,000 files, beside `git status` and
# one `git worktree add` of the same tree (the checkout every experiment pays once per tree).
#
# Usage: bench/worktree.sh [RUNS] [FILES...]   (default 3 runs, the median printed; 1000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
sizes=("$@")
if [ ${#sizes[@]} -eq 0 ]; then sizes=(1000 100000); fi
cargo build --release --quiet
bin="$PWD/target/release/autodev"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$runs" "$bin" "${sizes[@]}" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
work, runs, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sizes = [int(n) for n in sys.argv[4:]]
env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
           GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")

def git(root, *args):
    subprocess.run(["git", "-C", root, *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def make(root, files, repeats):
    os.makedirs(root)
    for i in range(files):
        d = os.path.join(root, "src", f"m{i // 1000:03d}", f"d{(i // 100) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.rs"), "w") as f:
            f.write(f"// file {i}\n")
    with open(os.path.join(root, "speed.txt"), "w") as f:
        f.write("120\n")
    agent = ["sh", "-c", "echo 100 > speed.txt"]
    with open(os.path.join(root, "autodev.toml"), "w") as f:
        f.write('[project]\nname = "bench"\n[run]\ndelay_between_tasks = 0\n'
                '[reflection]\nenabled = false\n[backend]\ndefault = "command"\n'
                f'[backend.command]\nargv = {json.dumps(agent)}\n')
    queue = {"tasks": [{"id": "E1", "title": "faster",
        "verification": {"path_patterns": ["speed.txt"],
                         "validate_commands": ['echo "METRIC latency=$(cat speed.txt)"']},
        "completion": {"kind": "numeric", "source": "metric_lines", "name": "latency",
                       "direction": "lower_is_better", "repeats": repeats},
        "execution": {"strategy": "iterative", "max_iterations": 1}}]}
    with open(os.path.join(root, "task.json"), "w") as f:
        json.dump(queue, f)
    with open(os.path.join(root, ".gitignore"), "w") as f:
        f.write("logs/\nTASK.md\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tree")
    git(root, "status", "--porcelain")

def timed(fn):
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000

print(f"median of {runs} run(s); times in ms; 'worktree add' as autodev runs it (8 checkout workers)", flush=True)
print(f"{'files':>7}  {'git status':>10}  {'worktree add':>12}  {'worktree remove':>15}  {'experiment, repeats 1':>21}  {'experiment, repeats 3':>21}", flush=True)
for files in sizes:
    base = os.path.join(work, f"base{files}")
    make(base, files, 1)
    status = statistics.median(timed(lambda: git(base, "status", "--porcelain")) for _ in range(5))
    def add_remove():
        path = os.path.join(work, "wt")
        add = timed(lambda: git(base, "-c", "checkout.workers=8", "worktree", "add", "-q", "--detach", path, "HEAD"))
        remove = timed(lambda: git(base, "worktree", "remove", "--force", path))
        return add, remove
    pairs = [add_remove() for _ in range(runs)]
    add = statistics.median(a for a, _ in pairs)
    remove = statistics.median(r for _, r in pairs)
    cells = []
    for repeats in (1, 3):
        times = []
        for r in range(runs):
            root = os.path.join(work, f"repo{files}-{repeats}-{r}")
            make(root, files, repeats)
            def run():
                out = subprocess.run([binary, "run", "--quiet"], cwd=root,
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if out.returncode != 0:
                    sys.exit(f"the run failed ({out.returncode}):\n{out.stderr}")
            times.append(timed(run))
            shutil.rmtree(root)
        cells.append(statistics.median(times))
    print(f"{files:>7}  {status:>10.1f}  {add:>12.1f}  {remove:>15.1f}  {cells[0]:>21.1f}  {cells[1]:>21.1f}", flush=True)
PY
