"""Debian's python3-socketio client against the Socket.IO transport:
connect, join, send (with an ack), and receive a broadcast sent by the
official JavaScript client (tests/socketio/send_one.mjs)."""
import os
import queue
import subprocess
import unittest

import sionode
from parleytest import SOURCE_DIR, Server

CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "configs", "socketio.yaml")

try:
    import socketio
except ImportError:  # pragma: no cover
    socketio = None


class PythonClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(config=CONFIG).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.srv.stop()
        text = cls.srv.stderr()
        cls.srv.close()
        assert code == 0, "parley exited %s:\n%s" % (code, text[-3000:])
        assert "Sanitizer" not in text and "runtime error:" not in text, text[-6000:]

    def test_join_send_and_receive_from_js(self):
        if socketio is None:
            self.fail("python3-socketio is not installed (scripts/deps.sh --test)")
        events = queue.Queue()
        sio = socketio.Client(reconnection=False)
        for name in ("join-confirmed", "message-received", "user-joined", "error"):
            sio.on(name, (lambda n: lambda data: events.put((n, data)))(name))
        url = "http://127.0.0.1:%d" % self.srv.port
        sio.connect(url, transports=["websocket"], wait_timeout=5)
        try:
            self.assertTrue(sio.connected)
            sio.emit("join-chat", {"username": "py", "room": "py-room"})
            name, data = events.get(timeout=5)
            self.assertEqual(name, "join-confirmed")
            self.assertEqual(data["username"], "py")
            self.assertEqual(data["room"], "py-room")
            self.assertEqual(data["history"], [])

            ack = sio.call("send-message", {"content": "from python"}, timeout=5)
            self.assertEqual(ack["ok"], True)
            name, data = events.get(timeout=5)
            self.assertEqual(name, "message-received")
            self.assertEqual(data["_id"], ack["id"])
            self.assertEqual(data["content"], "from python")
            self.assertEqual(data["username"], "py")

            modules = sionode.install()
            p = subprocess.run(["node", os.path.join(sionode.JS_DIR, "send_one.mjs")],
                               env=sionode.env_for(self.srv, modules, ROOM="py-room",
                                                   USERNAME="js", CONTENT="from node"),
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            got = {}
            while "message-received" not in got:
                name, data = events.get(timeout=5)
                got[name] = data
            self.assertEqual(got["user-joined"]["username"], "js")
            m = got["message-received"]
            self.assertEqual((m["username"], m["content"], m["room"]), ("js", "from node", "py-room"))
        finally:
            sio.disconnect()

    def chat_once(self, transports, room):
        events = queue.Queue()
        sio = socketio.Client(reconnection=False)
        for name in ("join-confirmed", "message-received"):
            sio.on(name, (lambda n: lambda data: events.put((n, data)))(name))
        sio.connect("http://127.0.0.1:%d" % self.srv.port, transports=transports, wait_timeout=5)
        try:
            sio.emit("join-chat", {"username": "py2", "room": room})
            self.assertEqual(events.get(timeout=5)[0], "join-confirmed")
            ack = sio.call("send-message", {"content": "over %s" % transports}, timeout=5)
            self.assertTrue(ack["ok"], ack)
            name, data = events.get(timeout=5)
            self.assertEqual((name, data["_id"]), ("message-received", ack["id"]))
            return sio.transport()
        finally:
            sio.disconnect()

    def test_polling_only(self):
        if socketio is None:
            self.fail("python3-socketio is not installed (scripts/deps.sh --test)")
        try:
            import requests  # noqa: F401  (python3-engineio needs it for polling)
        except ImportError:
            self.fail("python3-requests is not installed (scripts/deps.sh --test)")
        self.assertEqual(self.chat_once(["polling"], "py-poll"), "polling")

    def test_default_transports_upgrade(self):
        if socketio is None:
            self.fail("python3-socketio is not installed (scripts/deps.sh --test)")
        self.assertEqual(self.chat_once(["polling", "websocket"], "py-up"), "websocket")


if __name__ == "__main__":
    unittest.main(verbosity=2)
