#!/usr/bin/env python3
"""Parley against the Node original, on the same load, in the same run.

    python3 bench/run.py --build build-bench [--rounds 3] [--quick] [--room5000]

Runs the floor (bench/floor), the generator's own ceiling against the sink,
then ROUNDS rounds of every scenario against Parley and the Node reference,
alternating which goes first, each against a fresh server. Servers listen on
127.0.0.1 on a free port, are pinned to one core and the generator to
another (when the machine has two), and are stopped by their PID. Every
step has a timeout. Writes bench/results/<date>.md and prints it.
See bench/README.md and docs/performance.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Messages/s sent into the room; deliveries/s = rate x members.
LADDER_1000 = [10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 700, 1000, 1400, 2000, 2800, 4000,
               5600, 8000, 11000, 16000]
LADDER_5000 = [2, 5, 10, 15, 20, 30, 40, 60, 80, 100, 140, 200, 280, 400, 560, 800]
# The one shipped limit lifted: socketio's event_rate (50 events/s per
# connection) would cap 10 senders at 500 messages/s; the Node original has
# no such limit. The per-address limits stay as shipped: the generator
# spreads its clients over loopback source addresses (--per-source 100).
PARLEY_BENCH_ENV = {"PARLEY_SIO_EVENT_RATE": "0"}
LADDER_SINK = [500, 1000, 2000, 4000, 8000, 12000, 16000]
# Fan-out over Engine.IO long-polling: a room of POLL_MEMBERS polling
# clients. A long poll carries everything queued for a client, so both servers
# go much further than on WebSocket (at 12:08: Parley passed 32 000 msg/s,
# Node 3 000).
POLL_MEMBERS = 300
LADDER_POLL = [100, 500, 1000, 2000, 3000, 5000, 8000, 11000, 16000, 22000, 32000, 45000, 64000]
# The memory figure at 50 000 (memmax): listener.max_connections (10 000 as
# shipped) is lifted in a derived config, and RLIMIT_NOFILE in the server and
# the generator. Raising a hard limit needs CAP_SYS_RESOURCE; without it
# (root in a container may lack it) the scenario runs at the most clients the
# hard limit leaves room for, and the report says so.
MEM_CLIENTS = 50000
MEM_NOFILE = 60000
# Scenarios run in the first round only (slow on Node, and RSS hardly varies).
FIRST_ROUND_ONLY = {"memmax"}


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, proc, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(proc, timeout=15.0):
    """SIGTERM by PID, then SIGKILL; always reaped."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Bench:
    def __init__(self, args):
        self.a = args
        self.build = os.path.abspath(args.build)
        self.tools = os.path.join(self.build, "bench")
        self.parley = os.path.join(self.build, "bin", "parley")
        self.refdir = os.path.join(self.tools, "reference")
        ncpu = os.cpu_count() or 1
        self.pin_server = ["taskset", "-c", "0"] if ncpu >= 2 and shutil.which("taskset") else []
        self.pin_gen = ["taskset", "-c", "1"] if ncpu >= 2 and shutil.which("taskset") else []
        self.tmp = tempfile.mkdtemp(prefix="parley-bench-")
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.shm = tempfile.mkdtemp(prefix="parley-bench-", dir=shm)
        self.deadline = time.time() + args.budget

    # -- servers ---------------------------------------------------------
    def start(self, kind, disk=False, config=None, env_extra=None, nofile=None):
        port = free_port()
        errpath = os.path.join(self.tmp, f"{kind}-{port}.log")
        err = open(errpath, "w")
        pre = raise_nofile(nofile) if nofile else None
        if kind == "parley":
            data = tempfile.mkdtemp(dir=self.tmp if disk else self.shm)
            env = dict(os.environ, PARLEY_HOST="127.0.0.1", PARLEY_PORT=str(port),
                       PARLEY_DATA=data, PARLEY_LOG_LEVEL="warn", **PARLEY_BENCH_ENV, **(env_extra or {}))
            cmd = self.pin_server + [self.parley, "--config", config or os.path.join(ROOT, "configs", "parley.yaml")]
            proc = subprocess.Popen(cmd, env=env, stdout=err, stderr=err, cwd=self.tmp, preexec_fn=pre)
        else:
            env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), NODE_ENV="production")
            cmd = self.pin_server + ["node", "server.js"]
            proc = subprocess.Popen(cmd, env=env, stdout=err, stderr=err, cwd=self.refdir, preexec_fn=pre)
        if not wait_listening(port, proc):
            stop(proc)
            raise RuntimeError(f"{kind} did not start; see {errpath}: {open(errpath).read()[-400:]}")
        return proc, port

    def derived_config(self, src, name, edits):
        """A copy of configs/<src> in the run's temp dir with (regex, replacement) edits."""
        txt = open(os.path.join(ROOT, "configs", src)).read()
        for pat, repl in edits:
            txt, n = re.subn(pat, repl, txt, count=1, flags=re.M)
            if n != 1:
                raise RuntimeError(f"configs/{src}: {pat!r} not found")
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(txt)
        return path

    def start_congo(self):
        """CongoDB (tests/mongo: a MongoDB wire-protocol server in JavaScript,
        in memory), installed into the build dir once, on a free port."""
        dest = os.path.join(self.tools, "mongo")
        marker = os.path.join(dest, "node_modules", "@push.rocks", "smartmongo", "dist_ts", "congodb", "index.js")
        if not os.path.exists(marker):
            log("installing CongoDB (tests/mongo/install.sh) into", dest)
            subprocess.run(["sh", os.path.join(ROOT, "tests", "mongo", "install.sh"), dest], check=True,
                           stdout=sys.stderr, timeout=300)
        port = free_port()
        pf = os.path.join(self.tmp, f"congo-{port}.port")
        logpath = os.path.join(self.tmp, f"congo-{port}.log")
        logf = open(logpath, "w")
        # On the server's core: the database is part of what the server core
        # carries, and the generator's core stays its own.
        cmd = self.pin_server + ["node", os.path.join(ROOT, "tests", "mongo", "congo.js"), "--port", str(port),
                                 "--modules", os.path.join(dest, "node_modules"), "--port-file", pf,
                                 "--watch-pid", str(os.getpid())]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        end = time.time() + 15
        while time.time() < end and proc.poll() is None and not os.path.exists(pf):
            time.sleep(0.05)
        if not os.path.exists(pf):
            stop(proc)
            raise RuntimeError(f"CongoDB did not start; see {logpath}: {open(logpath).read()[-400:]}")
        return proc, port

    # -- tools -----------------------------------------------------------
    def loadgen(self, mode, port, pid, extra, timeout, nofile=None):
        cmd = self.pin_gen + [os.path.join(self.tools, "loadgen"), mode, "--port", str(port),
                              "--server-pid", str(pid)] + [str(x) for x in extra]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                               preexec_fn=raise_nofile(nofile) if nofile else None)
        except subprocess.TimeoutExpired as e:
            log(f"loadgen {mode} timed out after {timeout}s")
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            return [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        if r.stderr.strip():
            log(f"loadgen {mode}: {r.stderr.strip()[:300]}")
        return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]

    def wrk(self, port, path, script=None, seconds=5, conns=50):
        if not shutil.which("wrk"):
            return None
        cmd = self.pin_gen + ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "2s"]
        if script:
            cmd += ["-s", script]
        cmd.append(f"http://127.0.0.1:{port}{path}")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
        m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
        p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)", r.stdout, re.M)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
        if not m:
            log("wrk:", r.stdout[-300:], r.stderr[-300:])
            return None
        scale = {"us": 1, "ms": 1000, "s": 1e6}
        return {"rps": float(m.group(1)),
                "p99_us": float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
                "non2xx": int(non2xx.group(1)) if non2xx else 0}

    # -- scenarios -------------------------------------------------------
    def floor(self):
        cmd = self.pin_server + [os.path.join(self.tools, "floor"), "--conns", "1000",
                                 "--per-send", "1,2,4,8,16,32,64", "--frames", str(self.a.floor_frames)]
        if self.pin_gen:
            cmd += ["--reader-cpu", "1"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]

    def sink(self):
        port = free_port()
        proc = subprocess.Popen(self.pin_server + [os.path.join(self.tools, "sink"), "--port", str(port)])
        try:
            if not wait_listening(port, proc):
                return []
            return self.loadgen("fanout", port, proc.pid,
                                ["--clients", 1000, "--senders", 10, "--step-ms", self.a.step_ms,
                                 "--rates", ",".join(map(str, LADDER_SINK))], 120)
        finally:
            stop(proc)

    def fanout(self, kind, members, ladder):
        proc, port = self.start(kind)
        try:
            return self.loadgen("fanout", port, proc.pid,
                                ["--clients", members, "--senders", 10, "--step-ms", self.a.step_ms,
                                 "--drain-ms", 2000, "--timeout-ms", 240000,
                                 "--metrics", 1 if kind == "parley" else 0,
                                 "--rates", ",".join(map(str, ladder))], 600)
        finally:
            stop(proc)

    def fanout_polling(self, kind):
        proc, port = self.start(kind)
        try:
            return self.loadgen("fanout", port, proc.pid,
                                ["--transport", "polling", "--clients", POLL_MEMBERS, "--senders", 10,
                                 "--step-ms", self.a.step_ms, "--drain-ms", 2000, "--timeout-ms", 60000,
                                 "--rates", ",".join(map(str, LADDER_POLL))], 300)
        finally:
            stop(proc)

    def ramp(self, kind, clients, room_size, idle):
        proc, port = self.start(kind)
        try:
            return self.loadgen("idle" if idle else "ramp", port, proc.pid,
                                ["--clients", clients, "--room-size", room_size, "--concurrency", 256,
                                 "--hold-ms", 3000, "--drain-ms", 4000, "--timeout-ms", 120000], 300)
        finally:
            stop(proc)

    def memmax(self, kind):
        """The idle memory figure at MEM_CLIENTS, or at the most clients
        RLIMIT_NOFILE allows: the only limits lifted are
        listener.max_connections (derived config) and RLIMIT_NOFILE."""
        nofile, clients = mem_plan()
        config = None
        if kind == "parley":
            # the listener raises its soft limit to max_connections + 128
            config = self.derived_config("parley.yaml", "parley-memmax.yaml",
                                         [(r"^(\s*max_connections:\s*)\d+", rf"\g<1>{clients + 500}")])
        proc, port = self.start(kind, config=config, nofile=nofile)
        try:
            r = self.loadgen("idle", port, proc.pid,
                             ["--clients", clients, "--room-size", 100, "--concurrency", 256,
                              "--hold-ms", 3000, "--drain-ms", 4000, "--timeout-ms", 150000], 300,
                             nofile=nofile)
            for x in r:
                x.update(nofile=nofile, max_connections=clients + 500 if kind == "parley" else None,
                         server_alive=proc.poll() is None)
            return r
        finally:
            stop(proc)

    def persist(self, kind):
        proc, port = self.start(kind, disk=True)
        try:
            return self.loadgen("persist", port, proc.pid,
                                ["--clients", 50, "--window", 4, "--duration-ms", self.a.persist_ms], 120)
        finally:
            stop(proc)

    def persist_mongo(self):
        """persist against Parley on configs/mongo.yaml and CongoDB. mongo.yaml
        has no PARLEY_SIO_EVENT_RATE hook, so the derived copy sets event_rate
        0 as the SQLite run does through the environment."""
        config = self.derived_config("mongo.yaml", "mongo-bench.yaml",
                                     [(r"^(\s*)- plugin: socketio\b.*\n\s*config:\n",
                                       r"\g<0>\g<1>    event_rate: 0\n")])
        db, dbport = self.start_congo()
        try:
            proc, port = self.start("parley", config=config,
                                    env_extra={"MONGODB_URI": f"mongodb://127.0.0.1:{dbport}/parley-bench"})
            try:
                r = self.loadgen("persist", port, proc.pid,
                                 ["--clients", 50, "--window", 4, "--duration-ms", self.a.persist_ms], 120)
                cpu = proc_cpu_s(db.pid)
                for x in r:
                    x["db_cpu_s"] = cpu
                return r
            finally:
                stop(proc)
        finally:
            stop(db)

    def rest(self, kind):
        proc, port = self.start(kind)
        try:
            script = os.path.join(ROOT, "bench", "wrk-post.lua")
            # seed a page of history so GET returns 50 real messages
            for i in range(60):
                body = json.dumps({"username": "seed", "content": f"seed {i}"}).encode()
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"POST /api/messages HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                          b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                while s.recv(65536):
                    pass
                s.close()
            get = self.wrk(port, "/api/messages?limit=50", seconds=self.a.wrk_s)
            post = self.wrk(port, "/api/messages", script=script, seconds=self.a.wrk_s)
            return {"get": get, "post": post}
        finally:
            stop(proc)


