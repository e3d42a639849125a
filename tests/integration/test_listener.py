"""The shared listener (host/listener*.c) against the real server and the echo
fixture transport (tests/fixtures/echo/): HTTP keep-alive, routing, body
limits, held requests, WebSocket echo, reassembly and limits, batching, slow
consumers, the origin refusal, the lws CVE guards, and drain on SIGTERM.

Everything runs under ASan/UBSan; the server's stderr must stay free of
sanitizer reports and it must exit 0 on SIGTERM.
"""
import http.client
import json
import os
import socket
import struct
import tempfile
import threading
import time
import unittest

import websocket

from parleytest import SOURCE_DIR, TEST_PLUGIN_DIR, Server, run_parley, wait_for

CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "configs", "echo.yaml")
ECHO_SO = os.path.join(TEST_PLUGIN_DIR, "echo.so")
MAX_BODY = 64 * 1024          # listener.max_body in echo.yaml
MAX_MESSAGE = 1024 * 1024     # listener.max_message


def start_server(**env):
    return Server(config=CONFIG, env=dict({"PARLEY_ECHO_SO": ECHO_SO}, **env)).start()


def raw(port, data, timeout=3.0, pause=None, more=None):
    """Send raw bytes (then optionally `more` after `pause` s) and read until
    the server closes or `timeout` passes. Returns (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    closed = False
    try:
        s.sendall(data)
        if more is not None:
            time.sleep(pause or 0.2)
            try:
                s.sendall(more)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
    finally:
        s.close()
    return out, closed


def responses(data):
    """Split a byte stream of HTTP responses (each with Content-Length)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


def ws_connect(port, path="/echo/ws", **kw):
    return websocket.create_connection("ws://127.0.0.1:%d%s" % (port, path), timeout=10, **kw)


def recv_close(ws):
    """Read frames until the close frame, without answering it (the server
    may hang up at once); returns (code, reason), or (None, "") when the
    connection ended without one."""
    while True:
        try:
            frame = ws.recv_frame()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return None, ""
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            data = frame.data
            if len(data) >= 2:
                return struct.unpack("!H", data[:2])[0], data[2:].decode("utf-8", "replace")
            return None, ""


def send_quietly(ws, data, binary=True):
    """Send, tolerating the server hanging up mid-message."""
    try:
        if binary:
            ws.send_binary(data)
        else:
            ws.send(data)
    except (BrokenPipeError, ConnectionResetError, websocket.WebSocketConnectionClosedException):
        pass


