"""The mongo plugin through the real server, against the run's MongoDB
(MONGODB_URI, else the mongo.server.start fixture's CongoDB):
- what it writes: one document per message in the Node backend's shape plus
  `room`, with exact BSON types, and the {room: 1, _id: -1} index;
- what the Node backend wrote (no room) reads back as the default room's
  history, in _id order with Parley's own messages, paged without overlap;
- room names are values, never query operators;
- a duplicate on an operator's unique index is refused, not "already
  stored" (needs a server that enforces secondary unique indexes: skipped
  only when buildInfo says CongoDB).

Each test class uses a database of its own. Exits 77 (ctest: skipped) while
the server, the rest or mongo plugin, or parley-mongo-cmd is not built.
"""
import os
import sys
import time
import unittest

import mongotest as mt
import parleytest as pt

URI = mt.test_uri()


def mongo_config(dirname, database, extra_storage="", transports=None):
    """configs/mongo.yaml with our database and only the transports asked for."""
    with open(os.path.join(pt.SOURCE_DIR, "configs", "mongo.yaml")) as f:
        text = f.read()
    assert 'database: ""' in text, "configs/mongo.yaml has no database key to replace"
    text = text.replace('database: ""', "database: %s%s" % (database, extra_storage))
    text = text[:text.index("transports:")]
    text += "transports:\n  - plugin: rest\n"
    for t in transports or []:
        text += t
    path = os.path.join(dirname, "parley.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def oid_hex(doc):
    return doc["_id"]["$oid"]


def node_doc(oid, username, content, ts_ms):
    """A document as the Node backend's Mongoose model writes it."""
    return {"_id": {"$oid": oid}, "username": username, "content": content,
            "timestamp": {"$date": {"$numberLong": str(ts_ms)}}, "__v": {"$numberInt": "0"}}


class MongoServerCase(unittest.TestCase):
    prefix = "parley_it"

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.db = mt.unique_db(cls.prefix)
        cls._dir = tempfile.TemporaryDirectory(prefix="parley-mongo-")
        cls.config = mongo_config(cls._dir.name, cls.db)
        cls.srv = pt.Server(config=cls.config, data_dir=cls._dir.name,
                            env={"MONGODB_URI": URI})
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.srv.stop()
            if code != 0:
                raise AssertionError("parley exited %s:\n%s" % (code, cls.srv.stderr()))
            text = cls.srv.stderr()
            for marker in pt.SANITIZER_MARKERS:
                if marker in text:
                    raise AssertionError("sanitizer report:\n" + text)
        finally:
            cls.srv.close()
            try:
                mt.command(URI, cls.db, {"dropDatabase": 1}, check=False)
            finally:
                cls._dir.cleanup()

    def post(self, username, content, room=None):
        body = {"username": username, "content": content}
        if room is not None:
            body["room"] = room
        return self.srv.json("POST", "/api/messages", body)

    def page(self, room=None, before=None, limit=None):
        q = []
        if room is not None:
            q.append("room=" + room)
        if before is not None:
            q.append("before=" + before)
        if limit is not None:
            q.append("limit=%d" % limit)
        status, body = self.srv.json("GET", "/api/messages" + ("?" + "&".join(q) if q else ""))
        self.assertEqual(status, 200, body)
        return body


class Schema(MongoServerCase):
    def test_document_shape_and_types(self):
        status, msg = self.post("alice", "hello \"mongo\" \u00e9\U0001F600", room="schema")
        self.assertEqual(status, 201, msg)
        docs = mt.find_all(URI, self.db, "messages", {"room": "schema"})
        self.assertEqual(len(docs), 1, docs)
        d = docs[0]
        self.assertEqual(sorted(d.keys()), ["_id", "content", "room", "timestamp", "username"])
        self.assertEqual(d["_id"], {"$oid": msg["_id"]})
        self.assertEqual(d["username"], "alice")
        self.assertEqual(d["content"], "hello \"mongo\" \u00e9\U0001F600")
        self.assertEqual(d["room"], "schema")
        # A BSON date, the same instant the API answered with.
        self.assertIn("$date", d["timestamp"])
        ms = int(d["timestamp"]["$date"]["$numberLong"])
        self.assertEqual(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
                         + ".%03dZ" % (ms % 1000), msg["timestamp"])

    def test_history_index_exists(self):
        self.assertEqual(self.post("bob", "index")[0], 201)
        reply = mt.command(URI, self.db, {"listIndexes": "messages"})
        keys = [ix["key"] for ix in reply["cursor"]["firstBatch"]]
        norm = [{k: int(v["$numberInt"]) if isinstance(v, dict) else v for k, v in key.items()}
                for key in keys]
        self.assertIn({"room": 1, "_id": -1}, norm, keys)
        self.assertEqual(list(norm[[n for n in norm].index({"room": 1, "_id": -1})].keys()),
                         ["room", "_id"], "index key order")

    def test_idle_server_does_not_spin(self):
        """Idle, neither the driver's monitors nor the health pings burn CPU
        (CongoDB's instant awaitable hellos made a pooled monitor spin until
        congo.js removed topologyVersion)."""
        def cpu(pid):
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        self.assertEqual(self.post("idle", "warm up")[0], 201)
        pids = {"parley": self.srv.pid}
        try:
            with open(mt.FIXTURE_PID) as f:
                pids["CongoDB"] = int(f.read())
        except OSError:
            pass   # MONGODB_URI: not our server
        before = {k: cpu(p) for k, p in pids.items()}
        time.sleep(3.0)
        for k, p in pids.items():
            used = cpu(p) - before[k]
            self.assertLess(used, 0.5, "%s used %.2f s of CPU in 3 s idle" % (k, used))

    def test_metrics(self):
        self.assertEqual(self.post("m", "metric")[0], 201)
        status, _, body = self.srv.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        for line in ('parley_mongo_inserts_total{result="ok"}', "parley_mongo_batch_size_count",
                     "parley_mongo_commit_seconds_bucket", "parley_mongo_write_queue"):
            self.assertIn(line, text)
        ok = [l for l in text.splitlines()
              if l.startswith('parley_mongo_inserts_total{result="ok"}')]
        self.assertGreaterEqual(float(ok[0].split()[-1]), 1.0, ok)

    def test_room_names_are_values_not_operators(self):
        # Rooms that look like operators, paths or patterns hold only their
        # own messages (the host refuses rooms starting with '$' itself).
        rooms = ["{\"$gt\": \"\"}", ".*", "x$where", "a.b", "{\"$exists\": false}"]
        for r in rooms:
            status, body = self.post("eve", "in " + r, room=r)
            self.assertEqual(status, 201, (r, body))
        self.assertEqual(self.post("eve", "plain", room="plain-room")[0], 201)
        for r in rooms:
            import urllib.parse
            body = self.page(room=urllib.parse.quote(r, safe=""))
            self.assertEqual([m["content"] for m in body["messages"]], ["in " + r], r)


class NodeBackendDocuments(MongoServerCase):
    """Documents the Node backend wrote (no room) are the default room's."""

    def test_node_documents_read_back_as_default_room(self):
        # Three documents written "by the Node backend" an hour ago, ids older
        # than anything Parley assigns now.
        base = int(time.time()) - 3600
        node = []
        for i in range(3):
            oid = "%08x" % (base + i) + "a1b2c3d4e5" + "%06x" % i
            node.append(node_doc(oid, "node-user%d" % i, "from node #%d" % i,
                                 (base + i) * 1000 + 123))
        reply = mt.command(URI, self.db, {"insert": "messages", "documents": node})
        self.assertEqual(reply.get("writeErrors"), None, reply)

        status, mine = self.post("parley-user", "from parley")
        self.assertEqual(status, 201, mine)
        self.assertEqual(self.post("other", "other room", room="elsewhere")[0], 201)

        body = self.page()
        self.assertEqual(body["room"], "chat-room")
        got = [(m["_id"], m["username"], m["content"], m["room"]) for m in body["messages"]]
        want = [(oid_hex(d), d["username"], d["content"], "chat-room") for d in node]
        want.append((mine["_id"], "parley-user", "from parley", "chat-room"))
        self.assertEqual(got, want)
        self.assertFalse(body["has_more"])
        # The Node timestamp comes back as stored, to the millisecond.
        self.assertEqual(body["messages"][0]["timestamp"],
                         time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base)) + ".123Z")
        # Not in another room's history.
        self.assertEqual([m["content"] for m in self.page(room="elsewhere")["messages"]],
                         ["other room"])

        # Paging across the Node documents: no overlap, no gap, newest last.
        first = self.page(limit=2)
        self.assertEqual([m["_id"] for m in first["messages"]], [want[2][0], want[3][0]])
        self.assertTrue(first["has_more"])
        second = self.page(before=first["next_before"], limit=2)
        self.assertEqual([m["_id"] for m in second["messages"]], [want[0][0], want[1][0]])
        self.assertFalse(second["has_more"])

    def test_node_documents_with_an_explicit_null_room(self):
        oid = "%08x" % (int(time.time()) - 7200) + "ffeeddccbb" + "000001"
        doc = node_doc(oid, "nulled", "room is null", int(time.time()) * 1000)
        doc["room"] = None
        mt.command(URI, self.db, {"insert": "messages", "documents": [doc]})
        ids = [m["_id"] for m in self.page(limit=200)["messages"]]
        self.assertIn(oid, ids)


