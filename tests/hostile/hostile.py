"""Infrastructure for the hostile-input corpus (corpus.py): byte-exact raw
HTTP and WebSocket clients, Engine.IO / Socket.IO sessions on top of them,
and the invariants of bad-inputs.md section 0.3 checked after every entry:

1. the server process is alive and a canary (fresh WebSocket: Engine.IO
   open, `40`, `421["message-with-ack",...]` answered `431[...]`) succeeds
   within 1 s;
2. the server's stderr has no sanitizer report;
3. the entry's answer came within its time bound;
4. RSS stays bounded (VmRSS from /proc/<pid>/status);
5. the metric the entry names moved (GET /metrics), and no ERROR line was
   logged while it ran;
6. an observer connected for the whole run keeps receiving broadcasts.

Uses the shared server helper tests/integration/parleytest.py.
"""
import base64
import hashlib
import json
import os
import queue
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from parleytest import (SANITIZER_MARKERS, SOURCE_DIR, Server, free_port,  # noqa: E402,F401
                        rss_kib)

CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "configs", "socketio.yaml")
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
EIO_WS = "/socket.io/?EIO=4&transport=websocket"
EIO_POLL = "/socket.io/?EIO=4&transport=polling"
MAX_PAYLOAD = 1000000


class Deviation(Exception):
    """The entry's documented, deliberate difference from bad-inputs.md."""


class Closed(Exception):
    pass


# ---------------------------------------------------------------- raw HTTP

def connect(port, timeout=3.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_some(s, deadline):
    """One recv before `deadline`: the bytes; b"" when the server closed (or
    reset) the connection; None when the time is up."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    s.settimeout(left)
    try:
        return s.recv(65536)
    except socket.timeout:
        return None
    except (ConnectionResetError, BrokenPipeError):
        return b""


def read_until_close(s, timeout=3.0, limit=1 << 22):
    """Everything the server sends until it closes or `timeout` passes:
    (bytes, closed)."""
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < limit:
        chunk = recv_some(s, deadline)
        if chunk is None or chunk == b"":
            return out, chunk == b""
        out += chunk
    return out, False


def send_quietly(s, data):
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
        return False


def raw(port, data, timeout=2.0, more=None, pause=0.2):
    """Send raw bytes, read until close or timeout: (bytes, closed)."""
    s = connect(port, timeout)
    try:
        send_quietly(s, data)
        if more is not None:
            time.sleep(pause)
            send_quietly(s, more)
        return read_until_close(s, timeout)
    finally:
        s.close()


def parse_response(data):
    """The first HTTP response in `data`: (status, headers, body, rest), or
    (None, {}, b"", data) when there is none."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/"):
        return None, {}, b"", data
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None, {}, b"", data
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if "content-length" in hdrs:
        n = int(hdrs["content-length"])
        return status, hdrs, rest[:n], rest[n:]
    if status in (204, 304) or 100 <= status < 200:
        return status, hdrs, b"", rest
    return status, hdrs, rest, b""


def read_response(s, timeout=2.0):
    """Read until one whole HTTP response (by Content-Length; without one,
    until close) or close or timeout: (bytes, closed)."""
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        head, sep, rest = out.partition(b"\r\n\r\n")
        if sep:
            st, hdrs, body, _ = parse_response(out)
            if st is not None and "content-length" in hdrs and \
                    len(rest) >= int(hdrs["content-length"]):
                return out, False
            # No body by definition (RFC 9110 6.4.1): 1xx, 204, 304.
            if st in (204, 304) or (st is not None and 100 <= st < 200):
                return out, False
        chunk = recv_some(s, deadline)
        if chunk is None or chunk == b"":
            return out, chunk == b""
        out += chunk


def http(port, data, timeout=2.0, more=None, pause=0.2, linger=0.05):
    """One raw request: (status or None, headers, body, closed, elapsed_ms,
    raw bytes). After a complete response, waits `linger` s to see whether
    the server closes the connection."""
    t0 = time.monotonic()
    s = connect(port, timeout)
    try:
        send_quietly(s, data)
        if more is not None:
            time.sleep(pause)
            send_quietly(s, more)
        out, closed = read_response(s, timeout)
        ms = (time.monotonic() - t0) * 1000
        if not closed and linger:
            extra, closed = read_until_close(s, linger)
            out += extra
    finally:
        s.close()
    status, hdrs, body, _ = parse_response(out)
    return status, hdrs, body, closed, ms, out


def req(method, target, headers=(), body=b"", version="HTTP/1.1", host=True):
    lines = ["%s %s %s" % (method, target, version)]
    if host:
        lines.append("Host: t")
    lines += list(headers)
    if body and not any(h.lower().startswith(("content-length", "transfer-encoding"))
                        for h in headers):
        lines.append("Content-Length: %d" % len(body))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body if isinstance(body, bytes) else body.encode("latin-1"))


