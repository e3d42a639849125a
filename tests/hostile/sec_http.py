"""bad-inputs.md section 1: the Engine.IO HTTP handshake and long-polling."""
import json
import socket
import struct
import threading
import time

import hostile as h
from entries import (EIO, HTTPREF, entry, expect_http, many_http, poll_alive, static)
# The listener refuses a head over listener.max_header (8 KiB) with 431
# (414 for a request line alone over it) and closes: bad-inputs G01/G02/H21.
MAX_HEADER = 8192

from hostile import EIO_POLL, EIO_WS, Poll, RawWS, http, req, text, upgrade_req


@entry("H01", "GET polling handshake", "200 0{sid,upgrades:[websocket],pingInterval,"
       "pingTimeout,maxPayload:1000000}; sid >= 120 random bits", metric=None)
def h01(c):
    sids = set()
    for _ in range(20):
        st, hdrs, body, _, _, _ = http(c.port, req("GET", EIO_POLL))
        assert st == 200 and body.startswith(b"0{"), (st, body)
        o = json.loads(body[1:])
        assert sorted(o) == ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"], o
        assert o["upgrades"] == ["websocket"] and o["maxPayload"] == 1000000, o
        assert (o["pingInterval"], o["pingTimeout"]) == (1000, 1000), o   # the test config
        sid = o["sid"]
        assert len(sid) >= 20 and all(ch.isalnum() or ch in "-_" for ch in sid), sid
        sids.add(sid)
    assert len(sids) == 20
    return "200, sid %d base64url chars (%d bits), 20 distinct" % (len(sid), len(sid) * 6)


@entry("H02", "EIO=3, 5, empty, missing, 4abc, 04, 4&EIO=4", "HTTP-400{5}",
       metric='parley_eio_protocol_errors_total{reason="unsupported_version"}')
def h02(c):
    qs = ["EIO=3", "EIO=5", "EIO=", "", "EIO=4abc", "EIO=04", "EIO=4&EIO=4"]
    return many_http(c.port, [req("GET", "/socket.io/?%s&transport=polling" % q) for q in qs],
                     400, 5)


@entry("H03", "transport=__proto__, constructor, toString, hasOwnProperty, webtransport, "
       "empty, POLLING, polling%00, missing", "HTTP-400{0}",
       metric='parley_eio_protocol_errors_total{reason="unknown_transport"}')
def h03(c):
    # The query reaches Engine.IO raw (escapes validated, not decoded), so
    # polling%00 is just another unknown transport name.
    ts = ["&transport=__proto__", "&transport=constructor", "&transport=toString",
          "&transport=hasOwnProperty", "&transport=webtransport", "&transport=",
          "&transport=POLLING", "&transport=polling%00", ""]
    return many_http(c.port, [req("GET", "/socket.io/?EIO=4" + t) for t in ts], 400, 0)


@entry("H04", "GET transport=websocket without Upgrade headers", "HTTP-400{3}", metric=EIO)
def h04(c):
    return expect_http(c.port, req("GET", EIO_WS), 400, 3)


@entry("H05", "POST handshake (no sid)", "HTTP-400{2}",
       metric='parley_eio_protocol_errors_total{reason="bad_handshake_method"}')
def h05(c):
    return expect_http(c.port, req("POST", EIO_POLL, ["Content-Type: text/plain"], b"40"),
                       400, 2)


@entry("H06", "polling GET with sid doesnotexist, __proto__, hasOwnProperty, constructor, "
       "10000xA, %00, a&sid=b", "HTTP-400{1}",
       metric='parley_eio_protocol_errors_total{reason="unknown_sid"}',
       note="10000 x A makes the request line longer than listener.max_header (8 KiB): the "
       "header limit answers 414 (431 before the listener's 56f2851) and closes before "
       "Engine.IO sees it (as G01); a sid just "
       "under the limit is an unknown sid like the others")
def h06(c):
    long_sid = "A" * (MAX_HEADER - 200)
    sids = ["doesnotexist", "__proto__", "hasOwnProperty", "constructor", "%00", "a&sid=b",
            long_sid]
    out = many_http(c.port, [req("GET", EIO_POLL + "&sid=" + s) for s in sids], 400, 1)
    out += "; 10000xA: " + expect_http(c.port, req("GET", EIO_POLL + "&sid=" + "A" * 10000),
                                       (414, 431), closed=True)
    st, _, body, _, _, _ = http(c.port, req("GET", EIO_POLL + "&sid="))
    assert st in (200, 400), st
    return out + " (incl. %d x A); empty sid= answered %d" % (len(long_sid), st)


@entry("H07", "polling GET/POST with the sid of a WebSocket session", "HTTP-400{3}; the WS "
       "session unaffected",
       metric='parley_eio_protocol_errors_total{reason="transport_mismatch"}')
