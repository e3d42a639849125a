"""The database goes away mid-traffic under a running server (configs/mongo.yaml
timeouts, storage.timeout 5s, health_interval 2s):
- SIGSTOP (a hung server) and SIGKILL (a dead one) of the database, then
  SIGCONT / a restart;
- every connection reset and the port refusing (a network cut), then back.
Two threads POST to /api/messages all along, a WebSocket client of the
rest_chatws test transport watches the room, /health is polled. Asserted:
posts fail with 503 within the timeout while the database is away and none
is answered 201 then; /health says "disconnected" within seconds and
"connected" again after it returns; posts succeed again by themselves; the
server stays up; exactly the confirmed messages are broadcast, each once;
every confirmed message is stored exactly once.

The database: a CongoDB of the test's own (signals are sent to it), or,
when MONGODB_URI is set, that server behind a TCP proxy of the test (the
proxy freezes for "SIGSTOP" and resets everything for "kill"). CongoDB
keeps its data in memory, so after a real kill only the messages confirmed
since the restart can be checked: the check of the earlier ones is skipped
only when buildInfo says CongoDB.

Exits 77 (ctest: skipped) while something it needs is not built.
"""
import os
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import mongotest as mt
import parleytest as pt

CHATWS_SO = os.path.join(pt.TEST_PLUGIN_DIR, "rest_chatws.so")
ROOM = "outage"
STORAGE_TIMEOUT = 5.0          # configs/mongo.yaml storage.timeout
DOWN_FOR = 7.0                 # seconds the database is away (> 2 x socket_timeout)
FAIL_WITHIN = STORAGE_TIMEOUT + 1.0
HEALTH_WITHIN = 8.0            # health_interval 2s + socket_timeout 3s + slack
TIMINGS = []


def mongo_config(dirname, database, uri, socketio=False):
    with open(os.path.join(pt.SOURCE_DIR, "configs", "mongo.yaml")) as f:
        text = f.read()
    for needed in ('database: ""', "timeout: 5s", "health_interval: 2s"):
        assert needed in text, "configs/mongo.yaml lost %r" % needed
    text = text.replace('database: ""', "database: " + database)
    text = text.replace("${MONGODB_URI:-mongodb://127.0.0.1:27017/parley}", uri)
    text = text[:text.index("transports:")]
    text += "transports:\n  - plugin: rest\n  - plugin: rest_chatws\n    path: %s\n" % CHATWS_SO
    if socketio:
        text += "  - plugin: socketio\n    config:\n      cors_origins: [\"*\"]\n"
    path = os.path.join(dirname, "parley.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


class Backend:
    """The database of one test and the ways to take it away."""

    def __init__(self):
        self.real_uri = os.environ.get("MONGODB_URI", "")
        self.congo = None
        self.proxy = None
        if not self.real_uri:
            self.congo = mt.Congo().start()

    def close(self):
        if self.proxy is not None:
            self.proxy.close()
        if self.congo is not None:
            self.congo.stop()

    @property
    def admin_uri(self):
        """Where the test itself reaches the database (never through the proxy)."""
        return self.real_uri or self.congo.uri

    def use_proxy(self):
        if self.proxy is not None:
            return
        u = urllib.parse.urlsplit(self.admin_uri)
        host = u.netloc.rsplit("@", 1)[-1].split(",")[0]
        h, _, p = host.rpartition(":")
        self.proxy = mt.Proxy(h or host, int(p or 27017)).start()

    @property
    def parley_uri(self):
        if self.proxy is None:
            return self.admin_uri
        u = urllib.parse.urlsplit(self.admin_uri)
        cred = u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else ""
        q = [kv for kv in u.query.split("&") if kv and not kv.lower().startswith("replicaset=")]
        q.append("directConnection=true")
        return "mongodb://%s127.0.0.1:%d%s?%s" % (cred, self.proxy.port, u.path or "/",
                                                  "&".join(q))

    # What "stop" and "kill" mean here.
    def stop(self):
        if self.proxy is None:
            self.congo.sigstop()
        else:
            self.proxy.freeze()

    def cont(self):
        if self.proxy is None:
            self.congo.sigcont()
        else:
            self.proxy.thaw()

    def kill(self):
        """Returns True when the data survives (a real kill of CongoDB loses it)."""
        if self.proxy is None:
            self.congo.kill()
            return False
        self.proxy.kill()
        return True

    def restart(self):
        if self.proxy is None:
            self.congo = mt.Congo(port=self.congo.port).start()
        else:
            self.proxy.revive()


class Traffic:
    """Posters, a room watcher and a /health poller around one server."""

    def __init__(self, srv):
        import websocket
        self.srv = srv
        self.lock = threading.Lock()
        self.posts = []              # (t_start, t_end, status, content, id or None)
        self.broadcasts = []         # (id, content)
        self.health = []             # (t, "connected" | "disconnected")
        self.stop_flag = threading.Event()
        self.ws = websocket.create_connection("ws://127.0.0.1:%d/chatws/" % srv.port, timeout=5)
        self.ws.send("join %s watcher" % ROOM)
        assert self.ws.recv() == "joined " + ROOM
        self.threads = [threading.Thread(target=self._post_loop, args=(k,), daemon=True)
                        for k in range(2)]
        self.threads.append(threading.Thread(target=self._health_loop, daemon=True))
        self.watcher = threading.Thread(target=self._watch, daemon=True)

    def start(self):
        self.watcher.start()
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)

    def _post_loop(self, k):
        n = 0
        while not self.stop_flag.is_set():
            content = "p%d-%d" % (k, n)
            n += 1
            t0 = time.monotonic()
            try:
                status, body = self.srv.json("POST", "/api/messages",
                                             {"username": "p%d" % k, "content": content,
                                              "room": ROOM})
            except Exception as e:  # the server must stay up: record, fail later
                status, body = -1, {"exception": repr(e)}
            t1 = time.monotonic()
            mid = body.get("_id") if status == 201 and isinstance(body, dict) else None
            with self.lock:
                self.posts.append((t0, t1, status, content, mid, body))
            time.sleep(0.02)

    def _health_loop(self):
        while not self.stop_flag.is_set():
            try:
                _, body = self.srv.json("GET", "/health")
                state = body["storage"]
            except Exception:
                state = "error"
            with self.lock:
                self.health.append((time.monotonic(), state))
            time.sleep(0.1)

    def _watch(self):
        import websocket
        self.ws.settimeout(0.5)
        while True:
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                if self.stop_flag.is_set() and getattr(self, "_drained", False):
                    return
                continue
            except Exception:
                return
            parts = frame.split("\t")
            if parts[0] == "message":
                with self.lock:
                    self.broadcasts.append((parts[1], parts[4]))

    def first_health(self, state, after):
        with self.lock:
            for t, s in self.health:
                if t >= after and s == state:
                    return t
        return None

    def first_success(self, after):
        with self.lock:
            for t0, t1, status, *_ in self.posts:
                if t0 >= after and status == 201:
                    return t1
        return None

    def close(self):
        self._drained = True
        self.watcher.join(timeout=5)
        self.ws.close()


