"""Shared helpers for Parley's integration tests: start the real server on a
free loopback port, talk HTTP to it, stop it by PID, and fail on any
sanitizer report in its stderr.

The tests get their paths from the environment ctest sets:
PARLEY_BUILD_DIR (the CMake build tree) and PARLEY_SOURCE_DIR (the repo).
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

BUILD_DIR = os.environ.get("PARLEY_BUILD_DIR", os.path.join(os.getcwd(), "build"))
SOURCE_DIR = os.environ.get("PARLEY_SOURCE_DIR", os.getcwd())
PARLEY = os.path.join(BUILD_DIR, "bin", "parley")
PLUGIN_DIR = os.path.join(BUILD_DIR, "lib", "parley", "plugins")
TEST_PLUGIN_DIR = os.path.join(BUILD_DIR, "tests", "plugins")
DEFAULT_CONFIG = os.path.join(SOURCE_DIR, "configs", "parley.yaml")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sanitizer_env(env):
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    return env


def run_parley(args, env=None, timeout=30):
    """Run the binary to completion: (exit code, stdout, stderr)."""
    full_env = sanitizer_env(dict(os.environ, **(env or {})))
    p = subprocess.run([PARLEY] + list(args), env=full_env, capture_output=True, text=True,
                       timeout=timeout, cwd=SOURCE_DIR)
    return p.returncode, p.stdout, p.stderr


class Server:
    """One parley process on 127.0.0.1:<free port> with its data in a temp dir."""

    def __init__(self, config=DEFAULT_CONFIG, env=None, data_dir=None, port=None):
        self.config = config
        self.port = port or free_port()
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="parley-test-")
            data_dir = self._tmp.name
        self.data_dir = data_dir
        self.env = sanitizer_env(dict(os.environ, PARLEY_HOST="127.0.0.1",
                                      PARLEY_PORT=str(self.port), PARLEY_DATA=data_dir,
                                      **(env or {})))
        self.proc = None
        self.stderr_path = os.path.join(data_dir, "parley-%d.stderr" % self.port)
        self._stderr = None

    def start(self, wait=15.0):
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([PARLEY, "--config", self.config], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr,
                                     cwd=SOURCE_DIR)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("parley exited with %s during start-up:\n%s"
                                     % (self.proc.returncode, self.stderr()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise AssertionError("parley did not listen on port %d within %.0f s:\n%s"
                             % (self.port, wait, self.stderr()))

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=15.0):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("parley did not exit within %.0f s of SIGTERM:\n%s"
                                 % (timeout, self.stderr()))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def assert_clean(self, testcase):
        text = self.stderr()
        for marker in SANITIZER_MARKERS:
            testcase.assertNotIn(marker, text, "sanitizer report in parley's stderr:\n" + text)

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One HTTP request on a fresh connection: (status, headers dict, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = dict({"Content-Type": "application/json"}, **(headers or {}))
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            raise AssertionError("not JSON (%d): %r" % (status, data[:200]))


def wait_for(predicate, timeout=5.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
