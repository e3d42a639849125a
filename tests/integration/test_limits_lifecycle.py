"""Durability and life cycle with Socket.IO clients connected (issue 6):

- kill -9 at random moments while Socket.IO clients send messages with
  acks, repeated: every message whose sender saw {ok:true} is in history
  after the restart, exactly once, in order;
- SIGTERM with 200 clients (WebSocket and long-polling): readiness flips
  first (/health answers 503), every client is told, acknowledged writes
  are stored, exit 0 within the deadline, LeakSanitizer clean;
- SIGHUP with connected clients: a valid changed config is applied and
  nobody is dropped; a broken one is refused with the reason and nobody is
  dropped; a hundred reloads do not grow memory and drop nobody.
"""
import calendar
import http.client
import json
import os
import random
import signal
import tempfile
import threading
import time
import unittest

from parleytest import SANITIZER_MARKERS, Server, rss_kib, wait_for
from test_limits_lib import SioClient, metric, write_config

NO_LIMITS = {"event_rate": "0"}
MANY = {"max_connections_per_ip": "1000"}


def read_room(server, room):
    out, before = [], ""
    for _ in range(1000):
        st, page = server.json("GET", "/api/messages?room=%s&limit=200%s" % (room, before))
        assert st == 200, (st, page)
        out = page["messages"] + out
        if not page["has_more"]:
            return out
        before = "&before=" + page["next_before"]
    raise AssertionError("too many pages")


def clean(testcase, text):
    for marker in SANITIZER_MARKERS:
        testcase.assertNotIn(marker, text, text[-3000:])


class Kill9SocketIO(unittest.TestCase):
    ROUNDS = 4
    SENDERS = 3

    def sender(self, port, room, tag, confirmed, lock, stop):
        try:
            c = SioClient(port)
            c.join("k9-" + tag, room)
            i = 0
            while not stop.is_set():
                content = "%s #%d" % (tag, i)
                a = c.emit("send-message", {"content": content}, ack=True)
                ack = c.wait_ack(a, timeout=10)
                if ack.get("ok") is True:
                    with lock:
                        confirmed[ack["id"]] = content
                i += 1
        except Exception:
            pass    # the server was killed under us

    def test_acknowledged_messages_survive_kill9(self):
        rng = random.Random()
        tmp = tempfile.TemporaryDirectory(prefix="parley-k9sio-")
        cfg = write_config(tmp.name, listener=MANY, socketio=NO_LIMITS)
        rooms = []
        server = Server(config=cfg, data_dir=tmp.name).start()
        try:
            for rnd in range(self.ROUNDS):
                room = "k9sio-%d-%08x" % (rnd, rng.getrandbits(32))
                confirmed, lock, stop = {}, threading.Lock(), threading.Event()
                threads = [threading.Thread(target=self.sender,
                                            args=(server.port, room, "s%d" % t, confirmed,
                                                  lock, stop)) for t in range(self.SENDERS)]
                for t in threads:
                    t.start()
                wait_for(lambda: len(confirmed) >= 15, timeout=30,
                         what="15 acknowledged messages in round %d" % rnd)
                time.sleep(rng.uniform(0.0, 0.5))
                os.kill(server.pid, signal.SIGKILL)
                server.proc.wait()
                stop.set()
                for t in threads:
                    t.join(15)
                    self.assertFalse(t.is_alive(), "a sender hung after kill -9")
                clean(self, server.stderr())
                server.close()
                with lock:
                    rooms.append((room, dict(confirmed)))
                server = Server(config=cfg, data_dir=tmp.name).start()
                for r, conf in rooms:
                    msgs = read_room(server, r)
                    ids = [m["_id"] for m in msgs]
                    self.assertEqual(len(ids), len(set(ids)), "an id twice in %s" % r)
                    self.assertEqual(ids, sorted(ids), "%s out of order" % r)
                    stored = {m["_id"]: m["content"] for m in msgs}
                    lost = [i for i in conf if i not in stored]
                    self.assertEqual(lost, [], "%d of %d acknowledged messages lost in %s"
                                     % (len(lost), len(conf), r))
                    for i, content in conf.items():
                        self.assertEqual(stored[i], content)
                    # Each sender's messages in the order it sent them.
                    for t in range(self.SENDERS):
                        seq = [int(stored[i].split("#")[1]) for i in ids
                               if stored[i].startswith("s%d #" % t)]
                        self.assertEqual(seq, sorted(set(seq)), "sender %d in %s" % (t, r))
                print("round %d: %d acknowledged, all present once, in order"
                      % (rnd, len(confirmed)))
            self.assertEqual(server.stop(), 0)
            clean(self, server.stderr())
        finally:
            server.close()
            tmp.cleanup()