def raise_nofile(n):
    """A preexec_fn: RLIMIT_NOFILE soft and hard to n (root, or hard >= n)."""
    def pre():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return pre


def mem_plan():
    """(RLIMIT_NOFILE, clients) for memmax: MEM_NOFILE and MEM_CLIENTS when a
    child may raise its hard limit that far, else the hard limit as it is and
    the clients it leaves room for (1 000 fds to spare)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    probe = subprocess.run([sys.executable, "-c", "import resource; resource.setrlimit("
                            f"resource.RLIMIT_NOFILE, ({MEM_NOFILE}, {MEM_NOFILE}))"],
                           capture_output=True, timeout=30)
    if probe.returncode == 0:
        return MEM_NOFILE, MEM_CLIENTS
    if hard == resource.RLIM_INFINITY:
        hard = MEM_NOFILE
    return hard, min(MEM_CLIENTS, (hard - 1000) // 1000 * 1000)


def proc_cpu_s(pid):
    """utime + stime of a live process so far, in s; None when unreadable."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def floor_median(rounds):
    """The floor per frames-per-send value: the median of the rounds'
    measurements of it."""
    by_k = {}
    for fl in rounds:
        for f in fl:
            by_k.setdefault(f["frames_per_send"], []).append(f)
    out = []
    for k in sorted(by_k):
        fs = by_k[k]
        out.append({"frames_per_send": k, "measurements": len(fs),
                    **{key: med([f[key] for f in fs])
                       for key in ("us_per_frame", "us_per_send", "frames_per_s_cpu")}})
    return out


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def saturation(steps, limit_us=100000):
    """The highest passing step's deliveries/s before the ladder ended."""
    best = None
    for s in steps:
        if s.get("lost") or s.get("closed") or s["p99_us"] > limit_us:
            continue
        if best is None or s["rate"] > best["rate"]:
            best = s
    return best


