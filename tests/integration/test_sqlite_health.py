"""The sqlite plugin's health probe, end to end through the real server:
GET /health says "connected" while the database is in place, "disconnected"
(with the probe's reason in the log) once the file is moved away under the
running server, and "connected" again when the same file is back.

Exits 77 (ctest: skipped) while the rest or sqlite plugin is not built.
"""
import os
import sys
import tempfile
import unittest

import parleytest as pt


class SqliteHealth(unittest.TestCase):
    def test_disconnected_when_the_file_is_gone(self):
        data = tempfile.TemporaryDirectory(prefix="parley-sqlite-health-")
        with open(pt.DEFAULT_CONFIG) as f:
            text = f.read()
        self.assertIn("health_interval: 2s", text)
        config = os.path.join(data.name, "parley.yaml")
        with open(config, "w") as f:
            f.write(text.replace("health_interval: 2s", "health_interval: 100ms"))
        server = pt.Server(config=config, data_dir=data.name)
        try:
            server.start()
            status, body = server.json("POST", "/api/messages",
                                       {"username": "h", "content": "before", "room": "health"})
            self.assertEqual(status, 201, body)
            status, body = server.json("GET", "/health")
            self.assertEqual((status, body["storage"]), (200, "connected"), body)

            db = os.path.join(data.name, "parley.db")
            os.rename(db, db + ".moved")
            pt.wait_for(lambda: server.json("GET", "/health")[1]["storage"] == "disconnected",
                        timeout=5, what='/health to say "disconnected"')
            self.assertIn("is gone", server.stderr(),
                          "the probe's reason is not in the log:\n" + server.stderr())

            # Put it back: the same file (same inode) is healthy again.
            os.rename(db + ".moved", db)
            pt.wait_for(lambda: server.json("GET", "/health")[1]["storage"] == "connected",
                        timeout=5, what='/health to say "connected" again')
            status, body = server.json("GET", "/api/messages?room=health")
            self.assertEqual(status, 200)
            self.assertEqual([m["content"] for m in body["messages"]], ["before"])
            self.assertEqual(server.stop(), 0, server.stderr())
            server.assert_clean(self)
        finally:
            server.close()
            data.cleanup()


if __name__ == "__main__":
    missing = [p for p in (pt.PARLEY, os.path.join(pt.PLUGIN_DIR, "sqlite.so"),
                           os.path.join(pt.PLUGIN_DIR, "rest.so")) if not os.path.exists(p)]
    if missing:
        print("SKIP: not built yet: " + ", ".join(missing))
        sys.exit(77)
    unittest.main(verbosity=2)
