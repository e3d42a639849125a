"""`parley --check-config` end to end on configs that name broken fixture
plugins (tests/fixtures/plugins): the binary must exit with the config
status (3) and say on stderr which plugin, which file and what was wrong.
"""
import os
import tempfile
import unittest

import parleytest as pt

EXIT_CONFIG = 3


def fixture(name):
    return os.path.join(pt.TEST_PLUGIN_DIR, name + ".so")


class CheckConfig(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="parley-loader-")
        self.addCleanup(self.tmp.cleanup)

    def write(self, storage, transports, name="parley.yaml"):
        """A config with `storage` and `transports` as YAML text blocks."""
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write("server:\n  host: 127.0.0.1\n  port: 1\n")
            f.write("storage:\n" + storage)
            f.write("transports:\n" + transports)
        return path

    GOOD_STORAGE = ("  plugin: good_storage\n  path: %s\n  config:\n    path: /nonexistent\n"
                    % fixture("good_storage"))

    def transport(self, name, path=None, config=None):
        text = "  - plugin: %s\n" % name
        if path is not None:
            text += "    path: %s\n" % path
        if config is not None:
            text += "    config:\n" + "".join("      %s\n" % line for line in config)
        return text

    def check(self, config):
        rc, out, err = pt.run_parley(["--config", config, "--check-config"])
        for marker in pt.SANITIZER_MARKERS:
            self.assertNotIn(marker, err, "sanitizer report:\n" + err)
        return rc, err

    def refused(self, config, *needles):
        rc, err = self.check(config)
        self.assertEqual(rc, EXIT_CONFIG, "exit status %d, stderr:\n%s" % (rc, err))
        for needle in needles:
            self.assertIn(needle, err)
        return err

    # ---- the positive path ----

    def test_good_plugins_pass(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("good_transport", fixture("good_transport"),
                                                           ["greeting: hi", "count: 2"]))
        rc, err = self.check(cfg)
        self.assertEqual(rc, 0, err)

    def test_relative_path_is_resolved_against_the_config_file(self):
        rel = os.path.relpath(fixture("good_transport"), self.tmp.name)
        cfg = self.write(self.GOOD_STORAGE, self.transport("good_transport", rel))
        rc, err = self.check(cfg)
        self.assertEqual(rc, 0, err)

    # ---- refusals ----

    def test_not_found_in_the_default_plugin_dir(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("nosuch"))
        self.refused(cfg, "plugin 'nosuch': not found: ",
                     os.path.join("lib", "parley", "plugins", "nosuch.so"),
                     "(No such file or directory)", cfg + ":")

    def test_not_elf(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("not_elf", fixture("not_elf")))
        self.refused(cfg, "plugin 'not_elf': dlopen failed: ", fixture("not_elf"),
                     "invalid ELF header")

    def test_no_entry(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("no_entry", fixture("no_entry")))
        self.refused(cfg, "plugin 'no_entry': ", fixture("no_entry"),
                     "has no parley_plugin_entry symbol")

    def test_bad_magic(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("bad_magic", fixture("bad_magic")))
        self.refused(cfg, "plugin 'bad_magic': ", fixture("bad_magic"),
                     "bad magic 0xdeadbeef", "expected 0x594c5250")

    def test_abi_major(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("abi_major", fixture("abi_major")))
        self.refused(cfg, fixture("abi_major"), "ABI major mismatch: plugin 2", "host 1")

    def test_host_too_old(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("host_too_old", fixture("host_too_old")))
        self.refused(cfg, fixture("host_too_old"), "needs host ABI minor 8",
                     "this host has minor 1")

    def test_transport_under_storage(self):
        storage = "  plugin: good_transport\n  path: %s\n" % fixture("good_transport")
        cfg = self.write(storage, self.transport("good_transport", fixture("good_transport")))
        self.refused(cfg, fixture("good_transport"),
                     "is a transport plugin but is configured under storage:")

    def test_misnamed(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("misnamed", fixture("misnamed")))
        self.refused(cfg, fixture("misnamed"), "calls itself 'somebody_else'",
                     "loads it as 'misnamed'")

    def test_missing_slot(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("missing_start", fixture("missing_start")))
        self.refused(cfg, fixture("missing_start"), "required descriptor slot 'start' is NULL")

    def test_storage_missing_insert(self):
        storage = "  plugin: storage_no_insert\n  path: %s\n" % fixture("storage_no_insert")
        cfg = self.write(storage, self.transport("good_transport", fixture("good_transport")))
        self.refused(cfg, fixture("storage_no_insert"),
                     "required storage vtable slot 'insert' is NULL")

    def test_unknown_config_key(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("good_transport", fixture("good_transport"),
                                                           ["greting: hi"]))
        self.refused(cfg, cfg + ":", "unknown key 'greting'", "transport plugin 'good_transport'",
                     "greeting, count, token")

    def test_missing_required_key(self):
        storage = "  plugin: good_storage\n  path: %s\n" % fixture("good_storage")
        cfg = self.write(storage, self.transport("good_transport", fixture("good_transport")))
        self.refused(cfg, cfg + ":", "storage plugin 'good_storage'", "missing required key 'path'")

    def test_broken_schema(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("bad_schema", fixture("bad_schema")))
        self.refused(cfg, fixture("bad_schema"), "default 'lots' is not an integer")

    def test_create_failure_carries_the_plugins_message(self):
        cfg = self.write(self.GOOD_STORAGE, self.transport("create_fails", fixture("create_fails")))
        self.refused(cfg, "plugin 'create_fails'", "create of ",
                     "failed: cannot open /nonexistent/db: No such file or directory (EIO)")

    def test_world_writable_plugin(self):
        path = os.path.join(self.tmp.name, "good_transport.so")
        with open(fixture("good_transport"), "rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
        os.chmod(path, 0o666)
        cfg = self.write(self.GOOD_STORAGE, self.transport("good_transport", path))
        self.refused(cfg, path, "is world-writable (mode 0666)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
