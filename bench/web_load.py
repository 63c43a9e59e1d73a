"""Load for `autodev web`, driven by bench/web.sh: starts the server on prepared projects and
prints p50/p99 latency, RSS and CPU for an idle server, 1,000 projects, 200 live streams during a
run, streams that never read, and 1,500 slow connections."""
import asyncio, json, os, resource, socket, statistics, subprocess, sys, time

BIN, WORK = sys.argv[1], sys.argv[2]
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
TICK = os.sysconf("SC_CLK_TCK")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


class Server:
    def __init__(self, env):
        self.proc = subprocess.Popen([BIN, "web", "--port", "0"], env=env, cwd=WORK,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip().removeprefix("autodev web: ")
        self.base, self.token = line.split("/?token=")
        self.host, self.port = self.base.removeprefix("http://").rsplit(":", 1)
        self.port = int(self.port)

    def cpu(self):
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def mem(self, key):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_over(self, seconds):
        c0, t0 = self.cpu(), time.time()
        time.sleep(seconds)
        return 100 * (self.cpu() - c0) / (time.time() - t0)

    def request(self, path):
        s = socket.create_connection((self.host, self.port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                  f"Authorization: Bearer {self.token}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
        s.close()
        return data

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def timed_gets(server, path, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        server.request(path)
        times.append(1000 * (time.perf_counter() - t))
    return times


async def sse_client(server, path, got, stop):
    r, w = await asyncio.open_connection(server.host, server.port)
    w.write(f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
            f"Authorization: Bearer {server.token}\r\n\r\n".encode())
    await w.drain()
    while not stop.is_set():
        try:
            line = await asyncio.wait_for(r.readline(), 0.5)
        except asyncio.TimeoutError:
            continue
        if not line:
            break
        if line.startswith(b'data: {"v":1,"seq":') and b'"bench"' in line:
            event = json.loads(line[6:])
            got.append((event["seq"], time.time() - event["t"]))
    w.close()


async def live(server, journal, clients, events):
    stop = asyncio.Event()
    results = [[] for _ in range(clients)]
    path = f"/api/projects/{project_id(server)}/stream"
    tasks = [asyncio.create_task(sse_client(server, path, results[i], stop)) for i in range(clients)]
    await asyncio.sleep(2)
    c0, t0 = server.cpu(), time.time()
    with open(journal, "a") as f:
        for n in range(events):
            f.write(json.dumps({"v": 1, "seq": 10_000 + n, "run_id": "bench", "type": "bench",
                                "t": time.time()}, separators=(",", ":")) + "\n")
            f.flush()
            await asyncio.sleep(0.02)
    await asyncio.sleep(10)
    cpu = 100 * (server.cpu() - c0) / (time.time() - t0)
    stop.set()
    await asyncio.gather(*tasks)
    delays = [1000 * d for r in results for _, d in r]
    lost = sum(events - len({s for s, _ in r}) for r in results)
    dup = sum(len(r) - len({s for s, _ in r}) for r in results)
    return delays, lost, dup, cpu


def project_id(server):
    return json.loads(server.request("/api/projects").split(b"\r\n\r\n", 1)[1])["projects"][0]["id"]


def row(name, figure, before):
    print(f"  {name:<58} {figure:<26} {before}")


def main():
    env = dict(os.environ, HOME=f"{WORK}/home", XDG_STATE_HOME=f"{WORK}/one")
    print(f"  {'figure':<58} {'now':<26} before (issue 27)")

    server = Server(env)
    time.sleep(2)
    row("idle, one project, no client: CPU", f"{server.cpu_over(10):.2f} %", "~2 %")
    row("idle: RSS", f"{server.mem('VmRSS'):.1f} MiB", "")
    times = timed_gets(server, "/api/projects", 50)
    row("GET /api/projects, one project: p50 / p99", f"{pct(times, .5):.1f} / {pct(times, .99):.1f} ms", "")

    journal = f"{WORK}/p0/logs/events.jsonl"
    delays, lost, dup, cpu = asyncio.run(live(server, journal, 200, 1000))
    row("200 live streams, 1,000 events at 50/s: delay p50 / p99",
        f"{pct(delays, .5):.0f} / {pct(delays, .99):.0f} ms", "p99 439 ms")
    row("  lost / duplicated events (of 200,000)", f"{lost} / {dup}", "0 / 0")
    row("  CPU during the run", f"{cpu:.0f} %", "")
    row("  peak RSS", f"{server.mem('VmHWM'):.1f} MiB", "")

    # Streams that never read, and a 40 MB burst.
    socks = []
    for _ in range(100):
        s = socket.create_connection((server.host, server.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET /api/projects/{project_id(server)}/stream HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                  f"Authorization: Bearer {server.token}\r\n\r\n".encode())
        socks.append(s)
    time.sleep(1)
    pad = "x" * 900
    with open(journal, "a") as f:
        for n in range(40_000):
            f.write(json.dumps({"v": 1, "seq": 100_000 + n, "run_id": "burst", "type": "x", "pad": pad}) + "\n")
    time.sleep(5)
    rss = server.mem("VmRSS")
    # The server letting go of them is seen in its descriptors (the client side sees its end
    # only after reading what was in flight).
    fds = lambda: len(os.listdir(f"/proc/{server.proc.pid}/fd"))
    holding = fds()
    t0 = time.time()
    open_after = None
    while time.time() - t0 < 40:
        if fds() <= holding - len(socks):
            open_after = time.time() - t0 + 5
            break
        time.sleep(0.5)
    row("100 streams that never read + 40 MB appended: RSS", f"{rss:.1f} MiB", "~1 GiB")
    row("  all 100 let go after", f"{open_after:.0f} s" if open_after else "not within 45 s", "never")
    for s in socks:
        s.close()
    server.stop()

    # 1,000 projects.
    env = dict(env, XDG_STATE_HOME=f"{WORK}/many")
    server = Server(env)
    time.sleep(2)
    times = timed_gets(server, "/api/projects", 20)
    row("1,000 projects: GET /api/projects p50 / p99", f"{pct(times, .5):.0f} / {pct(times, .99):.0f} ms", "1,500 ms")
    streams = []
    for _ in range(5):
        s = socket.create_connection((server.host, server.port))
        s.sendall(f"GET /api/stream HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                  f"Authorization: Bearer {server.token}\r\n\r\n".encode())
        streams.append(s)
    time.sleep(8)
    row("1,000 projects, five idle list streams: CPU", f"{server.cpu_over(10):.2f} %", "9 %")
    for s in streams:
        s.close()

    # 1,500 slow connections: a header begun and never finished.
    slow = []
    for _ in range(1500):
        try:
            s = socket.create_connection((server.host, server.port))
            s.sendall(b"GET / HTTP/1.1\r\n")
            slow.append(s)
        except OSError:
            break
    t = time.perf_counter()
    waited = None
    while time.perf_counter() - t < 30:
        try:
            server.request("/api/projects")
            waited = time.perf_counter() - t
            break
        except OSError:
            time.sleep(0.1)
    t0 = time.time()
    for s in slow:
        s.setblocking(False)
    still = len(slow)
    while still and time.time() - t0 < 30:
        time.sleep(0.5)
        still = sum(1 for s in slow if _open(s))
    row("1,500 slow connections: the token holder answered after", f"{waited:.1f} s" if waited else "never (30 s)", "")
    row("  still open after 30 s", f"{still}", "1,500 for 75 s")
    for s in slow:
        s.close()
    server.stop()


def _open(s):
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


main()
