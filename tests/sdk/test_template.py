"""sdk.template: what a third-party plugin author does, end to end.

1. install the SDK from the build tree into a temporary prefix;
2. configure and build sdk/template out of tree against it, as a fresh CMake
   project (find_package(ParleySDK) + parley_add_plugin, no sanitizers), and
   install the plugin with its INSTALL rule;
3. compile the same C file by hand with `pkg-config --cflags parley-sdk`;
4. `parley --check-config` on a config that loads the built plugin by
   `path:` (storage: the in-tree sqlite plugin, data in a temp dir);
5. start the server and use the plugin's two routes over HTTP (and, when
   the memstore fixture is built, once more with storage failing: 503).

Arguments: --build DIR --source DIR --cmake PATH --libdir DIR --version X.Y.Z
Exits 77 (skipped) before step 4 when the sqlite plugin is not built.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HEADERS = ["abi.h", "host.h", "parley.h", "plugin.h", "storage.h", "transport.h"]
SKIP = 77


class Failure(Exception):
    pass


def step(title):
    print("==> " + title, flush=True)


def run(cmd, env=None, cwd=None, expect=0):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if expect is not None and p.returncode != expect:
        raise Failure("%s\nexited %d (expected %d)\n--- stdout\n%s\n--- stderr\n%s"
                      % (" ".join(cmd), p.returncode, expect, p.stdout, p.stderr))
    return p


def require(cond, msg):
    if not cond:
        raise Failure(msg)


def clean_env():
    """The environment of a fresh shell: no sanitizer or compiler settings
    leak from the build that runs this test."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("CMAKE_", "ASAN_", "UBSAN_", "LSAN_", "PKG_CONFIG"))
                   or k in ("CFLAGS", "LDFLAGS", "CPPFLAGS", "CC", "LD_PRELOAD"))}
    return env


