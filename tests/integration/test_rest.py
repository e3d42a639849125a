"""The REST API (plugins/rest) against the real server: build/bin/parley on
configs/parley.yaml (SQLite in a temp dir), then on
tests/fixtures/configs/rest-memstore.yaml for storage outages.

Every case asserts exact statuses, error codes and messages; the server is
stopped by PID with SIGTERM, must exit 0 and must leave no sanitizer report
in its stderr.
"""
import datetime
import http.client
import json
import os
import re
import socket
import time
import unittest

from parleytest import (DEFAULT_CONFIG, SOURCE_DIR, TEST_PLUGIN_DIR, Server, run_parley,
                        wait_for)

MEMSTORE_CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "configs", "rest-memstore.yaml")
MEMSTORE_SO = os.path.join(TEST_PLUGIN_DIR, "memstore.so")

ID_RE = re.compile(r"^[0-9a-f]{24}$")
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
JSON_CT = "application/json; charset=utf-8"
ALLOWED = "http://localhost:5173"
ALLOWED_2 = "http://localhost:3000"
FORBIDDEN = "http://evil.example"


def post_body(srv, raw, content_type="application/json", headers=None):
    """POST raw bytes/str to /api/messages: (status, headers, parsed JSON or None)."""
    h = dict(headers or {})
    if content_type is not None:
        h["Content-Type"] = content_type
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    status, hdrs, data = srv.request("POST", "/api/messages", body=raw, headers=h)
    return status, hdrs, parse(data, status)


def parse(data, status):
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise AssertionError("not JSON (%d): %r" % (status, data[:200]))


def post(srv, username="alice", content="hello", room=None, **extra):
    body = {"username": username, "content": content}
    if room is not None:
        body["room"] = room
    body.update(extra)
    return post_body(srv, json.dumps(body))


def get(srv, path, headers=None):
    status, hdrs, data = srv.request("GET", path, headers=headers)
    return status, hdrs, parse(data, status)


