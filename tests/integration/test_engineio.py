"""The Engine.IO v4 server (plugins/socketio/engine*.c) against the real
binary, through the eio_echo fixture (tests/fixtures/eio_echo/) on
/engine.io/ with the official suite's timings (pingInterval 300 ms,
pingTimeout 200 ms, maxPayload 1000000): raw HTTP long-polling and
WebSocket, the upgrade, the heartbeat, CORS and origins, and the transport
level of bad-inputs.md section 1 (H01-H24) and section 2 (E01-E11, P01-P08).

Each bad input is followed by a check that the server still answers a
fresh client (the canary), and the server's stderr must stay free of
sanitizer reports.
"""
import atexit
import base64
import http.client
import json
import os
import re
import signal
import socket
import tempfile
import threading
import time
import unittest

import websocket

from parleytest import SOURCE_DIR, TEST_PLUGIN_DIR, Server, run_parley, wait_for

CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "configs", "eio-echo.yaml")
PATH = "/engine.io/"
PING_INTERVAL = 300
PING_TIMEOUT = 200
MAX_PAYLOAD = 1000000
ALLOWED = "https://chat.example"
ERR = {
    0: b'{"code":0,"message":"Transport unknown"}',
    1: b'{"code":1,"message":"Session ID unknown"}',
    2: b'{"code":2,"message":"Bad handshake method"}',
    3: b'{"code":3,"message":"Bad request"}',
    4: b'{"code":4,"message":"Forbidden"}',
    5: b'{"code":5,"message":"Unsupported protocol version"}',
}
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


# These tests open hundreds of connections a second from 127.0.0.1; lift
# the listener's per-address limits where the host has them.
LIFT_LIMITS = ("  max_connections_per_ip: 100000\n  connect_rate_per_ip: 1000000\n"
               "  connect_burst_per_ip: 1000000\n")
_config = None


