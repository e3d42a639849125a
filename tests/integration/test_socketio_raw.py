"""Socket.IO v5 over raw WebSocket and raw HTTP long-polling: the server
side of the official v5 suite's Socket.IO cases, and bad-inputs.md section 3
(S01-S30), against the real server on tests/fixtures/configs/socketio.yaml
(socketio + the conformance handlers).

Each bad input gets its expected answer (the connection closed, an exact
CONNECT_ERROR, or ignored with the connection alive); after every group a
fresh client still completes connect + emit + ack (the canary), and the
server ends with exit 0 and no sanitizer report.
"""
import base64
import http.client
import json
import os
import time
import unittest

import websocket

from parleytest import SOURCE_DIR, Server

CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "configs", "socketio.yaml")
PATH = "/socket.io/"


class Closed(Exception):
    pass


class WS:
    """One Engine.IO WebSocket session, speaking raw packets."""

    def __init__(self, port, timeout=5):
        self.ws = websocket.create_connection(
            "ws://127.0.0.1:%d%s?EIO=4&transport=websocket" % (port, PATH),
            timeout=timeout, suppress_origin=True)
        op = self.ws.recv()
        assert op.startswith("0{"), op
        self.open = json.loads(op[1:])

    def send(self, text):
        self.ws.send(text)

    def send_bin(self, data):
        self.ws.send_binary(bytes(data))

    def recv(self, timeout=5):
        """The next packet that is not a ping (pings are answered)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no packet within %.1f s" % timeout)
            self.ws.settimeout(left)
            try:
                op, data = self.ws.recv_data(control_frame=False)
            except websocket.WebSocketConnectionClosedException:
                raise Closed()
            except websocket.WebSocketTimeoutException:
                raise TimeoutError("no packet within %.1f s" % timeout)
            if op == websocket.ABNF.OPCODE_CLOSE:
                raise Closed()
            if op == websocket.ABNF.OPCODE_BINARY:
                return bytes(data)
            text = data.decode("utf-8")
            if text == "2":
                self.ws.send("3")
                continue
            if text == "" and op == 0:
                raise Closed()
            return text

    def expect_closed(self, timeout=3):
        """The server closes the connection (a close frame or EOF) in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pkt = self.recv(timeout=deadline - time.monotonic())
            except Closed:
                return
            except (ConnectionError, OSError):
                return
            except TimeoutError:
                break
            # Packets before the close are fine (none expected).
            del pkt
        raise AssertionError("the server did not close the connection within %.1f s" % timeout)

    def connect(self, nsp="/", auth=None):
        pkt = "40" + ("" if nsp == "/" else nsp + ",") + (json.dumps(auth) if auth else "")
        self.send(pkt)
        reply = self.recv()
        prefix = "40" + ("" if nsp == "/" else nsp + ",")
        assert reply.startswith(prefix), reply
        hs = json.loads(reply[len(prefix):])
        assert list(hs.keys()) == ["sid"], hs
        auth_pkt = self.recv()
        return hs["sid"], auth_pkt

    def close(self):
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass
        self.ws.shutdown()