def raw_http(port, payload, timeout=5.0):
    """Send bytes on a fresh socket and read until the peer closes or the
    first response is complete; returns the status code and the text."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (and close) before taking the whole body
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                text = b"".join(chunks)
                head, sep, body = text.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    if m and len(body) >= int(m.group(1)):
                        break
        except (ConnectionResetError, socket.timeout):
            pass
    text = b"".join(chunks).decode("utf-8", "replace")
    m = re.match(r"HTTP/1\.[01] (\d{3})", text)
    if not m:
        raise AssertionError("no HTTP response: %r" % text[:200])
    return int(m.group(1)), text


class RestBase(unittest.TestCase):
    config = DEFAULT_CONFIG
    env = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(config=cls.config, env=cls.env)
        try:
            cls.srv.start()
        except BaseException:
            cls.srv.close()
            raise

    @classmethod
    def tearDownClass(cls):
        srv = cls.srv
        try:
            code = srv.stop()
            text = srv.stderr()
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                           "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer"):
                if marker in text:
                    raise AssertionError("sanitizer report in parley's stderr:\n" + text)
            if code != 0:
                raise AssertionError("parley exited with %r after SIGTERM:\n%s" % (code, text))
            # the listener logs misuse of the HTTP API (answering twice, bad headers)
            for line in text.splitlines():
                if '"level":"error"' in line or " error [" in line or "http_respond" in line:
                    raise AssertionError("error logged by parley:\n" + line)
            if os.environ.get("REST_TEST_SHOW_LOG"):
                print(text)
        finally:
            srv.close()

    def assertError(self, result, status, code, message=None, message_re=None):
        st, hdrs, body = result
        self.assertEqual(st, status, body)
        self.assertEqual(hdrs.get("content-type"), JSON_CT)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(set(body), {"error"}, body)
        self.assertEqual(set(body["error"]), {"code", "message"}, body)
        self.assertEqual(body["error"]["code"], code, body)
        if message is not None:
            self.assertEqual(body["error"]["message"], message)
        if message_re is not None:
            self.assertRegex(body["error"]["message"], message_re)
        return body["error"]["message"]

    def assertMessage(self, msg, username, content, room):
        self.assertEqual(set(msg), {"_id", "username", "content", "room", "timestamp"}, msg)
        self.assertRegex(msg["_id"], ID_RE)
        self.assertRegex(msg["timestamp"], ISO_RE)
        self.assertEqual(msg["username"], username)
        self.assertEqual(msg["content"], content)
        self.assertEqual(msg["room"], room)

    def history(self, room=None, **params):
        q = dict(params)
        if room is not None:
            q["room"] = room
        path = "/api/messages"
        if q:
            path += "?" + "&".join("%s=%s" % (k, v) for k, v in q.items())
        st, hdrs, body = get(self.srv, path)
        self.assertEqual(st, 200, body)
        self.assertEqual(hdrs.get("content-type"), JSON_CT)
        self.assertEqual(set(body), {"room", "messages", "has_more", "next_before"}, body)
        return body


class Messages(RestBase):
    def test_post_returns_201_with_the_stored_message(self):
        before = datetime.datetime.now(datetime.timezone.utc)
        st, hdrs, msg = post(self.srv, "alice", "   hello there \n", room="r-shape")
        self.assertEqual(st, 201, msg)
        self.assertEqual(hdrs.get("content-type"), JSON_CT)
        self.assertMessage(msg, "alice", "hello there", "r-shape")
        ts = datetime.datetime.strptime(msg["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
        self.assertLess(abs((ts - before).total_seconds()), 30)
        # the id's first 4 bytes are its Unix seconds (ObjectId layout)
        self.assertLess(abs(int(msg["_id"][:8], 16) - before.timestamp()), 30)

        page = self.history("r-shape")
        self.assertEqual(page["room"], "r-shape")
        self.assertEqual(page["messages"], [msg])
        self.assertFalse(page["has_more"])
        self.assertIsNone(page["next_before"])

    def test_thirty_posts_come_back_oldest_first(self):
        sent = []
        for i in range(30):
            st, _, msg = post(self.srv, "u%d" % (i % 3), "message %02d" % i, room="r-order")
            self.assertEqual(st, 201, msg)
            sent.append(msg)
        page = self.history("r-order", limit=100)
        self.assertEqual(page["messages"], sent)
        ids = [m["_id"] for m in page["messages"]]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 30)
        self.assertFalse(page["has_more"])

    def test_paging_with_limit_and_before_has_no_overlap_and_no_gap(self):
        sent = [post(self.srv, "pager", "p%02d" % i, room="r-page")[2] for i in range(25)]
        p1 = self.history("r-page", limit=10)
        self.assertEqual(p1["messages"], sent[15:])
        self.assertTrue(p1["has_more"])
        self.assertEqual(p1["next_before"], sent[15]["_id"])
        p2 = self.history("r-page", limit=10, before=p1["next_before"])
        self.assertEqual(p2["messages"], sent[5:15])
        self.assertTrue(p2["has_more"])
        self.assertEqual(p2["next_before"], sent[5]["_id"])
        p3 = self.history("r-page", limit=10, before=p2["next_before"])
        self.assertEqual(p3["messages"], sent[:5])
        self.assertFalse(p3["has_more"])
        self.assertIsNone(p3["next_before"])
        # an upper-case cursor is the same cursor
        p2b = self.history("r-page", limit=10, before=p1["next_before"].upper())
        self.assertEqual(p2b["messages"], p2["messages"])

    def test_default_limit_and_clamp(self):
        for i in range(55):
            self.assertEqual(post(self.srv, "bulk", "b%d" % i, room="r-bulk")[0], 201)
        self.assertEqual(len(self.history("r-bulk")["messages"]), 50)   # chat.history_limit
        page = self.history("r-bulk", limit=4000000000)                 # clamped to history_max
        self.assertEqual(len(page["messages"]), 55)
        self.assertFalse(page["has_more"])

    def test_default_room_is_chat_room(self):
        st, _, msg = post(self.srv, "dora", "in the default room")
        self.assertEqual(st, 201, msg)
        self.assertEqual(msg["room"], "chat-room")
        st, _, msg2 = post(self.srv, "dora", "empty room means default", room="")
        self.assertEqual(st, 201, msg2)
        self.assertEqual(msg2["room"], "chat-room")
        page = self.history()
        self.assertEqual(page["room"], "chat-room")
        self.assertEqual(page["messages"][-2:], [msg, msg2])
        self.assertEqual(self.history(room="")["messages"][-2:], [msg, msg2])

    def test_two_rooms_are_kept_apart(self):
        a = post(self.srv, "x", "for a", room="r-a")[2]
        b = post(self.srv, "x", "for b", room="r-b")[2]
        self.assertEqual(self.history("r-a")["messages"], [a])
        self.assertEqual(self.history("r-b")["messages"], [b])
        self.assertEqual(self.history("r-none")["messages"], [])

    def test_odd_strings_round_trip_exactly(self):
        odd = [
            'quotes "double" and \'single\'',
            "back\\slash \\n not a newline",
            "emoji \U0001F600 and \u00e9\u00e8 and \u4e2d\u6587",
            "tab\there\nnew line\r\nand crlf",
            "</script><script>alert(1)</script>",
            "line\u2028separator\u2029paragraph",
            '{"json": "inside"}',
        ]
        sent = []
        for i, text in enumerate(odd):
            # ensure_ascii alternately on and off: \u escapes and raw UTF-8
            body = json.dumps({"username": "odd\u00e9", "content": text, "room": "r-odd"},
                              ensure_ascii=bool(i % 2))
            st, _, msg = post_body(self.srv, body)
            self.assertEqual(st, 201, (text, msg))
            self.assertEqual(msg["content"], text)
            sent.append(msg)
        self.assertEqual(self.history("r-odd", limit=50)["messages"], sent)

    def test_nul_is_refused(self):
        self.assertError(post_body(self.srv, '{"username":"a","content":"x\\u0000y"}'), 400,
                         "validation_failed",
                         "content contains a control character (U+0000 written as \\u0000)")
        self.assertError(post_body(self.srv, '{"username":"a\\u0000","content":"x"}'), 400,
                         "validation_failed",
                         "username contains a control character (U+0000 written as \\u0000)")
        self.assertError(post(self.srv, "a", "bell \u0007"), 400, "validation_failed",
                         "content contains a control character (U+0007 at character 6)")

    def test_injection_like_values_are_refused_by_type(self):
        self.assertError(post(self.srv, room={"$ne": None}), 400, "invalid_field",
                         "room must be a string, got an object")
        self.assertError(post(self.srv, username={"$gt": ""}), 400, "invalid_field",
                         "username must be a string, got an object")
        self.assertError(post(self.srv, room="$where"), 400, "validation_failed",
                         "room must not start with '$'")
        self.assertError(get(self.srv, "/api/messages?room=%24where"), 400, "validation_failed",
                         "room must not start with '$'")

    def test_unknown_fields_are_ignored_and_duplicates_take_the_last(self):
        st, _, msg = post(self.srv, "extra", "fields", room="r-extra", colour="blue", n=[1, 2])
        self.assertEqual(st, 201, msg)
        self.assertMessage(msg, "extra", "fields", "r-extra")
        st, _, msg = post_body(self.srv, '{"username":"first","username":"last","content":"dup",'
                                         '"room":"r-extra"}')
        self.assertEqual(st, 201, msg)
        self.assertEqual(msg["username"], "last")

    def test_null_room_means_the_default_room(self):
        st, _, msg = post_body(self.srv, '{"username":"n","content":"null room","room":null}')
        self.assertEqual(st, 201, msg)
        self.assertEqual(msg["room"], "chat-room")

    def test_keep_alive_connection_serves_several_requests(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        try:
            for i in range(3):
                conn.request("POST", "/api/messages",
                             body=json.dumps({"username": "ka", "content": "k%d" % i,
                                              "room": "r-keepalive"}),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                self.assertEqual(r.status, 201)
                r.read()
            conn.request("GET", "/api/messages?room=r-keepalive")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual([m["content"] for m in json.loads(r.read())["messages"]],
                             ["k0", "k1", "k2"])
            conn.request("GET", "/nope")
            r = conn.getresponse()
            self.assertEqual(r.status, 404)
            r.read()
        finally:
            conn.close()


class Validation(RestBase):
    def test_content_rules(self):
        self.assertError(post(self.srv, "a", ""), 400, "validation_failed", "content is empty")
        self.assertError(post(self.srv, "a", " \t\n "), 400, "validation_failed",
                         "content is empty")
        st, _, msg = post(self.srv, "a", "x" * 2000, room="r-long")
        self.assertEqual(st, 201, msg)
        self.assertEqual(len(msg["content"]), 2000)
        self.assertError(post(self.srv, "a", "x" * 2001), 400, "validation_failed",
                         "content is 2001 characters long; the limit is 2000")
        # the cap counts characters, not bytes
        st, _, msg = post(self.srv, "a", "\u00e9" * 2000, room="r-long")
        self.assertEqual(st, 201, msg)

    def test_username_rules(self):
        self.assertError(post_body(self.srv, '{"content":"hi"}'), 400, "missing_field",
                         "username is required")
        self.assertError(post_body(self.srv, '{"username":"bob"}'), 400, "missing_field",
                         "content is required")
        self.assertError(post(self.srv, "   ", "hi"), 400, "validation_failed",
                         "username is empty")
        self.assertEqual(post(self.srv, "u" * 32, "hi", room="r-user")[0], 201)
        self.assertError(post(self.srv, "u" * 33, "hi"), 400, "validation_failed",
                         "username is 33 characters long; the limit is 32")

    def test_wrong_types(self):
        cases = [
            ({"username": 42, "content": "x"}, "username must be a string, got a number"),
            ({"username": None, "content": "x"}, "username must be a string, got null"),
            ({"username": "a", "content": ["x"]}, "content must be a string, got an array"),
            ({"username": "a", "content": True}, "content must be a string, got a boolean"),
            ({"username": "a", "content": "x", "room": 7}, "room must be a string, got a number"),
        ]
        for body, message in cases:
            self.assertError(post_body(self.srv, json.dumps(body)), 400, "invalid_field", message)

    def test_bodies_that_are_not_a_json_object(self):
        for raw, what in (("[1, 2]", "an array"), ('"text"', "a string"), ("42", "a number"),
                          ("null", "null"), ("true", "a boolean")):
            self.assertError(post_body(self.srv, raw), 400, "invalid_body",
                             "request body must be a JSON object, got " + what)
        self.assertError(post_body(self.srv, ""), 400, "invalid_json",
                         "request body is empty: expected a JSON object")
        self.assertError(post_body(self.srv, "  \n"), 400, "invalid_json",
                         "request body is empty: expected a JSON object")

    def test_invalid_json(self):
        for raw in ('{"username": "a", "content": ', "{username: 'a'}", '{"a":1,}',
                    "{\"username\":\"a\",\"content\":\"\\ud800\"}", "\xff\xfe{}"):
            self.assertError(post_body(self.srv, raw.encode("latin-1")), 400, "invalid_json",
                             message_re=r"^invalid JSON")

    def test_trailing_garbage(self):
        good = '{"username":"a","content":"b"}'
        for tail in (" x", "}", good, "\x00", ",1"):
            self.assertError(post_body(self.srv, good + tail), 400, "invalid_json",
                             message_re=r"^invalid JSON: unexpected data after the value at byte "
                                        r"\d+$" if tail != "\x00" else r"^invalid JSON")
        st, _, msg = post_body(self.srv, " \r\n\t" + good + " \r\n\t")
        self.assertEqual(st, 201, msg)

    def test_raw_control_characters(self):
        self.assertError(post_body(self.srv, '{"username":"a","content":"line\nbreak"}'), 400,
                         "invalid_json",
                         "invalid JSON: raw control character 0x0a inside a string at byte 31")
        self.assertError(post_body(self.srv, '\f{"username":"a","content":"b"}'), 400,
                         "invalid_json", "invalid JSON: control character 0x0c at byte 0")

    def test_deep_nesting_is_refused_before_parsing(self):
        self.assertError(post_body(self.srv, "[" * 60000), 400, "invalid_json",
                         "invalid JSON: nested deeper than 32 levels at byte 32")
        self.assertError(post_body(self.srv, '{"a":' * 10000), 400, "invalid_json",
                         message_re=r"^invalid JSON: nested deeper than 32 levels")
        # 32 levels are fine (unknown fields are ignored)
        nested = '{"username":"deep","content":"ok","x":' + "[" * 31 + "]" * 31 + "}"
        self.assertEqual(post_body(self.srv, nested)[0], 201)
        # 100000 bytes is over max_body (64KiB): the listener refuses it unread
        status, _ = raw_http(self.srv.port, b"POST /api/messages HTTP/1.1\r\nHost: x\r\n"
                                            b"Content-Type: application/json\r\n"
                                            b"Content-Length: 100000\r\n\r\n" + b"[" * 100000)
        self.assertEqual(status, 413)

    def test_utf8_bom_is_skipped(self):
        # RFC 8259 lets a parser ignore it; Express's body-parser strips it
        st, _, msg = post_body(self.srv, b"\xef\xbb\xbf" +
                               b'{"username":"bom","content":"after a BOM","room":"r-bom"}')
        self.assertEqual(st, 201, msg)
        self.assertEqual(msg["content"], "after a BOM")
        self.assertError(post_body(self.srv, b"\xef\xbb\xbf\xef\xbb\xbf{}"), 400, "invalid_json",
                         "invalid JSON at byte 3")
        self.assertError(post_body(self.srv, b"\xef\xbb\xbf"), 400, "invalid_json",
                         "request body is empty: expected a JSON object")

    def test_invalid_utf8_is_refused_by_the_host(self):
        self.assertError(post_body(self.srv, b'{"username":"a","content":"bad \xc0\xaf"}'), 400,
                         "validation_failed",
                         "content is not valid UTF-8 (byte 0xc0 at offset 4)")

    def test_media_type(self):
        body = '{"username":"a","content":"b","room":"r-media"}'
        self.assertError(post_body(self.srv, body, content_type="text/plain"), 415,
                         "unsupported_media_type",
                         'Content-Type "text/plain" is not supported; send application/json')
        self.assertError(post_body(self.srv, body, content_type=None), 415,
                         "unsupported_media_type",
                         "Content-Type is missing; send application/json")
        self.assertError(post_body(self.srv, body,
                                   content_type="application/x-www-form-urlencoded"), 415,
                         "unsupported_media_type")
        self.assertError(post_body(self.srv, body, content_type="application/json; charset=latin1"),
                         415, "unsupported_media_type",
                         'Content-Type "application/json; charset=latin1": only the utf-8 '
                         "charset is accepted")
        self.assertError(post_body(self.srv, body, content_type="application/jsonx"), 415,
                         "unsupported_media_type")
        for ct in ("application/json", "application/json; charset=utf-8",
                   "Application/JSON;charset=UTF-8", 'application/json; charset="utf-8"'):
            self.assertEqual(post_body(self.srv, body, content_type=ct)[0], 201, ct)

    def test_body_over_max_body_is_413(self):
        big = json.dumps({"username": "big", "content": "x" * 70000}).encode()
        status, _ = raw_http(self.srv.port,
                             b"POST /api/messages HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(big) + big)
        self.assertEqual(status, 413)
        # just under the cap is parsed (and refused by the content length rule)
        fits = json.dumps({"username": "big", "content": "x" * 60000})
        self.assertError(post_body(self.srv, fits), 400, "validation_failed",
                         "content is 60000 characters long; the limit is 2000")

    def test_bad_limit_values(self):
        for value in ("10abc", "-1", "0", "1e3", "99999999999999999999", "4294967296", "%2B5",
                      "%205", "1.5", "0x10", "abc"):
            shown = {"%2B5": "+5", "%205": " 5"}.get(value, value)
            self.assertError(get(self.srv, "/api/messages?limit=" + value), 400,
                             "invalid_parameter",
                             "limit must be a positive integer (1 to 4294967295; pages are "
                             "capped by the server), got \"%s\"" % shown)

    def test_bad_before_values(self):
        for value in ("xyz", "0" * 23, "0" * 25, "g" * 24, "%30" * 23, "0" * 23 + "%20"):
            st, _, body = get(self.srv, "/api/messages?before=" + value)
            self.assertEqual(st, 400, (value, body))
            self.assertEqual(body["error"]["code"], "invalid_parameter")
            self.assertIn("before", body["error"]["message"])
        self.assertError(get(self.srv, "/api/messages?before=xyz"), 400, "invalid_parameter",
                         'before must be a message id (24 hex digits), got "xyz"')
        self.assertError(get(self.srv, "/api/messages?before=" + "a" * 2000), 400,
                         "invalid_parameter", "before is too long: the most is 63 bytes")
        # (a malformed %-escape or %00 never reaches the plugin: libwebsockets
        # refuses the URI itself; the fake-host test covers the plugin's answer)

    def test_quoted_values_stay_valid_utf8(self):
        # a decoded %ff is not UTF-8: it is shown as '?', so the answer stays valid JSON text
        self.assertError(get(self.srv, "/api/messages?limit=1%ff%C3%A9"), 400, "invalid_parameter",
                         "limit must be a positive integer (1 to 4294967295; pages are "
                         "capped by the server), got \"1?\u00e9\"")

    def test_long_values_are_not_echoed_back(self):
        st, _, body = get(self.srv, "/api/messages?limit=" + "9" * 60)
        self.assertEqual(st, 400)
        self.assertLess(len(body["error"]["message"]), 200)
        self.assertIn('..."', body["error"]["message"])


class Routes(RestBase):
    def test_wrong_method_is_405_with_allow(self):
        for method, path, allow in (("DELETE", "/api/messages", "GET, HEAD, POST, OPTIONS"),
                                    ("PUT", "/api/messages", "GET, HEAD, POST, OPTIONS"),
                                    ("POST", "/health", "GET, HEAD, OPTIONS"),
                                    ("DELETE", "/metrics", "GET, HEAD, OPTIONS")):
            st, hdrs, data = self.srv.request(method, path)
            result = (st, hdrs, parse(data, st))
            self.assertError(result, 405, "method_not_allowed",
                             'method "%s" is not allowed on "%s"; allowed: %s'
                             % (method, path, allow))
            self.assertEqual(hdrs.get("allow"), allow)

    def test_unknown_routes_are_json_404(self):
        for path in ("/api/nope", "/api/messages/123", "/api", "/nope", "/healthz",
                     "/metrics/x", "/"):
            self.assertError(get(self.srv, path), 404, "not_found",
                             'no route for "GET" "%s"' % path)
        self.assertError(self.srv_request_json("POST", "/api/other"), 404, "not_found")

    def srv_request_json(self, method, path):
        st, hdrs, data = self.srv.request(method, path, body=b"{}",
                                          headers={"Content-Type": "application/json"})
        return st, hdrs, parse(data, st)

    def test_trailing_slash_and_query_are_accepted(self):
        self.assertEqual(get(self.srv, "/api/messages/")[0], 200)
        self.assertEqual(get(self.srv, "/health/")[0], 200)
        self.assertEqual(get(self.srv, "/health?x=1")[0], 200)

    def test_health(self):
        code, out, _ = run_parley(["--version"])
        self.assertEqual(code, 0)
        version = out.split()[1]
        st, hdrs, body = get(self.srv, "/health")
        self.assertEqual(st, 200, body)
        self.assertEqual(hdrs.get("content-type"), JSON_CT)
        self.assertEqual(set(body), {"status", "storage", "uptime_s", "uptime", "version",
                                     "timestamp"})
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["storage"], "connected")
        self.assertIsInstance(body["uptime_s"], (int, float))
        self.assertGreaterEqual(body["uptime_s"], 0)
        self.assertLess(body["uptime_s"], 600)
        self.assertEqual(body["uptime"], body["uptime_s"])
        self.assertEqual(body["version"], version)
        self.assertRegex(body["timestamp"], ISO_RE)
        time.sleep(0.05)
        self.assertGreater(get(self.srv, "/health")[2]["uptime_s"], body["uptime_s"])

    def test_metrics(self):
        self.assertEqual(post(self.srv, "m", "count me", room="r-metrics")[0], 201)
        self.assertEqual(get(self.srv, "/nope")[0], 404)
        st, hdrs, data = self.srv.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        text = data.decode()
        self.assertIn("# TYPE parley_rest_requests_total counter", text)
        self.assertIn("# TYPE parley_rest_request_duration_seconds histogram", text)
        self.assertIn("# TYPE parley_messages_posted_total counter", text)
        m = re.search(r'^parley_rest_requests_total\{route="messages",status="201"\} (\d+)', text,
                      re.M)
        self.assertIsNotNone(m, text)
        self.assertGreaterEqual(int(m.group(1)), 1)
        m = re.search(r'^parley_rest_requests_total\{route="not_found",status="404"\} (\d+)', text,
                      re.M)
        self.assertIsNotNone(m, text)
        self.assertGreaterEqual(int(m.group(1)), 1)
        m = re.search(r"^parley_messages_posted_total (\d+)", text, re.M)
        self.assertIsNotNone(m, text)
        self.assertGreaterEqual(int(m.group(1)), 1)
        self.assertRegex(text, r'parley_rest_request_duration_seconds_bucket\{route="messages",'
                               r'le="\+Inf"\} \d+')


class Cors(RestBase):
    def test_allowed_origin_gets_the_headers(self):
        for origin in (ALLOWED, ALLOWED_2):
            st, hdrs, _ = get(self.srv, "/api/messages?room=r-cors", headers={"Origin": origin})
            self.assertEqual(st, 200)
            self.assertEqual(hdrs.get("access-control-allow-origin"), origin)
            self.assertEqual(hdrs.get("vary"), "Origin")
        # errors carry them too, so the browser lets the page read the reason
        st, hdrs, body = post_body(self.srv, "{}", headers={"Origin": ALLOWED})
        self.assertEqual(st, 400, body)
        self.assertEqual(hdrs.get("access-control-allow-origin"), ALLOWED)
        st, hdrs, body = post_body(self.srv, '{"username":"c","content":"cors","room":"r-cors"}',
                                   headers={"Origin": ALLOWED_2})
        self.assertEqual(st, 201, body)
        self.assertEqual(hdrs.get("access-control-allow-origin"), ALLOWED_2)

    def test_forbidden_origin_gets_no_cors_headers(self):
        for origin in (FORBIDDEN, "null", "http://localhost:5173.evil.example",
                       "http://localhost", "https://localhost:5173"):
            st, hdrs, _ = get(self.srv, "/health", headers={"Origin": origin})
            self.assertEqual(st, 200)
            self.assertNotIn("access-control-allow-origin", hdrs, origin)
            self.assertEqual(hdrs.get("vary"), "Origin")

    def test_no_origin_no_cors_headers(self):
        st, hdrs, _ = get(self.srv, "/health")
        self.assertEqual(st, 200)
        self.assertNotIn("access-control-allow-origin", hdrs)

    def test_preflight_from_an_allowed_origin(self):
        st, hdrs, data = self.srv.request("OPTIONS", "/api/messages", headers={
            "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(st, 204)
        self.assertEqual(data, b"")
        self.assertEqual(hdrs.get("access-control-allow-origin"), ALLOWED)
        self.assertEqual(hdrs.get("access-control-allow-methods"), "GET, POST, OPTIONS")
        self.assertEqual(hdrs.get("access-control-allow-headers"), "content-type")
        self.assertEqual(hdrs.get("access-control-max-age"), "600")
        self.assertEqual(hdrs.get("vary"), "Origin")

    def test_preflight_requested_headers(self):
        base = {"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
        st, hdrs, _ = self.srv.request("OPTIONS", "/api/messages",
                                       headers=dict(base, **{"Access-Control-Request-Headers":
                                                             "content-type, x-requested-with"}))
        self.assertEqual(st, 204)
        self.assertEqual(hdrs.get("access-control-allow-headers"), "content-type, x-requested-with")
        # not a plain token list: only Content-Type is offered
        st, hdrs, _ = self.srv.request("OPTIONS", "/api/messages",
                                       headers=dict(base, **{"Access-Control-Request-Headers":
                                                             "content-type; x=\"y\""}))
        self.assertEqual(st, 204)
        self.assertEqual(hdrs.get("access-control-allow-headers"), "Content-Type")
        st, hdrs, _ = self.srv.request("OPTIONS", "/api/messages", headers=base)
        self.assertEqual(st, 204)
        self.assertEqual(hdrs.get("access-control-allow-headers"), "Content-Type")

    def test_preflight_from_a_forbidden_origin_is_403(self):
        st, hdrs, data = self.srv.request("OPTIONS", "/api/messages", headers={
            "Origin": FORBIDDEN, "Access-Control-Request-Method": "POST"})
        self.assertError((st, hdrs, parse(data, st)), 403, "origin_not_allowed",
                         'origin "http://evil.example" is not allowed; allowed origins are set '
                         "by cors_origins")
        self.assertNotIn("access-control-allow-origin", hdrs)
        self.assertNotIn("access-control-allow-methods", hdrs)

    def test_plain_options_lists_the_methods(self):
        st, hdrs, _ = self.srv.request("OPTIONS", "/health")
        self.assertEqual(st, 204)
        self.assertEqual(hdrs.get("allow"), "GET, HEAD, OPTIONS")

    def test_head_is_get_without_the_body(self):
        st, hdrs, data = self.srv.request("HEAD", "/health")
        self.assertEqual(st, 200)
        self.assertEqual(data, b"")
        self.assertEqual(hdrs.get("content-type"), JSON_CT)
        self.assertGreater(int(hdrs.get("content-length")), 0)


class CorsWildcard(RestBase):
    """cors_origins: ["*"] through a temporary copy of the default config."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls._dir = tempfile.TemporaryDirectory(prefix="parley-rest-cors-")
        with open(DEFAULT_CONFIG) as f:
            text = f.read()
        text = text.replace("        - http://localhost:5173\n        - http://localhost:3000\n",
                            '        - "*"\n      cors_max_age: 1m\n')
        assert '"*"' in text, "configs/parley.yaml changed shape; update this test"
        cls.config = os.path.join(cls._dir.name, "parley.yaml")
        with open(cls.config, "w") as f:
            f.write(text)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._dir.cleanup()

    def test_any_origin(self):
        st, hdrs, _ = get(self.srv, "/health", headers={"Origin": FORBIDDEN})
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("access-control-allow-origin"), "*")
        self.assertNotIn("vary", hdrs)
        st, hdrs, _ = self.srv.request("OPTIONS", "/api/messages", headers={
            "Origin": FORBIDDEN, "Access-Control-Request-Method": "POST"})
        self.assertEqual(st, 204)
        self.assertEqual(hdrs.get("access-control-allow-origin"), "*")
        self.assertEqual(hdrs.get("access-control-max-age"), "60")


