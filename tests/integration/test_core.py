"""The chat core through the real server: REST on the memstore fixture
(tests/fixtures/memstore/memstore.yaml; MEMSTORE_COMPLETE picks how the
plugin completes). Checks memstore's mode route, that a call that hung and
timed out was not stored, strict id order under concurrent posts, and the
core's metrics. The server is stopped by PID (SIGTERM), must exit 0 and
must leave no sanitizer report.
"""
import json
import os
import re
import threading
import time
import unittest

from parleytest import SANITIZER_MARKERS, SOURCE_DIR, TEST_PLUGIN_DIR, Server, wait_for

CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "memstore", "memstore.yaml")
ID_RE = re.compile(r"^[0-9a-f]{24}$")


class Core(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(config=CONFIG, env={"PARLEY_TEST_PLUGIN_DIR": TEST_PLUGIN_DIR})
        try:
            cls.srv.start()
        except BaseException:
            cls.srv.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.srv.stop()
            text = cls.srv.stderr()
            for marker in SANITIZER_MARKERS:
                if marker in text:
                    raise AssertionError("sanitizer report in parley's stderr:\n" + text)
            if code != 0:
                raise AssertionError("parley exited with %r after SIGTERM:\n%s" % (code, text))
        finally:
            cls.srv.close()

    def tearDown(self):
        self.mode("ok")

    def mode(self, body, method="POST"):
        return self.srv.request(method, "/_memstore/mode", body=body.encode() if body else None,
                                headers={"Content-Type": "text/plain"})

    def post(self, username, content, room):
        return self.srv.json("POST", "/api/messages",
                             {"username": username, "content": content, "room": room})

    def page(self, room, **params):
        q = "&".join("%s=%s" % kv for kv in dict(params, room=room).items())
        st, body = self.srv.json("GET", "/api/messages?" + q)
        self.assertEqual(st, 200, body)
        return body

    def metric(self, text, series):
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[1])
        raise AssertionError("no series %s in:\n%s" % (series, text))

    def test_mode_route(self):
        st, _, data = self.srv.request("GET", "/_memstore/mode")
        self.assertEqual((st, json.loads(data)), (200, {"mode": "ok"}))
        st, _, data = self.mode("fail\n")
        self.assertEqual((st, json.loads(data)), (200, {"mode": "fail"}))
        st, _, data = self.srv.request("GET", "/_memstore/mode")
        self.assertEqual(json.loads(data), {"mode": "fail"})
        st, _, data = self.mode("sideways")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(data)["error"]["message"], "the body must be ok, fail, hang or hold-history")
        st, _, _ = self.mode("ok", method="PUT")
        self.assertEqual(st, 405)
        st, _, _ = self.srv.request("GET", "/_memstore/other")
        self.assertEqual(st, 404)

    def test_failure_is_an_error_not_silence(self):
        self.mode("fail")
        st, body = self.post("ann", "lost", "core-fail")
        self.assertEqual(st, 503, body)
        self.assertEqual(body["error"]["message"],
                         "message not stored: storage unavailable (memstore is in fail mode)")
        self.mode("ok")
        self.assertEqual(self.page("core-fail")["messages"], [])

    def test_hung_call_times_out_and_is_not_stored(self):
        self.mode("hang")
        t0 = time.monotonic()
        st, body = self.post("ann", "hung", "core-hang")
        self.assertEqual(st, 503, body)
        self.assertEqual(body["error"]["message"],
                         "message not stored: timed out (storage did not answer within 500 ms)")
        self.assertLess(time.monotonic() - t0, 3.0)
        self.mode("ok")          # releases the hung insert: dropped, not stored
        st, body = self.post("ann", "after", "core-hang")
        self.assertEqual(st, 201, body)
        self.assertEqual([m["content"] for m in self.page("core-hang")["messages"]], ["after"])

    def test_concurrent_posts_get_increasing_unique_ids(self):
        n_threads, per_thread = 8, 25
        results, lock = [], threading.Lock()

        def worker(t):
            for i in range(per_thread):
                st, body = self.post("w%d" % t, "t%d-%d" % (t, i), "core-many")
                with lock:
                    results.append((st, body))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual([st for st, _ in results], [201] * (n_threads * per_thread))
        ids = [body["_id"] for _, body in results]
        for i in ids:
            self.assertRegex(i, ID_RE)
        self.assertEqual(len(set(ids)), len(ids))
        page = self.page("core-many", limit=200)
        got = [m["_id"] for m in page["messages"]]
        self.assertEqual(got, sorted(ids))             # oldest first, by id
        self.assertEqual(sorted(got), got)
        # Per sender, the ids follow the order the sender posted in.
        for t in range(n_threads):
            mine = [m for m in page["messages"] if m["username"] == "w%d" % t]
            self.assertEqual([m["content"] for m in mine],
                             ["t%d-%d" % (t, i) for i in range(per_thread)])

    def test_metrics(self):
        st, _, before = self.srv.request("GET", "/metrics")
        self.assertEqual(st, 200)
        before = before.decode()
        posted0 = self.metric(before, "parley_messages_posted_total")
        invalid0 = self.metric(before, 'parley_messages_rejected_total{reason="invalid"}')
        self.assertEqual(self.post("ann", "counted", "core-metrics")[0], 201)
        self.assertEqual(self.post("ann", "   ", "core-metrics")[0], 400)
        st, _, after = self.srv.request("GET", "/metrics")
        after = after.decode()
        self.assertEqual(self.metric(after, "parley_messages_posted_total"), posted0 + 1)
        self.assertEqual(self.metric(after, 'parley_messages_rejected_total{reason="invalid"}'),
                         invalid0 + 1)
        self.assertEqual(self.metric(after, "parley_storage_up"), 1)
        self.assertIn("# TYPE parley_storage_insert_seconds histogram\n", after)
        self.assertGreaterEqual(self.metric(after, "parley_storage_insert_seconds_count"), 1)

    def test_storage_state_follows_the_probe(self):
        self.mode("fail")
        wait_for(lambda: self.srv.json("GET", "/health")[1]["storage"] == "disconnected",
                 timeout=5, what="/health to say disconnected")
        self.mode("ok")
        wait_for(lambda: self.srv.json("GET", "/health")[1]["storage"] == "connected",
                 timeout=5, what="/health to say connected")


if __name__ == "__main__":
    unittest.main(verbosity=2)