class GroupCommit(unittest.TestCase):
    def test_concurrent_inserts_share_bulk_writes(self):
        """1000 inserts issued at once (the contract's `ordering` case) go out
        as a handful of ordered bulk writes, not 1000."""
        import re
        import subprocess
        runner = os.path.join(pt.BUILD_DIR, "bin", "parley-storage-contract")
        db = mt.unique_db("parley_gc")
        p = subprocess.run([runner, "--plugin", os.path.join(pt.PLUGIN_DIR, "mongo.so"),
                            "--case", "ordering", "--metrics", "--set", "uri=" + URI,
                            "--set", "database=" + db], capture_output=True, text=True,
                           timeout=120)
        try:
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("ok 1 - ordering", p.stdout)
            count = int(re.search(r"parley_mongo_batch_size_count (\d+)", p.stdout).group(1))
            total = float(re.search(r"parley_mongo_batch_size_sum (\S+)", p.stdout).group(1))
            self.assertEqual(total, 1000, p.stdout)
            self.assertLessEqual(count, 20, "1000 inserts took %d bulk writes" % count)
            ok = re.search(r'parley_mongo_inserts_total\{result="ok"\} (\S+)', p.stdout)
            self.assertEqual(float(ok.group(1)), 1000)
        finally:
            mt.command(URI, db, {"dropDatabase": 1}, check=False)