class Poller(threading.Thread):
    """A long-polling Socket.IO client joined to a room; records how it ended."""

    def __init__(self, port, name, room):
        super().__init__(daemon=True)
        self.port, self.name, self.room = port, name, room
        self.ended = None
        self.sent_at = 0.0      # wall clock of the last request sent
        self.joined = threading.Event()

    def request(self, conn, method, url, **kw):
        self.sent_at = time.time()
        conn.request(method, url, **kw)

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request("GET", "/socket.io/?EIO=4&transport=polling")
            sid = json.loads(conn.getresponse().read()[1:])["sid"]
            q = "/socket.io/?EIO=4&transport=polling&sid=" + sid
            body = '40\x1e42["join-chat",{"username":"%s","room":"%s"}]' % (self.name, self.room)
            conn.request("POST", q, body=body.encode(),
                         headers={"Content-Type": "text/plain;charset=UTF-8"})
            assert conn.getresponse().read() == b"ok"
            while True:
                self.request(conn, "GET", q)
                r = conn.getresponse()
                data = r.read()
                if r.status != 200:
                    self.ended = "status %d" % r.status
                    return
                packets = data.split(b"\x1e")
                if any(p.startswith(b'42["join-confirmed"') for p in packets):
                    self.joined.set()
                # A payload may carry a ping and the close together: once the
                # session is closed there is nobody to answer, and a pong
                # POSTed then races the server's hang-up (a reset).
                if b"1" in packets:
                    self.ended = "close packet"
                    return
                if b"2" in packets:
                    self.request(conn, "POST", q, body=b"3")
                    conn.getresponse().read()
        except Exception as e:
            self.ended = "error %s" % type(e).__name__
        finally:
            conn.close()


# How long before its "stopped" log line the server may already have read its
# sockets for the last time (stopping the plugins takes a few loop turns).
TEARDOWN_SLACK = 0.25


def logged_at(stderr, msg):
    """Wall-clock time (epoch seconds) of the first log line whose message is `msg`,
    in either log format ("TS level [component] msg" or a JSON object)."""
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            ts, text = rec.get("ts", ""), rec.get("msg")
        else:
            ts, _, rest = line.partition(" ")
            text = rest.partition("] ")[2]
        if text != msg:
            continue
        whole, _, millis = ts.rstrip("Z").partition(".")
        return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + int(millis or 0) / 1e3
    return None


