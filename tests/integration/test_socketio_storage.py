"""Storage failures through the chat mapping (DESIGN.md: a sender whose
message could not be stored gets an error, never silence, and nothing is
broadcast): the memstore fixture fails (EUNAVAIL) or hangs (storage.timeout
1 s) on command; send-message answers through its ack or an `error` event
with the code, join-chat still confirms (empty history) after an `error`,
and everything works again once storage is back."""
import json
import os
import time
import unittest

import websocket

from parleytest import SOURCE_DIR, TEST_PLUGIN_DIR, Server

CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "configs", "socketio-memstore.yaml")


class StorageOutage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(config=CONFIG, env={"PARLEY_TEST_PLUGIN_DIR": TEST_PLUGIN_DIR}).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.srv.stop()
        text = cls.srv.stderr()
        cls.srv.close()
        assert code == 0, "parley exited %s:\n%s" % (code, text[-3000:])
        assert "Sanitizer" not in text and "runtime error:" not in text, text[-6000:]

    def set_mode(self, mode):
        st, _, data = self.srv.request("POST", "/_memstore/mode", body=mode.encode(),
                                       headers={"Content-Type": "text/plain"})
        self.assertLess(st, 300, data)

    def tearDown(self):
        self.set_mode("ok")

    def connect(self):
        """A Socket.IO client connected to "/", not joined yet."""
        ws = websocket.create_connection(
            "ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket" % self.srv.port,
            timeout=5, suppress_origin=True)
        self.addCleanup(ws.close)
        self.assertTrue(ws.recv().startswith("0{"))
        ws.send("40")
        self.assertTrue(ws.recv().startswith("40"))
        return ws

    def client(self, name, room):
        ws = self.connect()
        ws.send('42["join-chat",{"username":"%s","room":"%s"}]' % (name, room))
        self.assertEqual(self.event(ws)[0], "join-confirmed")
        return ws

    def recv(self, ws, timeout=5):
        ws.settimeout(timeout)
        while True:
            m = ws.recv()
            if m == "2":
                ws.send("3")
                continue
            return m

    def event(self, ws, timeout=5):
        m = self.recv(ws, timeout)
        self.assertTrue(m.startswith("42["), m)
        return json.loads(m[2:])

    def ack(self, ws, ack_id, timeout=5):
        m = self.recv(ws, timeout)
        prefix = "43%d" % ack_id
        self.assertTrue(m.startswith(prefix), m)
        return json.loads(m[len(prefix):])[0]

    def assert_quiet(self, ws, secs=0.3):
        ws.settimeout(secs)
        try:
            m = ws.recv()
        except websocket.WebSocketTimeoutException:
            return
        self.fail("unexpected packet %r" % m[:200])

    def test_fail_then_recover(self):
        a = self.client("alice", "outage")
        b = self.client("bob", "outage")
        self.assertEqual(self.event(a)[0], "user-joined")
        self.set_mode("fail")
        b.send('421["send-message",{"content":"lost"}]')
        res = self.ack(b, 1)
        self.assertEqual((res["ok"], res["code"]), (False, "storage_unavailable"))
        self.assertIn("not stored", res["error"])
        b.send('42["send-message",{"content":"lost too"}]')
        ev = self.event(b)
        self.assertEqual((ev[0], ev[1]["code"]), ("error", "storage_unavailable"))
        self.assert_quiet(a)      # nothing was broadcast

        self.set_mode("ok")
        b.send('422["send-message",{"content":"kept"}]')
        got = [self.recv(b), self.recv(b)]
        self.assertTrue(any(g.startswith('432[{"ok":true,"id":"') for g in got), got)
        ev = self.event(a)
        self.assertEqual((ev[0], ev[1]["content"]), ("message-received", "kept"))

    def test_hang_times_out(self):
        a = self.client("carol", "hang")
        self.set_mode("hang")
        t0 = time.monotonic()
        a.send('425["send-message",{"content":"stuck"}]')
        res = self.ack(a, 5, timeout=8)
        self.assertEqual((res["ok"], res["code"]), (False, "storage_timeout"))
        self.assertLess(time.monotonic() - t0, 5.0)    # storage.timeout is 1 s

    def test_join_confirmed_comes_first_and_history_is_not_repeated(self):
        """While a join's history read is out, what its room says waits for
        the joiner's join-confirmed; a message the history already holds is
        not delivered again, one confirmed after the read is."""
        a = self.client("erin", "joining")
        a.send('42["send-message",{"content":"before"}]')
        self.assertEqual(self.event(a)[1]["content"], "before")
        self.set_mode("hold-history")
        ws = self.connect()
        ws.send('42["join-chat",{"username":"frank","room":"joining"}]')
        self.assertEqual(self.event(a)[0], "user-joined")      # frank is in the room
        # Stored while frank's history read waits: it will be in the history.
        a.send('42["send-message",{"content":"during"}]')
        self.assertEqual(self.event(a)[1]["content"], "during")
        a.send('42["typing",{"isTyping":true}]')
        time.sleep(0.2)
        self.assert_quiet(ws, 0.2)                               # nothing before join-confirmed
        self.set_mode("ok")                                      # the read runs now
        ev = self.event(ws)
        self.assertEqual(ev[0], "join-confirmed")
        self.assertEqual([m["content"] for m in ev[1]["history"]][-2:], ["before", "during"])
        # Then what was held, without the message the history holds.
        ev = self.event(ws)
        self.assertEqual((ev[0], ev[1]["username"], ev[1]["isTyping"]), ("typing", "erin", True))
        a.send('42["send-message",{"content":"after"}]')
        ev = self.event(ws)
        self.assertEqual((ev[0], ev[1]["content"]), ("message-received", "after"))
        self.assert_quiet(ws)

    def test_join_while_history_fails(self):
        self.set_mode("fail")
        ws = self.connect()
        ws.send('42["join-chat",{"username":"dave","room":"nohist"}]')
        err = self.event(ws)
        self.assertEqual(err[0], "error")
        self.assertIn(err[1]["code"], ("storage_unavailable",))
        jc = self.event(ws)
        self.assertEqual(jc, ["join-confirmed", {"username": "dave", "room": "nohist",
                                                 "history": []}])


if __name__ == "__main__":
    unittest.main(verbosity=2)
