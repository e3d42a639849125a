"""Install the pinned official socket.io-client (tests/socketio/package.json
and package-lock.json) into the build tree with `npm ci`, once per lockfile,
and run node scripts against a server. Used by test_socketio_client.py and
test_socketio_python.py."""
import fcntl
import filecmp
import os
import shutil
import subprocess

from parleytest import BUILD_DIR, SOURCE_DIR

JS_DIR = os.path.join(SOURCE_DIR, "tests", "socketio")
NODE_DIR = os.path.join(BUILD_DIR, "tests", "socketio-node")


def node():
    return shutil.which("node")


def install():
    """npm ci into <build>/tests/socketio-node unless that lockfile is already installed.
    Returns the folder that holds node_modules."""
    os.makedirs(NODE_DIR, exist_ok=True)
    # ctest runs the client and python tests in parallel: one npm ci at a time.
    with open(os.path.join(NODE_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install_locked()


def _install_locked():
    lock_src = os.path.join(JS_DIR, "package-lock.json")
    lock_dst = os.path.join(NODE_DIR, "package-lock.json")
    stamp = os.path.join(NODE_DIR, "node_modules", ".parley-installed")
    if os.path.exists(stamp) and os.path.exists(lock_dst) and filecmp.cmp(lock_src, lock_dst, False):
        return NODE_DIR
    shutil.copyfile(os.path.join(JS_DIR, "package.json"), os.path.join(NODE_DIR, "package.json"))
    shutil.copyfile(lock_src, lock_dst)
    p = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("npm ci failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
    with open(stamp, "w") as f:
        f.write("ok\n")
    return NODE_DIR


def env_for(srv, modules, **extra):
    env = dict(os.environ, PARLEY_URL="http://127.0.0.1:%d" % srv.port, SIO_MODULES=modules)
    env.update(extra)
    # The server runs sanitized; node must not inherit the sanitizer settings' effects.
    env.pop("LD_PRELOAD", None)
    return env