def h07(c):
    ws = c.keep(RawWS(c.port)).sio_connect()
    sid = ws.open["sid"]
    a = expect_http(c.port, req("GET", EIO_POLL + "&sid=" + sid), 400, 3)
    b = expect_http(c.port, req("POST", EIO_POLL + "&sid=" + sid, ["Content-Type: text/plain"],
                                b'42["x"]'), 400, 3)
    ws.ack_roundtrip()
    return "GET %s, POST %s, WS alive" % (a, b)


@entry("H08", "two POLL-GET in flight for one sid", "second 400, session ends (EIO-CLOSE)",
       metric='parley_eio_protocol_errors_total{reason="overlap"}')
def h08(c):
    p = Poll(c.port)
    s1 = h.connect(c.port)
    c.keep(s1)
    s1.sendall(req("GET", p.target()))
    time.sleep(0.2)
    st, _, body, _, _, _ = http(c.port, req("GET", p.target()))
    assert st == 400, (st, body)
    first, _ = h.read_until_close(s1, timeout=2.0)
    first_st = h.parse_response(first)[0]
    assert p.gone(), "session still alive"
    return "second GET %d; held GET answered %s %r; session ended" % (
        st, first_st, h.parse_response(first)[2][:10])


@entry("H09", "two concurrent POLL-POST for one sid", "second 400, session ends",
       deviation="the host hands a POST to Engine.IO only once its whole body has arrived, "
       "so two POSTs never overlap inside the engine; both are processed in arrival order",
       metric=None)
def h09(c):
    p = Poll(c.port)
    body = b'4211["message-with-ack","one"]'
    s1 = c.keep(h.connect(c.port))
    head = req("POST", p.target(), ["Content-Type: text/plain;charset=UTF-8"], body)
    s1.sendall(head[:-5])          # the first POST's body is incomplete
    time.sleep(0.1)
    st2, b2 = p.post('4212["message-with-ack","two"]')
    s1.sendall(head[-5:])
    out, _ = h.read_until_close(s1, timeout=1.0)
    st1 = h.parse_response(out)[0]
    assert (st1, st2) == (200, 200), (st1, st2, b2)
    got = []
    for _ in range(3):
        st, b = p.get()
        got += b.decode().split("\x1e")
        if len(got) >= 2:
            break
    assert sorted(got) == ['4311["one"]', '4312["two"]'], got
    return "both POSTs 200; both acks arrive; session alive"


@entry("H10", "POLL-POST with Content-Type application/octet-stream", "400, request finished "
       "and freed", metric='parley_eio_protocol_errors_total{reason="invalid_content"}')
def h10(c):
    p = Poll(c.port)
    s = c.keep(h.connect(c.port))
    s.sendall(req("POST", p.target(), ["Content-Type: application/octet-stream"],
                  b'4213["message-with-ack","bin"]') + req("GET", "/health"))
    out, _ = h.read_until_close(s, timeout=1.0)
    st, _, body, rest = h.parse_response(out)
    st2 = h.parse_response(rest)[0]
    assert st == 400 and h.eio_error(body) == 3 and st2 == 200, (st, body, st2)
    assert p.gone()
    return "POST 400{3}, session ended; the next request on the same connection answered 200"


@entry("H11", "POLL-POST body of 1000001 bytes by Content-Length, and chunked", "413 once "
       "over the limit, nothing more buffered, BOUNDED", target="mem", rss_kib=8192,
       metric="parley_listener_http_refused_total",
       deviation="the session stays after the 413 (the refusal is the HTTP layer's, before "
       "Engine.IO sees the request): 413 from the Content-Length before any body byte is "
       "read; chunked: 413 once the running chunk total passes the cap, then close")
def h11(c):
    p = Poll(c.port)
    st, _, body, _, ms, _ = http(c.port, req("POST", p.target(), [
        "Content-Type: text/plain;charset=UTF-8", "Content-Length: 1000001"]) + b"4" * 1000001)
    assert st == 413, (st, body)
    st2, _, b2, _, _, _ = http(c.port, req("POST", p.target(), [
        "Content-Type: text/plain;charset=UTF-8", "Transfer-Encoding: chunked"])
        + b"f4241\r\n" + b"4" * 1000001 + b"\r\n0\r\n\r\n")
    assert st2 == 413, (st2, b2)
    poll_alive(p)
    return "Content-Length: 413 in %.0f ms; chunked: %d; session alive" % (ms, st2)


@entry("H12", "POLL-POST Content-Length 9223372036854775807 + 10 bytes", "413 at once, no "
       "allocation from the header", metric='parley_listener_http_refused_total{status="413"}',
       max_ms=1000,
       note="413 JSON from the Content-Length before any body byte is read, then close (the "
       "excess is too big to discard); any length of digits up to 2^63-1 is a length, so "
       "10^15 is the same 413; one past 2^63-1 cannot be a length: 400")