class Outage(unittest.TestCase):
    def setUp(self):
        self.backend = Backend()
        self.db = mt.unique_db("parley_outage")
        self._dir = tempfile.TemporaryDirectory(prefix="parley-mongo-outage-")
        self.srv = None

    def tearDown(self):
        try:
            if self.srv is not None:
                self.srv.close()
            try:
                mt.command(self.backend.admin_uri, self.db, {"dropDatabase": 1}, check=False)
            except Exception:
                pass
        finally:
            self.backend.close()
            self._dir.cleanup()

    def start_server(self, socketio=False):
        cfg = mongo_config(self._dir.name, self.db, self.backend.parley_uri, socketio)
        self.srv = pt.Server(config=cfg, data_dir=self._dir.name).start()
        pt.wait_for(lambda: self.srv.json("GET", "/health")[1]["storage"] == "connected",
                    timeout=10, what="storage connected at start")

    def outage(self, name, take_away, bring_back):
        """Traffic, take the database away for DOWN_FOR s, bring it back."""
        self.start_server()
        traffic = Traffic(self.srv)
        traffic.start()
        time.sleep(1.0)
        t_down = time.monotonic()
        keeps_data = take_away()
        time.sleep(1.0)
        # History fails the same way while the database is away.
        h0 = time.monotonic()
        h_status, h_body = self.srv.json("GET", "/api/messages?room=" + ROOM)
        h_took = time.monotonic() - h0
        time.sleep(max(0.0, DOWN_FOR - (time.monotonic() - t_down)))
        t_up = time.monotonic()
        bring_back()
        pt.wait_for(lambda: traffic.first_health("connected", t_up) is not None and
                    traffic.first_success(t_up) is not None,
                    timeout=15, what="health connected and a post stored after the database "
                    "returned")
        time.sleep(1.5)
        traffic.stop()
        self.assertIsNone(self.srv.proc.poll(), "parley died:\n" + self.srv.stderr())

        posts = list(traffic.posts)
        confirmed = {p[4]: p[3] for p in posts if p[2] == 201}
        failed = [p for p in posts if p[2] != 201]
        # 1. While the database was away: errors, 503, within the timeout.
        self.assertTrue(failed, "no post failed during the outage")
        for t0, t1, status, content, _, body in failed:
            self.assertEqual(status, 503, (content, body))
            self.assertLessEqual(t1 - t0, FAIL_WITHIN, "post %s took %.2f s to fail"
                                 % (content, t1 - t0))
        during = [p for p in posts if p[0] > t_down + 0.05 and p[1] < t_up]
        self.assertTrue(during, "no post ran entirely inside the outage")
        self.assertEqual([p for p in during if p[2] == 201], [],
                         "confirmed while the database was away")
        self.assertEqual(h_status, 503, h_body)
        self.assertLessEqual(h_took, FAIL_WITHIN, "history took %.2f s to fail" % h_took)
        # 2. Health went down and came back.
        t_disc = traffic.first_health("disconnected", t_down)
        self.assertIsNotNone(t_disc, "/health never said disconnected")
        self.assertLessEqual(t_disc - t_down, HEALTH_WITHIN)
        t_conn = traffic.first_health("connected", t_up)
        self.assertLessEqual(t_conn - t_up, HEALTH_WITHIN)
        t_ok = traffic.first_success(t_up)
        # 3. Recovered by itself: everything after the first success is stored.
        late = [p for p in posts if p[0] > max(t_ok, t_conn) + 0.5]
        self.assertTrue(late)
        self.assertEqual([p[3] for p in late if p[2] != 201], [], "failures after recovery")
        # 4. Broadcasts: exactly the confirmed messages, once each.
        pt.wait_for(lambda: len(traffic.broadcasts) >= len(confirmed), timeout=10,
                    what="every confirmed message to be broadcast")
        traffic.close()
        ids = [b[0] for b in traffic.broadcasts]
        self.assertEqual(len(ids), len(set(ids)), "a message was broadcast twice")
        self.assertEqual(set(ids), set(confirmed), "broadcasts differ from confirmed messages")
        # 5. Stored exactly once.
        docs = mt.find_all(self.backend.admin_uri, self.db, "messages", {"room": ROOM})
        by_id = {}
        for d in docs:
            by_id.setdefault(d["_id"]["$oid"], []).append(d["content"])
        contents = [d["content"] for d in docs]
        self.assertEqual(len(contents), len(set(contents)), "a message was stored twice")
        check = confirmed
        if not keeps_data:
            self.assertTrue(mt.is_congodb(self.backend.admin_uri))
            check = {i: c for i, c in confirmed.items()
                     if any(p[4] == i and p[0] >= t_up for p in posts)}
            print("%s: CongoDB lost its data with its process (buildInfo gitVersion congodb): "
                  "checking the %d messages confirmed after the restart, not the %d before"
                  % (name, len(check), len(confirmed) - len(check)))
        for i, c in check.items():
            self.assertEqual(by_id.get(i), [c], "confirmed message %s (%s)" % (i, c))
        stored_failed = sum(1 for p in failed if p[3] in set(contents))
        timing = ("%s: %d posts, %d confirmed, %d failed (%d of them stored anyway, never "
                  "broadcast), slowest failure %.2f s, /health disconnected after %.2f s, "
                  "connected %.2f s and first post stored %.2f s after the database returned; a "
                  "history page failed after %.2f s"
                  % (name, len(posts), len(confirmed), len(failed), stored_failed,
                     max(p[1] - p[0] for p in failed), t_disc - t_down, t_conn - t_up,
                     t_ok - t_up, h_took))
        print(timing)
        TIMINGS.append(timing)
        self.assertEqual(self.srv.stop(), 0, self.srv.stderr())
        self.srv.assert_clean(self)

    def test_sigstop_mid_traffic(self):
        self.outage("SIGSTOP" if self.backend.proxy is None else "freeze (proxy)",
                    lambda: (self.backend.stop(), True)[1], self.backend.cont)

    def test_kill_mid_traffic(self):
        self.outage("SIGKILL" if self.backend.proxy is None else "kill (proxy)",
                    self.backend.kill, self.backend.restart)

    def test_socketio_send_message_during_a_hang(self):
        """send-message while the database hangs: an `error` event (or a failed
        ack) within the timeout, no message-received for anyone; after it
        returns, messages flow again."""
        try:
            import socketio
        except ImportError:
            self.skipTest("python3-socketio is not installed (scripts/deps.sh --test)")
        if not os.path.exists(os.path.join(pt.PLUGIN_DIR, "socketio.so")):
            self.skipTest("the socketio plugin is not built")
        import queue
        self.start_server(socketio=True)
        url = "http://127.0.0.1:%d" % self.srv.port
        clients, inbox = [], {}
        for name in ("watcher", "sender"):
            q = queue.Queue()
            c = socketio.Client(reconnection=False)
            for ev in ("join-confirmed", "message-received", "error"):
                c.on(ev, (lambda e, q: lambda data: q.put((e, data)))(ev, q))
            c.connect(url, transports=["websocket"], wait_timeout=5)
            c.emit("join-chat", {"username": name, "room": "sio-outage"})
            self.assertEqual(q.get(timeout=5)[0], "join-confirmed")
            clients.append(c)
            inbox[name] = q
        watcher, sender = clients
        try:
            def drain(q, secs):
                got, end = [], time.monotonic() + secs
                while time.monotonic() < end:
                    try:
                        got.append(q.get(timeout=max(0.01, end - time.monotonic())))
                    except queue.Empty:
                        break
                return got

            sender.emit("send-message", {"content": "before"})
            ev, data = inbox["watcher"].get(timeout=5)
            self.assertEqual((ev, data["content"]), ("message-received", "before"))
            drain(inbox["sender"], 0.5)

            self.backend.stop()
            t0 = time.monotonic()
            sender.emit("send-message", {"content": "during"})
            ev, data = inbox["sender"].get(timeout=FAIL_WITHIN + 1)
            took = time.monotonic() - t0
            self.assertEqual(ev, "error", data)
            self.assertEqual(data["code"], "storage_unavailable", data)
            self.assertIn("mongo:", data["message"])
            self.assertLessEqual(took, FAIL_WITHIN)
            t1 = time.monotonic()
            ack = sender.call("send-message", {"content": "during, acked"},
                              timeout=FAIL_WITHIN + 1)
            self.assertEqual(ack["ok"], False, ack)
            self.assertLessEqual(time.monotonic() - t1, FAIL_WITHIN)
            self.assertEqual(drain(inbox["watcher"], 0.2), [], "broadcast during the outage")
            self.backend.cont()

            pt.wait_for(lambda: self.srv.json("GET", "/health")[1]["storage"] == "connected",
                        timeout=HEALTH_WITHIN, what="/health connected")
            ack = sender.call("send-message", {"content": "after"}, timeout=5)
            self.assertEqual(ack["ok"], True, ack)
            got = drain(inbox["watcher"], 2.0)
            self.assertEqual([(e, d["content"]) for e, d in got], [("message-received", "after")])
            print("socket.io: error event %.2f s after send-message during the hang" % took)
        finally:
            for c in clients:
                c.disconnect()
        self.assertEqual(self.srv.stop(), 0, self.srv.stderr())
        self.srv.assert_clean(self)

    def test_shutdown_while_the_database_hangs(self):
        """SIGTERM with the database hung and an insert in flight: the insert is
        answered, the server exits 0 within server.shutdown_timeout (5 s)."""
        self.start_server()
        self.assertEqual(self.srv.json("POST", "/api/messages",
                                       {"username": "s", "content": "up", "room": ROOM})[0], 201)
        self.backend.stop()
        answer = {}

        def post():
            try:
                answer["status"] = self.srv.json("POST", "/api/messages",
                                                 {"username": "s", "content": "hung",
                                                  "room": ROOM})[0]
            except Exception as e:
                answer["error"] = repr(e)
        t = threading.Thread(target=post, daemon=True)
        t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        code = self.srv.stop(timeout=10)
        took = time.monotonic() - t0
        self.backend.cont()
        t.join(timeout=10)
        self.assertEqual(code, 0, self.srv.stderr())
        self.assertLessEqual(took, 5.5, "exit took %.2f s" % took)
        self.assertIn(answer.get("status"), (503,), answer)
        self.srv.assert_clean(self)
        print("shutdown with the database hung: exit after %.2f s" % took)

    def test_connections_reset_mid_traffic(self):
        self.backend.use_proxy()
        self.outage("network cut", lambda: (self.backend.proxy.kill(), True)[1],
                    self.backend.proxy.revive)


if __name__ == "__main__":
    missing = [p for p in (pt.PARLEY, os.path.join(pt.PLUGIN_DIR, "mongo.so"),
                           os.path.join(pt.PLUGIN_DIR, "rest.so"), CHATWS_SO, mt.MONGO_CMD)
               if not os.path.exists(p)]
    if missing:
        print("SKIP: not built yet: " + ", ".join(missing))
        sys.exit(77)
    if os.environ.get("MONGODB_URI"):
        # A server we do not own: stop and kill go through the proxy.
        _orig = Backend.__init__

        def _init(self):
            _orig(self)
            self.use_proxy()
        Backend.__init__ = _init
    result = unittest.main(verbosity=2, exit=False).result
    for line in TIMINGS:
        print("timing: " + line)
    sys.exit(0 if result.wasSuccessful() else 1)
