#!/usr/bin/env bash
# The journal and the views built on it (issue 28): the append rate of the journal's writer, and
# how long `autodev status`, `autodev list` and `autodev web`'s answers take on a project of
# 1,000 tasks with a 1,000-task run's status file. For recovery's reading see bench/recovery.sh.
#
# Usage: bench/journal.sh [BEFORE_BINARY]
#   With an autodev binary built from an earlier commit, its view figures are printed beside.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example journal_append
cargo build --release --quiet
target="${CARGO_TARGET_DIR:-$PWD/target}"
bin="$target/release/autodev"
before="${1:-}"
work=$(mktemp -d)
trap 'tmux -L autodev-bench kill-server 2>/dev/null || true; rm -rf "$work"' EXIT

echo "journal append (fsync where a restart depends on the line):"
"$target/release/examples/journal_append" "$work" 20000

python3 - "$work" "$bin" "$before" <<'PY'
import json, os, socket, statistics, subprocess, sys, time
work, new, old = sys.argv[1], sys.argv[2], sys.argv[3]
root = f"{work}/project"
os.makedirs(f"{root}/logs")
with open(f"{root}/autodev.toml", "w") as f:
    f.write('[project]\nname = "bench"\n')
tasks = [{"id": f"T{n}", "title": f"task {n}", "passes": n % 2 == 0,
          "verification": {"path_patterns": [f"out/{n}.txt"]}} for n in range(1000)]
with open(f"{root}/task.json", "w") as f:
    json.dump({"tasks": tasks}, f)
env = dict(os.environ, HOME=f"{work}/home", XDG_STATE_HOME=f"{work}/state", TMUX_TMPDIR=work)
os.makedirs(f"{work}/home")

def status_file(binary):
    # A status file as a finished 1,000-task run leaves it: written by the binary's own status.
    out = subprocess.run([binary, "status", "--json"], cwd=root, env=env, capture_output=True, check=True)
    snap = json.loads(out.stdout)
    snap["run"]["status"] = "completed"
    with open(f"{root}/logs/runtime-status.json", "w") as f:
        json.dump(snap, f)

def timed(argv, n=15):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)

def web(binary):
    p = subprocess.Popen([binary, "web", "--port", "0"], cwd=root, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip().removeprefix("autodev web: ")
    base, token = (line.split("/?token=") + [""])[:2]
    host, port = base.removeprefix("http://").rsplit(":", 1)
    def get(path):
        s = socket.create_connection((host, int(port)))
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
        s.close()
        return data
    pid = json.loads(get("/api/projects").split(b"\r\n\r\n", 1)[1])["projects"][0]["id"]
    out = {}
    for name, path in (("GET /api/projects", "/api/projects"), ("GET /api/projects/{id}", f"/api/projects/{pid}"),
                       ("GET /projects/{id}/dashboard.html", f"/projects/{pid}/dashboard.html"), ("GET /api/projects/{id}/tasks", f"/api/projects/{pid}/tasks")):
        times = []
        for _ in range(15):
            t = time.perf_counter()
            get(path)
            times.append(1000 * (time.perf_counter() - t))
        out[name] = statistics.median(times)
    p.terminate(); p.wait()
    return out

def figures(binary):
    subprocess.run([binary, "init"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status_file(binary)
    got = {"autodev status": timed([binary, "status"]), "autodev status --json": timed([binary, "status", "--json"]),
           "autodev list --json": timed([binary, "list", "--json"])}
    got.update(web(binary))
    return got

now = figures(new)
then = figures(old) if old else {}
print("\nviews of a 1,000-task project (median of 15, ms):")
print(f"  {'':<34} {'now':>8} {'before' if then else '':>8}")
for name, ms in now.items():
    print(f"  {name:<34} {ms:>8.1f} {then[name] if name in then else '':>8}" if not then else
          f"  {name:<34} {ms:>8.1f} {then[name]:>8.1f}")
PY