def h12(c):
    p = Poll(c.port)
    a = expect_http(c.port, req("POST", p.target(), ["Content-Length: 9223372036854775807"])
                    + b"4" * 10, 413, closed=True)
    b = expect_http(c.port, req("POST", p.target(), ["Content-Length: 1000000000000000"])
                    + b"4" * 10, 413, closed=True)
    d = expect_http(c.port, req("POST", p.target(), ["Content-Length: 9223372036854775808"])
                    + b"4" * 10, 400, closed=True)
    poll_alive(p)
    return "2^63-1: %s; 10^15: %s; 2^63: %s; session alive" % (a, b, d)


@entry("H13", "PUT/DELETE/PATCH/OPTIONS on a valid sid", "400/405, session unaffected; "
       "OPTIONS per CORS policy")
def h13(c):
    p = Poll(c.port)
    out = []
    for m in ("PUT", "DELETE", "PATCH"):
        st = http(c.port, req(m, p.target(), ["Content-Type: text/plain"], b"40"))[0]
        assert st in (400, 405), (m, st)
        out.append("%s %d" % (m, st))
    st, hdrs, _, _, _, _ = http(c.port, req("OPTIONS", p.target(), [
        "Origin: https://chat.example", "Access-Control-Request-Method: POST"]))
    assert st in (200, 204), st
    assert hdrs.get("access-control-allow-origin") == "https://chat.example", hdrs
    out.append("OPTIONS %d with CORS headers" % st)
    poll_alive(p)
    return ", ".join(out) + "; session alive"


@entry("H14", "handshake with Origin http://a\\x7fb, \\x01evil", "HTTP-400{3} (or the HTTP "
       "layer refuses)", metric=HTTPREF + (EIO,))
def h14(c):
    out = []
    for o in (b"http://a\x7fb", b"\x01evil"):
        st, _, body, _, _, raw = http(c.port, req("GET", EIO_POLL).replace(
            b"\r\n\r\n", b"\r\nOrigin: " + o + b"\r\n\r\n"))
        assert st in (400, 403) or st is None, (o, st, raw[:100])
        out.append("%s{%s}" % (st, h.eio_error(body)))
    return ", ".join(out)


@entry("H15", "handshake and upgrade with Origin https://evil.example (allowlist "
       "https://chat.example)", "403 {code:4,message:Forbidden}; upgrade 403 before 101",
       metric='parley_eio_protocol_errors_total{reason="forbidden_origin"}')
def h15(c):
    a = expect_http(c.port, req("GET", EIO_POLL, ["Origin: https://evil.example"]), 403, 4)
    b = expect_http(c.port, upgrade_req(extra=["Origin: https://evil.example"]), 403)
    st = http(c.port, req("GET", EIO_POLL, ["Origin: https://chat.example"]))[0]
    assert st == 200, st
    return "polling %s; upgrade %s; the allowed origin 200" % (a, b)


@entry("H16", "polling GET with Upgrade: h2c + HTTP2-Settings, then RST", "400 or a polling "
       "answer, no h2c, RST a normal close", metric=None)
def h16(c):
    data = req("GET", EIO_POLL, ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                                 "HTTP2-Settings: AAMAAABkAAQAAP__"])
    s = h.connect(c.port)
    s.sendall(data)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()                                   # RST
    out, _ = h.raw(c.port, data, timeout=1.0)
    assert b" 101 " not in out[:20], out[:100]
    st = h.parse_response(out)[0]
    return "RST handled; the same request answered %s, no 101" % (st or "hang-up")


@entry("H17", "UPGRADE with transport=__proto__", "400, close",
       metric='parley_eio_protocol_errors_total{reason="unknown_transport"}')
def h17(c):
    return expect_http(c.port, upgrade_req("/socket.io/?EIO=4&transport=__proto__"), 400, None,
                       closed=True)


def upgraded(c):
    """A polling session upgraded to WebSocket: (poll, ws)."""
    p = Poll(c.port)
    ws = c.keep(RawWS(c.port, path=EIO_WS + "&sid=" + p.sid, expect_open=False))
    ws.send(text("2probe"))
    assert ws.recv() == "3probe"
    ws.send(text("5"))
    time.sleep(0.1)
    return p, ws


@entry("H18", "POLL-GET/POST with the old sid after the upgrade completed", "400 (code 3), "
       "the WebSocket stays", metric=EIO)
def h18(c):
    p, ws = upgraded(c)
    a = expect_http(c.port, req("GET", p.target()), 400, 3)
    b = expect_http(c.port, req("POST", p.target(), ["Content-Type: text/plain"], b"6"), 400, 3)
    ws.ack_roundtrip()
    return "GET %s, POST %s, WS alive" % (a, b)