class Drain(unittest.TestCase):
    WS = 150
    POLLING = 50

    def test_sigterm_with_200_clients(self):
        tmp = tempfile.TemporaryDirectory(prefix="parley-drain-")
        cfg = write_config(tmp.name, listener=MANY, socketio=NO_LIMITS, shutdown_timeout="5s")
        srv = Server(config=cfg, data_dir=tmp.name, env={"PARLEY_LOG_LEVEL": "info"}).start()
        try:
            room = "drain"
            ws = []
            for i in range(self.WS):
                c = SioClient(srv.port)
                c.join("ws%d" % i, room)
                ws.append(c)
            pollers = [Poller(srv.port, "poll%d" % i, room) for i in range(self.POLLING)]
            for p in pollers:
                p.start()
            for p in pollers:
                self.assertTrue(p.joined.wait(20), "%s did not join" % p.name)
            wait_for(lambda: metric(srv, "parley_socketio_connections") == self.WS + self.POLLING,
                     timeout=10, what="every client connected")
            # Writes in flight at the signal: what was acknowledged ok is stored.
            acks = []
            for k in range(5):
                for i, c in enumerate(ws[:20]):
                    acks.append((c, c.emit("send-message", {"content": "last %d.%d" % (i, k)},
                                           ack=True)))
            # The signal lands while the rest are being stored.
            first = ws[0].wait_ack(acks[0][1])
            self.assertTrue(first["ok"], first)
            t0 = time.monotonic()
            srv.signal(signal.SIGTERM)
            wait_for(lambda: "shutting down" in srv.stderr(), timeout=5, what="the drain")
            # Readiness first: from here on /health is never 200.
            try:
                st, _, body = srv.request("GET", "/health", timeout=2)
                self.assertEqual(st, 503, body)
                self.assertIn(b"shutting_down", body)
            except (OSError, http.client.HTTPException):
                pass    # already closed: also not ready
            confirmed = [first["id"]]
            for c, a in acks[1:]:
                try:
                    ack = c.wait_ack(a, timeout=5)
                except AssertionError:
                    continue    # closed before its ack
                if ack.get("ok"):
                    confirmed.append(ack["id"])
                else:
                    self.assertEqual(ack.get("code"), "shutting_down", ack)
            # Every WebSocket client is told: the connection ends.
            ends = {}
            for c in ws:
                while c.recv(timeout=6) is not None:
                    pass
                code = getattr(c, "close_frame", b"")[:2]
                key = int.from_bytes(code, "big") if code else "cut"
                if getattr(c, "eio_close", False):
                    key = "eio close, then %s" % key
                ends[key] = ends.get(key, 0) + 1
            for p in pollers:
                p.join(6)
                self.assertFalse(p.is_alive(), "%s was not told" % p.name)
            code = srv.proc.wait(timeout=10)
            took = time.monotonic() - t0
            self.assertEqual(code, 0, srv.stderr()[-3000:])
            self.assertLess(took, 5.5)
            clean(self, srv.stderr())
            poll_ends = {}
            for p in pollers:
                poll_ends[p.ended] = poll_ends.get(p.ended, 0) + 1
            print("drain: %d WebSocket clients ended %s, %d polling clients %s; %d of %d "
                  "in-flight messages acknowledged; exit 0 after %.2f s"
                  % (self.WS, ends, self.POLLING, poll_ends, len(confirmed), len(acks), took))
            # A held GET gets the close packet; one sent after the drain began
            # (the client was busy reading broadcasts) gets the listener's 503.
            # Only a request sent as the server was closing its sockets for
            # good (it logs "stopped" just before) may find nobody to answer.
            stopped = logged_at(srv.stderr(), "stopped")
            self.assertIsNotNone(stopped, "no 'stopped' line in the log")
            unanswered = [(p.name, p.ended, round(stopped - p.sent_at, 3)) for p in pollers
                          if p.ended not in ("close packet", "status 503")
                          and p.sent_at < stopped - TEARDOWN_SLACK]
            self.assertEqual(unanswered, [], "requests sent before the teardown went unanswered "
                             "(name, ending, seconds before 'stopped')")
            # Told = the Engine.IO close packet or the WebSocket close 1001.
            self.assertFalse([k for k in ends if k == "cut"], ends)
            for c in ws:
                c.close()
            again = Server(config=cfg, data_dir=tmp.name).start()
            try:
                stored = {m["_id"] for m in read_room(again, room)}
                self.assertEqual(set(confirmed) - stored, set())
                self.assertEqual(again.stop(), 0)
            finally:
                again.close()
        finally:
            srv.close()
            tmp.cleanup()


