"""The Socket.IO transport with the official socket.io-client (pinned in
tests/socketio/package-lock.json): node's built-in test runner runs
tests/socketio/*.test.mjs against the real server on
tests/fixtures/configs/socketio.yaml. The server must then exit 0 with no
sanitizer report."""
import glob
import os
import subprocess
import unittest

import sionode
from parleytest import SOURCE_DIR, Server

CONFIG = os.path.join(SOURCE_DIR, "tests", "fixtures", "configs", "socketio.yaml")


class OfficialClient(unittest.TestCase):
    def test_node_suite(self):
        if sionode.node() is None:
            self.fail("node is not installed (scripts/deps.sh --test)")
        modules = sionode.install()
        files = sorted(glob.glob(os.path.join(sionode.JS_DIR, "*.test.mjs")))
        self.assertTrue(files)
        srv = Server(config=CONFIG).start()
        try:
            p = subprocess.run(["node", "--test", "--test-concurrency=1"] + files,
                               env=sionode.env_for(srv, modules), capture_output=True, text=True,
                               timeout=240, cwd=sionode.JS_DIR)
            print(p.stdout[-20000:])
            self.assertEqual(p.returncode, 0, "node --test failed:\n%s\n%s\n--- server ---\n%s"
                             % (p.stdout[-12000:], p.stderr[-4000:], srv.stderr()[-4000:]))
        finally:
            code = srv.stop()
            srv.assert_clean(self)
            srv.close()
        self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