def step_at(steps, rate):
    ok = [s for s in steps if s["rate"] == rate and not s.get("lost") and s["p99_us"] <= 100000]
    if ok:
        return ok[-1]
    same = [s for s in steps if s["rate"] == rate]
    return same[-1] if same else None


def fmt(v, unit="", nd=0):
    if v is None:
        return "—"
    if nd == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{nd}f}{unit}"


def ratio(a, b, nd=1):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.{nd}f}×"


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return "?"
    return {
        "nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
        "node": ver(["node", "--version"]),
        "libuv": ver(["pkg-config", "--modversion", "libuv"]),
        "ulimit_n": ver(["sh", "-c", "ulimit -n"]),
        "load": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else "?",
    }


def shipped_limits():
    txt = open(os.path.join(ROOT, "configs", "parley.yaml")).read()
    out = {}
    for key in ("send_queue_max", "max_connections", "max_message", "workers", "max_connections_per_ip",
                "connect_rate_per_ip", "connect_burst_per_ip", "client_memory_max", "event_rate"):
        m = re.search(rf"^\s*{key}:\s*(\S+)", txt, re.M)
        val = m.group(1) if m else "?"
        d = re.match(r"\$\{[A-Z_]+:-([^}]*)\}", val)   # ${VAR:-default}
        out[key] = d.group(1) if d else val
    return out


