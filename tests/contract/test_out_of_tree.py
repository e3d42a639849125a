"""contract.out_of_tree: the contract suite on a plugin built out of tree,
the way a third party runs it.

1. install the build tree (SDK, host, runner) into a temporary prefix;
2. configure and build tests/contract/out_of_tree (tinystore) as a fresh
   CMake project against the installed SDK, with a clean environment;
3. run the installed parley-storage-contract on the built .so: every case
   passes (durable_across_instances is skipped: tinystore is in memory).

Arguments: --build DIR --source DIR --cmake PATH
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, env, expect=0):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if expect is not None and p.returncode != expect:
        print("FAIL: %s exited %d (expected %d)\n--- stdout\n%s\n--- stderr\n%s"
              % (" ".join(cmd), p.returncode, expect, p.stdout, p.stderr), flush=True)
        sys.exit(1)
    return p


def clean_env():
    """A fresh shell's environment for building: nothing leaks from this build."""
    return {k: v for k, v in os.environ.items()
            if not (k.startswith(("CMAKE_", "ASAN_", "UBSAN_", "LSAN_", "PKG_CONFIG"))
                    or k in ("CFLAGS", "LDFLAGS", "CPPFLAGS", "CC", "LD_PRELOAD"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--cmake", default="cmake")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="parley-contract-oot-")
    try:
        prefix = os.path.join(tmp, "prefix")
        env = clean_env()
        print("==> install into %s" % prefix, flush=True)
        run([args.cmake, "--install", args.build, "--prefix", prefix], env)
        runner = os.path.join(prefix, "bin", "parley-storage-contract")
        if not os.path.isfile(runner):
            print("FAIL: %s was not installed" % runner)
            return 1

        print("==> build tinystore out of tree against the installed SDK", flush=True)
        build = os.path.join(tmp, "build")
        run([args.cmake, "-S", os.path.join(args.source, "tests", "contract", "out_of_tree"),
             "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=Release",
             "-DCMAKE_C_FLAGS=-Werror"], env)
        run([args.cmake, "--build", build], env)
        plugin = os.path.join(build, "tinystore.so")
        if not os.path.isfile(plugin):
            print("FAIL: the build did not produce %s" % plugin)
            return 1

        print("==> run the installed contract suite on it", flush=True)
        p = run([runner, "--plugin", plugin], dict(os.environ))
        print(p.stdout, end="")
        lines = p.stdout.splitlines()
        if lines[-1] != "15 passed, 0 failed" or \
                "ok 16 - durable_across_instances # SKIP needs --persistent" not in lines:
            print("FAIL: unexpected summary:\n" + p.stdout)
            return 1
        # And a broken build of it fails: --name that the descriptor does not carry.
        p = run([runner, "--plugin", plugin, "--name", "other"], dict(os.environ), expect=1)
        if "calls itself 'tinystore'" not in p.stdout:
            print("FAIL: a name mismatch was not reported:\n" + p.stdout)
            return 1
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