class Listener(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = start_server()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.server.stop()
            text = cls.server.stderr()
            assert code == 0, "parley exited %s on SIGTERM:\n%s" % (code, text[-4000:])
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                           "SUMMARY: UndefinedBehaviorSanitizer"):
                assert marker not in text, "sanitizer report in parley's stderr:\n" + text
        finally:
            cls.server.close()

    def alive(self):
        status, _, body = self.server.request("GET", "/echo/http?q=alive")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["q"], "alive")

    # ---------------------------------------------------------------- HTTP

    def test_keepalive_several_requests_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/echo/http?q=one&x=%2F", headers={"X-Echo": "first"})
            sock = conn.sock
            r = conn.getresponse()
            body = json.loads(r.read())
            self.assertEqual(r.status, 200)
            self.assertEqual(body["method"], "GET")
            self.assertEqual(body["path"], "/echo/http")
            # The query reaches the plugin raw; query_param decodes it.
            self.assertEqual(body["query"], "q=one&x=%2F")
            self.assertEqual(body["q"], "one")
            self.assertEqual(body["header"], "first")
            self.assertEqual(r.getheader("Content-Type"), "application/json")

            conn.request("POST", "/echo/http?q=a+b%26c", body=b"x" * 1000,
                         headers={"Content-Type": "text/plain"})
            self.assertIs(conn.sock, sock, "the connection was not kept alive")
            r = conn.getresponse()
            body = json.loads(r.read())
            self.assertEqual((r.status, body["method"], body["body_len"]), (200, "POST", 1000))
            self.assertEqual(body["q"], "a b&c")
            self.assertEqual(body["header"], "ENOTFOUND")

            conn.request("PUT", "/echo/http/sub", body=b"", headers={"X-Echo": "third"})
            self.assertIs(conn.sock, sock)
            r = conn.getresponse()
            body = json.loads(r.read())
            self.assertEqual((r.status, body["method"], body["path"], body["body_len"]),
                             (200, "PUT", "/echo/http/sub", 0))
            self.assertEqual(body["header"], "third")
        finally:
            conn.close()

    def test_pipelined_requests_on_one_socket(self):
        req = b"GET /echo/http?q=%d HTTP/1.1\r\nHost: t\r\n\r\n"
        data, _ = raw(self.port, req % 1 + req % 2 + req % 3, timeout=1.5)
        got = responses(data)
        self.assertEqual([s for s, _, _ in got], [200, 200, 200])
        self.assertEqual([json.loads(b)["q"] for _, _, b in got], ["1", "2", "3"])

    def test_large_responses_on_one_keepalive_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            for n in (8 * 1024 * 1024, 3, 5 * 1024 * 1024 + 7):
                conn.request("GET", "/echo/big?n=%d" % n)
                r = conn.getresponse()
                data = r.read()
                self.assertEqual((r.status, len(data)), (200, n))
                self.assertEqual(data.count(b"b"), n)
        finally:
            conn.close()

    def test_unknown_route_is_404_json(self):
        status, hdrs, body = self.server.request("GET", "/x")
        self.assertEqual(status, 404)
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertEqual(json.loads(body),
                         {"error": {"code": "not_found", "message": "no route for /x"}})

    def test_odd_paths_get_json_answers(self):
        # Bytes RFC 3986 never allows in a target: 400 before any route.
        data, closed = raw(self.port, b'GET /a"b\\c<d> HTTP/1.1\r\nHost: t\r\n\r\n', timeout=1)
        got = responses(data)
        self.assertEqual(got[0][0], 400, data)
        self.assertEqual(json.loads(got[0][2])["error"]["code"], "bad_request")
        self.assertTrue(closed)
        # Escapes reach the router as they came, never decoded into another path.
        data, _ = raw(self.port, b'GET /a%22b%5C HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
                      timeout=1)
        got = responses(data)
        self.assertEqual(got[0][0], 404, data)
        self.assertEqual(json.loads(got[0][2])["error"]["message"], "no route for /a%22b%5C")

    def test_query_param_strict_decoding(self):
        status, _, body = self.server.request("GET", "/echo/http?q=%E2%82%AC+1&q=second")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["q"], "\u20ac 1")
        status, _, body = self.server.request("GET", "/echo/http?other=1")
        self.assertEqual(json.loads(body)["q"], "ENOTFOUND")

    def test_413_by_content_length_before_the_body(self):
        head = ("POST /echo/http HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                % (MAX_BODY + 1)).encode()
        data, _ = raw(self.port, head, timeout=2)
        got = responses(data)
        self.assertEqual(got[0][0], 413, data)
        self.assertEqual(json.loads(got[0][2])["error"]["code"], "payload_too_large")
        self.assertIn("over the limit of 65536", json.loads(got[0][2])["error"]["message"])
        self.assertIn("refused 413, Content-Length 65537 over the cap 65536", self.server.stderr())

    def test_413_when_the_oversized_body_is_sent_and_the_connection_survives(self):
        body = b"y" * (MAX_BODY + 10)
        req = ("POST /echo/http HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
               % len(body)).encode() + body
        nxt = b"GET /echo/http?q=after HTTP/1.1\r\nHost: t\r\n\r\n"
        data, _ = raw(self.port, req + nxt, timeout=2)
        got = responses(data)
        self.assertEqual([g[0] for g in got], [413, 200], data[:300])
        self.assertEqual(json.loads(got[1][2])["q"], "after")

    def test_expect_100_continue(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=3)
        try:
            s.sendall(b"POST /echo/http HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            self.assertEqual(s.recv(100), b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(b"hello")
            data = b""
            while b"}" not in data:
                data += s.recv(4096)
            got = responses(data)
            self.assertEqual((got[0][0], json.loads(got[0][2])["body_len"]), (200, 5))
        finally:
            s.close()
        # Refused: no 100, and the connection is closed (the body never comes).
        data, closed = raw(self.port, ("POST /echo/http HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                                       "Expect: 100-continue\r\n\r\n" % (MAX_BODY + 1)).encode())
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data)
        self.assertTrue(closed)

    def test_route_cap_overrides_the_default(self):
        status, _, body = self.server.request("POST", "/echo/small", body=b"z" * 1024)
        self.assertEqual((status, json.loads(body)["body_len"]), (200, 1024))
        status, _, body = self.server.request("POST", "/echo/small", body=b"z" * 1025)
        self.assertEqual(status, 413)
        self.assertIn("over the limit of 1024", json.loads(body)["error"]["message"])

    def test_body_exactly_at_the_cap_is_accepted(self):
        status, _, body = self.server.request("POST", "/echo/http", body=b"a" * MAX_BODY)
        self.assertEqual((status, json.loads(body)["body_len"]), (200, MAX_BODY))

    def test_chunked_bodies_and_411_for_missing_length(self):
        # Chunked bodies are decoded (with extensions and trailers), then the
        # next request on the same connection is served.
        data, closed = raw(self.port, b"POST /echo/http HTTP/1.1\r\nHost: t\r\n"
                                      b"Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n"
                                      b"3\r\n, w\r\n0\r\nX-Trailer: 1\r\n\r\n"
                                      b"GET /echo/http?q=next HTTP/1.1\r\nHost: t\r\n"
                                      b"Connection: close\r\n\r\n")
        got = responses(data)
        self.assertEqual([g[0] for g in got], [200, 200], data)
        self.assertEqual(json.loads(got[0][2])["body_len"], 8)
        self.assertEqual(json.loads(got[1][2])["q"], "next")
        # A chunk past the route's cap: 413 and close, nothing buffered past it.
        data, closed = raw(self.port, b"POST /echo/small HTTP/1.1\r\nHost: t\r\n"
                                      b"Transfer-Encoding: chunked\r\n\r\n401\r\n" + b"z" * 1025)
        self.assertEqual(responses(data)[0][0], 413, data)
        self.assertTrue(closed)
        data, closed = raw(self.port, b"POST /echo/http HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(responses(data)[0][0], 411, data)
        self.assertEqual(json.loads(responses(data)[0][2])["error"]["code"], "length_required")
        self.assertTrue(closed)
        self.alive()

    def test_held_request_outlives_the_lws_5s_timeout(self):
        t0 = time.monotonic()
        status, _, body = self.server.request("GET", "/echo/hold?ms=6000", timeout=20)
        elapsed = time.monotonic() - t0
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"held_ms": 6000})
        self.assertGreaterEqual(elapsed, 5.9)
        self.assertLess(elapsed, 12)

    def test_short_holds_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for ms in (50, 10, 100):
                conn.request("GET", "/echo/hold?ms=%d" % ms)
                r = conn.getresponse()
                self.assertEqual((r.status, json.loads(r.read())), (200, {"held_ms": ms}))
        finally:
            conn.close()

    def test_client_abort_of_a_held_request(self):
        before = self.server.stderr().count("held request aborted")
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET /echo/hold?ms=3000 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        s.close()
        wait_for(lambda: self.server.stderr().count("held request aborted") == before + 1,
                 timeout=5, what="on_abort for the held request")
        time.sleep(3.2)     # past the plugin's timer: it must not respond to a dead request
        self.assertEqual(self.server.stderr().count("held request aborted"), before + 1)
        self.alive()

    # ----------------------------------------------------------- WebSocket

    def test_ws_echo_text_and_binary(self):
        ws = ws_connect(self.port)
        try:
            ws.send("hello \u00e9\u20ac")
            op, data = ws.recv_data()
            self.assertEqual((op, data.decode()), (websocket.ABNF.OPCODE_TEXT, "hello \u00e9\u20ac"))
            ws.send_binary(b"\x00\x01\xff")
            op, data = ws.recv_data()
            self.assertEqual((op, data), (websocket.ABNF.OPCODE_BINARY, b"\x00\x01\xff"))
            ws.send("")
            op, data = ws.recv_data()
            self.assertEqual((op, data), (websocket.ABNF.OPCODE_TEXT, b""))
        finally:
            ws.close()

    def test_ws_fragmented_message_is_reassembled(self):
        ws = ws_connect(self.port)
        try:
            ABNF = websocket.ABNF
            ws.send_frame(ABNF.create_frame(b"frag", ABNF.OPCODE_TEXT, fin=0))
            ws.ping(b"mid")     # a control frame between fragments
            ws.send_frame(ABNF.create_frame(b"men" + b"\xc3", ABNF.OPCODE_CONT, fin=0))
            ws.send_frame(ABNF.create_frame(b"\xa9ted", ABNF.OPCODE_CONT, fin=1))
            while True:
                op, data = ws.recv_data(control_frame=True)
                if op == ABNF.OPCODE_TEXT:
                    break
            self.assertEqual(data.decode(), "fragmen\u00e9ted")
            big = os.urandom(200000)
            ws.send_frame(ABNF.create_frame(big[:70000], ABNF.OPCODE_BINARY, fin=0))
            ws.send_frame(ABNF.create_frame(big[70000:], ABNF.OPCODE_CONT, fin=1))
            op, data = ws.recv_data()
            self.assertEqual((op, data), (ABNF.OPCODE_BINARY, big))
        finally:
            ws.close()

    def test_ws_message_of_exactly_max_message_is_echoed(self):
        ws = ws_connect(self.port)
        try:
            payload = os.urandom(MAX_MESSAGE)
            ws.send_binary(payload)
            op, data = ws.recv_data()
            self.assertEqual(op, websocket.ABNF.OPCODE_BINARY)
            self.assertEqual(len(data), MAX_MESSAGE)
            self.assertEqual(data, payload)
        finally:
            ws.close()

    def test_ws_message_over_max_message_closes_1009(self):
        before = self.server.stderr().count("closing 1009")
        ws = ws_connect(self.port)
        try:
            send_quietly(ws, b"q" * (MAX_MESSAGE + 1))
            self.assertEqual(recv_close(ws), (1009, "message too big"))
        finally:
            ws.shutdown()
        self.assertIn("message of at least 1048577 bytes is over the cap 1048576",
                      self.server.stderr())
        # Fragments add up: the cap applies to the message.
        ws = ws_connect(self.port)
        try:
            ABNF = websocket.ABNF
            ws.send_frame(ABNF.create_frame(b"a" * MAX_MESSAGE, ABNF.OPCODE_BINARY, fin=0))
            try:
                ws.send_frame(ABNF.create_frame(b"b", ABNF.OPCODE_CONT, fin=1))
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.assertIn(recv_close(ws)[0], (1009, None))
        finally:
            ws.shutdown()
        wait_for(lambda: self.server.stderr().count("closing 1009") == before + 2, timeout=5,
                 what="both 1009 closes in the log")
        self.alive()

    def test_ws_invalid_utf8_closes_1007(self):
        for bad in (b"\xff\xfe", b"ok\xc3", b"\xed\xa0\x80", b"\xc0\xaf"):
            ws = ws_connect(self.port)
            try:
                ws.send_frame(websocket.ABNF.create_frame(bad, websocket.ABNF.OPCODE_TEXT))
                self.assertEqual(recv_close(ws), (1007, "invalid UTF-8"), bad)
            finally:
                ws.shutdown()

    def test_ws_close_codes_both_ways(self):
        ws = ws_connect(self.port)
        try:
            ws.send("close")
            self.assertEqual(recv_close(ws), (4000, "asked to close"))
            ws.send_close(1000, b"")       # the answer; the server hangs up
            with self.assertRaises((websocket.WebSocketConnectionClosedException, ConnectionError)):
                ws.recv_frame()
        finally:
            ws.shutdown()
        ws = ws_connect(self.port)
        ws.close(status=4321, reason=b"bye")
        wait_for(lambda: "websocket closed with 4321" in self.server.stderr(), timeout=5,
                 what="on_close with the peer's code")

    def test_ws_burst_of_10000_frames_arrives_complete_and_in_order(self):
        ws = ws_connect(self.port)
        try:
            ws.send("burst 10000")
            for i in range(10000):
                self.assertEqual(ws.recv(), "%d:" % i)
            ws.send("after")
            self.assertEqual(ws.recv(), "after")
        finally:
            ws.close()

    def test_ws_slow_consumer_is_closed_others_unaffected(self):
        slow = ws_connect(self.port)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        other = ws_connect(self.port)
        try:
            before = self.server.stderr().count("slow consumer")
            slow.send("flood 4000")         # and never read
            for i in range(20):
                other.send("still here %d" % i)
                self.assertEqual(other.recv(), "still here %d" % i)
                time.sleep(0.05)
            wait_for(lambda: self.server.stderr().count("slow consumer") > before, timeout=15,
                     what="the slow consumer to be closed")
            # The slow one is gone: reading drains what was sent, then ends.
            slow.settimeout(10)
            frames, code = 0, None
            try:
                while True:
                    op, data = slow.recv_data(control_frame=True)
                    if op == websocket.ABNF.OPCODE_CLOSE:
                        code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                        break
                    frames += 1
            except (websocket.WebSocketConnectionClosedException, ConnectionError):
                pass
            self.assertIn(code, (1008, None))
            self.assertIn("slow consumer", self.server.stderr())
            self.assertLess(frames, 100000)
            other.send("after")
            self.assertEqual(other.recv(), "after")
        finally:
            slow.close()
            other.close()

    def test_ws_forbidden_origin_is_403_before_any_101(self):
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        req = ("GET /echo/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Origin: http://evil.example\r\n\r\n" % key).encode()
        data, closed = raw(self.port, req)
        self.assertTrue(data.startswith(b"HTTP/1.1 403 "), data)
        self.assertNotIn(b" 101 ", data)
        self.assertTrue(data.endswith(b"origin http://evil.example is not allowed"), data)
        self.assertTrue(closed)
        with self.assertRaises(websocket.WebSocketBadStatusException):
            ws_connect(self.port, origin="http://evil.example")
        ws = ws_connect(self.port, origin="http://good.example")
        ws.close()

    def test_ws_upgrade_only_on_an_endpoint(self):
        req = (b"GET /echo/http HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data, closed = raw(self.port, req)
        self.assertNotIn(b"101", data)
        self.assertTrue(closed)
        self.alive()

    # ---------------------------------------------------------- CVE guards

    def test_cve_upgrade_foo_on_keepalive_then_another_request(self):
        first = (b"GET /echo/http HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, Upgrade\r\n"
                 b"Upgrade: foo\r\n\r\n")
        second = b"GET /echo/http?q=second HTTP/1.1\r\nHost: t\r\n\r\n"
        data, closed = raw(self.port, first, more=second, pause=0.3, timeout=1)
        # An Upgrade we do not speak is ignored (RFC 9110 7.8): both are
        # plain HTTP/1.1 answers on the one connection, no 101, no 403 page.
        self.assertNotIn(b" 101 ", data)
        got = responses(data)
        self.assertEqual([g[0] for g in got], [200, 200], data)
        self.assertEqual(json.loads(got[1][2])["q"], "second")
        data, closed = raw(self.port, first + second, timeout=1)
        self.assertEqual([g[0] for g in responses(data)], [200, 200], data)
        self.alive()

    def test_cve_h2c_upgrade_on_a_polling_get(self):
        req = (b"GET /echo/http?EIO=4&transport=polling&t=x HTTP/1.1\r\nHost: t\r\n"
               b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        data, closed = raw(self.port, req, timeout=1)
        self.assertNotIn(b"101", data)
        self.assertEqual(responses(data)[0][0], 200, data)   # h2c ignored: a plain answer
        # And with the h2 preface after it, as an attacker would send: the
        # preface is the next HTTP/1.1 request, and it gets a 505 and a close.
        data, closed = raw(self.port, req + b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(64))
        self.assertNotIn(b"101", data)
        self.assertEqual([g[0] for g in responses(data)], [200, 505], data)
        self.assertTrue(closed)
        self.alive()

    def test_cve_h2_preface(self):
        data, closed = raw(self.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                      b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        self.assertFalse(data.startswith(b"HTTP/1.1 101"), data)
        self.assertNotIn(b"\x00\x00\x00\x04", data)     # no h2 SETTINGS frame back
        self.assertTrue(closed)
        self.alive()

    def test_malformed_requests_do_not_hurt_the_server(self):
        ws_head = (b"GET /echo/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
        cases = [
            (b"GET /echo/http HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", None),
            (b"GET /echo/http?" + b"&".join(b"a%d=1" % i for i in range(2000))
             + b" HTTP/1.1\r\nHost: t\r\n\r\n", None),
            (b"GET /echo/%zz HTTP/1.1\r\nHost: t\r\n\r\n", None),
            (b"GET /echo/http%00x HTTP/1.1\r\nHost: t\r\n\r\n", None),
            (b"GET /echo/http?q=%00 HTTP/1.1\r\nHost: t\r\n\r\n", None),
            (b"\r\n\r\n", None),
            (os.urandom(3000), None),
            (b"POST /echo/http HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
             400),
            (b"POST /echo/http HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
            (b"POST /echo/http HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
             400),
            (b"POST /echo/http HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
             b"Transfer-Encoding: chunked\r\n\r\nabc", 400),          # smuggling shape (G05)
            (ws_head + b"\r\n", 426),                                   # no version
            (ws_head + b"Sec-WebSocket-Version: 8\r\n\r\n", 426),
            (ws_head + b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n", 400),
            (b"GET /echo/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n"
             b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", None),
            (b"GET /echo/http HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", None),
        ]
        for data, want in cases:
            out, _ = raw(self.port, data, timeout=1.5)
            self.assertNotIn(b" 101 ", out, data[:80])
            if want is not None:
                self.assertEqual(responses(out)[0][0], want, data[:80])
        # No path normalisation: dot segments never reach another handler (H24).
        status, _, body = self.server.request("GET", "/x/../echo/http?q=dd")
        self.assertEqual(status, 404, body)
        self.alive()

    def test_connect_is_refused(self):
        data, closed = raw(self.port, b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n")
        self.assertTrue(closed)
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 405"), data)
        self.assertIn("refusing CONNECT", self.server.stderr())
        self.alive()


class Listen(unittest.TestCase):
    def test_port_in_use_is_named_with_the_reason(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        try:
            with tempfile.TemporaryDirectory(prefix="parley-listen-") as data:
                code, _, err = run_parley(["--config", CONFIG],
                                          env={"PARLEY_ECHO_SO": ECHO_SO, "PARLEY_DATA": data,
                                               "PARLEY_HOST": "127.0.0.1", "PARLEY_PORT": str(port)})
            self.assertEqual(code, 1, err)
            self.assertIn("cannot listen on 127.0.0.1:%d: Address already in use" % port, err)
        finally:
            taken.close()


class Limits(unittest.TestCase):
    def test_max_connections_answers_503(self):
        server = start_server(PARLEY_MAX_CONNECTIONS="3")
        try:
            # start() probed the port; let the server see that one go.
            wait_for(lambda: "new connection" in server.stderr(), timeout=5, what="the probe")
            time.sleep(0.3)
            held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
            time.sleep(0.3)
            data, closed = raw(server.port, b"GET /echo/http HTTP/1.1\r\nHost: t\r\n\r\n")
            got = responses(data)
            self.assertEqual(got[0][0], 503, data)
            self.assertEqual(json.loads(got[0][2])["error"]["code"], "too_many_connections")
            for s in held:
                s.close()
            wait_for(lambda: server.request("GET", "/echo/http")[0] == 200, timeout=5,
                     what="a connection slot to free up")
            self.assertEqual(server.stop(), 0)
            server.assert_clean(self)
        finally:
            server.close()


def echo_rest_config(listener=""):
    """echo.yaml with the REST plugin beside the echo fixture (for /metrics),
    and `listener` lines added to its listener section; returns the path of
    a temporary file the caller unlinks."""
    with open(CONFIG) as f:
        text = f.read()
    text = text.replace("listener:\n", "listener:\n" + listener, 1)
    text += "  - plugin: rest\n    config:\n      catch_all: false\n"
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
        return f.name


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("metric %s not in:\n%s" % (name, text))


class SharedPort(unittest.TestCase):
    """The echo fixture and the REST plugin on one port; the listener's
    metrics (through REST's /metrics) prove the writes are batched."""

    def test_two_transports_one_port_and_batched_writes(self):
        path = echo_rest_config()
        server = Server(config=path, env={"PARLEY_ECHO_SO": ECHO_SO}).start()
        try:
            status, _, body = server.request("GET", "/health")
            self.assertEqual(status, 200, body)
            status, _, body = server.request("GET", "/echo/http?q=shared")
            self.assertEqual((status, json.loads(body)["q"]), (200, "shared"))
            self.assertEqual(server.request("GET", "/nothing")[0], 404)
            ws = ws_connect(server.port)
            ws.send("burst 10000")
            for i in range(10000):
                self.assertEqual(ws.recv(), "%d:" % i)
            ws.close()
            status, _, body = server.request("GET", "/metrics")
            self.assertEqual(status, 200)
            text = body.decode()
            frames = metric(text, "parley_listener_ws_frames_total")
            writes = metric(text, "parley_listener_ws_writes_total")
            self.assertGreaterEqual(frames, 10000)
            # 10000 frames of 5-7 bytes fit in a handful of 64 KiB batches.
            self.assertLess(writes, 200, "frames were not batched: %d writes" % writes)
            print("batched %d frames in %d writes" % (frames, writes))
            self.assertGreaterEqual(metric(text, 'parley_listener_http_refused_total{status="404"}'), 1)
            self.assertEqual(server.stop(), 0)
            server.assert_clean(self)
        finally:
            server.close()
            os.unlink(path)


class RepeatedLines(unittest.TestCase):
    """log.repeat_limit: a line a client can repeat at will (here the
    refusal of CONNECT) is written repeat_limit times per repeat_window;
    the next one after the window says how many were left out, and the
    metric still counts every refusal."""

    def test_a_flood_of_one_warning_is_bounded_and_counted(self):
        path = echo_rest_config()
        self.addCleanup(os.unlink, path)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("log:\n", "log:\n  repeat_limit: 3\n  repeat_window: 1s\n", 1))
        server = Server(config=path, env={"PARLEY_ECHO_SO": ECHO_SO}).start()
        self.addCleanup(server.close)
        connect = b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"

        def lines():
            return [l for l in server.stderr().splitlines() if "refusing CONNECT" in l]

        for _ in range(12):
            raw(server.port, connect, timeout=1.0)
        wait_for(lambda: len(lines()) == 3, timeout=5, what="three lines of the twelve")
        time.sleep(0.3)
        self.assertEqual(len(lines()), 3, lines())
        time.sleep(1.0)                   # past repeat_window
        raw(server.port, connect, timeout=1.0)
        wait_for(lambda: len(lines()) == 4, timeout=5, what="the line after the window")
        self.assertIn("[9 more lines of this kind not logged: over log.repeat_limit]", lines()[-1])
        self.assertNotIn("not logged", "".join(lines()[:3]))
        status, _, body = server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(metric(body.decode(), 'parley_listener_refused_total{reason="connect"}'), 13)
        # debug lines are never bounded: every connection's "new connection"
        self.assertGreaterEqual(server.stderr().count("new connection"), 13)


class WriteCoalescing(unittest.TestCase):
    """listener.write_coalesce: a busy loop writes each WebSocket less often,
    several frames per write; an idle one writes every frame at once. The
    echo fixture's "spin MS N" busy-waits MS ms on the loop N times, sending
    "tick i" after each."""

    SPIN_MS, TICKS = 20, 60

    def start(self, listener=""):
        path = echo_rest_config(listener)
        self.addCleanup(os.unlink, path)
        server = Server(config=path, env={"PARLEY_ECHO_SO": ECHO_SO}).start()
        self.addCleanup(server.close)
        return server

    def counters(self, server):
        status, _, body = server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        return (metric(text, "parley_listener_ws_frames_total"),
                metric(text, "parley_listener_ws_writes_total"),
                metric(text, "parley_listener_write_coalesce_seconds"))

    def spin(self, server, ws):
        """Spin the loop; return the (frames, writes) of the second half of
        the spin, when the window has had time to grow, and the window then."""
        ws.send("spin %d %d" % (self.SPIN_MS, self.TICKS))
        half = None
        for i in range(self.TICKS):
            self.assertEqual(ws.recv(), "tick %d" % i)
            if i == self.TICKS // 2:
                half = self.counters(server)
        self.assertEqual(ws.recv(), "spun")
        end = self.counters(server)
        return end[0] - half[0], end[1] - half[1], half[2]

    def echo_one_by_one(self, server, ws, n=20):
        before = self.counters(server)
        for i in range(n):
            ws.send("one %d" % i)
            self.assertEqual(ws.recv(), "one %d" % i)
        after = self.counters(server)
        return after[0] - before[0], after[1] - before[1], after[2]

    def test_busy_loop_coalesces_then_idle_writes_at_once(self):
        server = self.start()
        ws = ws_connect(server.port)
        self.assertEqual(self.counters(server)[2], 0, "an idle server must not coalesce")
        frames, writes, window = self.spin(server, ws)
        # Ticks come every ~21 ms; a window grown to 32-50 ms carries 2 or 3.
        self.assertGreater(window, 0, "the window did not open on a busy loop")
        self.assertLessEqual(window, 0.050, "the window passed listener.write_coalesce")
        self.assertGreaterEqual(frames, self.TICKS // 2 - 1)
        self.assertGreaterEqual(frames / writes, 1.5,
                                "%d frames in %d writes on a busy loop" % (frames, writes))
        # Idle again: the window closes, and every frame goes out by itself.
        wait_for(lambda: self.counters(server)[2] == 0, timeout=5, what="the window to close")
        frames, writes, window = self.echo_one_by_one(server, ws)
        self.assertEqual((frames, writes, window), (20, 20, 0))
        ws.close()
        self.assertEqual(server.stop(), 0)
        server.assert_clean(self)

    def test_window_capped_and_off_at_zero(self):
        server = self.start("  write_coalesce: 8ms\n")
        ws = ws_connect(server.port)
        frames, writes, window = self.spin(server, ws)
        # An 8 ms window never holds a frame long enough for the next tick
        # (the last tick and "spun" leave in one callback, so in one write).
        self.assertEqual(window, 0.008)
        self.assertEqual(frames - 1, writes)
        ws.close()
        self.assertEqual(server.stop(), 0)
        server.assert_clean(self)
        server = self.start("  write_coalesce: 0ms\n")
        ws = ws_connect(server.port)
        frames, writes, window = self.spin(server, ws)
        self.assertEqual((window, frames - 1), (0, writes))
        ws.close()
        self.assertEqual(server.stop(), 0)
        server.assert_clean(self)


class FlushSlices(unittest.TestCase):
    def test_many_clients_bursting_get_everything_in_order(self):
        """A flush longer than its budget (1 ms) goes on the next loop turn
        from where it stopped: 200 clients asking for 200 frames each at
        once all get every frame, in order, while a bystander's echo is
        still answered."""
        server = start_server(PARLEY_MAX_CONNECTIONS="400")
        try:
            clients = [ws_connect(server.port) for _ in range(200)]
            bystander = ws_connect(server.port)
            for ws in clients:
                ws.send("burst 200 100")
            bystander.send("still here")
            self.assertEqual(bystander.recv(), "still here")
            for n, ws in enumerate(clients):
                for i in range(200):
                    got = ws.recv()
                    self.assertEqual((len(got), got.split(":")[0]), (100, str(i)),
                                     "client %d frame %d" % (n, i))
            for ws in clients + [bystander]:
                ws.close()
            self.assertEqual(server.stop(), 0)
            server.assert_clean(self)
        finally:
            server.close()


class Idle(unittest.TestCase):
    def test_silent_websocket_is_pinged_then_closed_live_one_stays(self):
        server = start_server(PARLEY_IDLE_TIMEOUT="2s")
        try:
            silent = ws_connect(server.port)
            live = ws_connect(server.port)
            live.settimeout(0.2)
            t0 = time.monotonic()
            # The live client reads (websocket-client answers pings inside recv).
            while time.monotonic() - t0 < 4.5:
                try:
                    live.recv()
                except websocket.WebSocketTimeoutException:
                    pass
            live.settimeout(5)
            live.send("still open")
            self.assertEqual(live.recv(), "still open")
            # The silent one never answered the ping: the server hung up.
            self.assertIn("websocket closed with 1006", server.stderr())
            got_ping = False
            silent.settimeout(2)
            with self.assertRaises((websocket.WebSocketConnectionClosedException, ConnectionError)):
                while True:
                    f = silent.recv_frame()
                    got_ping = got_ping or f.opcode == websocket.ABNF.OPCODE_PING
            self.assertTrue(got_ping, "the server should have pinged the silent client")
            # An idle keep-alive HTTP connection is closed too.
            data, closed = raw(server.port, b"GET /echo/http HTTP/1.1\r\nHost: t\r\n\r\n",
                               timeout=5)
            self.assertEqual(responses(data)[0][0], 200)
            self.assertTrue(closed)
            live.close()
            self.assertEqual(server.stop(), 0)
            server.assert_clean(self)
        finally:
            server.close()


class Drain(unittest.TestCase):
    def test_sigterm_closes_websockets_1001_and_aborts_holds(self):
        server = start_server()
        try:
            ws = ws_connect(server.port)
            ws.send("hi")
            self.assertEqual(ws.recv(), "hi")
            result = {}

            def hold():
                try:
                    result["r"] = server.request("GET", "/echo/hold?ms=20000", timeout=15)
                except Exception as e:      # noqa: BLE001 - reported below
                    result["r"] = e
            t = threading.Thread(target=hold)
            t.start()
            time.sleep(0.5)
            server.signal(15)
            code, reason = recv_close(ws)
            self.assertEqual((code, reason), (1001, "server shutting down"))
            t.join(15)
            status, _, body = result["r"]
            self.assertEqual(status, 503)
            self.assertEqual(json.loads(body)["error"]["code"], "shutting_down")
            server.proc.wait(15)
            self.assertEqual(server.proc.returncode, 0)
            self.assertIn("held request aborted", server.stderr())
            server.assert_clean(self)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
