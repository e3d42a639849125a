"""bad-inputs.md section 1: the Engine.IO HTTP handshake and long-polling."""
import json
import socket
import struct
import threading
import time

import hostile as h
from entries import (EIO, HTTPREF, entry, expect_http, many_http, poll_alive, static)
PCT00 = ("lws 4.1.6 refuses a %00 anywhere in the request target while parsing and hangs "
         "up without a status line; no handler sees it, nothing is counted")
BIGHEAD = ("a header block over listener.max_header (8 KiB, lws max_http_header_data) is "
           "refused by lws with a hang-up, no status line (docs/listener.md)")

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
       metric='parley_eio_protocol_errors_total{reason="unknown_transport"}',
       deviation=PCT00)
def h03(c):
    ts = ["&transport=__proto__", "&transport=constructor", "&transport=toString",
          "&transport=hasOwnProperty", "&transport=webtransport", "&transport=",
          "&transport=POLLING", ""]
    out = many_http(c.port, [req("GET", "/socket.io/?EIO=4" + t) for t in ts], 400, 0)
    return out + "; polling%00: " + expect_http(
        c.port, req("GET", "/socket.io/?EIO=4&transport=polling%00"), (None,), closed=True)


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
       deviation=PCT00 + "; " + BIGHEAD)
def h06(c):
    sids = ["doesnotexist", "__proto__", "hasOwnProperty", "constructor", "A" * 10000, "%00",
            "a&sid=b"]
    out = many_http(c.port, [req("GET", EIO_POLL + "&sid=" + s) for s in sids
                             if s not in ("%00", "A" * 10000)], 400, 1)
    out += "; %00: " + expect_http(c.port, req("GET", EIO_POLL + "&sid=%00"), (None,),
                                   closed=True)
    out += "; 10000xA: " + expect_http(c.port, req("GET", EIO_POLL + "&sid=" + "A" * 10000),
                                       (None,), closed=True)
    st, _, body, _, _, _ = http(c.port, req("GET", EIO_POLL + "&sid="))
    assert st in (200, 400), st
    return out + "; empty sid= answered %d" % st


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
       deviation="413 from the Content-Length before any body byte is read, and the session "
       "stays (as in engine.io); chunked request bodies are refused with 411 (the listener "
       "takes bodies by Content-Length only)")
def h11(c):
    p = Poll(c.port)
    st, _, body, _, ms, _ = http(c.port, req("POST", p.target(), [
        "Content-Type: text/plain;charset=UTF-8", "Content-Length: 1000001"]) + b"4" * 1000001)
    assert st == 413, (st, body)
    st2, _, b2, _, _, _ = http(c.port, req("POST", p.target(), [
        "Content-Type: text/plain;charset=UTF-8", "Transfer-Encoding: chunked"])
        + b"f4241\r\n" + b"4" * 1000001 + b"\r\n0\r\n\r\n")
    assert st2 in (411, 413), (st2, b2)
    poll_alive(p)
    return "Content-Length: 413 in %.0f ms; chunked: %d; session alive" % (ms, st2)


@entry("H12", "POLL-POST Content-Length 9223372036854775807 + 10 bytes", "413 at once, no "
       "allocation from the header", metric="parley_listener_http_refused_total", max_ms=1000)
def h12(c):
    p = Poll(c.port)
    return expect_http(c.port, req("POST", p.target(), ["Content-Length: 9223372036854775807"])
                       + b"4" * 10, 413)


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


@entry("H21", "handshake with a 16 KB Cookie; with 500 cookies", "431/400 or ignored", metric=None,
       deviation=BIGHEAD)
def h21(c):
    a = expect_http(c.port, req("GET", EIO_POLL, ["Cookie: a=" + "x" * 16384]),
                    (200, 400, 431, None))
    b = expect_http(c.port, req("GET", EIO_POLL, ["Cookie: " + "; ".join(
        "c%d=v" % i for i in range(500))]), (200, 400, 431, None))
    return "16 KB: %s; 500 cookies: %s" % (a, b)


@entry("H22", "query of 10000 &a=1 pairs", "linear parse (< 5 ms), unknown keys ignored",
       metric=None, max_ms=1500,
       deviation="lws 4.1.6 keeps query arguments in a fixed fragment table: a request with "
       "more than about 91 arguments is refused with a hang-up (no status line); up to that, "
       "unknown keys are ignored")
def h22(c):
    st, _, _, _, ms, _ = http(c.port, req("GET", EIO_POLL + "&a=1" * 10000))
    assert st is None, st
    st2, _, body, _, ms2, _ = http(c.port, req("GET", EIO_POLL + "&a=1" * 89))
    assert st2 == 200 and body.startswith(b"0{"), (st2, body)
    st3 = http(c.port, req("GET", EIO_POLL + "&a=1" * 90))[0]
    assert st3 is None, st3
    return "10000 pairs: hang-up in %.0f ms; 89 pairs: 200 in %.0f ms; 90 pairs: hang-up" % (
        ms, ms2)


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
       deviation="lws merges duplicate slashes, so //socket.io/ is /socket.io/ (the same "
       "handler); /socket.io without the slash is 404; dot segments are resolved before routing")
def h24(c):
    out = []
    for path in ("/socket.iox/?EIO=4&transport=polling", "/socket.io/../api/x",
                 "//socket.io/?EIO=4&transport=polling", "/socket.io?EIO=4&transport=polling"):
        st, _, body, _, _, _ = http(c.port, req("GET", path))
        if path.startswith("/socket.io/../"):
            # The listener resolves dot segments first (docs/listener.md):
            # /api/x is then an unknown route.
            assert st == 404, (path, st)
        elif path.startswith("/socket.io?"):
            assert st == 404, (path, st)
        elif path.startswith("//"):
            assert st == 200, (path, st)
        else:
            assert st == 404, (path, st, body[:80])
        out.append("%s %d" % (path.split("?")[0], st))
    return ", ".join(out)