class Polling:
    """One Engine.IO long-polling session."""

    def __init__(self, port):
        self.port = port
        st, body = self.req("GET", "")
        assert st == 200, (st, body)
        assert body.startswith(b"0{"), body
        self.sid = json.loads(body[1:])["sid"]

    def req(self, method, sid_part, body=None, timeout=5):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            q = "%s?EIO=4&transport=polling%s" % (PATH, sid_part)
            headers = {"Content-Type": "text/plain;charset=UTF-8"} if body is not None else {}
            conn.request(method, q, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def post(self, text):
        return self.req("POST", "&sid=" + self.sid, text.encode("utf-8"))

    def get(self, timeout=5):
        return self.req("GET", "&sid=" + self.sid, timeout=timeout)

    def packets(self, timeout=5):
        st, body = self.get(timeout)
        if st != 200:
            return st, None
        return st, [p for p in body.decode("utf-8").split("\x1e")]


class SocketIORaw(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(config=CONFIG).start()
        # An observer joined to a room for the whole run: after every bad
        # input it must still get broadcasts (bad-inputs.md 0.3 item 6).
        cls.observer = WS(cls.srv.port)
        cls.observer.connect()
        cls.observer.send('42["join-chat",{"username":"observer","room":"observed"}]')
        ev = json.loads(cls.observer.recv()[2:])
        assert ev[0] == "join-confirmed", ev
        cls.posts = 0

    @classmethod
    def tearDownClass(cls):
        cls.observer.close()
        code = cls.srv.stop()
        text = cls.srv.stderr()
        cls.srv.close()
        assert code == 0, "parley exited %s:\n%s" % (code, text[-3000:])
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, text[-6000:]

    def setUp(self):
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        self.canary()

    def ws(self, connect=True):
        s = WS(self.srv.port)
        self.socks.append(s)
        if connect:
            sid, auth = s.connect()
            self.assertEqual(auth, '42["auth",{}]')
        return s

    def canary(self):
        type(self).posts += 1
        content = "still here %d" % self.posts
        st, body = self.srv.json("POST", "/api/messages",
                                 {"username": "poster", "content": content, "room": "observed"})
        self.assertEqual(st, 201, body)
        ev = json.loads(self.observer.recv()[2:])
        self.assertEqual((ev[0], ev[1]["content"]), ("message-received", content))
        s = WS(self.srv.port)
        try:
            s.connect()
            s.send('421["message-with-ack","canary"]')
            self.assertEqual(s.recv(), '431["canary"]')
        finally:
            s.close()

    def assert_closes(self, *packets, binary=None):
        for p in packets:
            s = self.ws()
            s.send(p)
            for b in binary or ():
                try:
                    s.send_bin(b)
                except Exception:
                    pass
            s.expect_closed()
            self.assert_polling_closes(p, binary)

    def assert_polling_closes(self, packet, binary=None):
        """The same Engine.IO packet as a POLL-POST body ends the session:
        the POST is answered 200 and the next GET gets the close packet or
        400 "Session ID unknown". A body over maxPayload is refused with 413
        before Socket.IO sees it (the session may stay, as in engine.io)."""
        p = self.polling()
        body = packet
        for b in binary or ():
            body += "\x1eb" + base64.b64encode(bytes(b)).decode()
        try:
            st, _ = p.post(body)
        except (BrokenPipeError, ConnectionResetError):
            st = 413        # refused before the whole body was read
        if len(body.encode()) > 1000000:
            self.assertEqual(st, 413, packet[:60])
            return
        self.assertEqual(st, 200, packet[:60])
        st, got = p.get()
        if st == 200 and got in (b"1", b"6"):
            st, got = p.get()
        self.assertEqual(st, 400, (packet[:60], got[:200]))
        self.assertEqual(json.loads(got)["code"], 1)

    def assert_alive(self, s):
        s.send('4277["message-with-ack","alive"]')
        self.assertEqual(s.recv(), '4377["alive"]')

    # ---- the official v5 suite's Socket.IO cases ----------------------

    def test_connect_main(self):
        s = self.ws(connect=False)
        self.assertEqual(sorted(s.open.keys()),
                         ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"])
        sid, auth = s.connect()
        self.assertEqual(auth, '42["auth",{}]')
        self.assertNotEqual(sid, s.open["sid"])

    def test_connect_main_with_payload(self):
        s = self.ws(connect=False)
        sid, auth = s.connect(auth={"token": "123"})
        self.assertEqual(auth, '42["auth",{"token":"123"}]')

    def test_connect_custom(self):
        s = self.ws(connect=False)
        sid, auth = s.connect("/custom")
        self.assertEqual(auth, '42/custom,["auth",{}]')
        s2 = self.ws(connect=False)
        sid, auth = s2.connect("/custom", {"token": "abc"})
        self.assertEqual(auth, '42/custom,["auth",{"token":"abc"}]')

    def test_connect_custom_without_comma(self):
        s = self.ws(connect=False)
        s.send("40/custom")
        self.assertTrue(s.recv().startswith("40/custom,{\"sid\":"))
        self.assertEqual(s.recv(), '42/custom,["auth",{}]')

    def test_unknown_namespace(self):
        # S19: answered, and the connection stays.
        s = self.ws(connect=False)
        s.send("40/random")
        self.assertEqual(s.recv(), '44/random,{"message":"Invalid namespace"}')
        s.connect()
        self.assert_alive(s)

    def test_invalid_handshake(self):
        s = self.ws(connect=False)
        s.send("4abc")
        s.expect_closed()

    def test_connect_timeout(self):
        s = self.ws(connect=False)
        t0 = time.monotonic()
        s.expect_closed(timeout=4)
        self.assertGreater(time.monotonic() - t0, 0.7)

    def test_disconnect_main_keeps_engine(self):
        s = self.ws()
        s.send("41")
        # The Engine.IO session stays: it can join again.
        s.connect()
        self.assert_alive(s)

    def test_disconnect_custom_then_main(self):
        s = self.ws()
        s.connect("/custom")
        s.send("41/custom")
        s.send('42["message","message to main namespace"]')
        self.assertEqual(s.recv(), '42["message-back","message to main namespace"]')

    def test_plain_event(self):
        s = self.ws()
        s.send('42["message",1,"2",{"3":[true]}]')
        self.assertEqual(s.recv(), '42["message-back",1,"2",{"3":[true]}]')

    def test_binary_event(self):
        s = self.ws()
        s.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
        s.send_bin([1, 2, 3])
        s.send_bin([4, 5, 6])
        self.assertEqual(
            s.recv(),
            '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
        self.assertEqual(s.recv(), bytes([1, 2, 3]))
        self.assertEqual(s.recv(), bytes([4, 5, 6]))

    def test_ack(self):
        s = self.ws()
        s.send('42456["message-with-ack",1,"2",{"3":[false]}]')
        self.assertEqual(s.recv(), '43456[1,"2",{"3":[false]}]')

    def test_binary_ack(self):
        s = self.ws()
        s.send('452-789["message-with-ack",{"_placeholder":true,"num":0},'
               '{"_placeholder":true,"num":1}]')
        s.send_bin([1, 2, 3])
        s.send_bin([4, 5, 6])
        self.assertEqual(s.recv(),
                         '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
        self.assertEqual(s.recv(), bytes([1, 2, 3]))
        self.assertEqual(s.recv(), bytes([4, 5, 6]))

    def test_custom_namespace_event_without_handler(self):
        # No handler for it: dropped, as a Node server without a listener does.
        s = self.ws()
        s.connect("/custom")
        s.send('42/custom,["nobody-listens",1]')
        self.assert_alive(s)

    def metric(self, series):
        st, _, body = self.srv.request("GET", "/metrics")
        self.assertEqual(st, 200)
        for line in body.decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[1])
        self.fail("no series %s in /metrics" % series)

    def test_invalid_formats(self):
        decode = 'parley_socketio_protocol_errors_total{reason="decode"}'
        state = 'parley_socketio_protocol_errors_total{reason="invalid_state"}'
        before, before_state = self.metric(decode), self.metric(state)
        self.assert_closes("4abc", "42{}", '42abc["message-with-ack",1,"2",{"3":[false]}]')
        self.assert_closes('42/nope,["x"]')
        # Each over WebSocket and over polling.
        self.assertEqual(self.metric(decode), before + 6)
        self.assertEqual(self.metric(state), before_state + 2)

    def test_connections_gauge(self):
        s = self.ws()
        self.assertGreaterEqual(self.metric("parley_socketio_connections"), 1)
        s.close()

    # ---- bad-inputs.md section 3 ---------------------------------------

    def test_s01_s03_placeholders(self):
        self.assert_closes('451-["hello",{"_placeholder":true,"num":"splice"}]',
                           binary=[b"world"])
        self.assert_closes('451-["hello",{"_placeholder":true,"num":1}]', binary=[b"x"])
        for num in ("-1", "0.5", "1e309", '"0"', "null"):
            self.assert_closes('451-["hello",{"_placeholder":true,"num":%s}]' % num,
                               binary=[b"x"])

    def test_s03_placeholder_not_true(self):
        # "_placeholder":"true" is not a placeholder: closed, or plain data.
        s = self.ws()
        s.send('451-["message",{"_placeholder":"true","num":0}]')
        s.send_bin(b"x")
        try:
            s.recv(timeout=1)
        except (Closed, TimeoutError, OSError):
            pass

    def test_s04_binary_without_header(self):
        s = self.ws()
        s.send_bin([1, 2, 3])
        s.expect_closed()

    def test_s05_text_while_reconstructing(self):
        s = self.ws()
        s.send('451-["hello",{"_placeholder":true,"num":0}]')
        s.send('42["hello"]')
        s.expect_closed()

    def test_s06_too_many_attachments(self):
        ph = ",".join('{"_placeholder":true,"num":%d}' % i for i in range(11))
        self.assert_closes('4511-["a",%s]' % ph, '45999999999-["a"]',
                           "45" + "9" * 100000 + '-["a"]')

    def test_attachment_bytes_are_capped(self):
        # Each attachment fits in a message, together they pass maxPayload:
        # closed once the sum is over, so a connection buffers at most that.
        ph = ",".join('{"_placeholder":true,"num":%d}' % i for i in range(3))
        s = self.ws()
        s.send('453-["message",%s]' % ph)
        for _ in range(3):
            try:
                s.send_bin(b"\x00" * 600000)
            except Exception:
                break
        s.expect_closed()

    def test_s07_bad_attachment_counts(self):
        self.assert_closes("45", "451", "45a-", "451.23-", "45-1-")

    def test_s08_unknown_types(self):
        self.assert_closes("4999", "47", "4a", "4")

    def test_s09_s10_bad_event_names(self):
        self.assert_closes('42[{"toString":"foo"}]', '42[true,"foo"]', '42[null,"bar"]', "42[]",
                           "42{}", '42"str"', '42[["a"]]')

    def test_s11_reserved_names(self):
        self.assert_closes('42["connect"]', '42["disconnect","123"]', '42["connect_error"]',
                           '42["disconnecting"]', '42["newListener"]', '42["removeListener"]')

    def test_s12_error_event_is_ordinary(self):
        s = self.ws()
        s.send('42["error"]')
        self.assert_alive(s)

    def test_s13_prototype_names(self):
        s = self.ws()
        for p in ('42["__proto__",1]', '42["constructor"]', '42["hasOwnProperty"]'):
            s.send(p)
        self.assert_alive(s)
        self.assert_closes('42["%s"]' % ("a" * 65536))

    def test_s14_s17_bad_payloads(self):
        self.assert_closes('40/admin,"invalid"', "40[]", '40"x"', "41/admin,{}",
                           '4442["some","data"', '44{"message":"x"}', '42/admin,"invalid',
                           "42/admin,{}")

    def test_s18(self):
        self.assert_closes("4abc", "42{}", '42abc["message-with-ack",1,"2",{"3":[false]}]')

    def test_s20_not_joined(self):
        self.assert_closes('42/notjoined,["x"]', '43/notjoined,1["x"]')

    def test_s21_duplicate_connect(self):
        s = self.ws()
        s.send("40")
        s.expect_closed()

    def test_s22_namespace_names(self):
        self.assert_closes("40/" + "a" * 65536, "40/a\x00b")
        s = self.ws()
        for nsp in ("/%00", "/../x", "/\u202e"):
            s.send("40" + nsp + ",")
            self.assertEqual(s.recv(), "44%s,{\"message\":\"Invalid namespace\"}" % nsp)
        self.assert_alive(s)

    def test_s23_ack_ids(self):
        s = self.ws()
        s.send('421["message-with-ack","one"]')
        self.assertEqual(s.recv(), '431["one"]')
        s.send('424294967295["message-with-ack","max"]')
        self.assertEqual(s.recv(), '434294967295["max"]')
        self.assert_closes('424294967296["x"]', '429007199254740993["x"]',
                           "42" + "9" * 100000 + '["x"]')

    def test_s24_unknown_acks_ignored(self):
        s = self.ws()
        for i in range(500):
            s.send('43%d["x"]' % (999 + i))
        self.assert_alive(s)

    def test_s25_big_auth(self):
        many = "{" + ",".join('"k%d":1' % i for i in range(100000)) + "}"
        deep = '{"a":' * 50 + "1" + "}" * 50
        for auth in (many, deep):
            s = self.ws(connect=False)
            s.send("40" + auth)
            s.expect_closed()

    def test_s26_deep_nesting(self):
        self.assert_closes('42["msg",' + "[" * 100000 + "]" * 100000 + "]")

    def test_s27_placeholder_in_plain_event(self):
        s = self.ws()
        s.send('42["message",{"_placeholder":true,"num":0}]')
        self.assertEqual(s.recv(), '42["message-back",{"_placeholder":true,"num":0}]')

    def test_s28_over_max_payload(self):
        self.assert_closes('42["msg","' + "a" * 1048576 + '"]')

    def test_s29_after_disconnect(self):
        s = self.ws()
        s.send("41")
        s.send('42["message","after"]')
        s.expect_closed()

    def test_s30_big_garbage(self):
        self.assert_closes("4" + "99999991:4222" * (4 * 1024 * 1024 // 13))

    # ---- the same rules over long-polling -------------------------------

    def polling(self):
        p = Polling(self.srv.port)
        self.assertEqual(p.post("40"), (200, b"ok"))
        st, pk = p.packets()
        self.assertEqual(st, 200)
        self.assertTrue(pk[0].startswith('40{"sid":'), pk)
        if len(pk) == 1:
            st, more = p.packets()
            pk += more
        self.assertEqual(pk[1], '42["auth",{}]')
        return p

    def test_polling_event_and_ack(self):
        p = self.polling()
        self.assertEqual(p.post('42["message",1,"2"]\x1e425["message-with-ack",3]'), (200, b"ok"))
        got = []
        while len(got) < 2:
            st, pk = p.packets()
            self.assertEqual(st, 200)
            got += pk
        self.assertEqual(got, ['42["message-back",1,"2"]', "435[3]"])

    def test_polling_binary(self):
        p = self.polling()
        body = '451-["message",{"_placeholder":true,"num":0}]\x1ebAQID'
        self.assertEqual(p.post(body), (200, b"ok"))
        got = []
        while len(got) < 2:
            st, pk = p.packets()
            got += pk
        self.assertEqual(got, ['451-["message-back",{"_placeholder":true,"num":0}]', "bAQID"])

    def test_polling_unknown_namespace(self):
        p = self.polling()
        p.post("40/random,")
        st, pk = p.packets()
        self.assertEqual(pk, ['44/random,{"message":"Invalid namespace"}'])

    def test_polling_duplicate_connect_closes(self):
        self.assert_polling_closes("40")


if __name__ == "__main__":
    unittest.main(verbosity=2)