@entry("H19", "a second UPGRADE&sid after the first completed", "new WS closed or refused, "
       "first stays", metric=EIO)
def h19(c):
    p, ws = upgraded(c)
    st, _, body, _, _, out = http(c.port, upgrade_req(EIO_WS + "&sid=" + p.sid))
    if st == 101:
        got = "101, then closed"
    else:
        assert st == 400, (st, out[:100])
        got = "%d{%s}" % (st, h.eio_error(body))
    ws.ack_roundtrip()
    return "second upgrade: %s; the first WS alive" % got


@entry("H20", "UPGRADE&sid without 2probe; and with 2probe but no 5", "probe WS closed after "
       "upgradeTimeout (1 s here), polling keeps working",
       metric=("parley_eio_upgrade_failures_total", EIO), max_ms=6000)
def h20(c):
    out = []
    for probe in (False, True):
        p = Poll(c.port)
        ws = c.keep(RawWS(c.port, path=EIO_WS + "&sid=" + p.sid, expect_open=False))
        if probe:
            ws.send(text("2probe"))
            assert ws.recv() == "3probe"
        t0 = time.monotonic()
        code, ms, _ = ws.wait_close(timeout=3.0)
        out.append("closed %s after %.0f ms" % (code, (time.monotonic() - t0) * 1000))
        poll_alive(p)
    return "; ".join(out) + "; polling alive"


@entry("H21", "handshake with a 16 KB Cookie; with 500 cookies", "431/400 or ignored",
       metric='parley_listener_http_refused_total{status="431"}')
def h21(c):
    a = expect_http(c.port, req("GET", EIO_POLL, ["Cookie: a=" + "x" * 16384]), 431,
                    closed=True)
    b = expect_http(c.port, req("GET", EIO_POLL, ["Cookie: " + "; ".join(
        "c%d=v" % i for i in range(500))]), 200)
    return "16 KB: %s; 500 cookies: %s" % (a, b)


@entry("H22", "query of 10000 &a=1 pairs (and as many as fit in the header limit)",
       "linear parse (< 5 ms), unknown keys ignored", metric=None, max_ms=1500,
       note="10000 pairs (40 KB) make the request line longer than listener.max_header "
       "(8 KiB): 414 (431 before the listener's 56f2851); the corpus asks "
       "for pairs within the header limit, so 2000 pairs (8000 bytes) are the real check")
def h22(c):
    st, _, _, closed, ms, _ = http(c.port, req("GET", EIO_POLL + "&a=1" * 10000))
    assert st in (414, 431) and closed, st
    n = (MAX_HEADER - 200) // 4
    best = None
    for _ in range(3):
        st2, _, body, _, ms2, _ = http(c.port, req("GET", EIO_POLL + "&a=1" * n))
        assert st2 == 200 and body.startswith(b"0{"), (st2, body[:100])
        best = ms2 if best is None else min(best, ms2)
    assert best < 50, "the handshake with %d pairs took %.0f ms" % (n, best)
    return "10000 pairs: %d, closed; %d pairs: 200 in %.0f ms (unknown keys ignored)" % (
        st, n, best)


@entry("H23", "handshake with j=0 (JSONP), b64=1", "parameter ignored or 400; never a script",
       metric=None)
def h23(c):
    out = []
    for extra in ("&j=0", "&b64=1"):
        st, hdrs, body, _, _, _ = http(c.port, req("GET", EIO_POLL + extra))
        assert st in (200, 400), st
        assert b"<script" not in body and not body.startswith(b"___eio"), body[:80]
        assert "javascript" not in hdrs.get("content-type", ""), hdrs
        out.append("%s %d" % (extra, st))
    return ", ".join(out) + ", no script"


@entry("H24", "GET /socket.iox/, /socket.io/../api/x, //socket.io/, /socket.io (no slash)",
       "404 for wrong paths; no normalisation into another handler", metric=HTTPREF,
       note="paths reach routing raw: no dot-segment resolution, no slash merging; "
       "/socket.io without the trailing slash is 404 (documented in docs/security.md)")
def h24(c):
    out = []
    for path in ("/socket.iox/?EIO=4&transport=polling", "/socket.io/../api/x",
                 "/socket.io/../api/messages", "//socket.io/?EIO=4&transport=polling",
                 "/socket.io?EIO=4&transport=polling"):
        st, _, body, _, _, _ = http(c.port, req("GET", path))
        assert st == 404, (path, st, body[:80])
        assert not body.startswith(b"0{") and b'"messages"' not in body, (path, body[:80])
        out.append("%s %d" % (path.split("?")[0], st))
    return ", ".join(out)
