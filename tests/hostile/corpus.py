"""The hostile-input corpus (bad-inputs.md sections 1-10), table driven.

Every entry has the corpus ID, a summary of the bytes or requests, the
expected outcome as precise as the corpus states it, and a function that
sends the input and checks the outcome. After every entry the runner checks
the section 0.3 invariants (see hostile.py): process alive, canary within
1 s, observer still receives broadcasts, no sanitizer report, no ERROR log
line, bounded RSS, and the named error metric moved.

Outcomes: PASS; DEVIATION (the server differs from the corpus on purpose;
the entry checks what it does instead and says why; listed in
docs/security.md "Hostile inputs"); KNOWN BUG (the server is wrong: the
entry still runs and asserts the corpus's expectation, and only that
expectation may fail; the invariants still must hold; the bug is described
in REPORT.md); SKIP (the environment lacks a facility); FAIL.

    corpus.py                 # every entry
    corpus.py H0 F1 R03       # entries whose ID starts with one of these

Writes a Markdown report to $PARLEY_BUILD_DIR/hostile-report.md (or the
file named by HOSTILE_REPORT); exits 1 when an entry fails.
"""
import os
import signal
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hostile as h  # noqa: E402
from entries import ENTRIES  # noqa: E402

ERROR_SERIES = ("parley_eio_protocol_errors_total", "parley_socketio_protocol_errors_total",
                "parley_listener_http_refused_total", "parley_listener_refused_total",
                "parley_listener_ws_closed_total", "parley_messages_rejected_total",
                "parley_eio_ping_timeouts_total", "parley_eio_upgrade_failures_total",
                "parley_eio_slow_consumers_total")


def moved(before, after, spec):
    """Did the metric `spec` move? spec: a series prefix, a full series
    name with labels, "any" (any error counter or a REST 4xx), or a tuple
    of those (any of them)."""
    if isinstance(spec, tuple):
        return any(moved(before, after, s) for s in spec)
    if spec == "any":
        return moved(before, after, ERROR_SERIES + ("rest4xx",))
    if spec == "rest4xx":
        def f(m):
            return sum(v for k, v in m.items()
                       if k.startswith("parley_rest_requests_total") and 'status="4' in k)
        return f(after) > f(before)
    if "{" in spec:
        return after.get(spec, 0) > before.get(spec, 0)
    return h.metric_sum(after, spec) > h.metric_sum(before, spec)


