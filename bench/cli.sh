#!/usr/bin/env bash
# Startup and listing speed of the autodev binary, each figure beside an anchor measured the
# same way on the same machine. Usage: bench/cli.sh [runs]   (default 30 runs per command)
#
# Targets (issue 2): `autodev --help` median <= 5 ms; `task list` and `status` on a
# 1,000-task task.json median <= 10 ms. The Python original: 140 ms, 322 ms, 354 ms.
# Also `autodev web`'s answers for that project (issue 28), beside the same server's list of
# projects, measured over keep-alive connections.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
cargo build --release --locked -q
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/autodev"
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

# autodev web on the same project, registered in a registry of its own.
import http.client, json, tempfile
state = tempfile.mkdtemp()
os.makedirs(f"{state}/autodev")
with open(f"{state}/autodev/projects.json", "w") as f:
    json.dump({"version": 1, "projects": [{
        "root": work, "config": f"{work}/autodev.toml", "name": "bench",
        "log_dir": f"{work}/logs", "sessions": []}]}, f)
env = dict(os.environ, XDG_STATE_HOME=state, HOME=state)
server = subprocess.Popen([binary, "web", "--port", "0"], env=env, cwd=work,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
try:
    base, token = server.stdout.readline().strip().removeprefix("autodev web: ").split("/?token=")
    host, port = base.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    def get(path):
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        reply = conn.getresponse()
        body = reply.read()
        assert reply.status == 200, (path, reply.status, body[:200])
        return body
    pid = json.loads(get("/api/projects"))["projects"][0]["id"]
    def web(path):
        samples = []
        for _ in range(runs + 3):
            start = time.perf_counter()
            get(path)
            samples.append((time.perf_counter() - start) * 1000)
        samples = samples[3:]
        return statistics.median(samples), min(samples), max(samples)
    for name, path in [
        ("anchor: web GET /api/projects (1 project)", "/api/projects"),
        ("web GET /api/projects/{id} (1,000 tasks)", f"/api/projects/{pid}"),
        ("web GET /api/projects/{id}/tasks (1,000 tasks)", f"/api/projects/{pid}/tasks"),
    ]:
        med, lo, hi = web(path)
        print(f"{name:<46} {med:8.2f} {lo:8.2f} {hi:8.2f}")
finally:
    server.terminate()
    server.wait()
PY
