"""The contract runner's own behaviour: its command line, the config block
(--config, --set and how they merge), the messages it prints when a plugin
cannot start, and that failures and timeouts are reported as failures.

Needs the runner and the sqlite plugin; the memstore parts (failure and
timeout reporting) run when the core helper's fixture is built.
"""
import os
import sqlite3
import subprocess
import tempfile
import unittest

BUILD = os.environ["PARLEY_BUILD_DIR"]
RUNNER = os.path.join(BUILD, "bin", "parley-storage-contract")
SQLITE = os.path.join(BUILD, "lib", "parley", "plugins", "sqlite.so")
MEMSTORE = os.path.join(BUILD, "tests", "plugins", "memstore.so")
TRANSPORT = os.path.join(BUILD, "tests", "plugins", "good_transport.so")

CASES = ["insert_history", "ordering", "paging", "before_id_not_in_room", "unknown_room",
         "limit_one", "limit_larger_than_room", "idempotent_reinsert", "special_strings",
         "rooms_differ_by_case", "concurrent_rooms", "history_while_writing", "concurrent_reads",
         "health", "stop_completes_inflight", "durable_across_instances"]


def run(*args, timeout=60):
    p = subprocess.run([RUNNER] + list(args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout.splitlines(), p.stderr


class RunnerCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="parley-contract-cli-")
        self.db = os.path.join(self.tmp.name, "db", "c.db")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_list(self):
        rc, out, _ = run("--list")
        self.assertEqual(rc, 0)
        self.assertEqual([line.split()[0] for line in out], CASES)
        self.assertTrue(out[-1].endswith("(--persistent)"), out[-1])
        rc, out, _ = run("--list", "--case", "limit*")
        self.assertEqual([line.split()[0] for line in out], ["limit_one", "limit_larger_than_room"])

    def test_usage_errors(self):
        rc, _, err = run("--bogus")
        self.assertEqual(rc, 2)
        self.assertIn("--bogus: unknown option", err)
        rc, _, err = run("--plugin")
        self.assertEqual(rc, 2)
        self.assertIn("--plugin needs a value", err)
        rc, _, err = run()
        self.assertEqual(rc, 2)
        self.assertIn("--plugin PATH.so is required", err)
        rc, _, err = run("--plugin", SQLITE, "--set", "novalue")
        self.assertEqual(rc, 2)
        self.assertIn("--set novalue: expected KEY=VALUE", err)
        rc, _, err = run("--plugin", SQLITE, "--config", os.path.join(self.tmp.name, "none.yaml"))
        self.assertEqual(rc, 2)
        self.assertIn("none.yaml", err)

    def test_plugin_not_found(self):
        path = os.path.join(self.tmp.name, "nothere.so")
        rc, out, _ = run("--plugin", path)
        self.assertEqual(rc, 1)
        self.assertTrue(out[1].startswith("Bail out! cannot start the plugin (ENOTFOUND)"), out)
        self.assertIn(path, out[1])
        self.assertEqual(out[-1], "0 passed, 1 failed")

    @unittest.skipUnless(os.path.exists(TRANSPORT), "loader fixtures not built")
    def test_not_a_storage_plugin(self):
        rc, out, _ = run("--plugin", TRANSPORT)
        self.assertEqual(rc, 1)
        self.assertIn("is a transport plugin but is configured under storage", out[1])

    def test_config_file_and_set_merge(self):
        block = self.write("block.yaml", "path: %s\nbatch_max: 0\n" % self.db)
        rc, out, _ = run("--plugin", SQLITE, "--config", block)
        self.assertEqual(rc, 1)
        self.assertIn("Bail out! cannot start the plugin (EINVAL): %s:2:12: batch_max: 0 is out "
                      "of range (1..65536)" % block, out[1])
        rc, out, err = run("--plugin", SQLITE, "--config", block, "--set", "batch_max=3",
                           "--case", "health", "--case", "insert_history")
        self.assertEqual(rc, 0, out + [err])
        self.assertEqual(out[1:], ["ok 1 - insert_history", "ok 2 - health", "2 passed, 0 failed"])
        self.assertTrue(os.path.exists(self.db), "path from the --config file was not used")

    def test_plugin_refusals_are_reported(self):
        rc, out, _ = run("--plugin", SQLITE, "--set", "path=" + self.db, "--set", "synchronous=extra")
        self.assertEqual(rc, 1)
        self.assertIn('synchronous is "extra" (--set:2:', out[1])
        self.assertIn("expected full or normal", out[1])
        rc, out, _ = run("--plugin", SQLITE, "--set", "path=" + self.db, "--set", "bogus=1")
        self.assertIn("unknown key 'bogus' for storage plugin 'sqlite'; allowed keys: path, "
                      "busy_timeout, synchronous, batch_max, read_connections, read_batch_max, "
                      "journal_size_limit, queue_max",
                      out[1])
        # A database from a newer schema is refused, naming the file and both versions.
        os.makedirs(os.path.dirname(self.db))
        db = sqlite3.connect(self.db)
        db.execute("PRAGMA application_id=1347570777")
        db.execute("PRAGMA user_version=7")
        db.commit()
        db.close()
        rc, out, _ = run("--plugin", SQLITE, "--set", "path=" + self.db)
        self.assertEqual(rc, 1)
        self.assertIn("sqlite: %s has schema version 7, newer than this plugin's version 1"
                      % self.db, out[1])

    def test_selection(self):
        rc, out, _ = run("--plugin", SQLITE, "--set", "path=" + self.db, "--case", "nomatch")
        self.assertEqual(rc, 1)
        self.assertEqual(out[1:], ["# no case matches", "0 passed, 0 failed"])
        rc, out, _ = run("--plugin", SQLITE, "--set", "path=" + self.db, "--case", "durable*")
        self.assertEqual(rc, 0)
        self.assertEqual(out[1:], ["ok 1 - durable_across_instances # SKIP needs --persistent",
                                   "0 passed, 0 failed"])

    def test_sqlite_group_commit(self):
        """1000 inserts in flight at once are committed in a few transactions."""
        rc, out, err = run("--plugin", SQLITE, "--set", "path=" + self.db, "--case", "ordering",
                           "--metrics")
        self.assertEqual(rc, 0, out + [err])
        values = {}
        for line in out:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "#" and parts[1].startswith("parley_sqlite_"):
                values[parts[1]] = float(parts[2])
        self.assertEqual(values["parley_sqlite_batch_size_sum"], 1000)
        self.assertLessEqual(values["parley_sqlite_batch_size_count"], 20,
                             "1000 concurrent inserts took %d transactions"
                             % values["parley_sqlite_batch_size_count"])
        self.assertEqual(values['parley_sqlite_inserts_total{result="ok"}'], 1000)
        self.assertEqual(values["parley_sqlite_commit_seconds_count"],
                         values["parley_sqlite_batch_size_count"])
        # batch_max caps a transaction.
        rc, out, err = run("--plugin", SQLITE, "--set", "path=" + self.db, "--set", "batch_max=10",
                           "--case", "ordering", "--metrics")
        self.assertEqual(rc, 0, out + [err])
        count = [line for line in out if line.startswith("# parley_sqlite_batch_size_count ")]
        self.assertGreaterEqual(float(count[0].split()[2]), 100)

    def test_sqlite_queue_max(self):
        """Past queue_max waiting inserts, the next fails at once, naming the limit."""
        rc, out, _ = run("--plugin", SQLITE, "--set", "path=" + self.db, "--set", "queue_max=100",
                         "--case", "ordering")
        self.assertEqual(rc, 1)
        # One insert is in the writer, 100 wait, the 102nd is refused.
        self.assertRegex(out[1], r"^not ok 1 - ordering: insert 102 of 1000 \([0-9a-f]{24}\) into "
                         r"ct-[0-9a-f]{8}-ordering answered EUNAVAIL: sqlite: insert of [0-9a-f]{24} "
                         r"refused: 100 inserts are already waiting for .*c\.db \(queue_max\)$")

    @unittest.skipUnless(os.path.exists(MEMSTORE), "memstore fixture not built")
    def test_failures_and_timeouts_fail(self):
        rc, out, _ = run("--plugin", MEMSTORE, "--set", "route=false", "--set", "mode=fail",
                         "--case", "insert_history", "--case", "health")
        self.assertEqual(rc, 1)
        self.assertEqual(out[1:], [
            "not ok 1 - insert_history: insert answered EUNAVAIL: memstore is in fail mode",
            "not ok 2 - health: probe 1 answered state 2 (memstore is in fail mode), "
            "expected CONNECTED (1)",
            "0 passed, 2 failed"])
        rc, out, _ = run("--plugin", MEMSTORE, "--set", "route=false", "--set", "mode=hang",
                         "--timeout", "1", "--case", "health", "--case", "ordering")
        self.assertEqual(rc, 1)
        self.assertEqual(out[1:], [
            "not ok 1 - ordering: timed out after 1 s waiting for 1000 insert completion(s) "
            "(0 of 1000 arrived)",
            "not ok 2 - health: timed out after 1 s waiting for a health probe",
            "0 passed, 2 failed"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