class UniqueIndexOfTheOperator(MongoServerCase):
    """A unique index the operator added is enforced: a duplicate there is a
    refused message, not 'already stored'."""

    def test_duplicate_on_other_unique_index_is_not_success(self):
        if mt.is_congodb(URI):
            self.skipTest("CongoDB accepts unique secondary indexes but does not enforce them "
                          "(buildInfo gitVersion congodb)")
        mt.command(URI, self.db, {"createIndexes": "messages", "indexes": [
            {"key": {"content": 1}, "name": "content_unique", "unique": True}]})
        self.assertEqual(self.post("u", "only once", room="uniq")[0], 201)
        status, body = self.post("u", "only once", room="uniq")
        self.assertNotEqual(status, 201, body)
        self.assertEqual(len(mt.find_all(URI, self.db, "messages", {"room": "uniq"})), 1)


if __name__ == "__main__":
    missing = [p for p in (pt.PARLEY, os.path.join(pt.PLUGIN_DIR, "mongo.so"),
                           os.path.join(pt.PLUGIN_DIR, "rest.so"), mt.MONGO_CMD)
               if not os.path.exists(p)]
    if missing:
        print("SKIP: not built yet: " + ", ".join(missing))
        sys.exit(77)
    if not URI:
        print("no database: set MONGODB_URI or run the mongo.server.start fixture")
        sys.exit(1)
    unittest.main(verbosity=2)
