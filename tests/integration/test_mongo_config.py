"""The mongo plugin's configuration and start-up, through the real binary:
- --check-config accepts configs/mongo.yaml without connecting anywhere;
- bad keys are refused at start with the reason (exit 3), and the URI's
  credentials never appear in a message;
- a server started while its database is down listens, says
  "disconnected", fails posts with 503 within the timeout, and serves (index
  created) as soon as the database appears.

Exits 77 (ctest: skipped) while something it needs is not built.
"""
import os
import sys
import tempfile
import time
import unittest

import mongotest as mt
import parleytest as pt


def config_text(uri, extra=""):
    with open(os.path.join(pt.SOURCE_DIR, "configs", "mongo.yaml")) as f:
        text = f.read()
    text = text.replace("${MONGODB_URI:-mongodb://127.0.0.1:27017/parley}", uri)
    text = text[:text.index("transports:")].replace("    batch_max: 256",
                                                    "    batch_max: 256\n" + extra)
    return text + "transports:\n  - plugin: rest\n"


class CheckConfig(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory(prefix="parley-mongo-cfg-")

    def tearDown(self):
        self._dir.cleanup()

    def check(self, uri, extra=""):
        path = os.path.join(self._dir.name, "parley.yaml")
        with open(path, "w") as f:
            f.write(config_text(uri, extra))
        t0 = time.monotonic()
        code, out, err = pt.run_parley(["--config", path, "--check-config"],
                                       env={"PARLEY_PORT": str(pt.free_port())})
        return code, out + err, time.monotonic() - t0

    def test_shipped_config_checks_without_a_database(self):
        port = pt.free_port()   # nothing listens there
        code, text, took = self.check("mongodb://127.0.0.1:%d/parley" % port)
        self.assertEqual(code, 0, text)
        self.assertIn("storage   mongo", text)
        self.assertLess(took, 10, "--check-config must not wait for a server")

    def test_bad_uri_refused_without_its_password(self):
        code, text, _ = self.check("mongodb://alice:s3cr3t-pw@127.0.0.1:notaport/parley")
        self.assertEqual(code, 3, text)
        self.assertIn("mongo: uri is not a MongoDB URI", text)
        self.assertNotIn("s3cr3t-pw", text)
        code, text, _ = self.check("http://127.0.0.1/")
        self.assertEqual(code, 3, text)
        self.assertIn("uri is not a MongoDB URI", text)

    def test_unacknowledged_uri_refused(self):
        # The URI's w=0 stands when write_concern is left at its default.
        code, text, _ = self.check("mongodb://127.0.0.1:27017/parley?w=0")
        self.assertEqual(code, 3, text)
        self.assertIn("the URI asks for w=0 (unacknowledged writes)", text)
        # ... even though configs/mongo.yaml sets write_concern: the URI wins.
        self.assertIn("write_concern: majority", config_text("x"))
        code, text, _ = self.check("mongodb://127.0.0.1:27017/parley?w=1&journal=false")
        self.assertEqual(code, 0, text)

    def test_key_values_refused(self):
        base = "mongodb://127.0.0.1:27017/parley"
        for old, new, want in [
            ("write_concern: majority", "write_concern: \"0\"", 'write_concern is "0"'),
            ("write_concern: majority", "write_concern: most", 'write_concern is "most"'),
            ('database: ""', "database: a.b", 'database name "a.b" is not valid'),
            ("collection: messages", "collection: system.users",
             'collection name "system.users" is not valid'),
            ("pool_size: 3", "pool_size: 1", "pool_size"),
            ("socket_timeout: 3s", "socket_timeout: 10ms", "socket_timeout"),
        ]:
            text = config_text(base)
            self.assertIn(old, text)
            path = os.path.join(self._dir.name, "parley.yaml")
            with open(path, "w") as f:
                f.write(text.replace(old, new))
            code, out, err = pt.run_parley(["--config", path, "--check-config"])
            self.assertEqual(code, 3, (new, out + err))
            self.assertIn(want, out + err, new)


class UriOptionsWin(unittest.TestCase):
    def test_socket_timeout_from_the_uri(self):
        """configs/mongo.yaml says socket_timeout: 3s; the URI's 1000 ms wins."""
        d = tempfile.TemporaryDirectory(prefix="parley-mongo-urito-")
        congo = mt.Congo().start()
        path = os.path.join(d.name, "parley.yaml")
        with open(path, "w") as f:
            f.write(config_text(congo.uri + "parley_urito?socketTimeoutMS=1000"))
        srv = pt.Server(config=path, data_dir=d.name)
        try:
            srv.start()
            self.assertEqual(srv.json("POST", "/api/messages",
                                      {"username": "u", "content": "up"})[0], 201)
            congo.sigstop()
            t0 = time.monotonic()
            status, body = srv.json("POST", "/api/messages", {"username": "u", "content": "x"})
            took = time.monotonic() - t0
            congo.sigcont()
            self.assertEqual(status, 503, body)
            self.assertGreater(took, 0.8)
            self.assertLess(took, 2.0, "socketTimeoutMS=1000 from the URI was not used")
            self.assertEqual(srv.stop(), 0, srv.stderr())
            srv.assert_clean(self)
        finally:
            srv.close()
            congo.stop()
            d.cleanup()


class StartWithoutDatabase(unittest.TestCase):
    def test_serves_once_the_database_appears(self):
        d = tempfile.TemporaryDirectory(prefix="parley-mongo-late-")
        port = mt.free_port()
        db = mt.unique_db("parley_late")
        congo = None
        path = os.path.join(d.name, "parley.yaml")
        with open(path, "w") as f:
            f.write(config_text("mongodb://127.0.0.1:%d/%s" % (port, db)))
        srv = pt.Server(config=path, data_dir=d.name)
        try:
            srv.start()
            pt.wait_for(lambda: srv.json("GET", "/health")[1]["storage"] == "disconnected",
                        timeout=8, what="/health disconnected with no database")
            t0 = time.monotonic()
            status, body = srv.json("POST", "/api/messages", {"username": "u", "content": "x"})
            took = time.monotonic() - t0
            self.assertEqual(status, 503, body)
            self.assertEqual(body["error"]["code"], "storage_unavailable", body)
            self.assertIn("no MongoDB server available at 127.0.0.1:%d" % port,
                          body["error"]["message"])
            self.assertLess(took, 4.0)

            congo = mt.Congo(port=port).start()
            pt.wait_for(lambda: srv.json("POST", "/api/messages",
                                         {"username": "u", "content": "late"})[0] == 201,
                        timeout=10, interval=0.2, what="a post stored once the database is up")
            pt.wait_for(lambda: srv.json("GET", "/health")[1]["storage"] == "connected",
                        timeout=8, what="/health connected")
            reply = mt.command(congo.uri, db, {"listIndexes": "messages"})
            names = [ix["name"] for ix in reply["cursor"]["firstBatch"]]
            self.assertIn("room_1__id_-1", names)
            self.assertIn("index {room: 1, _id: -1} created", srv.stderr())
            status, body = srv.json("GET", "/api/messages")
            self.assertEqual([m["content"] for m in body["messages"]][-1:], ["late"])
            self.assertEqual(srv.stop(), 0, srv.stderr())
            srv.assert_clean(self)
        finally:
            srv.close()
            if congo is not None:
                congo.stop()
            d.cleanup()


if __name__ == "__main__":
    missing = [p for p in (pt.PARLEY, os.path.join(pt.PLUGIN_DIR, "mongo.so"),
                           os.path.join(pt.PLUGIN_DIR, "rest.so"), mt.MONGO_CMD)
               if not os.path.exists(p)]
    if missing:
        print("SKIP: not built yet: " + ", ".join(missing))
        sys.exit(77)
    unittest.main(verbosity=2)
