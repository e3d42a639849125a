"""Durability of the sqlite storage under kill -9.

A message whose POST /api/messages was answered 201 was confirmed to its
sender; it must survive SIGKILL of the server. Five rounds on one data
directory: start the real server (configs/parley.yaml: sqlite + rest),
POST from several threads, record every id whose 201 arrived, kill -9 the
server at a random moment, restart it, and page through each room with
GET /api/messages: every confirmed id is there exactly once, with its
content, in id order, and the rooms of earlier rounds are still whole.

Exits 77 (ctest: skipped) while the rest or sqlite plugin is not built.
"""
import http.client
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import unittest

import parleytest as pt

ROUNDS = 5
THREADS = 4
PAGE = 200


def poster(port, room, tag, stop, confirmed, lock):
    """POST until the server dies or stop is set; record confirmed ids."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    i = 0
    try:
        while not stop.is_set():
            content = "%s #%d" % (tag, i)
            body = json.dumps({"username": "kill9-" + tag, "content": content, "room": room})
            conn.request("POST", "/api/messages", body=body,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            if r.status != 201:
                raise AssertionError("POST answered %d: %r" % (r.status, data[:300]))
            msg = json.loads(data)
            with lock:
                confirmed[msg["_id"]] = content
            i += 1
    except (OSError, http.client.HTTPException):
        pass  # the server was killed under us
    finally:
        conn.close()


def read_room(server, room):
    """Every message of a room, oldest first, by walking pages newest-first."""
    pages = []
    before = None
    for _ in range(10000):
        path = "/api/messages?room=%s&limit=%d" % (room, PAGE)
        if before:
            path += "&before=" + before
        status, body = server.json("GET", path)
        if status != 200:
            raise AssertionError("GET %s answered %d: %r" % (path, status, body))
        pages.append(body["messages"])
        if not body["has_more"]:
            break
        before = body["next_before"]
        if before != body["messages"][0]["_id"]:
            raise AssertionError("next_before %s is not the page's oldest id %s"
                                 % (before, body["messages"][0]["_id"]))
    out = []
    for page in reversed(pages):
        out.extend(page)
    return out


class SqliteKill9(unittest.TestCase):
    def check_room(self, server, room, confirmed):
        msgs = read_room(server, room)
        ids = [m["_id"] for m in msgs]
        self.assertEqual(len(ids), len(set(ids)), "room %s holds an id twice" % room)
        self.assertEqual(ids, sorted(ids), "room %s is not in id order" % room)
        stored = {m["_id"]: m for m in msgs}
        missing = [i for i in confirmed if i not in stored]
        self.assertEqual(missing, [], "room %s lost %d of %d confirmed messages after kill -9"
                         % (room, len(missing), len(confirmed)))
        for i, content in confirmed.items():
            self.assertEqual(stored[i]["content"], content, "message %s changed" % i)
            self.assertEqual(stored[i]["room"], room)
        return len(msgs)

    def test_confirmed_messages_survive_kill9(self):
        rng = random.Random()
        token = "%08x" % rng.getrandbits(32)
        data = tempfile.TemporaryDirectory(prefix="parley-kill9-")
        servers = []
        rooms = []
        try:
            server = pt.Server(data_dir=data.name).start()
            servers.append(server)
            for rnd in range(ROUNDS):
                room = "kill9-%s-%d" % (token, rnd)
                confirmed, lock, stop = {}, threading.Lock(), threading.Event()
                threads = [threading.Thread(target=poster,
                                            args=(server.port, room, "t%d" % t, stop,
                                                  confirmed, lock))
                           for t in range(THREADS)]
                for t in threads:
                    t.start()
                pt.wait_for(lambda: len(confirmed) >= 20, timeout=20,
                            what="20 confirmed posts in round %d" % rnd)
                time.sleep(rng.uniform(0.0, 0.6))
                os.kill(server.pid, signal.SIGKILL)
                server.proc.wait()
                stop.set()
                for t in threads:
                    t.join(15)
                    self.assertFalse(t.is_alive(), "a posting thread hung after kill -9")
                server.assert_clean(self)
                with lock:
                    rooms.append((room, dict(confirmed)))

                server = pt.Server(data_dir=data.name).start()
                servers.append(server)
                for r, conf in rooms:
                    n = self.check_room(server, r, conf)
                    self.assertGreaterEqual(n, len(conf))
                print("round %d: %d confirmed, all present after kill -9" % (rnd, len(confirmed)))
            self.assertEqual(server.stop(), 0, server.stderr())
            server.assert_clean(self)
        finally:
            for s in servers:
                s.close()
            data.cleanup()


if __name__ == "__main__":
    missing = [p for p in (pt.PARLEY, os.path.join(pt.PLUGIN_DIR, "sqlite.so"),
                           os.path.join(pt.PLUGIN_DIR, "rest.so")) if not os.path.exists(p)]
    if missing:
        print("SKIP: not built yet: " + ", ".join(missing))
        sys.exit(77)
    unittest.main(verbosity=2)