def config_file(tmpdir):
    """socketio.yaml with an origin allowlist (H15, W13), a 1 s upgrade
    timeout (H20) and a 2 s header timeout (G03, G04); everything
    else as the integration tests use it."""
    with open(h.CONFIG) as f:
        text = f.read()
    text = text.replace('cors_origins: ["*"]',
                        'cors_origins: ["https://chat.example"]\n'
                        '      upgrade_timeout: 1s')
    # A 2 s header (and body) timeout keeps G03 and G04 short; the
    # client memory cap is per target (R13 runs with 64 MiB).
    text = text.replace("listener:\n",
                        "listener:\n"
                        "  header_timeout: 2s\n"
                        "  client_memory_max: ${PARLEY_CLIENT_MEMORY_MAX:-256MiB}\n", 1)
    assert "header_timeout: 2s" in text, "socketio.yaml has no listener section"
    path = os.path.join(tmpdir, "hostile.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


TARGET_ENV = {
    # Short timers so the timeout-driven entries stay short.
    "main": {"PARLEY_SIO_PING_INTERVAL": "1s", "PARLEY_SIO_PING_TIMEOUT": "1s",
             "PARLEY_SIO_CONNECT_TIMEOUT": "1s",
             "PARLEY_LOG_LEVEL": os.environ.get("HOSTILE_LOG_LEVEL", "info")},
    # Memory-sensitive entries: ASan's quarantine would hold freed buffers
    # and make RSS meaningless (as tests/integration/test_lifecycle.py).
    "mem": {"PARLEY_SIO_PING_INTERVAL": "1s", "PARLEY_SIO_PING_TIMEOUT": "1s",
            "PARLEY_SIO_CONNECT_TIMEOUT": "1s", "PARLEY_LOG_LEVEL": "info",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:halt_on_error=1:"
                            "quarantine_size_mb=0:max_free_fill_size=0",
            # Small queues so the slow-consumer entries (R06, R07) trip fast.
            "PARLEY_SEND_QUEUE_MAX": "1MiB", "PARLEY_SIO_SEND_QUEUE_MAX": "512KiB"},
    # R13: the global client-memory cap at 64 MiB, RSS meaningful as in "mem".
    # Pings far apart: its holders are in the middle of a message and cannot pong.
    "pressure": {"PARLEY_SIO_PING_INTERVAL": "20s", "PARLEY_SIO_PING_TIMEOUT": "20s",
                 "PARLEY_SIO_CONNECT_TIMEOUT": "1s", "PARLEY_LOG_LEVEL": "info",
                 "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:halt_on_error=1:"
                                 "quarantine_size_mb=0:max_free_fill_size=0",
                 "PARLEY_SEND_QUEUE_MAX": "8MiB", "PARLEY_SIO_SEND_QUEUE_MAX": "8MiB",
                 "PARLEY_CLIENT_MEMORY_MAX": "64MiB"},
}


class Ctx:
    """What an entry function gets: the target, its port, and scratch."""

    def __init__(self, target, tmpdir):
        self.t = target
        self.port = target.port
        self.pid = target.srv.pid
        self.tmpdir = tmpdir
        self.socks = []

    def keep(self, s):
        self.socks.append(s)
        return s

    def cleanup(self):
        for s in self.socks:
            try:
                s.close()
            except Exception:       # noqa: BLE001
                pass
        self.socks = []


def run_entry(e, target, tmpdir):
    ctx = Ctx(target, tmpdir)
    before = h.metrics(target.port)
    rss0 = h.rss_kib(target.srv.pid)
    target.new_stderr()
    t0 = time.monotonic()
    problems = []
    observed = ""
    try:
        observed = e.fn(ctx) or "as expected"
    except AssertionError as ex:
        problems.append("expectation: %s" % ex)
    except Exception as ex:          # noqa: BLE001 - an entry's own crash is a failure
        problems.append("entry raised %s" % "".join(
            traceback.format_exception_only(type(ex), ex)).strip())
    finally:
        ctx.cleanup()
    ms = (time.monotonic() - t0) * 1000
    rss_peak = h.rss_kib(target.srv.pid) if target.srv.proc.poll() is None else 0
    # Invariants (0.3).
    if target.srv.proc.poll() is None:
        time.sleep(0.05)
    if target.srv.proc.poll() is not None:
        new = target.new_stderr()
        problems.append("server died (exit %s): %s" % (target.srv.proc.returncode,
                                                       new[-1500:]))
        return problems, observed, ms, 0, 0
    try:
        target.canary()
    except Exception as ex:          # noqa: BLE001
        problems.append("canary failed: %r" % ex)
    try:
        target.broadcast_check()
    except Exception as ex:          # noqa: BLE001
        problems.append("observer: %s" % ex)
    try:
        after = h.metrics(target.port)
    except OSError as ex:
        problems.append("GET /metrics failed: %r" % ex)
        after = before
    if e.metric and not moved(before, after, e.metric):
        problems.append("metric %s did not move" % (e.metric,))
    new = target.new_stderr()
    for marker in h.SANITIZER_MARKERS:
        if marker in new:
            problems.append("sanitizer report: " + new[new.find(marker):][:300])
            break
    for line in new.splitlines():
        if " error [" in line[:40] or '"level":"error"' in line:
            problems.append("ERROR log line: " + line[:200])
            break
    # Memory: growth while it ran, and after its connections closed.
    time.sleep(e.settle)
    rss1 = h.rss_kib(target.srv.pid)
    grow_kib = max(rss_peak, rss1) - rss0
    if e.rss_kib is not None and grow_kib > e.rss_kib:
        problems.append("RSS grew %d KiB (bound %d KiB)" % (grow_kib, e.rss_kib))
    return problems, observed, ms, grow_kib, rss1


def md(s):
    import re
    s = re.sub(r"/tmp/parley-[A-Za-z0-9_-]+", "<tmp>", str(s))
    return s.replace("|", "\\|").replace("\n", " ")[:300]


def main(argv):
    prefixes = argv[1:]
    entries = [e for e in ENTRIES if not prefixes or e.id.startswith(tuple(prefixes))]
    results = []
    tmp = tempfile.TemporaryDirectory(prefix="parley-hostile-")
    cfg = config_file(tmp.name)
    h.CONFIG = cfg
    targets = {}
    t_start = time.monotonic()
    failed_close = []

    def target(name):
        t = targets.get(name)
        if t is None or t.srv.proc.poll() is not None:
            t = targets[name] = h.Target(name, TARGET_ENV[name])
        return t

    def stop(signum, frame):
        raise SystemExit("hostile corpus: signal %d" % signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        for e in entries:
            if e.skip:
                results.append((e, "SKIP", e.skip, 0, 0))
                print("%-4s SKIP      %s" % (e.id, e.skip))
                continue
            if e.bug and e.fn is None:
                results.append((e, "KNOWN BUG", "known bug: " + e.bug, 0, 0))
                print("%-4s KNOWN BUG %s" % (e.id, e.bug))
                continue
            if e.fn is None:
                continue
            t = target(e.target)
            problems, observed, ms, grow, _ = run_entry(e, t, tmp.name)
            if e.max_ms is not None and ms > e.max_ms and not problems:
                problems.append("took %.0f ms (bound %d ms)" % (ms, e.max_ms))
            if e.bug and problems and all(p.startswith("expectation:") for p in problems):
                # A known bug still runs (the invariants are checked): only
                # its own expectation may fail.
                observed = "; ".join(problems)
                results.append((e, "KNOWN BUG", observed, ms, grow))
                print("%-4s KNOWN BUG %6.0f ms %+6d KiB  %s" % (e.id, ms, grow, md(observed)[:160]))
                continue
            if e.bug and not problems:
                observed += " [known bug no longer reproduces: drop bug= from the entry]"
            if problems:
                outcome = "FAIL"
                observed = (observed + "; " if observed != "as expected" else "") + "; ".join(problems)
            else:
                outcome = "DEVIATION" if e.deviation else "PASS"
            if e.note:
                observed += " [note: %s]" % e.note
            results.append((e, outcome, observed, ms, grow))
            print("%-4s %-9s %6.0f ms %+6d KiB  %s" % (e.id, outcome, ms, grow, md(observed)[:160]))
            sys.stdout.flush()
    except BaseException:
        for t in targets.values():       # never leave a server behind
            t.srv.close()
        raise
    for name, t in targets.items():
        code, text = t.close()
        if os.environ.get("HOSTILE_KEEP_LOG"):
            with open(os.path.join(os.environ.get("PARLEY_BUILD_DIR", "."),
                                   "hostile-%s.stderr" % name), "w") as f:
                f.write(text)
        for marker in h.SANITIZER_MARKERS:
            if marker in text:
                failed_close.append("%s: sanitizer report at exit: %s"
                                    % (name, text[text.find(marker):][:500]))
        if code != 0:
            failed_close.append("%s: parley exited %s: %s" % (name, code, text[-800:]))
    total_s = time.monotonic() - t_start
    write_report(results, total_s, failed_close)
    counts = {}
    for r in results:
        counts[r[1]] = counts.get(r[1], 0) + 1
    print("\nhostile corpus: %d entries in %.0f s: %s" % (
        len(results), total_s, ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    for r in results:
        if r[1] == "KNOWN BUG":
            print("  xfail %s: %s" % (r[0].id, r[0].bug))
    for f in failed_close:
        print("FAIL at exit: " + f)
    tmp.cleanup()
    return 1 if counts.get("FAIL") or failed_close else 0


def write_report(results, total_s, failed_close):
    build = os.environ.get("PARLEY_BUILD_DIR", os.getcwd())
    path = os.environ.get("HOSTILE_REPORT", os.path.join(build, "hostile-report.md"))
    counts = {}
    for r in results:
        counts[r[1]] = counts.get(r[1], 0) + 1
    lines = [
        "# Hostile-input corpus: report",
        "",
        "Generated by `tests/hostile/corpus.py` (ctest `hostile.corpus`) against the "
        "ASan+UBSan build; entries from bad-inputs.md. After every entry: process alive, "
        "canary (Engine.IO open, `40`, ack round trip) within 1 s, an observer joined "
        "before the run still receives a broadcast, no sanitizer report or ERROR log line, "
        "RSS growth within the entry's bound, the named error metric moved.",
        "",
        "Run: %d entries in %.0f s; %s." % (len(results), total_s, ", ".join(
            "%s %d" % kv for kv in sorted(counts.items()))),
        "",
        "| ID | Input | Expected | Observed | Outcome |",
        "|---|---|---|---|---|",
    ]
    for e, outcome, observed, ms, grow in results:
        obs = observed
        if outcome in ("PASS", "DEVIATION", "FAIL"):
            obs = "%s (%.0f ms, RSS %+d KiB)" % (observed, ms, grow)
        if outcome == "DEVIATION":
            outcome = "deviation: " + e.deviation
        lines.append("| %s | %s | %s | %s | %s |" % (e.id, md(e.summary), md(e.expected),
                                                    md(obs), md(outcome)))
    bugs = [r for r in results if r[1] == "KNOWN BUG"]
    if bugs:
        lines += ["", "## Known bugs", "",
                  "Each still runs: its invariants must hold, only its own expectation "
                  "fails until the server is fixed; then drop the `bug=` of the entry.", ""]
        for e, _, _, _, _ in bugs:
            lines.append("- **%s** input: %s. Expected: %s. Bug: %s" % (
                e.id, e.summary, e.expected, e.bug))
    notes = [r for r in results if r[0].note]
    if notes:
        lines += ["", "## Notes", ""]
        for e, _, _, _, _ in notes:
            lines.append("- %s: %s" % (e.id, e.note))
    if failed_close:
        lines += ["", "At exit:", ""] + ["- " + md(f) for f in failed_close]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("report: " + path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