def config():
    """eio-echo.yaml, with the per-address limits lifted if the host knows them."""
    global _config
    if _config is not None:
        return _config
    with open(CONFIG) as f:
        text = f.read()
    lifted = text.replace("listener:\n", "listener:\n" + LIFT_LIMITS, 1)
    fd, path = tempfile.mkstemp(prefix="eio-echo-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(lifted)
    atexit.register(os.unlink, path)
    code, _, _ = run_parley(["--check-config", "--config", path],
                            env={"PARLEY_TEST_PLUGIN_DIR": TEST_PLUGIN_DIR,
                                 "PARLEY_DATA": tempfile.gettempdir()})
    _config = path if code == 0 else CONFIG
    return _config


def start_server(**env):
    return Server(config=config(), env=dict({"PARLEY_TEST_PLUGIN_DIR": TEST_PLUGIN_DIR},
                                            **env)).start()


class Client:
    """Raw Engine.IO over HTTP (one connection per request) and WebSocket."""

    def __init__(self, port):
        self.port = port

    def http(self, method, query, body=None, headers=None, path=PATH, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path + ("?" + query if query else ""), body=body,
                         headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def handshake(self, headers=None):
        status, hdrs, body = self.http("GET", "EIO=4&transport=polling", headers=headers)
        assert status == 200, (status, body)
        assert body[:1] == b"0", body
        return json.loads(body[1:])["sid"]

    def get(self, sid, timeout=10, extra=""):
        return self.http("GET", "EIO=4&transport=polling&sid=" + sid + extra, timeout=timeout)

    def post(self, sid, body, headers=None):
        if isinstance(body, str):
            body = body.encode()
        h = {"Content-Type": "text/plain;charset=UTF-8"}
        h.update(headers or {})
        return self.http("POST", "EIO=4&transport=polling&sid=" + sid, body=body, headers=h)

    def ws(self, query="EIO=4&transport=websocket", **kw):
        kw.setdefault("suppress_origin", True)
        return websocket.create_connection("ws://127.0.0.1:%d%s?%s" % (self.port, PATH, query),
                                           timeout=5, **kw)

    def ws_session(self):
        ws = self.ws()
        op, data = ws.recv_data()
        assert op == websocket.ABNF.OPCODE_TEXT and data[:1] == b"0", data
        return ws, json.loads(data[1:])

    def held_get(self, sid):
        """Start a GET in a thread; returns (thread, result list)."""
        out = []

        def run():
            try:
                out.append(self.get(sid))
            except Exception as e:  # noqa: BLE001 - reported by the caller
                out.append(e)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, out


def raw(port, data, timeout=3.0, linger_rst=False):
    """Send raw bytes, read until the server closes or `timeout`."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if linger_rst:
                break
    finally:
        if linger_rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    return out


def status_of(data):
    m = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return int(m.group(1)) if m else None


def upgrade_request(query, extra=""):
    return ("GET %s?%s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
            % (PATH, query, WS_KEY, extra)).encode()


def recv_until_close(ws, limit=50):
    """Frames until the close; returns (list of (opcode, data), close code or None)."""
    got = []
    for _ in range(limit):
        try:
            f = ws.recv_frame()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return got, None
        except websocket.WebSocketTimeoutException:
            return got, "timeout"
        if f.opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(f.data[:2], "big") if len(f.data) >= 2 else 1005
            return got, code
        got.append((f.opcode, f.data))
    return got, "limit"


def metric(text, name, labels=None):
    want = name + ("{" + labels + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class EngineIO(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = start_server()
        cls.c = Client(cls.server.port)

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.server.stop()
            assert code == 0, "parley exited %s:\n%s" % (code, cls.server.stderr()[-4000:])
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                assert marker not in cls.server.stderr(), cls.server.stderr()[-8000:]
        finally:
            cls.server.close()

    def canary(self):
        """A fresh session still works: handshake, POST, GET echo."""
        sid = self.c.handshake()
        self.assertEqual(self.c.post(sid, "4canary")[:3:2], (200, b"ok"))
        self.assertEqual(self.c.get(sid)[::2], (200, b"4canary"))

    def assertError(self, resp, code, status=None):
        st, hdrs, body = resp
        self.assertEqual(st, status or (403 if code == 4 else 400), body)
        self.assertEqual(body, ERR[code])
        self.assertEqual(hdrs.get("content-type"), "application/json")

    def metrics(self):
        st, _, body = self.c.http("GET", "", path="/metrics")
        self.assertEqual(st, 200)
        return body.decode()

    # ---- handshake (H01-H06, H23, H24) ----------------------------------

    def test_h01_open_packet_exact(self):
        st, hdrs, body = self.c.http("GET", "EIO=4&transport=polling&t=abc")
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["content-type"], "text/plain; charset=UTF-8")
        m = re.fullmatch(rb'0\{"sid":"([A-Za-z0-9_-]{22})","upgrades":\["websocket"\],'
                         rb'"pingInterval":300,"pingTimeout":200,"maxPayload":1000000\}', body)
        self.assertIsNotNone(m, body)
        self.assertEqual(len(base64.urlsafe_b64decode(m.group(1) + b"==")), 16)

    def test_h01_sids_are_distinct(self):
        sids = {self.c.handshake() for _ in range(40)}
        self.assertEqual(len(sids), 40)

    def test_h02_bad_eio_is_code_5(self):
        for q in ("EIO=3&transport=polling", "EIO=5&transport=polling", "EIO=&transport=polling",
                  "transport=polling", "EIO=4abc&transport=polling", "EIO=04&transport=polling",
                  "EIO=4&EIO=4&transport=polling", "EIO=abc&transport=polling"):
            with self.subTest(q=q):
                self.assertError(self.c.http("GET", q), 5)

    def test_h03_bad_transport_is_code_0(self):
        for t in ("__proto__", "constructor", "toString", "hasOwnProperty", "webtransport", "",
                  "POLLING", "polling%20", "flashsocket"):
            with self.subTest(t=t):
                self.assertError(self.c.http("GET", "EIO=4&transport=" + t), 0)
        self.assertError(self.c.http("GET", "EIO=4"), 0)
        # A NUL in the query is refused by the HTTP layer itself (lws hangs up).
        data = raw(self.server.port, ("GET %s?EIO=4&transport=polling%%00 HTTP/1.1\r\nHost: t"
                                      "\r\n\r\n" % PATH).encode())
        self.assertIn(status_of(data), (400, None), data[:200])
        self.assertNotIn(b'"sid"', data)
        self.canary()

    def test_h04_websocket_transport_without_upgrade_is_code_3(self):
        self.assertError(self.c.http("GET", "EIO=4&transport=websocket"), 3)

    def test_h05_handshake_by_other_methods_is_code_2(self):
        for m in ("POST", "PUT", "DELETE", "PATCH"):
            with self.subTest(m=m):
                self.assertError(self.c.http(m, "EIO=4&transport=polling", body=b"x"), 2)

    def test_h06_unknown_sids_are_code_1(self):
        for sid in ("doesnotexist", "__proto__", "hasOwnProperty", "constructor", "A" * 4000,
                    "a&sid=b", "", "abc%2Fdef", "AAAAAAAAAAAAAAAAAAAAAA"):
            with self.subTest(sid=sid[:20]):
                self.assertError(self.c.get(sid), 1)
        # sid=%00: lws refuses a NUL in the query before we see it.
        data = raw(self.server.port, ("GET %s?EIO=4&transport=polling&sid=%%00 HTTP/1.1\r\n"
                                      "Host: t\r\n\r\n" % PATH).encode())
        self.assertIn(status_of(data), (400, None), data[:200])
        self.canary()

    def test_h23_v3_parameters_are_ignored(self):
        for q in ("EIO=4&transport=polling&j=0", "EIO=4&transport=polling&b64=1"):
            st, hdrs, body = self.c.http("GET", q)
            self.assertEqual(st, 200)
            self.assertTrue(body.startswith(b'0{"sid":'), body)
            self.assertEqual(hdrs["content-type"], "text/plain; charset=UTF-8")

    def test_h22_many_query_parameters(self):
        # Unknown keys are ignored; lws itself hangs up somewhere between 60
        # and 100 arguments (its header fragment table), which is bounded too.
        q = "EIO=4&transport=polling" + "&a=1" * 60
        t0 = time.monotonic()
        st, _, body = self.c.http("GET", q)
        self.assertEqual(st, 200, body)
        self.assertLess(time.monotonic() - t0, 1.0)
        req = ("GET %s?EIO=4&transport=polling%s HTTP/1.1\r\nHost: t\r\n\r\n"
               % (PATH, "&a=1" * 1500)).encode()
        data = raw(self.server.port, req)
        self.assertIn(status_of(data), (200, 400, 414, 431, None), data[:200])
        self.canary()

    def test_h24_other_paths_are_404(self):
        for path in ("/engine.iox/", "/engine.io/x", "/engine.io", "//engine.io/x"):
            with self.subTest(path=path):
                st, _, body = self.c.http("GET", "EIO=4&transport=polling", path=path)
                self.assertEqual(st, 404, body)
        self.canary()

    def test_h21_big_cookie(self):
        req = ("GET %s?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\nCookie: a=%s\r\n\r\n"
               % (PATH, "b" * 16384)).encode()
        data = raw(self.server.port, req)
        self.assertIn(status_of(data), (200, 400, 431, None), data[:200])   # lws: hang-up
        req = ("GET %s?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\nCookie: %s\r\n\r\n"
               % (PATH, "; ".join("c%d=v" % i for i in range(500)))).encode()
        data = raw(self.server.port, req)
        self.assertIn(status_of(data), (200, 400, 431, None), data[:200])
        self.canary()

    # ---- long-polling messages (P01-P08) ---------------------------------

    def test_polling_echo_one_several_and_binary(self):
        sid = self.c.handshake()
        self.assertEqual(self.c.post(sid, "4hello")[::2], (200, b"ok"))
        self.assertEqual(self.c.post(sid, "4hello")[1]["content-type"], "text/html")
        st, hdrs, body = self.c.get(sid)
        self.assertEqual((st, body), (200, b"4hello\x1e4hello"))
        self.assertEqual(hdrs["content-type"], "text/plain; charset=UTF-8")
        self.c.post(sid, "4test1\x1e4test2\x1e4test3")
        self.assertEqual(self.c.get(sid)[2], b"4test1\x1e4test2\x1e4test3")
        self.c.post(sid, "4hello\x1ebAQIDBA==")
        self.assertEqual(self.c.get(sid)[2], b"4hello\x1ebAQIDBA==")
        # P01, P07 first form
        self.c.post(sid, '40\x1e42["a"]\x1ebAQID')
        self.assertEqual(self.c.get(sid)[2], b'40\x1e42["a"]\x1ebAQID')
        # UTF-8 text survives unchanged.
        self.c.post(sid, "4h\u00e9\u20ac")
        self.assertEqual(self.c.get(sid)[2], "4h\u00e9\u20ac".encode())

    def test_held_get_is_answered_by_a_later_post(self):
        sid = self.c.handshake()
        t, out = self.c.held_get(sid)
        time.sleep(0.05)
        self.assertTrue(t.is_alive(), "GET was not held")
        self.c.post(sid, "4late")
        t.join(5)
        self.assertEqual(out[0][::2], (200, b"4late"))

    def test_many_messages_drain_into_one_response(self):
        sid = self.c.handshake()
        self.c.post(sid, "4!burst 50")
        st, _, body = self.c.get(sid)
        self.assertEqual(body.split(b"\x1e"), [b"4b%d" % i for i in range(50)])

    def test_server_binary_is_base64_on_polling(self):
        sid = self.c.handshake()
        self.c.post(sid, "4!bin 5")
        self.assertEqual(self.c.get(sid)[2], b"b" + base64.b64encode(bytes(range(5))))

    def assertSessionGone(self, sid):
        self.assertError(self.c.get(sid), 1)

    def test_invalid_payloads_close_the_session(self):
        bodies = [b"abc", b"4hello\x1e", b"\x1e\x1e\x1e", b"\x1e", b"", b"2", b"4\xc3\x28\xff",
                  b"b!!!", b"b====", b"0", b"7abc", b"22", b"1x", b"6\x1e" * 1000 + b"6"]
        for body in bodies:
            with self.subTest(body=body[:12]):
                sid = self.c.handshake()
                st, _, resp = self.c.post(sid, body)
                self.assertEqual((st, resp), (400, ERR[3]))
                self.assertSessionGone(sid)
        self.canary()

    def test_p04_many_packets_is_linear(self):
        sid = self.c.handshake()
        t0 = time.monotonic()
        st, _, body = self.c.post(sid, b"6\x1e" * 299999 + b"6")
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual((st, body), (400, ERR[3]))       # over 1000 packets
        sid = self.c.handshake()
        self.assertEqual(self.c.post(sid, b"6\x1e" * 999 + b"6")[::2], (200, b"ok"))
        self.canary()

    def test_noop_and_upgrade_packets_are_ignored_on_polling(self):
        sid = self.c.handshake()
        self.assertEqual(self.c.post(sid, "6\x1e5\x1e4x")[::2], (200, b"ok"))
        self.assertEqual(self.c.get(sid)[2], b"4x")

    def test_h10_octet_stream_body_is_refused_and_closes(self):
        sid = self.c.handshake()
        st, _, body = self.c.post(sid, b"4hello", headers={"Content-Type": "application/octet-stream"})
        self.assertEqual((st, body), (400, ERR[3]))
        self.assertSessionGone(sid)
        self.canary()

    def test_h11_body_over_max_payload_is_413(self):
        sid = self.c.handshake()
        st, _, _ = self.c.post(sid, b"4" + b"a" * MAX_PAYLOAD)
        self.assertEqual(st, 413)
        # exactly maxPayload is accepted and echoed
        sid = self.c.handshake()
        self.assertEqual(self.c.post(sid, b"4" + b"a" * (MAX_PAYLOAD - 1))[0], 200)
        self.assertEqual(len(self.c.get(sid)[2]), MAX_PAYLOAD)

    def test_h12_huge_content_length_is_413_at_once(self):
        sid = self.c.handshake()
        req = ("POST %s?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: t\r\n"
               "Content-Type: text/plain\r\nContent-Length: 9223372036854775807\r\n\r\n4aaaaaaaaa"
               % (PATH, sid)).encode()
        t0 = time.monotonic()
        data = raw(self.server.port, req, timeout=2)
        self.assertIn(status_of(data), (400, 413), data[:200])
        self.assertLess(time.monotonic() - t0, 2.5)
        self.canary()

    def test_h08_duplicate_get_closes_the_session(self):
        sid = self.c.handshake()
        t, out = self.c.held_get(sid)
        time.sleep(0.05)
        self.assertError(self.c.get(sid, extra="&t=burst"), 3)
        t.join(5)
        self.assertEqual(out[0][::2], (200, b"1"))
        self.assertSessionGone(sid)

    def test_h09_posts_one_after_another_are_both_taken(self):
        # A POST reaches the engine only once its body is complete, so two
        # POSTs cannot overlap: both are taken, in order.
        sid = self.c.handshake()
        results = []
        ts = [threading.Thread(target=lambda i=i: results.append(self.c.post(sid, "4p%d" % i)))
              for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(5)
        self.assertEqual(sorted(r[0] for r in results), [200, 200])
        self.assertEqual(sorted(self.c.get(sid)[2].split(b"\x1e")), [b"4p0", b"4p1"])

    def test_h13_other_methods_on_a_session_leave_it_alone(self):
        sid = self.c.handshake()
        for m in ("PUT", "DELETE", "PATCH"):
            with self.subTest(m=m):
                self.assertError(self.c.http(m, "EIO=4&transport=polling&sid=" + sid, body=b"4x"),
                                 3)
        st, hdrs, body = self.c.http("OPTIONS", "EIO=4&transport=polling&sid=" + sid,
                                     headers={"Origin": ALLOWED,
                                              "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(st, 204)
        self.assertEqual(hdrs["access-control-allow-origin"], ALLOWED)
        self.assertEqual(hdrs["access-control-allow-methods"], "GET, POST, OPTIONS")
        self.assertEqual(hdrs["access-control-allow-headers"], "content-type")
        self.assertEqual(hdrs["access-control-allow-credentials"], "true")
        self.c.post(sid, "4still")
        self.assertEqual(self.c.get(sid)[::2], (200, b"4still"))

    def test_client_close_answers_the_held_get_with_noop(self):
        sid = self.c.handshake()
        t, out = self.c.held_get(sid)
        time.sleep(0.05)
        self.c.post(sid, "1")
        t.join(5)
        self.assertEqual(out[0][::2], (200, b"6"))
        self.assertSessionGone(sid)

    def test_get_racing_the_client_close_gets_noop_once(self):
        # The client's GET may reach us just after its own "1" (two
        # connections): it gets "6" once, then the sid is unknown.
        sid = self.c.handshake()
        self.assertEqual(self.c.post(sid, "1")[::2], (200, b"ok"))
        self.assertEqual(self.c.get(sid)[::2], (200, b"6"))
        self.assertSessionGone(sid)
        self.assertError(self.c.post(sid, "4x"), 1)

    def test_server_close_answers_the_held_get_with_close(self):
        sid = self.c.handshake()
        t, out = self.c.held_get(sid)
        time.sleep(0.05)
        self.c.post(sid, "4!close")
        t.join(5)
        self.assertEqual(out[0][::2], (200, b"1"))
        self.assertSessionGone(sid)

    def test_close_from_inside_a_post_drops_the_rest(self):
        sid = self.c.handshake()
        t, out = self.c.held_get(sid)
        time.sleep(0.05)
        self.assertEqual(self.c.post(sid, "4before\x1e4!close\x1e4after")[::2], (200, b"ok"))
        t.join(5)
        # what was sent before the close goes out first, then the close;
        # "after" is never handled
        self.assertEqual(out[0][::2], (200, b"4before\x1e1"))
        self.assertSessionGone(sid)

    def test_ws_burst_arrives_complete_and_in_order(self):
        ws, _ = self.c.ws_session()
        ws.send("4!burst 5000")
        got = []
        while len(got) < 5000:
            m = ws.recv()
            if m != "2":
                got.append(m)
            else:
                ws.send("3")
        self.assertEqual(got, ["4b%d" % i for i in range(5000)])
        ws.close()

    def test_slow_polling_consumer_is_closed(self):
        sid = self.c.handshake()
        before = metric(self.metrics(), "parley_eio_slow_consumers_total", 'transport="polling"')
        for _ in range(3):
            self.c.post(sid, "4!big 100000")       # 256 KiB cap: the third is too many
        self.assertSessionGone(sid)
        after = metric(self.metrics(), "parley_eio_slow_consumers_total", 'transport="polling"')
        self.assertEqual(after, before + 1)
        self.canary()

    # ---- CORS and origins (H14, H15) -------------------------------------

    def test_h15_allowed_origin_gets_cors_headers(self):
        st, hdrs, body = self.c.http("GET", "EIO=4&transport=polling", headers={"Origin": ALLOWED})
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["access-control-allow-origin"], ALLOWED)
        self.assertEqual(hdrs["vary"], "Origin")
        self.assertEqual(hdrs["access-control-allow-credentials"], "true")
        sid = json.loads(body[1:])["sid"]
        st, hdrs, _ = self.c.post(sid, "4x", headers={"Origin": ALLOWED})
        self.assertEqual(hdrs["access-control-allow-origin"], ALLOWED)
        # A held GET keeps the origin for its late answer.
        st, hdrs, body = self.c.http("GET", "EIO=4&transport=polling&sid=" + sid,
                                     headers={"Origin": ALLOWED})
        self.assertEqual((body, hdrs["access-control-allow-origin"]), (b"4x", ALLOWED))
        # No Origin (not a browser): no CORS headers, allowed.
        st, hdrs, _ = self.c.http("GET", "EIO=4&transport=polling")
        self.assertNotIn("access-control-allow-origin", hdrs)

    def test_h15_forbidden_origin_is_403_code_4(self):
        for origin in ("https://evil.example", "https://chat.example.evil", "null",
                       "HTTPS://CHAT.EXAMPLE"):
            with self.subTest(origin=origin):
                resp = self.c.http("GET", "EIO=4&transport=polling", headers={"Origin": origin})
                self.assertError(resp, 4)
                self.assertNotIn("access-control-allow-origin", resp[1])
        sid = self.c.handshake()
        self.assertError(self.c.post(sid, "4x", headers={"Origin": "https://evil.example"}), 4)
        self.assertError(self.c.http("OPTIONS", "EIO=4&transport=polling",
                                     headers={"Origin": "https://evil.example"}), 4)

    def test_h15_w13_forbidden_origin_on_upgrade_is_403_before_101(self):
        data = raw(self.server.port, upgrade_request("EIO=4&transport=websocket",
                                                     "Origin: https://evil.example\r\n"))
        self.assertEqual(status_of(data), 403, data[:200])
        self.assertNotIn(b"101", data.split(b"\r\n")[0])
        self.assertIn(ERR[4], data)
        sid = self.c.handshake()
        data = raw(self.server.port, upgrade_request("EIO=4&transport=websocket&sid=" + sid,
                                                     "Origin: https://evil.example\r\n"))
        self.assertEqual(status_of(data), 403, data[:200])
        ws = self.c.ws(origin=ALLOWED, suppress_origin=False)
        self.assertEqual(ws.recv()[:1], "0")
        ws.close()

    def test_h14_origin_with_control_bytes(self):
        for origin in (b"http://a\x7fb", b"\x01evil"):
            req = (b"GET " + PATH.encode() + b"?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\n"
                   b"Origin: " + origin + b"\r\n\r\n")
            data = raw(self.server.port, req)
            self.assertIn(status_of(data), (400, None), data[:200])
        self.canary()

    # ---- WebSocket (E01-E11, H04, H17, W-) -------------------------------

    def test_ws_open_packet_and_echo(self):
        ws, o = self.c.ws_session()
        self.assertEqual(list(o), ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"])
        self.assertEqual((o["upgrades"], o["pingInterval"], o["pingTimeout"], o["maxPayload"]),
                         ([], 300, 200, 1000000))
        ws.send("4hello")
        self.assertEqual(ws.recv_data(), (websocket.ABNF.OPCODE_TEXT, b"4hello"))
        ws.send_binary(b"\x01\x02\x03\x04")
        self.assertEqual(ws.recv_data(), (websocket.ABNF.OPCODE_BINARY, b"\x01\x02\x03\x04"))
        ws.send("4!bin 3")
        self.assertEqual(ws.recv_data(), (websocket.ABNF.OPCODE_BINARY, b"\x00\x01\x02"))
        ws.send("4!frame")
        self.assertEqual(ws.recv(), "4frame")
        # E05, E06: noop and upgrade are ignored; E09 "b" alone is an empty binary message.
        ws.send("6")
        ws.send("5")
        ws.send("b")
        self.assertEqual(ws.recv_data(), (websocket.ABNF.OPCODE_BINARY, b""))
        ws.send("bAQID")
        self.assertEqual(ws.recv_data(), (websocket.ABNF.OPCODE_BINARY, b"\x01\x02\x03"))
        ws.close()

    def test_ws_bad_packets_close_the_session(self):
        for pkt in ("2", "2probe", "", "9", "x", "\x00", "7abc", "b!!!", "bAQID=", "abc", "0",
                    "3probe1", "1x"):
            with self.subTest(pkt=pkt):
                ws, _ = self.c.ws_session()
                ws.send(pkt)
                got, code = recv_until_close(ws)
                self.assertIn(code, (1000, 1002), (pkt, got))
                ws.close()
        self.canary()

    def test_e08_client_close(self):
        ws, o = self.c.ws_session()
        ws.send("1")
        got, code = recv_until_close(ws)
        self.assertEqual((got, code), ([], 1000))
        self.assertError(self.c.get(o["sid"]), 1)

    def test_server_close_on_websocket(self):
        ws, _ = self.c.ws_session()
        ws.send("4!close")
        self.assertEqual(recv_until_close(ws), ([], 1000))

    def test_e10_message_over_max_payload_closes_1009(self):
        ws, _ = self.c.ws_session()
        ws.send("4" + "a" * (MAX_PAYLOAD - 1))
        self.assertEqual(len(ws.recv()), MAX_PAYLOAD)
        ws.send("4" + "a" * MAX_PAYLOAD)
        got, code = recv_until_close(ws)
        self.assertEqual(code, 1009)
        self.canary()

    def test_e07_unsolicited_pongs_do_not_postpone_pings(self):
        ws, _ = self.c.ws_session()
        t0 = time.monotonic()
        ws.settimeout(0.1)
        got_ping = None
        while time.monotonic() - t0 < 1.0 and got_ping is None:
            ws.send("3")
            try:
                if ws.recv() == "2":
                    got_ping = time.monotonic() - t0
            except websocket.WebSocketTimeoutException:
                pass
        self.assertIsNotNone(got_ping, "no ping while the client sent unsolicited pongs")
        self.assertLess(got_ping, 0.45)
        ws.close()

    def test_ws_handshake_refusals(self):
        for q, code in (("transport=websocket", 5), ("EIO=abc&transport=websocket", 5),
                        ("EIO=4", 0), ("EIO=4&transport=abc", 0),
                        ("EIO=4&transport=__proto__", 0),                    # H17
                        ("EIO=4&transport=websocket&sid=nope", 1),
                        ("EIO=4&transport=polling", 3)):
            with self.subTest(q=q):
                data = raw(self.server.port, upgrade_request(q))
                self.assertEqual(status_of(data), 400, data[:200])
                self.assertIn(ERR[code], data)
        self.canary()

    def test_h07_polling_requests_on_a_websocket_session(self):
        ws, o = self.c.ws_session()
        self.assertError(self.c.get(o["sid"]), 3)
        self.assertError(self.c.post(o["sid"], "4x"), 3)
        ws.send("4alive")
        self.assertEqual(ws.recv(), "4alive")
        ws.close()

    # ---- heartbeat --------------------------------------------------------

    def test_polling_ping_pong(self):
        sid = self.c.handshake()
        for _ in range(3):
            t0 = time.monotonic()
            self.assertEqual(self.c.get(sid)[::2], (200, b"2"))
            self.assertLess(time.monotonic() - t0, 0.45)
            self.assertEqual(self.c.post(sid, "3")[::2], (200, b"ok"))

    def test_polling_ping_timeout(self):
        before = metric(self.metrics(), "parley_eio_ping_timeouts_total")
        sid = self.c.handshake()
        time.sleep((PING_INTERVAL + PING_TIMEOUT) / 1000.0)
        self.assertSessionGone(sid)
        # (sessions other tests left behind time out too)
        self.assertGreaterEqual(metric(self.metrics(), "parley_eio_ping_timeouts_total"),
                                before + 1)

    def test_polling_session_lives_while_pongs_come(self):
        sid = self.c.handshake()
        time.sleep(0.35)                        # the ping is queued now
        self.assertEqual(self.c.get(sid)[2], b"2")
        self.c.post(sid, "3")
        time.sleep(0.25)                        # past the first deadline, pong given
        self.c.post(sid, "4ok")
        self.assertEqual(self.c.get(sid)[2], b"4ok")

    def test_ws_ping_pong_and_timeout(self):
        ws, _ = self.c.ws_session()
        for _ in range(3):
            self.assertEqual(ws.recv(), "2")
            ws.send("3")
        t0 = time.monotonic()
        self.assertEqual(ws.recv(), "2")
        got, code = recv_until_close(ws)       # no pong this time
        self.assertEqual(code, 1000)
        self.assertLess(time.monotonic() - t0, 0.6)

    # ---- upgrade (H18-H20) ------------------------------------------------

    def probe(self, sid):
        ws = self.c.ws("EIO=4&transport=websocket&sid=" + sid)
        ws.send("2probe")
        self.assertEqual(ws.recv(), "3probe")
        return ws

    def test_upgrade_full(self):
        before = metric(self.metrics(), "parley_eio_upgrades_total")
        sid = self.c.handshake()
        t, out = self.c.held_get(sid)
        time.sleep(0.05)
        ws = self.probe(sid)
        t.join(5)
        self.assertEqual(out[0][::2], (200, b"6"))
        # Polling still works until the upgrade: a GET now gets "6" at once.
        self.assertEqual(self.c.post(sid, "4during")[0], 200)
        ws.send("5")
        self.assertEqual(ws.recv(), "4during")      # what polling had queued
        ws.send("4hello")
        self.assertEqual(ws.recv(), "4hello")
        # H18: polling requests with the old sid are refused, the ws lives.
        self.assertError(self.c.get(sid), 3)
        self.assertError(self.c.post(sid, "4x"), 3)
        ws.send("4still")
        self.assertEqual(ws.recv(), "4still")
        # The heartbeat carries on over the WebSocket.
        ws.settimeout(1)
        self.assertEqual(ws.recv(), "2")
        ws.send("3")
        self.assertEqual(metric(self.metrics(), "parley_eio_upgrades_total"), before + 1)
        ws.close()

    def test_get_during_probe_is_answered_noop(self):
        sid = self.c.handshake()
        ws = self.probe(sid)
        t0 = time.monotonic()
        self.assertEqual(self.c.get(sid)[::2], (200, b"6"))
        self.assertLess(time.monotonic() - t0, 0.2)
        ws.send("5")
        ws.close()

    def test_h19_second_websocket_for_the_session(self):
        sid = self.c.handshake()
        ws = self.probe(sid)
        ws.send("5")
        ws2 = self.c.ws("EIO=4&transport=websocket&sid=" + sid)     # 101 ...
        got, code = recv_until_close(ws2)                           # ... then closed
        self.assertEqual((got, code), ([], 1000))
        ws.send("4hello")
        self.assertEqual(ws.recv(), "4hello")
        ws.close()

    def test_second_probe_while_upgrading_is_closed(self):
        sid = self.c.handshake()
        ws = self.probe(sid)
        ws2 = self.c.ws("EIO=4&transport=websocket&sid=" + sid)
        self.assertEqual(recv_until_close(ws2), ([], 1000))
        ws.send("5")
        ws.send("4a")
        self.assertEqual(ws.recv(), "4a")
        ws.close()

    def test_h20_upgrade_timeout_keeps_polling(self):
        for send_probe in (False, True):
            with self.subTest(probe=send_probe):
                sid = self.c.handshake()
                ws = self.c.ws("EIO=4&transport=websocket&sid=" + sid)
                if send_probe:
                    ws.send("2probe")
                    self.assertEqual(ws.recv(), "3probe")
                # keep the polling session alive while the probe waits
                deadline = time.monotonic() + 1.6
                while time.monotonic() < deadline:
                    st, _, body = self.c.get(sid)
                    self.assertEqual(st, 200, body)
                    if b"2" in body.split(b"\x1e"):
                        self.c.post(sid, "3")
                ws.settimeout(1)
                got, code = recv_until_close(ws)
                self.assertEqual(code, 1000)
                self.c.post(sid, "4after")
                body = self.c.get(sid)[2]
                self.assertIn(b"4after", body.split(b"\x1e"))

    def test_bad_packet_on_probe_aborts_only_the_upgrade(self):
        sid = self.c.handshake()
        ws = self.c.ws("EIO=4&transport=websocket&sid=" + sid)
        ws.send("4early")
        self.assertEqual(recv_until_close(ws)[1], 1000)
        self.c.post(sid, "4x")
        self.assertEqual(self.c.get(sid)[2], b"4x")

    def test_w15_garbage_after_upgrade_request(self):
        sid = self.c.handshake()
        for q in ("EIO=4&transport=websocket", "EIO=4&transport=websocket&sid=" + sid):
            data = raw(self.server.port, upgrade_request(q) + b"test")
            self.assertEqual(status_of(data), 101, data[:100])
        self.canary()

    def test_h16_h2c_upgrade_then_reset(self):
        req = ("GET %s?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\n"
               "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n" % PATH).encode()
        data = raw(self.server.port, req, timeout=1, linger_rst=True)
        self.assertNotIn(b"101", data.split(b"\r\n")[0] if data else b"")
        self.canary()

    def sessions_open(self):
        text = self.metrics()
        return (metric(text, "parley_eio_sessions", 'transport="polling"'),
                metric(text, "parley_eio_sessions", 'transport="websocket"'))

    def test_r02_r12_idle_sessions_expire_and_churn_leaves_nothing(self):
        fds = len(os.listdir("/proc/%d/fd" % self.server.pid))
        for _ in range(200):
            self.c.handshake()
        for _ in range(100):
            ws, _ = self.c.ws_session()
            ws.send("1")
            recv_until_close(ws)
            ws.close()
        for _ in range(100):
            sid = self.c.handshake()
            self.c.post(sid, "1")
        self.assertGreaterEqual(self.sessions_open()[0], 200)
        # pingInterval + pingTimeout, then every idle session is gone
        wait_for(lambda: self.sessions_open() == (0.0, 0.0), timeout=3,
                 what="every idle session to time out")
        wait_for(lambda: len(os.listdir("/proc/%d/fd" % self.server.pid)) <= fds + 2,
                 timeout=3, what="the fds to return to the baseline %d" % fds)

    def test_bad_inputs_leave_another_session_alone(self):
        ws, _ = self.c.ws_session()
        ws.settimeout(0.2)
        seen = {"pings": 0, "msgs": [], "closed": False}
        stop = threading.Event()

        def reader():                   # answers pings while the bad inputs run
            while not stop.is_set():
                try:
                    op, data = ws.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    continue
                except (websocket.WebSocketConnectionClosedException, ConnectionError):
                    seen["closed"] = True
                    return
                if op == websocket.ABNF.OPCODE_CLOSE:
                    seen["closed"] = True
                    return
                if data == b"2":
                    seen["pings"] += 1
                    ws.send("3")
                else:
                    seen["msgs"].append(data)
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.0:
                for body in (b"abc", b"2", b"\x1e", b"b!!!"):
                    sid = self.c.handshake()
                    self.c.post(sid, body)
                self.c.get("__proto__")
                raw(self.server.port, upgrade_request("EIO=4&transport=__proto__"), timeout=0.5)
            ws.send("4alive")
            wait_for(lambda: b"4alive" in seen["msgs"] or seen["closed"], timeout=2,
                     what="the echo on the other session")
        finally:
            stop.set()
            t.join(2)
        self.assertFalse(seen["closed"])
        self.assertEqual(seen["msgs"], [b"4alive"])
        self.assertGreaterEqual(seen["pings"], 2)
        ws.close()

    def test_metrics_are_registered(self):
        text = self.metrics()
        for name in ('parley_eio_sessions{transport="polling"}',
                     'parley_eio_sessions{transport="websocket"}',
                     'parley_eio_handshakes_total{transport="polling"}',
                     'parley_eio_protocol_errors_total{reason="unknown_sid"}',
                     'parley_eio_protocol_errors_total{reason="parse_error"}',
                     "parley_eio_upgrades_total"):
            self.assertIn(name + " ", text)
        before = metric(text, "parley_eio_protocol_errors_total", 'reason="unsupported_version"')
        self.c.http("GET", "EIO=3&transport=polling")
        self.assertEqual(metric(self.metrics(), "parley_eio_protocol_errors_total",
                                'reason="unsupported_version"'), before + 1)


class LongHeartbeat(unittest.TestCase):
    """pingInterval 20 s: what ends a session here is not the heartbeat."""

    def test_cancelled_get_ends_the_session(self):
        server = start_server(EIO_PING_INTERVAL="20s", EIO_PING_TIMEOUT="20s")
        try:
            c = Client(server.port)
            sid = c.handshake()
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(("GET %s?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: t\r\n\r\n"
                       % (PATH, sid)).encode())
            time.sleep(0.05)
            s.close()
            # The listener notices the vanished peer within 250 ms.
            time.sleep(0.6)
            st, _, body = c.get(sid)
            self.assertEqual((st, body), (400, ERR[1]))
            self.assertEqual(server.stop(), 0)
            server.assert_clean(self)
        finally:
            server.close()


class Drain(unittest.TestCase):
    def test_sigterm_closes_polling_and_websocket_sessions(self):
        server = start_server(EIO_PING_INTERVAL="20s", EIO_PING_TIMEOUT="20s")
        try:
            c = Client(server.port)
            sid = c.handshake()
            t, out = c.held_get(sid)
            ws, _ = c.ws_session()
            time.sleep(0.1)
            server.signal(signal.SIGTERM)
            t.join(5)
            self.assertEqual(out[0][::2], (200, b"1"))
            got, code = recv_until_close(ws)
            self.assertEqual(code, 1001)
            self.assertEqual(server.proc.wait(10), 0)
            server.assert_clean(self)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
