"""The socketio transport as configs/parley.yaml ships it: the Node
backend's defaults (path /socket.io/, pingInterval 25 s, pingTimeout 20 s,
maxPayload 1000000, the two allowed origins), nothing test-only loaded (no
`auth` echo, no /custom namespace), the chat on "/", and a REST post
reaching a Socket.IO client."""
import http.client
import json
import unittest

import websocket

from parleytest import DEFAULT_CONFIG, Server

ALLOWED = "http://localhost:5173"


class DefaultConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(config=DEFAULT_CONFIG).start()

    @classmethod
    def tearDownClass(cls):
        # Clients still connected (WebSocket and a held poll, both joined)
        # when the server stops: it must drain them and exit 0, no leaks.
        ws = websocket.create_connection(
            "ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket" % cls.srv.port,
            timeout=5, suppress_origin=True)
        ws.recv()
        ws.send("40")
        ws.recv()
        ws.send('42["join-chat",{"username":"stayer"}]')
        ws.recv()
        conn = http.client.HTTPConnection("127.0.0.1", cls.srv.port, timeout=5)
        conn.request("GET", "/socket.io/?EIO=4&transport=polling")
        sid = json.loads(conn.getresponse().read()[1:])["sid"]
        q = "/socket.io/?EIO=4&transport=polling&sid=" + sid
        conn.request("POST", q, body=b'40\x1e42["join-chat",{"username":"poller"}]',
                     headers={"Content-Type": "text/plain;charset=UTF-8"})
        conn.getresponse().read()
        held = http.client.HTTPConnection("127.0.0.1", cls.srv.port, timeout=5)
        held.request("GET", q)
        held.getresponse().read()      # 40{sid} and join-confirmed
        held.request("GET", q)         # now held
        code = cls.srv.stop()
        ws.shutdown()
        conn.close()
        held.close()
        text = cls.srv.stderr()
        cls.srv.close()
        assert code == 0, "parley exited %s:\n%s" % (code, text[-3000:])
        assert "Sanitizer" not in text and "runtime error:" not in text, text[-6000:]

    def handshake(self, origin=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=5)
        try:
            conn.request("GET", "/socket.io/?EIO=4&transport=polling&t=abc",
                         headers={"Origin": origin} if origin else {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def ws(self, origin=None):
        kw = {"origin": origin} if origin else {"suppress_origin": True}
        ws = websocket.create_connection(
            "ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket" % self.srv.port,
            timeout=5, **kw)
        self.addCleanup(ws.close)
        self.assertTrue(ws.recv().startswith("0{"))
        return ws

    def recv(self, ws):
        while True:
            m = ws.recv()
            if m == "2":
                ws.send("3")
                continue
            return m

    def test_open_packet_defaults(self):
        st, hdrs, body = self.handshake(ALLOWED)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("access-control-allow-origin"), ALLOWED)
        op = json.loads(body[1:])
        self.assertEqual(op["upgrades"], ["websocket"])
        self.assertEqual((op["pingInterval"], op["pingTimeout"], op["maxPayload"]),
                         (25000, 20000, 1000000))

    def test_forbidden_origin(self):
        st, hdrs, body = self.handshake("http://evil.example")
        self.assertEqual(st, 403)
        self.assertEqual(json.loads(body)["code"], 4)
        with self.assertRaises(websocket.WebSocketBadStatusException):
            websocket.create_connection(
                "ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket" % self.srv.port,
                timeout=5, origin="http://evil.example")

    def test_nothing_test_only(self):
        ws = self.ws(ALLOWED)
        ws.send("40")
        self.assertTrue(self.recv(ws).startswith('40{"sid":'))
        # No conformance plugin: no auth echo, no /custom, "message" unhandled.
        ws.send("40/custom,")
        self.assertEqual(self.recv(ws), '44/custom,{"message":"Invalid namespace"}')
        ws.send('421["message-with-ack","x"]')
        ws.send('422["send-message",{"content":"before join"}]')
        reply = self.recv(ws)
        self.assertTrue(reply.startswith("432["), reply)
        self.assertEqual(json.loads(reply[3:])[0]["ok"], False)

    def test_chat_and_rest(self):
        ws = self.ws()
        ws.send("40")
        self.assertTrue(self.recv(ws).startswith('40{"sid":'))
        ws.send('42["join-chat",{"username":"dflt"}]')
        ev = json.loads(self.recv(ws)[2:])
        self.assertEqual(ev[0], "join-confirmed")
        self.assertEqual((ev[1]["username"], ev[1]["room"]), ("dflt", "chat-room"))
        self.assertIsInstance(ev[1]["history"], list)

        ws.send('427["send-message",{"content":"hello default"}]')
        got = [self.recv(ws), self.recv(ws)]
        acks = [g for g in got if g.startswith("437")]
        msgs = [g for g in got if g.startswith("42")]
        self.assertEqual(len(acks), 1, got)
        ack = json.loads(acks[0][3:])[0]
        self.assertEqual(ack["ok"], True)
        m = json.loads(msgs[0][2:])
        self.assertEqual(m[0], "message-received")
        self.assertEqual((m[1]["_id"], m[1]["content"]), (ack["id"], "hello default"))

        st, body = self.srv.json("POST", "/api/messages",
                                 {"username": "rest", "content": "via REST"})
        self.assertEqual(st, 201, body)
        m = json.loads(self.recv(ws)[2:])
        self.assertEqual(m[0], "message-received")
        self.assertEqual((m[1]["username"], m[1]["content"], m[1]["room"]),
                         ("rest", "via REST", "chat-room"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