def exports(so):
    out = run(["nm", "-D", "--defined-only", so]).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.split()}
    return names - {"_init", "_fini", "_edata", "_end", "__bss_start"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--libdir", default="lib")
    ap.add_argument("--version", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="parley-sdk-")
    try:
        return stages(args, tmp)
    except Failure as e:
        print("FAIL: %s" % e, flush=True)
        return 1
    finally:
        if args.keep:
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def stages(args, tmp):
    prefix = os.path.join(tmp, "prefix")
    libdir = os.path.join(prefix, args.libdir)
    template = os.path.join(args.source, "sdk", "template")
    env = clean_env()

    step("install the SDK into %s" % prefix)
    run([args.cmake, "--install", args.build, "--prefix", prefix], env=env)
    for h in HEADERS:
        require(os.path.isfile(os.path.join(prefix, "include", "parley", h)), "missing header " + h)
    cmakedir = os.path.join(libdir, "cmake", "ParleySDK")
    for f in ["ParleySDKConfig.cmake", "ParleySDKConfigVersion.cmake", "ParleySDKTargets.cmake",
              "ParleyPlugin.cmake"]:
        require(os.path.isfile(os.path.join(cmakedir, f)), "missing " + os.path.join(cmakedir, f))
    pc = os.path.join(libdir, "pkgconfig", "parley-sdk.pc")
    require(os.path.isfile(pc), "missing " + pc)
    require(os.path.isfile(os.path.join(prefix, "bin", "parley")), "the host binary is not installed")

    step("find_package(ParleySDK): variables and version compatibility")
    probe = os.path.join(tmp, "probe")
    os.mkdir(probe)
    with open(os.path.join(probe, "CMakeLists.txt"), "w") as f:
        f.write("cmake_minimum_required(VERSION 3.16)\nproject(probe NONE)\n"
                "find_package(ParleySDK ${WANT} REQUIRED)\n"
                "message(STATUS \"PLUGIN_DIR=${PARLEY_SDK_PLUGIN_DIR}\")\n"
                "message(STATUS \"ABI=${PARLEY_SDK_ABI_MAJOR}.${PARLEY_SDK_ABI_MINOR}\")\n")
    out = run([args.cmake, "-S", probe, "-B", os.path.join(tmp, "probe-1"), "-DWANT=1.0",
               "-DCMAKE_PREFIX_PATH=" + prefix], env=env).stdout
    want_dir = os.path.join(libdir, "parley", "plugins")
    require("PLUGIN_DIR=%s\n" % want_dir in out, "PARLEY_SDK_PLUGIN_DIR is not %s:\n%s" % (want_dir, out))
    require(re.search(r"ABI=1\.\d+\n", out), "PARLEY_SDK_ABI_* wrong:\n" + out)
    p = run([args.cmake, "-S", probe, "-B", os.path.join(tmp, "probe-2"), "-DWANT=2.0",
             "-DCMAKE_PREFIX_PATH=" + prefix], env=env, expect=None)
    require(p.returncode != 0 and "ParleySDK" in p.stderr,
            "find_package(ParleySDK 2.0) accepted a 1.x SDK:\n%s%s" % (p.stdout, p.stderr))

    step("configure and build sdk/template out of tree against the installed SDK")
    build = os.path.join(tmp, "build")
    run([args.cmake, "-S", template, "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix,
         "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_C_FLAGS=-Werror"], env=env)
    run([args.cmake, "--build", build], env=env)
    shout = os.path.join(build, "shout.so")
    require(os.path.isfile(shout), "the template did not produce %s" % shout)
    require(exports(shout) == {"parley_plugin_entry"},
            "shout.so exports %s, expected exactly parley_plugin_entry" % sorted(exports(shout)))
    plugprefix = os.path.join(tmp, "plugprefix")
    run([args.cmake, "--install", build, "--prefix", plugprefix], env=env)
    installed = os.path.join(plugprefix, args.libdir, "parley", "plugins", "shout.so")
    require(os.path.isfile(installed), "parley_add_plugin(INSTALL) did not install " + installed)

    step("compile the template by hand with pkg-config")
    pkenv = dict(env, PKG_CONFIG_PATH=os.path.dirname(pc))
    cflags = run(["pkg-config", "--cflags", "parley-sdk"], env=pkenv).stdout.split()
    require(cflags == ["-I" + os.path.join(prefix, "include")], "pkg-config --cflags gave %s" % cflags)
    plugindir = run(["pkg-config", "--variable=plugindir", "parley-sdk"], env=pkenv).stdout.strip()
    require(plugindir == os.path.join(libdir, "parley", "plugins"), "plugindir is %s" % plugindir)
    modversion = run(["pkg-config", "--modversion", "parley-sdk"], env=pkenv).stdout.strip()
    require(re.fullmatch(r"1\.\d+", modversion), "parley-sdk version %r is not the ABI 1.x" % modversion)
    by_hand = os.path.join(tmp, "shout-pkgconfig.so")
    run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-fvisibility=hidden",
         "-Wl,-z,defs"] + cflags + ["-o", by_hand, os.path.join(template, "shout.c")], env=env)
    require(exports(by_hand) == {"parley_plugin_entry"},
            "the pkg-config build exports %s" % sorted(exports(by_hand)))

    plugins = os.path.join(args.build, "lib", "parley", "plugins")
    if not os.path.isfile(os.path.join(plugins, "sqlite.so")):
        print("SKIP the run stages: %s/sqlite.so is not built" % plugins)
        return SKIP

    sys.path.insert(0, os.path.join(args.source, "tests", "integration"))
    os.environ.setdefault("PARLEY_BUILD_DIR", args.build)
    os.environ.setdefault("PARLEY_SOURCE_DIR", args.source)
    import parleytest as pt

    data = os.path.join(tmp, "data")
    os.mkdir(data)
    with_rest = os.path.isfile(os.path.join(plugins, "rest.so"))

    def config(prefix_value, name="parley.yaml"):
        text = ("server:\n  host: 127.0.0.1\n  port: ${PARLEY_PORT:-1}\n"
                "storage:\n  plugin: sqlite\n  config:\n    path: %s\n"
                "transports:\n"
                "  - plugin: shout\n    path: %s\n    config:\n"
                "      prefix: %s\n      greeting: \"hello from the \\\"template\\\"\"\n"
                % (os.path.join(data, "parley.db"), shout, prefix_value))
        if with_rest:
            text += "  - plugin: rest\n"
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    step("parley --check-config loads the out-of-tree plugin by path")
    cfg = config("/shout/")
    rc, out, err = pt.run_parley(["--config", cfg, "--check-config"])
    require(rc == 0, "--check-config exited %d:\n%s" % (rc, err))
    bad = config("shout", "bad.yaml")
    rc, out, err = pt.run_parley(["--config", bad, "--check-config"])
    require(rc == 3 and "plugin 'shout'" in err and "prefix 'shout' must start and end with '/'" in err,
            "--check-config on a bad shout prefix exited %d:\n%s" % (rc, err))

    step("serve: GET /shout/hello, POST /shout/post")
    srv = pt.Server(config=cfg, data_dir=data)
    try:
        srv.start()
        status, hdrs, body = srv.request("GET", "/shout/hello")
        require(status == 200, "GET /shout/hello: %d %r" % (status, body))
        require(hdrs.get("content-type") == "application/json", "content-type %r" % hdrs.get("content-type"))
        require(json.loads(body) == {"greeting": 'hello from the "template"', "host_version": args.version},
                "GET /shout/hello body %r" % body)

        status, hdrs, body = srv.request("POST", "/shout/post?user=ana", body="hi from shout",
                                         headers={"Content-Type": "text/plain"})
        require(status == 201, "POST /shout/post: %d %r" % (status, body))
        msg_id = json.loads(body).get("id", "")
        require(re.fullmatch(r"[0-9a-f]{24}", msg_id), "POST /shout/post id %r" % msg_id)

        status, hdrs, body = srv.request("POST", "/shout/post", body="   ",
                                         headers={"Content-Type": "text/plain"})
        require(status == 400, "POST /shout/post (blank): %d %r" % (status, body))
        e = json.loads(body)["error"]
        require(e["code"] == "EINVAL" and e["message"], "blank post error %r" % e)

        status, _, body = srv.request("GET", "/shout/post")
        require(status == 405, "GET /shout/post: %d %r" % (status, body))
        status, _, body = srv.request("GET", "/shout/nope")
        require(status == 404, "GET /shout/nope: %d %r" % (status, body))

        if with_rest:
            status, page = srv.json("GET", "/api/messages?limit=5")
            require(status == 200, "GET /api/messages: %d %r" % (status, page))
            text = json.dumps(page)
            require(msg_id in text and "hi from shout" in text and "ana" in text,
                    "the shout post is not in the history: %s" % text)

        rc = srv.stop()
        require(rc == 0, "parley exited %s on SIGTERM:\n%s" % (rc, srv.stderr()))
        log = srv.stderr()
        for marker in pt.SANITIZER_MARKERS:
            require(marker not in log, "sanitizer report:\n" + log)
    finally:
        srv.close()
    memstore = os.path.join(args.build, "tests", "plugins", "memstore.so")
    if os.path.isfile(memstore):
        step("storage down: POST /shout/post answers 503 with the host's message")
        down = os.path.join(tmp, "down.yaml")
        with open(down, "w") as f:
            f.write("server:\n  host: 127.0.0.1\n  port: ${PARLEY_PORT:-1}\n"
                    "storage:\n  plugin: memstore\n  path: %s\n  config:\n    mode: fail\n"
                    "    route: false\n"
                    "transports:\n  - plugin: shout\n    path: %s\n" % (memstore, shout))
        srv = pt.Server(config=down, data_dir=data)
        try:
            srv.start()
            status, _, body = srv.request("POST", "/shout/post", body="nobody stores this",
                                          headers={"Content-Type": "text/plain"})
            require(status == 503, "POST /shout/post with storage down: %d %r" % (status, body))
            e = json.loads(body)["error"]
            require(e["code"] == "EUNAVAIL" and e["message"], "storage-down error %r" % e)
            rc = srv.stop()
            require(rc == 0, "parley exited %s on SIGTERM:\n%s" % (rc, srv.stderr()))
            log = srv.stderr()
            for marker in pt.SANITIZER_MARKERS:
                require(marker not in log, "sanitizer report:\n" + log)
        finally:
            srv.close()

    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
