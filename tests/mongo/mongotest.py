"""MongoDB for Parley's tests: the CongoDB wire server (congo.js), the ctest
fixture that shares one among the tests, a TCP proxy to cut a server off,
and parley-mongo-cmd to reach the database without the plugin.

Where the database is:
- MONGODB_URI, when set (a real mongod, or anything speaking the protocol);
- else the fixture's server (mongo.server.start wrote its URI to
  <build>/tests/mongo/fixture.uri);
- tests that must stop or kill their database start a CongoDB of their
  own (Congo below), or, against MONGODB_URI, put a Proxy in front of it.

Also a command line for the fixture:
    mongotest.py start   install CongoDB if needed, start it, write the URI
    mongotest.py stop    stop it (by the PID it wrote)
    mongotest.py exec [--drop DB] CMD...   run CMD with {URI} replaced by the URI
"""
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.environ.get("PARLEY_BUILD_DIR", os.path.join(os.getcwd(), "build"))
STATE_DIR = os.path.join(BUILD_DIR, "tests", "mongo")
MODULES = os.path.join(STATE_DIR, "node_modules")
FIXTURE_URI = os.path.join(STATE_DIR, "fixture.uri")
FIXTURE_PID = os.path.join(STATE_DIR, "fixture.pid")
MONGO_CMD = os.path.join(BUILD_DIR, "bin", "parley-mongo-cmd")
LSAN_SUPP = os.path.join(HERE, "lsan.supp")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_installed():
    """Run install.sh into the build tree once (a lock: ctest -j2)."""
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(os.path.join(STATE_DIR, "install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = os.path.join(MODULES, "@push.rocks", "smartmongo", "dist_ts", "congodb",
                              "index.js")
        if not os.path.exists(marker):
            subprocess.run(["sh", os.path.join(HERE, "install.sh"), STATE_DIR], check=True,
                           stdout=sys.stderr)


class Congo:
    """A CongoDB process of our own on 127.0.0.1:<port>."""

    def __init__(self, port=None, watch_pid=None, log_path=None):
        self.port = port or free_port()
        self.watch_pid = watch_pid
        self.proc = None
        self.pid = None
        self.log_path = log_path or os.path.join(STATE_DIR, "congo-%d.log" % self.port)

    @property
    def uri(self):
        return "mongodb://127.0.0.1:%d/" % self.port

    def start(self, timeout=15.0):
        ensure_installed()
        port_file = os.path.join(STATE_DIR, "congo-%d.port" % self.port)
        try:
            os.unlink(port_file)
        except FileNotFoundError:
            pass
        args = ["node", os.path.join(HERE, "congo.js"), "--port", str(self.port),
                "--modules", MODULES, "--port-file", port_file]
        if self.watch_pid:
            args += ["--watch-pid", str(self.watch_pid)]
        log = open(self.log_path, "ab")
        # Its own session (a terminal's ^C is for ctest), no inherited pipes
        # (ctest waits for those to close).
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("congo.js exited with %s:\n%s"
                                     % (self.proc.returncode, self.log()))
            if os.path.exists(port_file):
                os.unlink(port_file)
                return self
            time.sleep(0.02)
        self.kill()
        raise AssertionError("congo.js did not listen within %.0f s:\n%s" % (timeout, self.log()))

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def sigstop(self):
        os.kill(self.pid, signal.SIGSTOP)

    def sigcont(self):
        os.kill(self.pid, signal.SIGCONT)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """SIGTERM and wait; its log is removed when it exited cleanly."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None and self.proc.returncode == 0:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass


def test_uri():
    """The database the tests share: MONGODB_URI, else the fixture's."""
    uri = os.environ.get("MONGODB_URI", "")
    if uri:
        return uri
    try:
        with open(FIXTURE_URI) as f:
            return f.read().strip()
    except OSError:
        return ""


def with_database(uri, db):
    """uri with its path (the database) replaced by db, options kept."""
    scheme, rest = uri.split("://", 1)
    hosts, _, tail = rest.partition("/")
    opts = tail.partition("?")[2]
    return "%s://%s/%s%s" % (scheme, hosts, db, "?" + opts if opts else "")


def command(uri, db, cmd, check=True):
    """Run one command with parley-mongo-cmd; the reply as canonical extended JSON."""
    text = json.dumps(cmd)
    p = subprocess.run([MONGO_CMD, uri, db, text], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    if p.returncode == 2:
        raise AssertionError("parley-mongo-cmd refused %s: %s" % (text, p.stderr))
    reply = json.loads(p.stdout)
    if check and p.returncode != 0:
        raise AssertionError("command %s failed: %s" % (text, p.stdout))
    return reply


def is_congodb(uri):
    reply = command(uri, "admin", {"buildInfo": 1})
    return reply.get("gitVersion") == "congodb"


def find_all(uri, db, coll, flt=None):
    """Every document of coll matching flt, in _id order."""
    reply = command(uri, db, {"find": coll, "filter": flt or {}, "sort": {"_id": 1},
                              "batchSize": 1000000})
    cursor = reply["cursor"]
    docs = list(cursor["firstBatch"])
    cid = int(cursor["id"]["$numberLong"]) if isinstance(cursor["id"], dict) else cursor["id"]
    while cid:
        more = command(uri, db, {"getMore": {"$numberLong": str(cid)}, "collection": coll,
                                 "batchSize": 1000000})
        docs += more["cursor"]["nextBatch"]
        c = more["cursor"]["id"]
        cid = int(c["$numberLong"]) if isinstance(c, dict) else c
    return docs


def unique_db(prefix):
    return "%s_%d_%d" % (prefix, os.getpid(), int(time.time() * 1000) % 100000000)


class Proxy:
    """A TCP proxy 127.0.0.1:<port> → upstream, to take a database away
    without owning its process:
    - freeze(): bytes stop flowing both ways and new connections hang, as
      when the server is SIGSTOPped; thaw() lets them flow again;
    - kill(): every connection is reset and the port refuses, as when the
      server process is gone; revive() listens again (same port)."""

    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._conns = []
        self._listener = None
        self._closed = False

    def start(self):
        self._listen()
        return self

    def _listen(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        self._flowing.wait()
        try:
            u = socket.create_connection(self.upstream, timeout=5)
            u.settimeout(None)
        except OSError:
            c.close()
            return
        with self._lock:
            if self._closed or self._listener is None:
                c.close()
                u.close()
                return
            self._conns += [c, u]
        threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
        threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    def _pump(self, src, dst):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            self._flowing.wait()
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def freeze(self):
        self._flowing.clear()

    def thaw(self):
        self._flowing.set()

    def kill(self):
        with self._lock:
            ls, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if ls is not None:
            ls.close()
        for s in conns:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            except OSError:
                pass
        self._flowing.set()

    def revive(self):
        self._listen()

    def close(self):
        self._closed = True
        self.kill()


def _fixture_start():
    if os.environ.get("MONGODB_URI"):
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(FIXTURE_URI, "w") as f:
            f.write(os.environ["MONGODB_URI"] + "\n")
        print("mongo fixture: MONGODB_URI is set; using it")
        return 0
    _fixture_stop(quiet=True)
    # Watch ctest (our parent): the server goes when the run goes, even if
    # the cleanup test never runs.
    congo = Congo(watch_pid=os.getppid()).start()
    with open(FIXTURE_PID, "w") as f:
        f.write("%d\n" % congo.pid)
    with open(FIXTURE_URI + ".tmp", "w") as f:
        f.write(congo.uri + "\n")
    os.rename(FIXTURE_URI + ".tmp", FIXTURE_URI)
    print("mongo fixture: CongoDB pid %d at %s" % (congo.pid, congo.uri))
    return 0


def _ours(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"congo.js" in f.read()
    except OSError:
        return False


def _fixture_stop(quiet=False):
    try:
        with open(FIXTURE_PID) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        try:
            os.unlink(FIXTURE_URI)
        except OSError:
            pass
        if not quiet:
            print("mongo fixture: no server of ours to stop")
        return 0
    try:
        with open(FIXTURE_URI) as f:
            port = f.read().strip().rsplit(":", 1)[1].strip("/")
        log = os.path.join(STATE_DIR, "congo-%s.log" % port)
    except (OSError, IndexError):
        log = None
    if _ours(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _ours(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _ours(pid):
            os.kill(pid, signal.SIGKILL)
    for p in (FIXTURE_PID, FIXTURE_URI) + ((log,) if log else ()):
        try:
            os.unlink(p)
        except OSError:
            pass
    if not quiet:
        print("mongo fixture: stopped pid %d" % pid)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "start":
        sys.exit(_fixture_start())
    if len(sys.argv) == 2 and sys.argv[1] == "stop":
        sys.exit(_fixture_stop())
    if len(sys.argv) >= 3 and sys.argv[1] == "exec":
        # exec [--drop DB] CMD...: run CMD with {URI} replaced by the tests'
        # database URI, after dropping database DB (a fresh one each run).
        uri = test_uri()
        if not uri:
            print("no database: neither MONGODB_URI nor the mongo.server.start fixture")
            sys.exit(1)
        args = sys.argv[2:]
        if len(args) >= 2 and args[0] == "--drop":
            command(uri, args[1], {"dropDatabase": 1})
            args = args[2:]
        args = [a.replace("{URI}", uri) for a in args]
        os.execvp(args[0], args)
    print("usage: mongotest.py start | stop | exec CMD...", file=sys.stderr)
    sys.exit(2)
