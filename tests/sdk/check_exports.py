"""The symbol rules of DESIGN.md, checked with `nm -D --defined-only`:

- the host binary exports no parley_ symbol to plugins (sanitizer builds
  export their interceptors; those are fine);
- every plugin .so exports exactly `parley_plugin_entry` (besides the
  linker's _init/_fini/_edata/_end/__bss_start, when they show up).

Usage: check_exports.py --host bin/parley --plugins DIR [--plugins DIR...]
                        [--exports-nothing NAME.so ...]
--exports-nothing names fixtures that are broken on purpose by exporting
nothing (no_entry.so); for them, that is what is checked.
"""
import argparse
import glob
import os
import subprocess
import sys

LINKER_SYMBOLS = {"_init", "_fini", "_edata", "_end", "__bss_start"}
ENTRY = "parley_plugin_entry"


def defined_dynamic_symbols(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("nm failed on %s: %s" % (path, out.stderr.strip()))
    names = set()
    for line in out.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            names.add(fields[-1])
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--plugins", action="append", default=[])
    ap.add_argument("--exports-nothing", action="append", default=[])
    args = ap.parse_args()

    problems = []
    checked = 0

    host_syms = defined_dynamic_symbols(args.host)
    leaked = sorted(s for s in host_syms if s.lower().startswith("parley"))
    if leaked:
        problems.append("%s exports host symbols to plugins: %s" % (args.host, ", ".join(leaked)))
    checked += 1

    for d in args.plugins:
        plugins = sorted(glob.glob(os.path.join(d, "*.so")))
        if not plugins:
            problems.append("no plugins found in %s" % d)
        for so in plugins:
            base = os.path.basename(so)
            with open(so, "rb") as f:
                if f.read(4) != b"\x7fELF":
                    continue   # not_elf.so: a text file on purpose
            syms = defined_dynamic_symbols(so) - LINKER_SYMBOLS
            want = set() if base in args.exports_nothing else {ENTRY}
            if syms != want:
                problems.append("%s exports %s; expected exactly %s"
                                % (so, ", ".join(sorted(syms)) or "nothing",
                                   ", ".join(sorted(want)) or "nothing"))
            checked += 1

    for p in problems:
        print("FAIL: " + p)
    print("checked %d binaries, %d problems" % (checked, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