def mem_summary(res):
    """clients, nofile and max_connections of the memmax runs, or None."""
    for r in res["parley"].get("memmax", []) + res["node"].get("memmax", []):
        for x in r:
            if x.get("mode") == "idle":
                return {"clients": x["clients"], "nofile": x.get("nofile"),
                        "max_connections": x.get("max_connections") or x["clients"] + 500}
    return None


def report(res, started, elapsed, args):
    m = res["machine"]
    L = []
    w = L.append
    w(f"# Parley vs the Node original — {started:%Y-%m-%d %H:%M} UTC")
    w("")
    w(f"Machine: {m['nproc']} cores, {m['cpu']}, Linux {m['kernel']}; node {m['node']}, "
      f"libuv {m['libuv']} (own HTTP/WebSocket listener); ulimit -n {m['ulimit_n']}; "
      f"load average at start {' '.join(m['load'])}.")
    lim = res["limits"]
    g = lambda k: lim.get(k, "?")
    w(f"Parley: `make build` (RelWithDebInfo, no sanitizers), configs/parley.yaml as shipped: "
      f"listener send_queue_max {g('send_queue_max')}, max_connections {g('max_connections')}, "
      f"max_message {g('max_message')}, max_connections_per_ip {g('max_connections_per_ip')}, "
      f"connect_rate_per_ip {g('connect_rate_per_ip')}/s (burst {g('connect_burst_per_ip')}), "
      f"client_memory_max {g('client_memory_max')}, server.workers {g('workers')}, SQLite synchronous full; "
      f"one limit lifted: socketio event_rate {g('event_rate')}/s per connection → 0 (no limit, as in Node; "
      f"it would cap 10 senders at 500 msg/s). The generator spreads its clients over loopback source "
      f"addresses, 100 per address, so the per-address limits apply as shipped. "
      f"Node: bench/reference (Express 4.21.2 + socket.io 4.8.1, messages in memory).")
    w("The machine is shared with other work (builds, test suites, fuzzers of the same project): "
      "the last column of the fan-out table is the CPU that neither the server nor the generator used, "
      "in % of one core (out of 200 %); steps measured beside a busy neighbour are slower and noisier.")
    w(f"Server pinned to core 0, generator (bench/loadgen, wrk) to core 1. {res.get('rounds', args.rounds)} rounds, "
      f"Parley and Node alternating, medians of the rounds; {(f'{elapsed / 60:.1f} min' if elapsed else '—')} in all. "
      f"Data directory: tmpfs for every scenario except persistence (disk, fsync on every commit).")
    P, N = res["parley"], res["node"]
    ladder_poll = res.get("ladder_poll", LADDER_POLL)
    if P.get("fanout-polling") or N.get("fanout-polling"):
        w(f"Fan-out over long-polling: {POLL_MEMBERS} Engine.IO polling clients (each a keep-alive GET connection "
          f"holding the long poll and a POST connection, one POST at a time, packets queued meanwhile go in the "
          f"next one, as engine.io-client does), 10 of them senders; same step, retry and p99/loss rule.")
    mm = mem_summary(res)
    if mm:
        why = ("" if mm["clients"] >= MEM_CLIENTS else
               f" ({MEM_CLIENTS:,} was not possible: RLIMIT_NOFILE could not be raised past its hard limit "
               f"{mm['nofile']:,} here, no CAP_SYS_RESOURCE; {mm['clients']:,} is what that limit leaves room for)")
        w(f"Memory at {mm['clients']:,}{why}, first round only: the ramp10000 measurement with more clients "
          f"(rooms of 100, idle 3 s); limits lifted for it alone: Parley's listener.max_connections "
          f"10 000 → {mm['max_connections']:,} (a derived copy of configs/parley.yaml), and RLIMIT_NOFILE "
          + (f"{mm['nofile']:,} (soft and hard) for the server and the generator." if mm["clients"] >= MEM_CLIENTS
             else f"left at {mm['nofile']:,} (soft = hard) for the server and the generator."))
    if P.get("persist-mongo"):
        w("Persistence through MongoDB: Parley on configs/mongo.yaml (write concern majority, journal) with "
          "socketio event_rate 0 as above, against CongoDB (tests/mongo: a MongoDB wire-protocol server written "
          "in JavaScript, in memory, on the server's core), not mongod: the figure bounds the mongo plugin from "
          "below. Parley only (Node's persistence row is its in-memory figure).")
    w("")

    def series(d, key):
        return d.get(key, [])

    # Fan-out medians per round
    def fan_summary(d, key):
        rounds = series(d, key)
        sats = [saturation(r) for r in rounds]
        return sats, rounds

    psat, prounds = fan_summary(P, "fanout1000")
    nsat, nrounds = fan_summary(N, "fanout1000")
    p_sat = med([s["deliveries_per_s"] if s else None for s in psat])
    n_sat = med([s["deliveries_per_s"] if s else None for s in nsat])
    n_sat_rate = med([s["rate"] if s else None for s in nsat])
    # equal load: each server at the step closest to Node's saturation rate
    eq_rate = None
    if n_sat_rate is not None:
        eq_rate = min(LADDER_1000, key=lambda r: abs(r - n_sat_rate))
    def at(rounds, rate, key):
        vals = []
        for r in rounds:
            s = step_at(r, rate) if rate is not None else None
            vals.append(s[key] if s else None)
        return med(vals)
    p_cpu_eq = at(prounds, eq_rate, "server_us_per_delivery")
    n_cpu_eq = at(nrounds, eq_rate, "server_us_per_delivery")
    p_p99_eq = at(prounds, eq_rate, "p99_us")
    n_p99_eq = at(nrounds, eq_rate, "p99_us")
    p_cpu_sat = med([s["server_us_per_delivery"] if s else None for s in psat])
    p_fpw_sat = med([s.get("frames_per_write") if s else None for s in psat])
    p_fpw_eq = at(prounds, eq_rate, "frames_per_write")

    floor = res.get("floor", [])
    def floor_at(k):
        """The floor at k frames per send, interpolated; None past the last measured k."""
        if not floor or k is None or k <= 0:
            return None
        pts = sorted((f["frames_per_send"], f["us_per_frame"]) for f in floor)
        if k > pts[-1][0]:
            return None
        if k <= pts[0][0]:
            return pts[0][1]
        for (k0, v0), (k1, v1) in zip(pts, pts[1:]):
            if k0 <= k <= k1:
                t = (k - k0) / (k1 - k0)
                return v0 + t * (v1 - v0)
        return pts[-1][1]

    def ramp_med(d, key, field):
        return med([r[0][field] if r else None for r in series(d, key)])

    def idle_med(d, field):
        return med([r[-1][field] if r and len(r) > 1 else None for r in series(d, "ramp10000")])

    rows = []
    def row(name, pv, nv, unit, target, ok, nd=0, rnd=1):
        rows.append((name, fmt(pv, unit, nd), fmt(nv, unit, nd), ratio(pv, nv, rnd), target, ok))

    def verdict(cond):
        return "—" if cond is None else ("met" if cond else "**not met**")

    row("Fan-out 1000: saturation deliveries/s", p_sat, n_sat, "", "≥ 10× Node",
        verdict(p_sat / n_sat >= 10 if p_sat and n_sat else None))
    row(f"Fan-out 1000: server CPU µs/delivery at {eq_rate} msg/s (Node's saturation)",
        p_cpu_eq, n_cpu_eq, "", "≤ 1/5 of Node", verdict(p_cpu_eq / n_cpu_eq <= 0.2 if p_cpu_eq and n_cpu_eq else None), nd=2, rnd=2)
    row(f"Fan-out 1000: p99 µs at {eq_rate} msg/s (Node's saturation)", p_p99_eq, n_p99_eq, "",
        "≤ 1/10 of Node", verdict(p_p99_eq / n_p99_eq <= 0.1 if p_p99_eq and n_p99_eq else None), rnd=2)
    fl_eq = floor_at(p_fpw_eq)
    fl_sat = floor_at(p_fpw_sat)
    fmax = max((f["frames_per_send"] for f in floor), default=0)
    sat_floor = (f"floor {fmt(fl_sat, '', 2)}" if fl_sat is not None
                 else f"floor not measured past {fmax}/send ({fmt(floor_at(fmax), '', 2)} there)")
    rows.append((f"Fan-out 1000: Parley CPU µs/delivery vs the floor at its frames/write, "
                 f"at {eq_rate} msg/s ({fmt(p_fpw_eq, '', 1)} frames/write)",
                 fmt(p_cpu_eq, '', 2), f"floor {fmt(fl_eq, '', 2)}", ratio(p_cpu_eq, fl_eq, 2) + " of floor",
                 "≤ 2× floor", verdict(p_cpu_eq / fl_eq <= 2 if p_cpu_eq and fl_eq else None)))
    rows.append((f"Fan-out 1000: the same at Parley's saturation ({fmt(p_fpw_sat, '', 1)} frames/write)",
                 fmt(p_cpu_sat, '', 2), sat_floor,
                 (ratio(p_cpu_sat, fl_sat, 2) + " of floor") if fl_sat is not None else "—", "≤ 2× floor",
                 verdict(p_cpu_sat / fl_sat <= 2 if p_cpu_sat and fl_sat else None)))
    p_gen_sat = med([s["gen_cpu_pct"] if s else None for s in psat])
    sink_ok = [x for x in res.get("sink", []) if not x.get("lost") and x["p99_us"] <= 100000]
    sink_best = max(sink_ok, key=lambda x: x["deliveries_per_s"]) if sink_ok else None
    rows.append(("Generator: its CPU at Parley's saturation step; its ceiling against the sink",
                 fmt(p_gen_sat, " %"),
                 f"sink: {fmt(sink_best['deliveries_per_s'])}/s at {fmt(sink_best['gen_cpu_pct'], ' %')}" if sink_best else "—",
                 "—", "generator not the bottleneck", "—"))
    if P.get("fanout5000"):
        s5p = med([saturation(r)["deliveries_per_s"] if saturation(r) else None for r in P["fanout5000"]])
        s5n = med([saturation(r)["deliveries_per_s"] if saturation(r) else None for r in N.get("fanout5000", [])])
        row("Fan-out 5000: saturation deliveries/s", s5p, s5n, "", "≥ 10× Node",
            verdict(s5p / s5n >= 10 if s5p and s5n else None))
    if P.get("fanout-polling") or N.get("fanout-polling"):
        spp = [saturation(r) for r in P.get("fanout-polling", [])]
        spn = [saturation(r) for r in N.get("fanout-polling", [])]
        def top(sats):   # "≥": the ladder's last step passed, the server may go further
            return "≥ " if any(s and s["rate"] >= ladder_poll[-1] for s in sats) else ""
        pv = med([s["deliveries_per_s"] if s else None for s in spp])
        nv = med([s["deliveries_per_s"] if s else None for s in spn])
        rows.append((f"Fan-out over long-polling, room of {POLL_MEMBERS}: saturation deliveries/s",
                     top(spp) + fmt(pv), top(spn) + fmt(nv), ("≥ " if top(spp) else "") + ratio(pv, nv),
                     "— (none set)", "—"))
        row("Fan-out over long-polling: p99 µs at saturation", med([s["p99_us"] if s else None for s in spp]),
            med([s["p99_us"] if s else None for s in spn]), "", "—", "—", rnd=2)
        row("Fan-out over long-polling: generator CPU % at saturation", med([s["gen_cpu_pct"] if s else None for s in spp]),
            med([s["gen_cpu_pct"] if s else None for s in spn]), "", "—", "—")
    for key, label in (("ramp1000", "Ramp 1000 (one room)"), ("ramp10000", "Ramp 10000 (rooms of 100)")):
        pc, nc = ramp_med(P, key, "connects_per_s"), ramp_med(N, key, "connects_per_s")
        pj, nj = ramp_med(P, key, "joins_per_s"), ramp_med(N, key, "joins_per_s")
        pp, npv = ramp_med(P, key, "presence_per_s"), ramp_med(N, key, "presence_per_s")
        row(f"{label}: connects/s", pc, nc, "", "≥ 10× Node", verdict(pc / nc >= 10 if pc and nc else None))
        row(f"{label}: joins/s", pj, nj, "", "≥ 10× Node", verdict(pj / nj >= 10 if pj and nj else None))
        row(f"{label}: presence deliveries/s", pp, npv, "", "—", "—")
        row(f"{label}: time to all joined, s", ramp_med(P, key, "join_s"), ramp_med(N, key, "join_s"), "", "—", "—", nd=2, rnd=2)
        row(f"{label}: server CPU µs per join (and its % of a core during the ramp)",
            ramp_med(P, key, "server_us_per_join"), ramp_med(N, key, "server_us_per_join"), "", "—",
            f"{fmt(ramp_med(P, key, 'server_cpu_pct'))} % / {fmt(ramp_med(N, key, 'server_cpu_pct'))} %", nd=1, rnd=2)
    pb, nb = idle_med(P, "bytes_per_client"), idle_med(N, "bytes_per_client")
    row("Memory: RSS bytes per idle joined client at 10 000", pb, nb, "", "≤ 1/4 of Node, aim < 4 kB",
        verdict(pb / nb <= 0.25 if pb and nb else None), rnd=2)
    row("Memory: idle process RSS, kB", idle_med(P, "rss0_kb"), idle_med(N, "rss0_kb"), "", "—", "—", rnd=2)
    row("Memory: RSS with 10 000 joined clients, kB", idle_med(P, "rss_kb"), idle_med(N, "rss_kb"), "", "—", "—", rnd=2)
    mm = mem_summary(res)
    if mm:
        n = mm["clients"]
        def mem(d, f):
            return med([r[-1].get(f) if r and r[-1].get("mode") == "idle" else None for r in series(d, "memmax")])
        def joined(d):
            v = mem(d, "joined")
            return None if v is None else f"{v:,.0f} of {n:,}"
        rows.append((f"Memory at {n:,}: clients joined and idle", joined(P) or "—", joined(N) or "—", "—", "—", "—"))
        row(f"Memory at {n:,}: RSS bytes per idle joined client", mem(P, "bytes_per_client"),
            mem(N, "bytes_per_client"), "", "—", "—", rnd=2)
        row(f"Memory at {n:,}: RSS with the joined clients, kB", mem(P, "rss_kb"), mem(N, "rss_kb"),
            "", "—", "—", rnd=2)
    def pers(d, f):
        return med([r[0][f] if r else None for r in series(d, "persist")])
    row("Persistence: send-message confirmed (ack) msgs/s, 50 senders × 4 in flight",
        pers(P, "msgs_per_s"), pers(N, "msgs_per_s"), "", "— (Node keeps them in memory)", "—")
    row("Persistence: p99 confirm latency µs", pers(P, "p99_us"), pers(N, "p99_us"), "", "—", "—", rnd=2)
    if P.get("persist-mongo"):
        def pm(f):
            return med([r[0].get(f) if r else None for r in series(P, "persist-mongo")])
        rows.append(("Persistence through MongoDB (CongoDB, a JavaScript test server: a lower bound): "
                     "confirmed msgs/s, 50 × 4", fmt(pm("msgs_per_s"), ""), "—", "—", "—", "—"))
        rows.append(("Persistence through MongoDB: p99 confirm latency µs", fmt(pm("p99_us"), ""), "—", "—", "—", "—"))
    def rest(d, which, f):
        return med([(r.get(which) or {}).get(f) for r in series(d, "rest")])
    for which, label in (("get", "REST GET /api/messages?limit=50"), ("post", "REST POST /api/messages")):
        row(f"{label}: requests/s (wrk, 50 conns)", rest(P, which, "rps"), rest(N, which, "rps"), "", "—", "—")
        row(f"{label}: p99 µs", rest(P, which, "p99_us"), rest(N, which, "p99_us"), "", "—", "—", rnd=2)

    w("## Summary (medians)")
    w("")
    w("| Figure | Parley | Node | Parley/Node | Target | |")
    w("|---|---:|---:|---:|---|---|")
    for r in rows:
        w("| " + " | ".join(r) + " |")
    w("")

    # Fan-out ladder: per rate, medians over rounds
    for key, label, ladder in (("fanout1000", "room of 1000", LADDER_1000), ("fanout5000", "room of 5000", LADDER_5000),
                               ("fanout-polling", f"over Engine.IO long-polling, room of {POLL_MEMBERS}", ladder_poll)):
        if not P.get(key) and not N.get(key):
            continue
        fpw = key != "fanout-polling"   # no WebSocket frames on polling
        w(f"## Fan-out, {label}, 10 senders (median per step over rounds; ✗ = p99 > 100 ms or loss)")
        w("")
        w("| msg/s | deliveries/s P | p50 ms P | p99 ms P | CPU % P | µs/deliv P " + ("| frames/write P " if fpw else "") +
          "| deliveries/s N | p50 ms N | p99 ms N | CPU % N | µs/deliv N | generator CPU % (P/N) "
          "| neighbours' CPU % (P/N) |")
        w("|---:" * (14 if fpw else 13) + "|")
        for rate in ladder:
            cells = [str(rate)]
            any_ = False
            gen, nb = [], []
            for d in (P, N):
                steps = [step_at(r, rate) for r in d.get(key, [])]
                steps = [s for s in steps if s]
                if not steps:
                    cells += ["—"] * (6 if d is P and fpw else 5)
                    gen.append("—")
                    nb.append("—")
                    continue
                any_ = True
                bad = sum(1 for s in steps if s["lost"] or s["closed"] or s["p99_us"] > 100000)
                mark = " ✗" if bad * 2 >= len(steps) else ""
                cells.append(fmt(med([s["deliveries_per_s"] for s in steps])) + mark)
                cells.append(fmt(med([s["p50_us"] / 1000 for s in steps]), "", 1))
                cells.append(fmt(med([s["p99_us"] / 1000 for s in steps]), "", 1))
                cells.append(fmt(med([s["server_cpu_pct"] for s in steps])))
                cells.append(fmt(med([s["server_us_per_delivery"] for s in steps]), "", 2))
                if d is P and fpw:
                    cells.append(fmt(med([s.get("frames_per_write") for s in steps]), "", 1))
                gen.append(fmt(med([s["gen_cpu_pct"] for s in steps])))
                nb.append(fmt(med([s.get("others_cpu_pct") for s in steps])))
            if any_:
                cells.append(" / ".join(gen))
                cells.append(" / ".join(nb))
                w("| " + " | ".join(cells) + " |")
        w("")

    w("## The floor (bench/floor: 1000 loopback connections, 150-byte frames, sender's CPU)")
    w("")
    n_floor = len(res.get("floor_rounds", [])) or 1
    w(f"Measured once a round, before the round's servers: the median of {n_floor} "
      f"measurement{'s' if n_floor != 1 else ''}." if n_floor > 1 else "One measurement.")
    w("")
    w("| frames per send | µs per frame | µs per send | frames/s per core |")
    w("|---:|---:|---:|---:|")
    for f in floor:
        w(f"| {f['frames_per_send']} | {f['us_per_frame']:.2f} | {f['us_per_send']:.2f} | {f['frames_per_s_cpu']:,.0f} |")
    w("")
    sink = res.get("sink", [])
    if sink:
        w("## The generator's own ceiling (bench/loadgen against bench/floor/sink, room of 1000)")
        w("")
        w("| msg/s | deliveries/s | p99 ms | generator CPU % | generator µs/delivery | sink CPU % |")
        w("|---:|---:|---:|---:|---:|---:|")
        for s in sink:
            w(f"| {s['rate']:.0f} | {s['deliveries_per_s']:,.0f} | {s['p99_us'] / 1000:.1f} | "
              f"{s['gen_cpu_pct']:.0f} | {s['gen_us_per_delivery']:.3f} | {s['server_cpu_pct']:.0f} |")
        w("")
    w("Raw results of every run: the JSON file next to this one.")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--quick", action="store_true", help="one round, short steps (a smoke test)")
    ap.add_argument("--room5000", action="store_true", help="also the room of 5000 (long for Node)")
    ap.add_argument("--only", default="", help="comma list: fanout1000,fanout5000,fanout-polling,ramp1000,"
                    "ramp10000,memmax,persist,persist-mongo,rest")
    ap.add_argument("--step-ms", type=int, default=2000)
    ap.add_argument("--persist-ms", type=int, default=5000)
    ap.add_argument("--wrk-s", type=int, default=5)
    ap.add_argument("--floor-frames", type=int, default=1000000)
    ap.add_argument("--budget", type=int, default=3600, help="seconds; later scenarios are skipped past it")
    ap.add_argument("--skip-floor", action="store_true", help="skip the floor and the sink ceiling")
    ap.add_argument("--report-from", default="", help="rewrite the Markdown of a saved .json and exit")
    args = ap.parse_args()
    if args.report_from:
        res = json.load(open(args.report_from))
        # limits the run did not record are read from the config as it is now
        res["limits"] = {**shipped_limits(), **res.get("limits", {})}
        stem = args.report_from[:-5] if args.report_from.endswith(".json") else args.report_from
        m = re.search(r"(\d{4}-\d{2}-\d{2})-(\d{2})(\d{2})", os.path.basename(stem))
        started = (datetime.datetime.strptime(f"{m.group(1)} {m.group(2)}:{m.group(3)}", "%Y-%m-%d %H:%M")
                   if m else datetime.datetime.now(datetime.timezone.utc))
        md = report(res, started, res.get("elapsed_s", 0), args)
        with open(stem + ".md", "w") as f:
            f.write(md)
        print(md)
        return
    if args.quick:
        args.rounds, args.step_ms, args.persist_ms, args.wrk_s, args.floor_frames = 1, 800, 1500, 2, 200000
    b = Bench(args)
    for tool in ("loadgen", "floor", "sink"):
        if not os.access(os.path.join(b.tools, tool), os.X_OK):
            sys.exit(f"bench: {b.tools}/{tool} missing: run make -C bench OUT={b.tools}")
    if not os.access(b.parley, os.X_OK):
        sys.exit(f"bench: {b.parley} missing: run make build")
    if not os.path.isdir(os.path.join(b.refdir, "node_modules")):
        sys.exit(f"bench: {b.refdir}/node_modules missing: make bench installs it (npm ci)")

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.time()
    res = {"machine": machine(), "limits": shipped_limits(), "parley": {}, "node": {}, "ladder_poll": LADDER_POLL}
    scen = ["fanout1000", "fanout-polling", "ramp1000", "ramp10000", "memmax", "persist", "persist-mongo", "rest"]
    if args.room5000:
        scen.insert(1, "fanout5000")
    if args.only:
        scen = [s for s in scen if s in args.only.split(",")] or args.only.split(",")
    try:
        if not args.skip_floor:
            log("generator ceiling against the sink")
            res["sink"] = b.sink()
        for rnd in range(args.rounds):
            order = ["parley", "node"] if rnd % 2 == 0 else ["node", "parley"]
            if not args.skip_floor:
                # Once a round, beside the servers' runs: the machine's
                # speed drifts over a run, and the floor is what the fan-out
                # figures are held against.
                log(f"round {rnd + 1}/{args.rounds}: floor")
                res.setdefault("floor_rounds", []).append(b.floor())
                res["floor"] = floor_median(res["floor_rounds"])
            for sc in scen:
                for kind in order:
                    if sc == "persist-mongo" and kind == "node":
                        continue  # Node's persistence is in memory: the persist row is its figure
                    if sc in FIRST_ROUND_ONLY and rnd > 0:
                        continue
                    if time.time() > b.deadline:
                        log(f"budget spent: skipping {sc} for {kind}")
                        continue
                    log(f"round {rnd + 1}/{args.rounds}: {sc} on {kind}")
                    if sc == "fanout1000":
                        r = b.fanout(kind, 1000, LADDER_1000)
                    elif sc == "fanout-polling":
                        r = b.fanout_polling(kind)
                    elif sc == "memmax":
                        r = b.memmax(kind)
                    elif sc == "persist-mongo":
                        try:
                            r = b.persist_mongo()
                        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                            log(f"persist-mongo: {e}")
                            r = [{"error": str(e)[:300]}]
                    elif sc == "fanout5000":
                        r = b.fanout(kind, 5000, LADDER_5000)
                    elif sc == "ramp1000":
                        r = b.ramp(kind, 1000, 1000, False)
                    elif sc == "ramp10000":
                        r = b.ramp(kind, 10000, 100, True)
                    elif sc == "persist":
                        r = b.persist(kind)
                    elif sc == "rest":
                        r = b.rest(kind)
                    else:
                        sys.exit(f"bench: unknown scenario {sc}")
                    res[kind].setdefault(sc, []).append(r)
                    brief = r[-1] if isinstance(r, list) and r else r
                    log(f"  {json.dumps(brief)[:300]}")
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
        shutil.rmtree(b.shm, ignore_errors=True)
    elapsed = time.time() - t0
    res["elapsed_s"] = elapsed
    res["rounds"] = args.rounds
    md = report(res, started, elapsed, args)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, started.strftime("%Y-%m-%d-%H%M") + ("-quick" if args.quick else ""))
    with open(stem + ".md", "w") as f:
        f.write(md)
    with open(stem + ".json", "w") as f:
        json.dump(res, f, indent=1)
    print(md)
    log(f"written {stem}.md and .json")


if __name__ == "__main__":
    main()
