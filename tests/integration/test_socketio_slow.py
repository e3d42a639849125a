"""Slow consumers on the chat's fan-out: a polling client that stops
polling and a WebSocket client that stops reading, both in a busy room,
are disconnected once their queue passes its cap (64 KiB here), counted in
parley_eio_slow_consumers_total{transport}, and announced with user-left;
a reading member of the same room meanwhile receives every message."""
import http.client
import json
import os
import socket
import time
import unittest

import websocket

from parleytest import SOURCE_DIR, Server

CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "configs", "socketio.yaml")
ROOM = "slow-room"
# 20000 characters of 4 UTF-8 bytes: an 80 KB frame per message.
CONTENT = "\U0001F600" * 20000


class SlowConsumers(unittest.TestCase):
    def setUp(self):
        self.srv = Server(config=CONFIG, env={"PARLEY_SEND_QUEUE_MAX": "256KiB",
                                              "PARLEY_SIO_SEND_QUEUE_MAX": "256KiB",
                                              "PARLEY_LOG_LEVEL": "warn"}).start()

    def tearDown(self):
        code = self.srv.stop()
        text = self.srv.stderr()
        self.srv.close()
        self.assertEqual(code, 0, text[-3000:])
        self.assertNotIn("Sanitizer", text)
        self.assertNotIn("runtime error:", text)

    def metric(self, series):
        st, _, body = self.srv.request("GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[1])
        return 0.0

    def ws_join(self, name, rcvbuf=None):
        opts = ((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf),) if rcvbuf else ()
        ws = websocket.create_connection(
            "ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket" % self.srv.port,
            timeout=10, suppress_origin=True, sockopt=opts)
        self.assertTrue(ws.recv().startswith("0{"))
        ws.send("40")
        self.assertTrue(ws.recv().startswith("40"))
        self.assertEqual(ws.recv(), '42["auth",{}]')
        ws.send('42["join-chat",{"username":"%s","room":"%s"}]' % (name, ROOM))
        self.assertTrue(ws.recv().startswith('42["join-confirmed"'))
        return ws

    def poll_join(self, name):
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        conn.request("GET", "/socket.io/?EIO=4&transport=polling")
        sid = json.loads(conn.getresponse().read()[1:])["sid"]
        q = "/socket.io/?EIO=4&transport=polling&sid=" + sid
        body = '40\x1e42["join-chat",{"username":"%s","room":"%s"}]' % (name, ROOM)
        conn.request("POST", q, body=body.encode(),
                     headers={"Content-Type": "text/plain;charset=UTF-8"})
        self.assertEqual(conn.getresponse().read(), b"ok")
        got = ""
        while "join-confirmed" not in got:
            conn.request("GET", q)
            got += conn.getresponse().read().decode()
        conn.close()
        return q

    def test_slow_consumers_are_dropped_and_others_keep_up(self):
        observer = self.ws_join("observer")
        slow_ws = self.ws_join("slow-ws", rcvbuf=4096)
        slow_q = self.poll_join("slow-poll")

        left, posted, received = set(), 0, 0
        deadline = time.monotonic() + 60
        while left != {"slow-ws", "slow-poll"}:
            self.assertLess(time.monotonic(), deadline, "still connected: %s" % left)
            st, body = self.srv.json("POST", "/api/messages",
                                     {"username": "poster", "content": CONTENT, "room": ROOM})
            self.assertEqual(st, 201, body)
            posted += 1
            # Drain the observer: every message arrives, user-left in between.
            while received < posted:
                m = observer.recv()
                if m == "2":
                    observer.send("3")
                    continue
                self.assertTrue(m.startswith("42["), "observer got %r" % m[:100])
                ev = json.loads(m[2:])
                if ev[0] == "user-joined":
                    continue
                if ev[0] == "user-left":
                    left.add(ev[1]["username"])
                    continue
                self.assertEqual(ev[0], "message-received")
                self.assertEqual(len(ev[1]["content"]), len(CONTENT))
                received += 1
        self.assertEqual(self.metric('parley_eio_slow_consumers_total{transport="polling"}'), 1)
        self.assertEqual(self.metric('parley_eio_slow_consumers_total{transport="websocket"}'),
                         1)
        # The dropped polling session is gone.
        st, _, _ = self.srv.request("GET", slow_q)
        self.assertEqual(st, 400)
        observer.close()
        slow_ws.shutdown()


if __name__ == "__main__":
    unittest.main(verbosity=2)