@unittest.skipUnless(os.path.exists(MEMSTORE_SO),
                     "storage-outage tests need the memstore fixture plugin, which is not built "
                     "yet: " + MEMSTORE_SO)
class StorageOutage(RestBase):
    config = MEMSTORE_CONFIG
    env = {"PARLEY_TEST_PLUGIN_DIR": TEST_PLUGIN_DIR}

    def set_mode(self, mode):
        st, _, data = self.srv.request("POST", "/_memstore/mode", body=mode.encode(),
                                       headers={"Content-Type": "text/plain"})
        self.assertLess(st, 300, data)

    def storage_state(self):
        st, _, body = get(self.srv, "/health")
        self.assertEqual(st, 200, body)   # degraded is still 200, as in the Node backend
        return body

    def tearDown(self):
        self.set_mode("ok")

    def test_fail_then_recover(self):
        self.assertEqual(post(self.srv, "s", "before", room="r-outage")[0], 201)
        self.set_mode("fail")
        result = post(self.srv, "s", "during", room="r-outage")
        self.assertError(result, 503, "storage_unavailable", message_re=r"not stored")
        self.assertEqual(result[1].get("retry-after"), "1")
        self.assertError(get(self.srv, "/api/messages?room=r-outage"), 503, "storage_unavailable")
        wait_for(lambda: self.storage_state()["storage"] == "disconnected", timeout=5,
                 what="/health to report storage disconnected")
        body = self.storage_state()
        self.assertEqual(body["status"], "degraded")

        self.set_mode("ok")
        st, _, msg = post(self.srv, "s", "after", room="r-outage")
        self.assertEqual(st, 201, msg)
        wait_for(lambda: self.storage_state()["storage"] == "connected", timeout=5,
                 what="/health to report storage connected again")
        self.assertEqual(self.storage_state()["status"], "ok")
        self.assertEqual([m["content"] for m in self.history("r-outage")["messages"]],
                         ["before", "after"])

    def test_hang_times_out_as_503(self):
        self.set_mode("hang")
        t0 = time.monotonic()
        result = post(self.srv, "s", "hung", room="r-hang")
        elapsed = time.monotonic() - t0
        self.assertError(result, 503, "storage_timeout", message_re=r"not stored")
        self.assertLess(elapsed, 5.0)   # storage.timeout is 1s in rest-memstore.yaml
        self.set_mode("ok")
        self.assertEqual(post(self.srv, "s", "unhung", room="r-hang")[0], 201)

    def test_client_gone_before_storage_answers(self):
        self.set_mode("hang")
        body = json.dumps({"username": "gone", "content": "bye", "room": "r-gone"}).encode()
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=5) as s:
            s.sendall(b"POST /api/messages HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            time.sleep(0.2)   # held by now
        time.sleep(0.2)       # the listener has seen the close
        self.set_mode("ok")   # the hung insert completes after the client left
        time.sleep(1.2)       # past storage.timeout: the host answered the plugin by now
        self.assertEqual(post(self.srv, "s", "still fine", room="r-gone")[0], 201)
        self.assertEqual(get(self.srv, "/health")[0], 200)


@unittest.skipUnless(os.path.exists(MEMSTORE_SO),
                     "synchronous-completion tests need the memstore fixture plugin, which is not "
                     "built yet: " + MEMSTORE_SO)
class SynchronousStorage(RestBase):
    """memstore with `complete: sync`: storage completes inside the call, so
    the host's completion reaches the plugin before chat_post/chat_history
    return (the plugin must answer without holding the request)."""
    env = {"PARLEY_TEST_PLUGIN_DIR": TEST_PLUGIN_DIR}

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls._dir = tempfile.TemporaryDirectory(prefix="parley-rest-sync-")
        with open(MEMSTORE_CONFIG) as f:
            text = f.read()
        text = text.replace("  health_interval: 200ms\n",
                            "  health_interval: 200ms\n  config:\n    complete: sync\n")
        assert "complete: sync" in text, "rest-memstore.yaml changed shape; update this test"
        cls.config = os.path.join(cls._dir.name, "rest-memstore-sync.yaml")
        with open(cls.config, "w") as f:
            f.write(text)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._dir.cleanup()

    def test_post_get_and_failure(self):
        sent = []
        for i in range(5):
            st, _, msg = post(self.srv, "sync", "s%d" % i, room="r-sync")
            self.assertEqual(st, 201, msg)
            sent.append(msg)
        page = self.history("r-sync", limit=3)
        self.assertEqual(page["messages"], sent[2:])
        self.assertEqual(page["next_before"], sent[2]["_id"])
        st, _, data = self.srv.request("POST", "/_memstore/mode", body=b"fail",
                                       headers={"Content-Type": "text/plain"})
        self.assertEqual(st, 200, data)
        try:
            self.assertError(post(self.srv, "sync", "down", room="r-sync"), 503,
                             "storage_unavailable")
            self.assertError(get(self.srv, "/api/messages?room=r-sync"), 503,
                             "storage_unavailable")
        finally:
            self.srv.request("POST", "/_memstore/mode", body=b"ok",
                             headers={"Content-Type": "text/plain"})
        self.assertEqual(post(self.srv, "sync", "up", room="r-sync")[0], 201)


class Reload(RestBase):
    """SIGHUP applies CORS changes at once and refuses route-shaping ones."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls._dir = tempfile.TemporaryDirectory(prefix="parley-rest-reload-")
        with open(DEFAULT_CONFIG) as f:
            cls.text = f.read()
        cls.config = os.path.join(cls._dir.name, "parley.yaml")
        with open(cls.config, "w") as f:
            f.write(cls.text)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._dir.cleanup()

    def reload(self, text, expect):
        import signal
        with open(self.config, "w") as f:
            f.write(text)
        seen = self.srv.stderr().count(expect)
        self.srv.signal(signal.SIGHUP)
        wait_for(lambda: self.srv.stderr().count(expect) > seen, timeout=10,
                 what="%r in the log" % expect)

    def test_cors_change_applies_and_route_change_is_refused(self):
        origin = "http://chat.example.test:8080"
        st, hdrs, _ = get(self.srv, "/health", headers={"Origin": origin})
        self.assertNotIn("access-control-allow-origin", hdrs)
        text = self.text.replace("        - http://localhost:3000\n",
                                 "        - http://localhost:3000\n        - %s\n" % origin)
        self.assertNotEqual(text, self.text)
        self.reload(text, "plugin 'rest' applied its new config block")
        st, hdrs, _ = get(self.srv, "/health", headers={"Origin": origin})
        self.assertEqual(hdrs.get("access-control-allow-origin"), origin)

        self.reload(text.replace("        - %s\n" % origin, "        - %s\n      max_body: 1MiB\n"
                                 % origin),
                    "restart the server to apply it")
        self.assertIn("max_body changed from 65536 to 1048576 bytes, but max_body, metrics and "
                      "catch_all shape the routes registered at start", self.srv.stderr())
        st, hdrs, _ = get(self.srv, "/health", headers={"Origin": origin})
        self.assertEqual(hdrs.get("access-control-allow-origin"), origin, "old config kept")
        big = json.dumps({"username": "big", "content": "x" * 70000}).encode()
        status, _ = raw_http(self.srv.port,
                             b"POST /api/messages HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(big) + big)
        self.assertEqual(status, 413, "max_body stays 64KiB until a restart")

        self.reload(self.text.replace("        - http://localhost:3000\n",
                                      "        - not-an-origin\n"),
                    "is not an origin")
        st, hdrs, _ = get(self.srv, "/health", headers={"Origin": origin})
        self.assertEqual(hdrs.get("access-control-allow-origin"), origin, "old config kept")


class ConfiguredLimits(RestBase):
    """metrics: false, max_body: 1MiB, json_max_depth: 8, cors_origins: []."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls._dir = tempfile.TemporaryDirectory(prefix="parley-rest-limits-")
        with open(DEFAULT_CONFIG) as f:
            text = f.read()
        start = text.index("      cors_origins:")
        text = text[:start] + ("      cors_origins: []\n      metrics: false\n"
                               "      max_body: 1MiB\n      json_max_depth: 8\n")
        cls.config = os.path.join(cls._dir.name, "parley.yaml")
        with open(cls.config, "w") as f:
            f.write(text)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._dir.cleanup()

    def test_no_metrics_route(self):
        self.assertError(get(self.srv, "/metrics"), 404, "not_found",
                         'no route for "GET" "/metrics"')
        self.assertEqual(get(self.srv, "/health")[0], 200)

    def test_deep_nesting_under_a_big_body_cap(self):
        self.assertError(post_body(self.srv, "[" * 100000), 400, "invalid_json",
                         "invalid JSON: nested deeper than 8 levels at byte 8")
        self.assertError(post_body(self.srv, '{"a":' * 100000), 400, "invalid_json",
                         "invalid JSON: nested deeper than 8 levels at byte 40")
        nested = '{"username":"deep","content":"ok","x":' + "[" * 7 + "]" * 7 + "}"
        self.assertEqual(post_body(self.srv, nested)[0], 201)
        # 70000 bytes fit under 1MiB: the content rule refuses them, not the listener
        self.assertError(post(self.srv, "big", "x" * 70000), 400, "validation_failed",
                         "content is 70000 characters long; the limit is 2000")

    def test_empty_allowlist_allows_no_origin(self):
        st, hdrs, _ = get(self.srv, "/health", headers={"Origin": ALLOWED})
        self.assertEqual(st, 200)
        self.assertNotIn("access-control-allow-origin", hdrs)
        st, hdrs, data = self.srv.request("OPTIONS", "/api/messages", headers={
            "Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
        self.assertEqual(st, 403, data)


class ConfigChecks(unittest.TestCase):
    """The plugin's config block is checked at start (and by --check-config)."""

    def check(self, block):
        import tempfile
        with open(DEFAULT_CONFIG) as f:
            text = f.read()
        start = text.index("      cors_origins:")
        text = text[:start] + block
        with tempfile.TemporaryDirectory(prefix="parley-rest-check-") as d:
            path = os.path.join(d, "parley.yaml")
            with open(path, "w") as f:
                f.write(text)
            code, out, err = run_parley(["--check-config", "--config", path],
                                        env={"PARLEY_DATA": d})
        return code, out + err, path

    def test_bad_origin_is_refused_with_its_location(self):
        code, text, path = self.check("      cors_origins:\n        - http://ok.example\n"
                                      "        - http://bad.example/path\n")
        self.assertEqual(code, 3, text)
        self.assertIn('cors_origins[1] "http://bad.example/path" is not an origin; expected '
                      "scheme://host[:port]", text)
        self.assertIn(path + ":", text)

    def test_unknown_key_and_bad_size(self):
        code, text, _ = self.check("      cors_origin: []\n")
        self.assertEqual(code, 3, text)
        self.assertIn("cors_origin", text)
        self.assertIn("cors_origins", text)   # the allowed keys are listed
        code, text, _ = self.check("      max_body: 8\n")
        self.assertEqual(code, 3, text)
        self.assertIn("max_body", text)

    def test_good_block(self):
        code, text, _ = self.check('      cors_origins: ["*"]\n      cors_max_age: 0s\n'
                                   "      max_body: 1MiB\n      json_max_depth: 8\n"
                                   "      metrics: false\n      catch_all: false\n")
        self.assertEqual(code, 0, text)


CHATWS_SO = os.path.join(TEST_PLUGIN_DIR, "rest_chatws.so")


@unittest.skipUnless(os.path.exists(CHATWS_SO),
                     "the broadcast test needs the rest_chatws test transport: " + CHATWS_SO)
class BroadcastToOtherTransports(RestBase):
    """A REST post reaches the clients of another transport in that room
    (rest_chatws, plugins/rest/tests/chatws.c, stands in for Socket.IO)."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls._dir = tempfile.TemporaryDirectory(prefix="parley-rest-bcast-")
        with open(DEFAULT_CONFIG) as f:
            text = f.read()
        text += "  - plugin: rest_chatws\n    path: %s\n" % CHATWS_SO
        cls.config = os.path.join(cls._dir.name, "parley.yaml")
        with open(cls.config, "w") as f:
            f.write(text)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._dir.cleanup()

    def test_rest_post_is_broadcast_to_the_room(self):
        import websocket
        ws = websocket.create_connection("ws://127.0.0.1:%d/chatws/" % self.srv.port, timeout=5)
        try:
            ws.send("join r-bcast watcher")
            self.assertEqual(ws.recv(), "joined r-bcast")
            st, _, msg = post(self.srv, "alice", "  over REST  ", room="r-bcast")
            self.assertEqual(st, 201, msg)
            self.assertEqual(ws.recv(), "message\t%s\tr-bcast\talice\tover REST" % msg["_id"])
            # another room's message is not delivered here; the next frame is
            # the next message of r-bcast
            self.assertEqual(post(self.srv, "alice", "elsewhere", room="r-other")[0], 201)
            st, _, msg2 = post(self.srv, "bob", "second", room="r-bcast")
            self.assertEqual(st, 201, msg2)
            self.assertEqual(ws.recv(), "message\t%s\tr-bcast\tbob\tsecond" % msg2["_id"])
            # a refused post broadcasts nothing
            self.assertEqual(post(self.srv, "bob", "", room="r-bcast")[0], 400)
            st, _, msg3 = post(self.srv, "bob", "third", room="r-bcast")
            self.assertEqual(ws.recv(), "message\t%s\tr-bcast\tbob\tthird" % msg3["_id"])
        finally:
            ws.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