def upgrade_req(path=EIO_WS, extra=(), key=KEY, version="13", method="GET",
                upgrade="websocket", connection="Upgrade", proto="HTTP/1.1", host=True):
    h = []
    if upgrade is not None:
        h.append("Upgrade: " + upgrade)
    if connection is not None:
        h.append("Connection: " + connection)
    if key is not None:
        h.append("Sec-WebSocket-Key: " + key)
    if version is not None:
        h.append("Sec-WebSocket-Version: " + version)
    return req(method, path, list(h) + list(extra), version=proto, host=host)


def eio_error(body):
    """The Engine.IO error code of a 400/403 JSON body, or None."""
    try:
        return json.loads(body)["code"]
    except (ValueError, KeyError, TypeError):
        return None


# ----------------------------------------------------------- raw WebSocket

def frame(opcode, payload=b"", fin=True, mask=b"\x00\x00\x00\x00", rsv=0):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if mask is not None else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if mask is None:
        return head + payload
    if mask != b"\x00\x00\x00\x00":
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + mask + payload


def text(s):
    return frame(0x1, s)


def binary(b):
    return frame(0x2, b)


class RawWS:
    """A WebSocket spoken byte by byte: the upgrade, then frames."""

    def __init__(self, port, path=EIO_WS, extra=(), timeout=3.0, expect_open=True):
        self.sock = connect(port, timeout)
        self.buf = b""
        self.closed = False
        self.close_code = None
        send_quietly(self.sock, upgrade_req(path, extra))
        head = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in head:
            if time.monotonic() > deadline:
                raise AssertionError("no upgrade answer")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("closed during upgrade: %r" % head[:200])
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        if self.status != 101:
            raise AssertionError("upgrade answered %d: %r" % (self.status, head[:200]))
        self.head = head.decode("latin-1")
        self.open = None
        if expect_open:
            op, data = self.recv_frame()
            assert op == 1 and data.startswith(b"0{"), (op, data[:100])
            self.open = json.loads(data[1:])

    def send(self, data):
        return send_quietly(self.sock, data)

    def _fill(self, n, deadline):
        """Make the buffer hold at least n bytes (nothing is consumed, so a
        timeout in the middle of a frame loses nothing)."""
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError()
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.closed = True
                raise Closed()
            self.buf += chunk

    def recv_frame(self, timeout=3.0):
        """(opcode, payload) of the next server frame; Closed on EOF."""
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._fill(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._fill(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if b1 & 0x80:
            off += 4
        self._fill(off + n, deadline)
        data, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, data

    def recv(self, timeout=3.0):
        """The next data message (pings "2" answered); Closed on a close
        frame (its code kept in close_code) or EOF."""
        deadline = time.monotonic() + timeout
        while True:
            op, data = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if op == 0x8:
                self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                raise Closed()
            if op == 0x9:                   # the listener's idle check: pong it
                self.send(frame(0xA, data))
                continue
            if op == 0xA:
                continue
            if op == 0x1 and data == b"2":
                self.send(text("3"))
                continue
            return data.decode("utf-8") if op == 0x1 else bytes(data)

    def wait_close(self, timeout=2.0, eof_wait=1.0):
        """Read until the server closes: (close code or None, ms until the
        close frame (or EOF), whether EOF followed within `eof_wait` s), or
        AssertionError when nothing closes within `timeout`."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        code = None
        ms = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if code is not None:
                    return code, ms, False
                raise AssertionError("not closed within %.1f s" % timeout)
            try:
                op, data = self.recv_frame(left)
            except Closed:
                return code, ms if ms is not None else (time.monotonic() - t0) * 1000, True
            except TimeoutError:
                if code is not None:
                    return code, ms, False
                raise AssertionError("not closed within %.1f s" % timeout)
            except OSError:
                return code, ms if ms is not None else (time.monotonic() - t0) * 1000, True
            if op == 0x8 and code is None:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                self.close_code = code
                ms = (time.monotonic() - t0) * 1000
                deadline = time.monotonic() + eof_wait
                # Answer the close as a client would, then wait for EOF.
                self.send(frame(0x8, data[:2]))
            elif op == 0x1 and data == b"2":
                self.send(text("3"))
            elif op == 0x9:
                self.send(frame(0xA, data))

    def sio_connect(self, nsp="/"):
        self.send(text("40" if nsp == "/" else "40%s," % nsp))
        got = self.recv()
        assert got.startswith("40"), got
        auth = self.recv()
        assert auth.endswith('["auth",{}]'), auth
        return self

    def ack_roundtrip(self, tag="alive", ack_id=77, timeout=1.0):
        self.send(text('42%d["message-with-ack","%s"]' % (ack_id, tag)))
        got = self.recv(timeout)
        if got != '43%d["%s"]' % (ack_id, tag):
            raise AssertionError("ack round trip got %r" % (got,))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def sio(port, **kw):
    return RawWS(port, **kw).sio_connect()


# ----------------------------------------------------------- long-polling

class Poll:
    """An Engine.IO long-polling session over raw HTTP."""

    def __init__(self, port, connect_sio=True):
        self.port = port
        st, _, body, _, _, _ = http(port, req("GET", EIO_POLL))
        assert st == 200 and body.startswith(b"0{"), (st, body[:200])
        self.sid = json.loads(body[1:])["sid"]
        if connect_sio:
            st, body = self.post("40")
            assert (st, body) == (200, b"ok"), (st, body)
            got = []
            while len(got) < 2:
                st, body = self.get()
                assert st == 200, (st, body)
                got += body.decode().split("\x1e")
            assert got[0].startswith("40{") and got[1] == '42["auth",{}]', got

    def target(self):
        return EIO_POLL + "&sid=" + self.sid

    def post(self, body, ctype="text/plain;charset=UTF-8", timeout=3.0):
        if isinstance(body, str):
            body = body.encode("utf-8")
        st, _, b, _, _, _ = http(self.port, req("POST", self.target(),
                                                ["Content-Type: " + ctype], body), timeout)
        return st, b

    def get(self, timeout=3.0):
        """GET; pings in the answer are answered (and left out of it)."""
        st, _, b, _, _, _ = http(self.port, req("GET", self.target()), timeout)
        if st == 200 and b:
            pk = b.split(b"\x1e")
            if b"2" in pk:
                self.post("3")
                pk = [x for x in pk if x != b"2"]
                b = b"\x1e".join(pk)
        return st, b

    def gone(self):
        """True when the session has ended: a GET answers the close packet
        (then 400 code 1) or 400 code 1 at once."""
        for _ in range(3):
            st, b = self.get(timeout=2.0)
            if st == 400 and eio_error(b) == 1:
                return True
            if st != 200:
                return False
            if b"1" in b.split(b"\x1e"):
                continue
        return False


# -------------------------------------------------------------- invariants

class Observer(threading.Thread):
    """A Socket.IO client joined to room `observed` for the whole run, read
    on its own thread so it answers every ping; broadcasts land in a queue."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.ws = sio(port)
        self.ws.send(text('42["join-chat",{"username":"observer","room":"observed"}]'))
        got = self.ws.recv()
        assert got.startswith('42["join-confirmed"'), got
        self.events = queue.Queue()
        self.dead = None
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                m = self.ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except Exception as e:          # noqa: BLE001 - record any end
                self.dead = "%r (close code %s)" % (e, self.ws.close_code)
                return
            self.events.put(m)

    def expect(self, content, timeout=3.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("observer did not receive %r (dead: %s)"
                                     % (content, self.dead))
            try:
                m = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if isinstance(m, str) and m.startswith('42["message-received"'):
                if json.loads(m[2:])[1].get("content") == content:
                    return


def metrics(port):
    """{series: value} from GET /metrics."""
    st, _, body, _, _, _ = http(port, req("GET", "/metrics"), timeout=3.0)
    out = {}
    if st != 200:
        return out
    for line in body.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def metric_sum(m, prefix):
    return sum(v for k, v in m.items() if k == prefix or k.startswith(prefix + "{")
               or (prefix.endswith("}") and k == prefix))


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


class Target:
    """The server under test plus the long-lived observer."""

    def __init__(self, name, env):
        self.name = name
        self.srv = Server(config=CONFIG, env=env).start()
        self.port = self.srv.port
        self.observer = Observer(self.port)
        self.observer.start()
        print("[%s] parley pid %d on port %d; observer session %s"
              % (name, self.srv.pid, self.port, self.observer.ws.open["sid"]))
        self.posts = 0
        self.stderr_seen = 0

    def new_stderr(self):
        text = self.srv.stderr()
        new, self.stderr_seen = text[self.stderr_seen:], len(text)
        return new

    def broadcast_check(self):
        self.posts += 1
        content = "observer check %d" % self.posts
        body = json.dumps({"username": "poster", "content": content, "room": "observed"})
        st, _, b, _, _, _ = http(self.port, req("POST", "/api/messages",
                                                ["Content-Type: application/json"], body))
        if st != 201:
            raise AssertionError("POST /api/messages answered %s: %r" % (st, b[:200]))
        self.observer.expect(content)

    def canary(self):
        t0 = time.monotonic()
        ws = RawWS(self.port, timeout=1.0)
        try:
            ws.sio_connect()
            ws.ack_roundtrip("canary", 1, timeout=1.0)
        finally:
            ws.close()
        ms = (time.monotonic() - t0) * 1000
        if ms > 1000:
            raise AssertionError("canary took %.0f ms" % ms)
        return ms

    def close(self):
        self.observer.stop = True
        self.observer.join(2)
        self.observer.ws.close()
        code = self.srv.stop()
        text = self.srv.stderr()
        self.srv.close()
        return code, text