class Reload(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="parley-hup-")
        self.cfg = write_config(self.tmp.name, listener=MANY, socketio=NO_LIMITS)
        self.srv = Server(config=self.cfg, data_dir=self.tmp.name, env={
            "PARLEY_LOG_LEVEL": "info",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:halt_on_error=1:quarantine_size_mb=0"
        }).start()
        self.room = "hup"
        self.clients = []
        for i in range(10):
            c = SioClient(self.srv.port)
            c.join("c%d" % i, self.room)
            self.clients.append(c)

    def tearDown(self):
        for c in self.clients:
            c.close()
        code = self.srv.stop()
        text = self.srv.stderr()
        self.srv.close()
        self.tmp.cleanup()
        self.assertEqual(code, 0, text[-3000:])
        clean(self, text)

    def everyone_connected(self, tag):
        """Each client sends one message; every client gets all of them."""
        for i, c in enumerate(self.clients):
            a = c.emit("send-message", {"content": "%s %d" % (tag, i)}, ack=True)
            self.assertTrue(c.wait_ack(a)["ok"], "client %d after %s" % (i, tag))
        want = ["%s %d" % (tag, i) for i in range(len(self.clients))]
        for c in self.clients:
            got = []
            while len(got) < len(want):
                ev = c.wait_event("message-received")
                if ev["content"].startswith(tag + " "):
                    got.append(ev["content"])
            self.assertEqual(sorted(got), sorted(want))
        self.assertEqual(metric(self.srv, "parley_socketio_connections"), len(self.clients))

    def reload(self, word):
        n = self.srv.stderr().count(word)
        self.srv.signal(signal.SIGHUP)
        wait_for(lambda: self.srv.stderr().count(word) > n, timeout=10, interval=0.01,
                 what="'%s' after SIGHUP" % word)

    def test_valid_then_broken_reload_keeps_every_client(self):
        with open(self.cfg) as f:
            text = f.read()
        with open(self.cfg, "w") as f:
            f.write(text.replace("max_content_length: 20000", "max_content_length: 10"))
        self.reload("configuration reloaded")
        a = self.clients[0].emit("send-message", {"content": "x" * 11}, ack=True)
        self.assertEqual(self.clients[0].wait_ack(a)["code"], "validation_failed")
        self.everyone_connected("valid")
        with open(self.cfg, "a") as f:
            f.write("\nbogus_section: 1\n")
        self.reload("reload refused")
        self.assertIn("bogus_section", self.srv.stderr())
        self.everyone_connected("broken")

    def test_reload_changes_the_event_rate_of_connected_clients(self):
        with open(self.cfg) as f:
            text = f.read()
        self.assertIn("      event_rate: 0\n", text)
        with open(self.cfg, "w") as f:
            f.write(text.replace("      event_rate: 0\n",
                                 "      event_rate: 1\n      event_burst: 3\n"))
        self.reload("configuration reloaded")
        self.assertIn("socketio: event_rate 1/s, event_burst 3", self.srv.stderr())
        c = self.clients[0]
        acks = [c.emit("send-message", {"content": "r%d" % i}, ack=True) for i in range(4)]
        got = [c.wait_ack(a) for a in acks]
        self.assertEqual([g["ok"] for g in got[:3]], [True] * 3)
        self.assertEqual(got[3]["code"], "rate_limited")
        # A key that shapes the Engine.IO server needs a restart: refused
        # for the plugin (with the key named), nobody dropped.
        with open(self.cfg) as f:
            text = f.read()
        with open(self.cfg, "w") as f:
            f.write(text.replace("ping_interval: 25s", "ping_interval: 20s")
                    .replace("      event_rate: 1\n      event_burst: 3\n",
                             "      event_rate: 0\n"))
        self.reload("configuration reloaded")
        wait_for(lambda: "ping_interval changed" in self.srv.stderr(), what="the refusal")
        time.sleep(3.2)     # the bucket is full again: the old limit (1/s, 3) still holds
        acks = [c.emit("send-message", {"content": "s%d" % i}, ack=True) for i in range(4)]
        got = [c.wait_ack(a) for a in acks]
        self.assertEqual([g.get("code") for g in got], [None, None, None, "rate_limited"])
        self.assertEqual(metric(self.srv, "parley_socketio_connections"), len(self.clients))

    def test_a_hundred_reloads_with_clients_connected(self):
        for _ in range(10):
            self.reload("configuration reloaded")
        before = rss_kib(self.srv.pid)
        for _ in range(100):
            self.reload("configuration reloaded")
        grown = rss_kib(self.srv.pid) - before
        print("RSS grew by %d KiB over 100 reloads with %d clients connected"
              % (grown, len(self.clients)))
        self.assertLess(grown, 4096)
        self.everyone_connected("after")


if __name__ == "__main__":
    unittest.main(verbosity=2)
