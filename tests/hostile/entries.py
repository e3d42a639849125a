"""The entry table and the checks the sections share (see corpus.py)."""
import json
import time

import hostile as h
from hostile import text, frame, req, upgrade_req, http, RawWS, Poll, sio

ENTRIES = []

EIO = "parley_eio_protocol_errors_total"
SIO = "parley_socketio_protocol_errors_total"
HTTPREF = ("parley_listener_http_refused_total", "parley_listener_refused_total", "rest4xx")
WSC = "parley_listener_ws_closed_total"
# A Socket.IO violation closes the Engine.IO session: 1000 from the engine's
# close (as engine.io's conn.close()), 1002 when Engine.IO itself refused.
SIO_CLOSE = (1000, 1002)


class Entry:
    def __init__(self, id, summary, expected, fn=None, metric="any", target="main",
                 skip=None, bug=None, deviation=None, max_ms=None, rss_kib=16384, settle=0.0, note=None):
        self.id, self.summary, self.expected, self.fn = id, summary, expected, fn
        self.metric, self.target, self.skip, self.bug = metric, target, skip, bug
        self.deviation, self.max_ms, self.rss_kib, self.settle = deviation, max_ms, rss_kib, settle
        self.note = note


def entry(id, summary, expected, **kw):
    def deco(fn):
        ENTRIES.append(Entry(id, summary, expected, fn, **kw))
        return fn
    return deco


def static(id, summary, expected, **kw):
    """An entry without a function (skipped or a known bug)."""
    ENTRIES.append(Entry(id, summary, expected, None, **kw))


# ------------------------------------------------------------------ checks

def expect_http(port, data, statuses, code=None, closed=None, timeout=2.0, **kw):
    """Send a raw request; the status must be one of `statuses` (None in it:
    no HTTP answer at all, just a hang-up), the Engine.IO error code `code`
    when given. Returns the observed text."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    st, hdrs, body, was_closed, ms, out = http(port, data, timeout, **kw)
    if b" 101 " in out[:20]:
        raise AssertionError("switched protocols (101)")
    if st not in statuses:
        raise AssertionError("status %s, wanted %s: %r" % (st, statuses, out[:160]))
    if code is not None and h.eio_error(body) != code:
        raise AssertionError("Engine.IO code %s, wanted %s: %r" % (h.eio_error(body), code,
                                                                  body[:160]))
    if closed is True and not was_closed:
        raise AssertionError("%s but the connection was not closed" % st)
    got = "%s" % st if st else "hang-up, no answer"
    if code is not None:
        got += "{%d}" % code
    if was_closed and st:
        got += ", closed"
    return got


def many_http(port, variants, statuses, code=None, **kw):
    seen = {}
    for v in variants:
        try:
            got = expect_http(port, v, statuses, code, **kw)
        except AssertionError as e:
            raise AssertionError("%r: %s" % (v[:70], e))
        seen[got] = seen.get(got, 0) + 1
    return "; ".join("%s x%d" % kv for kv in seen.items())


def ws_close(port, payloads, codes=(1002,), within=1000, connect=True, path=h.EIO_WS,
             pre=b"", tolerate_eof=False):
    """Open a session (Socket.IO connected when `connect`), send each raw
    payload on a fresh one, and require a close with one of `codes` within
    `within` ms (None in codes: a hang-up without close frame is fine)."""
    seen = {}
    for p in payloads:
        ws = RawWS(port, path=path)
        try:
            if connect:
                ws.sio_connect()
            if pre:
                ws.send(pre)
            t0 = time.monotonic()
            ws.send(p)
            code, ms, eof = ws.wait_close(timeout=max(2.0, within / 1000 + 1))
            ms = (time.monotonic() - t0) * 1000
        finally:
            ws.close()
        if code not in codes and not (tolerate_eof and code is None):
            raise AssertionError("%r: close code %s, wanted %s" % (p[:40], code, codes))
        if ms > within:
            raise AssertionError("%r: closed after %.0f ms (bound %d)" % (p[:40], ms, within))
        key = "close %s" % code if code else "hang-up"
        seen[key] = seen.get(key, 0) + 1
    return "; ".join("%s x%d" % kv for kv in seen.items()) + " (each within %d ms)" % within


def ws_ignored(port, payloads, connect=True):
    """Each payload on a connected session is dropped: the same session
    still answers an ack round trip."""
    ws = RawWS(port)
    try:
        if connect:
            ws.sio_connect()
        for p in payloads:
            ws.send(p)
        ws.ack_roundtrip("after", 5, timeout=2.0)
    finally:
        ws.close()
    return "ignored; the same session answers an ack"


def poll_closes(port, bodies, ctype="text/plain;charset=UTF-8", connect=True):
    """Each body on a fresh polling session: the POST is answered (200 or
    400) and the session has ended."""
    seen = {}
    for b in bodies:
        p = Poll(port, connect_sio=connect)
        st, body = p.post(b, ctype)
        if st not in (200, 400):
            raise AssertionError("%r: POST answered %s %r" % (b[:40], st, body[:100]))
        if not p.gone():
            raise AssertionError("%r: the session is still alive after POST %s" % (b[:40], st))
        seen["POST %s, session ended" % st] = seen.get("POST %s, session ended" % st, 0) + 1
    return "; ".join("%s x%d" % kv for kv in seen.items())


def poll_alive(p):
    st, body = p.post('4233["message-with-ack","poll"]')
    assert (st, body) == (200, b"ok"), (st, body)
    for _ in range(3):
        st, body = p.get()
        assert st == 200, (st, body)
        if '4333["poll"]' in body.decode().split("\x1e"):
            return
    raise AssertionError("no ack on the polling session")


def sio_ws_and_poll(port, packets, binary=()):
    """A Socket.IO violation closes the connection over WebSocket and ends
    the session over polling (bad-inputs.md section 3 rule)."""
    import base64
    out = []
    for pkt in packets:
        ws = sio(port)
        try:
            ws.send(text(pkt))
            for b in binary:
                ws.send(frame(0x2, b))
            code, ms, _ = ws.wait_close(timeout=3.0)
        finally:
            ws.close()
        big = len(pkt.encode()) + 1 > h.MAX_PAYLOAD
        if code not in ((1009,) if big else SIO_CLOSE):
            raise AssertionError("%r: close code %s" % (pkt[:40], code))
        if ms > 1000:
            raise AssertionError("%r: closed after %.0f ms" % (pkt[:40], ms))
        body = pkt + "".join("\x1eb" + base64.b64encode(b).decode() for b in binary)
        if len(body.encode()) > h.MAX_PAYLOAD:
            p = Poll(port)
            st, _ = p.post(body)
            if st != 413:
                raise AssertionError("%r over polling: %s, wanted 413" % (pkt[:40], st))
            out.append("ws %s / poll 413" % code)
            continue
        out.append("ws close %s / poll: %s" % (code, poll_closes(port, [body])))
    codes = sorted(set(o.split(" / ")[0] for o in out))
    return "%d packet(s), each closed: %s; polling session ended" % (len(out), ", ".join(codes))


def b(s):
    return s.encode("latin-1") if isinstance(s, str) else s


# Sections register their entries on import.
import sec_http      # noqa: E402,F401
import sec_eio       # noqa: E402,F401
import sec_sio       # noqa: E402,F401
import sec_ws        # noqa: E402,F401
import sec_generic   # noqa: E402,F401
import sec_abuse     # noqa: E402,F401
