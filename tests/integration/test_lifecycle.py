"""The server's life cycle: the command line, --check-config, SIGTERM drain,
SIGHUP reload (valid, invalid, repeated) and exit codes."""
import os
import shutil
import signal
import tempfile
import threading
import time
import unittest

from parleytest import (DEFAULT_CONFIG, Server, rss_kib, run_parley, wait_for)


def read(path):
    with open(path) as f:
        return f.read()


class CommandLine(unittest.TestCase):
    def test_version(self):
        code, out, _ = run_parley(["--version"])
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^parley \d+\.\d+\.\d+ \(plugin ABI 1\.\d+\)\n$")

    def test_help(self):
        code, out, _ = run_parley(["--help"])
        self.assertEqual(code, 0)
        for flag in ("--config", "--check-config", "--log-level", "--version", "Exit status"):
            self.assertIn(flag, out)

    def test_usage_errors_exit_2(self):
        for args in (["--bogus"], ["--log-level", "loud"], ["extra-argument"], ["--config"]):
            code, _, err = run_parley(args)
            self.assertEqual(code, 2, args)
            self.assertIn("parley", err)
        _, _, err = run_parley(["--log-level", "loud"])
        self.assertIn("unknown level 'loud'", err)

    def test_missing_config_file_exits_3(self):
        code, _, err = run_parley(["--check-config", "--config", "/nonexistent/parley.yaml"])
        self.assertEqual(code, 3)
        self.assertIn("/nonexistent/parley.yaml", err)


class CheckConfig(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="parley-check-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_default_config_is_valid_and_touches_nothing(self):
        data = os.path.join(self.tmp, "data")
        code, out, err = run_parley(["--check-config", "--config", DEFAULT_CONFIG],
                                    env={"PARLEY_DATA": data, "PARLEY_PORT": "1"})
        self.assertEqual(code, 0, err)
        self.assertIn("configuration OK", out)
        self.assertIn("storage   sqlite", out)
        self.assertIn("transport rest", out)
        self.assertFalse(os.path.exists(os.path.join(data, "parley.db")),
                         "--check-config must not create the database")

    def test_broken_config_exits_3_with_location(self):
        path = os.path.join(self.tmp, "bad.yaml")
        with open(path, "w") as f:
            f.write("server:\n  port: 70000\nstorage:\n  plugin: sqlite\n")
        code, _, err = run_parley(["--check-config", "--config", path])
        self.assertEqual(code, 3)
        self.assertIn(path + ":2:", err)
        self.assertIn("70000", err)

    def test_unknown_plugin_exits_3_naming_the_file(self):
        path = os.path.join(self.tmp, "bad.yaml")
        with open(path, "w") as f:
            f.write("storage:\n  plugin: nosuchstore\n")
        code, _, err = run_parley(["--check-config", "--config", path])
        self.assertEqual(code, 3)
        self.assertIn("nosuchstore", err)
        self.assertIn("nosuchstore.so", err)


class Signals(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="parley-sig-")
        self.config = os.path.join(self.tmp, "parley.yaml")
        shutil.copy(DEFAULT_CONFIG, self.config)
        # The config names the plugins by name; they are found next to the binary.
        self.server = Server(config=self.config, data_dir=self.tmp).start()

    def tearDown(self):
        self.server.close()
        shutil.rmtree(self.tmp)

    def post(self, content, room="lifecycle"):
        return self.server.json("POST", "/api/messages",
                                {"username": "ada", "content": content, "room": room})

    def test_sigterm_exits_0_within_the_deadline(self):
        status, _ = self.post("before shutdown")
        self.assertEqual(status, 201)
        t0 = time.monotonic()
        code = self.server.stop(timeout=10)
        self.assertEqual(code, 0, self.server.stderr())
        self.assertLess(time.monotonic() - t0, 5.5)
        self.assertIn("shutting down", self.server.stderr())
        self.server.assert_clean(self)

    def test_sigterm_under_load_keeps_every_confirmed_message(self):
        confirmed = []
        stop = threading.Event()

        def writer(n):
            i = 0
            while not stop.is_set() and i < 400:
                try:
                    status, body = self.post("w%d-%d" % (n, i))
                except OSError:
                    return
                if status == 201:
                    confirmed.append(body["_id"])
                i += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(confirmed) >= 40, timeout=20, what="40 confirmed posts")
        code = self.server.stop(timeout=10)
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(code, 0, self.server.stderr())
        self.server.assert_clean(self)

        again = Server(config=self.config, data_dir=self.tmp, port=self.server.port).start()
        try:
            stored, before = [], ""
            while True:
                status, page = again.json("GET", "/api/messages?room=lifecycle&limit=200" + before)
                self.assertEqual(status, 200)
                stored = [m["_id"] for m in page["messages"]] + stored
                if not page["has_more"]:
                    break
                before = "&before=" + page["next_before"]
            self.assertEqual(len(stored), len(set(stored)), "a message is stored twice")
            self.assertEqual(stored, sorted(stored), "history is out of order")
            missing = set(confirmed) - set(stored)
            self.assertFalse(missing, "confirmed but not stored: %s" % sorted(missing)[:5])
        finally:
            again.stop()
            again.close()

    def test_sighup_with_a_valid_config_applies_it(self):
        text = read(self.config).replace("history_limit: 50", "history_limit: 7")
        with open(self.config, "w") as f:
            f.write(text)
        for i in range(10):
            self.post("m%d" % i, room="hup")
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in self.server.stderr(), what="the reload")
        status, page = self.server.json("GET", "/api/messages?room=hup")
        self.assertEqual(status, 200)
        self.assertEqual(len(page["messages"]), 7, "chat.history_limit was not applied")
        self.assertEqual(self.server.stop(), 0)

    def test_sighup_with_a_broken_config_keeps_running(self):
        with open(self.config, "a") as f:
            f.write("\nbogus_section: 1\n")
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in self.server.stderr(), what="the refusal")
        self.assertIn("bogus_section", self.server.stderr())
        status, _ = self.post("still alive")
        self.assertEqual(status, 201)
        status, body = self.server.request("GET", "/metrics")[0:3:2]
        self.assertIn(b'parley_reloads_total{result="refused"} 1', body)
        self.assertEqual(self.server.stop(), 0)

    def reload_once(self):
        # Signals coalesce while one is pending: wait for each reload to finish.
        done = self.server.stderr().count("configuration reloaded")
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: self.server.stderr().count("configuration reloaded") > done,
                 timeout=10, interval=0.01, what="reload %d" % (done + 1))

    def test_a_hundred_reloads_do_not_grow_memory(self):
        # ASan's quarantine holds freed memory back on purpose; without it,
        # RSS shows what the server itself keeps. Leaks fail at exit anyway.
        self.server.close()
        self.server = Server(config=self.config, data_dir=self.tmp, env={
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:halt_on_error=1:quarantine_size_mb=0"
        }).start()
        for _ in range(10):
            self.reload_once()
        before = rss_kib(self.server.pid)
        for _ in range(100):
            self.reload_once()
        grown = rss_kib(self.server.pid) - before
        self.assertLess(grown, 4096, "RSS grew by %d KiB over 100 reloads" % grown)
        status, _ = self.post("after reloads")
        self.assertEqual(status, 201)
        self.assertEqual(self.server.stop(), 0)
        self.server.assert_clean(self)


if __name__ == "__main__":
    unittest.main(verbosity=2)
