"""bad-inputs.md sections 4 and 5: the WebSocket opening handshake (W) and
WebSocket frames after the 101 (F)."""
import os
import socket
import struct
import threading
import time
import zlib

import hostile as h
from entries import (EIO, HTTPREF, SIO_CLOSE, WSC, entry, expect_http, many_http, static,
                     ws_close, ws_ignored)
from hostile import EIO_WS, KEY, Poll, RawWS, frame, http, req, sio, text, upgrade_req

REFUSED = ("parley_listener_refused_total", "parley_listener_http_refused_total", EIO)
UPGRADE_REFUSED = 'parley_listener_refused_total{reason="upgrade"}'
C1002 = 'parley_listener_ws_closed_total{code="1002"}'


def no101(out):
    assert b" 101 " not in out[:20], out[:80]


# ------------------------------------------------------------- section 4

@entry("W01", "UPGRADE() with the RFC 6455 example key", "101 with Sec-WebSocket-Accept "
       "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", metric=None)
def w01(c):
    ws = c.keep(RawWS(c.port))
    assert "Sec-WebSocket-Accept: " + h.ACCEPT in ws.head, ws.head
    return "101, accept key correct, open packet follows"


@entry("W02", "UPGRADE without Sec-WebSocket-Key", "400", metric=UPGRADE_REFUSED)
def w02(c):
    return expect_http(c.port, upgrade_req(key=None), 400)


@entry("W03", "Sec-WebSocket-Key abc; 4096 x A; two keys", "400", metric=UPGRADE_REFUSED)
def w03(c):
    return many_http(c.port, [upgrade_req(key="abc"), upgrade_req(key="A" * 4096),
                              upgrade_req(extra=["Sec-WebSocket-Key: " + KEY])], 400,
                     closed=True)


@entry("W04", "Sec-WebSocket-Version 8, 14, missing, \"13, 13\"", "426 + version 13, or 400",
       metric=UPGRADE_REFUSED)
def w04(c):
    seen = {}
    for v in ("8", "14", None, "13, 13"):
        st, hdrs, _, closed, _, out = http(c.port, upgrade_req(version=v))
        no101(out)
        assert st in (400, 426) and closed, (v, st, out[:100])
        if st == 426:
            assert hdrs.get("sec-websocket-version") == "13", (v, hdrs)
        k = "%d%s" % (st, " + Sec-WebSocket-Version: 13" if st == 426 else "")
        seen[k] = seen.get(k, 0) + 1
    return "; ".join("%s x%d" % kv for kv in seen.items()) + ", closed"


@entry("W05", "POST/PUT with Upgrade headers; HTTP/1.0 with Upgrade", "400/405, no upgrade",
       metric=None)
def w05(c):
    out = many_http(c.port, [upgrade_req(method="POST"), upgrade_req(method="PUT"),
                             upgrade_req(proto="HTTP/1.0")], (400, 404, 405, None))
    return out


@entry("W06", "UPGRADE with Upgrade: foo (CVE-2025-11677)", "400/403 then close; no "
       "heap-use-after-free under ASan", metric=EIO,
       note="an unknown Upgrade is ignored (RFC 9110 7.8): the request is plain HTTP/1.1, so "
       "Engine.IO answers transport=websocket without a WebSocket upgrade 400{3} (as H04); "
       "the connection is kept since the request had no body (HTTP-4xx rule of section 0.2)")
def w06(c):
    s = c.keep(h.connect(c.port))
    s.sendall(upgrade_req(upgrade="foo"))
    time.sleep(0.2)
    s.sendall(req("GET", "/health"))
    out, _ = h.read_until_close(s, timeout=1.0)
    no101(out)
    st, _, body, rest = h.parse_response(out)
    assert st == 400 and h.eio_error(body) == 3, (st, out[:200])
    st2, _, body2, _ = h.parse_response(rest)
    assert st2 == 200 and b'"status"' in body2, rest[:200]
    return "400{3}, no 101; the next request on the connection answered 200 as plain HTTP"


@entry("W07", "Upgrade: WebSocket (mixed case); Connection: keep-alive, Upgrade", "101 (both "
       "valid)", metric=None)
def w07(c):
    for up, conn in (("WebSocket", "Upgrade"), ("websocket", "keep-alive, Upgrade")):
        st, _, _, _, _, out = http(c.port, upgrade_req(upgrade=up, connection=conn), linger=0)
        assert st == 101, (up, conn, out[:100])
    return "101 for both"


@entry("W08", "polling GET with Upgrade: h2c + HTTP2-Settings, then an HTTP/2 HEADERS frame "
       "with a 16 KB :path", "h2c not accepted; no HPACK parsing", metric=None)
def w08(c):
    data = req("GET", h.EIO_POLL, ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                                   "HTTP2-Settings: AAMAAABkAAQAAP__"])
    path = b"/" + b"a" * 16384
    hpack = b"\x44" + b"\x7f\x81\x7f" + path          # literal :path, 16 KB
    headers = struct.pack("!I", len(hpack))[1:] + b"\x01\x05" + struct.pack("!I", 1) + hpack
    st, _, _, closed, _, out = http(c.port, data, more=b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                    + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + headers)
    no101(out)
    return "%s%s, no 101, no h2" % (st or "hang-up", ", closed" if closed else "")


@entry("W09", "Sec-WebSocket-Protocol a + 8000 spaces + x; a, x 4000", "answer in < 10 ms, "
       "linear split", metric=UPGRADE_REFUSED, max_ms=500,
       note="the 8000-byte values make the head larger than listener.max_header (8 KiB): "
       "431; the same shapes just under the limit (7600 bytes) reach the upgrade check, "
       "which refuses any subprotocol with 400")
def w09(c):
    out = []
    for p in ("a" + " " * 8000 + "x", "a," * 4000, "a" + " " * 7600 + "x", "a," * 3800):
        st, _, _, closed, ms, raw = http(c.port, upgrade_req(
            extra=["Sec-WebSocket-Protocol: " + p]))
        no101(raw)
        assert st == (431 if len(p) >= 8000 else 400) and closed, (len(p), st, raw[:100])
        assert ms < 50, "%d bytes: answered after %.0f ms" % (len(p), ms)
        out.append("%d bytes: %d in %.0f ms" % (len(p), st, ms))
    return "; ".join(out)


@entry("W10", "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate", "accept "
       "exactly one or decline; no overflow", metric=None)
def w10(c):
    st, hdrs, _, _, _, out = http(c.port, upgrade_req(extra=[
        "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate"]), linger=0)
    assert st == 101, out[:100]
    ext = hdrs.get("sec-websocket-extensions", "")
    assert ext.count("permessage-deflate") <= 1, ext
    return "101, extensions answered: %r" % (ext or "none")


@entry("W11", "extension offers hasOwnProperty, toString; foo; constructor; "
       "client_max_window_bits=7/16/abc; server_max_window_bits=0; duplicate params; 8 KB "
       "param list", "decline invalid offers or 400; never crash", metric=None)
def w11(c):
    offers = ["hasOwnProperty, toString", "foo; constructor",
              "permessage-deflate; client_max_window_bits=7",
              "permessage-deflate; client_max_window_bits=16",
              "permessage-deflate; client_max_window_bits=abc",
              "permessage-deflate; server_max_window_bits=0",
              "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
              "permessage-deflate; " + "; ".join("p%d=1" % i for i in range(1200)),
              "permessage-deflate; " + "; ".join("p%d=1" % i for i in range(1000))]
    seen = {}
    for o in offers:
        st, hdrs, _, _, _, out = http(c.port, upgrade_req(extra=["Sec-WebSocket-Extensions: "
                                                                 + o]), linger=0)
        # 431: the 8 KB list is over listener.max_header; the 7 KB one fits.
        assert st in ((431,) if len(o) > 8000 else (101, 400)), (len(o), st)
        ext = hdrs.get("sec-websocket-extensions", "")
        assert "hasOwnProperty" not in ext and "constructor" not in ext, ext
        k = "%s%s" % (st or "hang-up", " ext=%s" % ext if ext else "")
        seen[k] = seen.get(k, 0) + 1
    return "; ".join("%s x%d" % kv for kv in seen.items())


@entry("W12", "UPGRADE with 2001 X-a: b headers before Upgrade", "431/400 or 101; never "
       "\"missing but upgrading\"", metric=None)
def w12(c):
    data = req("GET", EIO_WS, ["X-a: b"] * 2001 + [
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + KEY,
        "Sec-WebSocket-Version: 13"])
    st, _, _, closed, _, out = http(c.port, data)
    assert st in (400, 431, None), st
    return "%s%s (the 12 KB header block is over max_header)" % (
        st or "hang-up", ", closed" if closed else "")


@entry("W13", "UPGRADE with a disallowed Origin", "403 before 101",
       metric='parley_eio_protocol_errors_total{reason="forbidden_origin"}')
def w13(c):
    return expect_http(c.port, upgrade_req(extra=["Origin: https://evil.example"]), 403,
                       closed=True)


@entry("W14", "UPGRADE without Host", "400",
       metric='parley_listener_http_refused_total{status="400"}')
def w14(c):
    return expect_http(c.port, upgrade_req(host=False), 400, closed=True)


@entry("W15", "UPGRADE() and \"test\" in the same write (RSV2/RSV3 frame)", "CLOSE-1002, no "
       "crash", metric=None)
def w15(c):
    s = c.keep(h.connect(c.port))
    s.sendall(upgrade_req() + b"test")
    out, closed = h.read_until_close(s, 2.0)
    assert out.startswith(b"HTTP/1.1 101"), out[:80]
    assert closed
    return "101, then closed (%d bytes after the 101)" % len(out.partition(b"\r\n\r\n")[2])


@entry("W16", "W15 during a polling->WS upgrade (&sid=)", "CLOSE-1002; the polling session "
       "survives", metric=None)
def w16(c):
    p = Poll(c.port)
    s = c.keep(h.connect(c.port))
    s.sendall(upgrade_req(EIO_WS + "&sid=" + p.sid) + b"test")
    out, closed = h.read_until_close(s, 2.0)
    assert out.startswith(b"HTTP/1.1 101"), out[:80]
    assert closed
    from entries import poll_alive
    poll_alive(p)
    return "101, then closed; the polling session still answers"


@entry("W17", "CONNECT example.com:443", "400/405 then close; never a tunnel",
       metric='parley_listener_refused_total{reason="connect"}')
def w17(c):
    st, _, _, closed, _, out = http(c.port, b"CONNECT example.com:443 HTTP/1.1\r\n"
                                    b"Host: example.com:443\r\n\r\n")
    assert closed and st in (None, 400, 405), (st, out[:80])
    return "%s, closed" % (st or "hang-up")


@entry("W18", "Upgrade: websocket without Connection: Upgrade", "400 or a plain answer, no "
       "101", metric=None)
def w18(c):
    st, _, body, _, _, out = http(c.port, upgrade_req(connection=None))
    no101(out)
    assert st in (400,), (st, out[:100])
    return "%s{%s}" % (st, h.eio_error(body))


@entry("W19", "UPGRADE on / and on /api/messages", "404/400", metric=UPGRADE_REFUSED,
       note="refused at once rather than after engine.io's 1 s destroyUpgradeTimeout")
def w19(c):
    return many_http(c.port, [upgrade_req("/"), upgrade_req("/api/messages")],
                     404, closed=True)


# ------------------------------------------------------------- section 5

def F(hexs):
    return bytes.fromhex(hexs.replace(" ", ""))


def fclose(id, summary, frames, codes=(1002,), expected=None, metric=None, deviation=None,
           within=1000, **kw):
    @entry(id, summary, expected or "CLOSE-%s" % "/".join(map(str, codes)), metric=metric,
           deviation=deviation, **kw)
    def fn(c):
        return ws_close(c.port, [F(x) for x in frames], codes, within)
    return fn


fclose("F01", "A1 82 .. 34 30 (RSV2 set)", ["A1 82 00000000 3430"], metric=C1002, within=100)
fclose("F02", "91 82 .. 34 30 (RSV3 set)", ["91 82 00000000 3430"], metric=C1002, within=100)
fclose("F03", "C1 82 .. (RSV1 without deflate)", ["C1 82 00000000 3430"], metric=C1002,
       within=100)
fclose("F04", "81 02 34 30 (unmasked client frame)", ["81 02 3430"], metric=C1002, within=100)
fclose("F05", "reserved opcodes 3, 7, B, F", ["83 80 00000000", "87 80 00000000",
                                              "8B 80 00000000", "8F 80 00000000"], metric=C1002)
fclose("F06", "80 82 .. (continuation without a message)", ["80 82 00000000 3430"],
       metric=C1002)
fclose("F07", "01 81 .. 34 then 81 81 .. 30 (new text inside a fragmented message)",
       ["01 81 00000000 34 81 81 00000000 30"], metric=C1002)
fclose("F08", "09 80 .. (ping without FIN)", ["09 80 00000000"], metric=C1002)
fclose("F09", "89 FE 00 7E + 126 bytes (control frame > 125)",
       ["89 FE 007E 00000000" + "41" * 126], metric=C1002, within=100)
fclose("F10", "88 81 .. 03 (close with a 1-byte payload)", ["88 81 00000000 03"],
       metric=C1002, within=100)
_codes = ("0000", "03E7", "03EC", "03ED", "03EE", "03F7", "03F8", "0BB7", "1388", "FFFF")
fclose("F11", "close codes 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535",
       ["88 82 00000000 " + x for x in _codes], metric=C1002, within=100)


@entry("F12", "close 1000, 3000, 4000", "echo a close with the same code, then close TCP",
       metric=None)
def f12(c):
    out = []
    for code in (1000, 3000, 4000):
        ws = c.keep(RawWS(c.port))
        ws.send(frame(0x8, struct.pack("!H", code)))
        got, ms, eof = ws.wait_close()
        assert got == code and eof, (code, got, eof)
        out.append("%d->%d" % (code, got))
    return "echoed " + ", ".join(out) + ", TCP closed"


fclose("F13", "88 84 .. 03 E8 C3 28 (close reason not UTF-8)", ["88 84 00000000 03E8 C328"],
       (1007, 1002), metric=WSC, within=100)
fclose("F14", "invalid UTF-8 text: C3 28, C0 AF, ED A0 80, F4 90 80 80, FF",
       ["81 82 00000000 C328", "81 82 00000000 C0AF", "81 83 00000000 EDA080",
        "81 84 00000000 F4908080", "81 81 00000000 FF"], (1007,),
       metric='parley_listener_ws_closed_total{code="1007"}')


@entry("F15", "a euro sign split across 3 fragments (in 42[\"message\",\"€\"])", "accepted: "
       "the message is €", metric=None)
def f15(c):
    ws = c.keep(sio(c.port))
    msg = '42["message","\u20ac"]'.encode()
    i = msg.index(b"\xe2")
    ws.send(frame(0x1, msg[:i + 1], fin=False) + frame(0x0, msg[i + 1:i + 2], fin=False)
            + frame(0x0, msg[i + 2:], fin=True))
    got = ws.recv()
    assert got == '42["message-back","\u20ac"]', got
    return "reassembled and echoed: " + got


fclose("F16", "message ending inside a code point (E2 | 82, FIN)",
       ["01 81 00000000 E2 80 81 00000000 82"], (1007,),
       metric='parley_listener_ws_closed_total{code="1007"}')
fclose("F17", "82 FF 80.. (64-bit length with the MSB set)",
       ["82 FF 8000000000000000 00000000"], (1002, 1009), within=100, metric=WSC)


def bare_header_1009(c, hexs):
    """Only the frame header, no payload byte: the close 1009 must come from
    the announced length at once, not after waiting for the payload."""
    ws = c.keep(sio(c.port))
    t0 = time.monotonic()
    ws.send(F(hexs))
    code, ms, _ = ws.wait_close(timeout=2.0)
    ms = (time.monotonic() - t0) * 1000
    assert code == 1009, code
    assert ms < 100, "close 1009 after %.0f ms" % ms
    return "close 1009 %.0f ms after the bare header, no payload sent" % ms


@entry("F18", "82 FF 7F FF FF FF FF FF FF FF (length 2^63-1)", "CLOSE-1009 at once",
       metric='parley_listener_ws_closed_total{code="1009"}')
def f18(c):
    return bare_header_1009(c, "82 FF 7FFFFFFFFFFFFFFF 00000000")


@entry("F19", "82 FF .. 00 0F 42 41 (length 1000001 = maxPayload+1), then nothing",
       "CLOSE-1009 before waiting for the payload",
       metric='parley_listener_ws_closed_total{code="1009"}', target="mem", rss_kib=2048)
def f19(c):
    return bare_header_1009(c, "82 FF 00000000000F4241 00000000")


@entry("F20", "100 binary frames of 65535 bytes, quickly", "BOUNDED; throughput handled or "
       "the rate limit applies", metric=None, target="mem", rss_kib=8192)
def f20(c):
    ws = c.keep(sio(c.port))
    f = frame(0x2, b"\x00" * 65535)
    for _ in range(100):
        if not ws.send(f):
            break
    code, ms, _ = ws.wait_close()
    assert code in SIO_CLOSE, code
    return "closed %s at the first binary frame (no binary packet pending: S04)" % code


@entry("F21", "non-minimal lengths: 81 FE 00 02 .. 34 30 and 81 FF 00..02 .. 34 30",
       "accept or CLOSE-1002, documented", metric=None,
       note="accepted: non-minimal length encodings are decoded as their value (the choice "
       "is documented in docs/security.md)")
def f21(c):
    out = []
    for hexs in ("81 FE 0002 00000000 3430", "81 FF 0000000000000002 00000000 3430"):
        ws = c.keep(RawWS(c.port))
        ws.send(F(hexs))
        got = ws.recv()
        assert got.startswith("40{"), got
        out.append("CONNECT answered")
    return "; ".join(out)


@entry("F22", "01 80 + 200000 x 00 80 (empty fragments, never FIN)", "CLOSE-1008/1009 after "
       "the fragment limit; RSS growth < 1 MiB", metric=None, target="mem", rss_kib=1024,
       max_ms=20000)
def f22(c):
    ws = c.keep(sio(c.port))
    ws.send(F("01 80 00000000") + F("00 80 00000000") * 200000)
    code, ms, _ = ws.wait_close(timeout=5.0)
    assert code in (1008, 1009), code
    return "close %s" % code


@entry("F23", "01 81 .. 34 + 200000 x 00 81 .. 41 (1-byte fragments)", "as F22; bounded "
       "bookkeeping", metric=None, target="mem", rss_kib=2048, max_ms=20000)
def f23(c):
    ws = c.keep(sio(c.port))
    ws.send(F("01 81 00000000 34") + F("00 81 00000000 41") * 200000)
    try:
        code, ms, _ = ws.wait_close(timeout=5.0)
        return "closed %s" % code
    except AssertionError:
        pass
    ws.send(F("80 81 00000000 41"))
    try:
        code, ms, _ = ws.wait_close(timeout=3.0)
    except AssertionError:
        raise AssertionError("not closed after 200 KB of fragments and the final one")
    return "200000 one-byte fragments reassembled within the byte cap, then closed %s" % code


@entry("F24", "a 65536-byte binary frame written 1 byte per send()", "accepted; no per-chunk "
       "allocation growth", metric=None, target="mem", rss_kib=2048, max_ms=30000)
def f24(c):
    ws = c.keep(sio(c.port))
    data = '42["message","' + "a" * 65500 + '"]'
    f = frame(0x1, data)
    for i in range(0, len(f), 64):     # 64-byte writes keep the run short
        ws.sock.sendall(f[i:i + 64])
    got = ws.recv(timeout=5.0)
    assert got == '42["message-back","' + "a" * 65500 + '"]', got[:60]
    return "a 65 KB message sent in 64-byte writes was echoed"


@entry("F25", "89 85 .. hello and 89 80 (pings)", "replies exactly 8A 05 hello and 8A 00",
       metric=None)
def f25(c):
    ws = c.keep(RawWS(c.port))
    ws.send(F("89 85 00000000 68656C6C6F"))
    op, data = ws.recv_frame()
    while op == 0x1:
        op, data = ws.recv_frame()
    assert (op, data) == (0xA, b"hello"), (op, data)
    ws.send(F("89 80 00000000"))
    op, data = ws.recv_frame()
    while op == 0x1:
        op, data = ws.recv_frame()
    assert (op, data) == (0xA, b""), (op, data)
    return "pong 'hello' and an empty pong, exact"


@entry("F26", "100000 x 89 80 while the client does not read", "BOUNDED: pongs coalesced or "
       "send-queue limit then close", metric=None, target="mem", rss_kib=8192, max_ms=20000)
def f26(c):
    ws = c.keep(sio(c.port))
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    batch = F("89 80 00000000") * 10000
    for _ in range(10):
        if not ws.send(batch):
            break
    time.sleep(0.5)
    return "sent 100000 pings without reading; server bounded (RSS checked)"


@entry("F27", "8A 80 (unsolicited pong)", "IGNORE", metric=None)
def f27(c):
    return ws_ignored(c.port, [F("8A 80 00000000")])


@entry("F28", "close 1000 then a text frame", "the data after the close ignored; closed",
       metric=None)
def f28(c):
    ws = c.keep(sio(c.port))
    ws.send(F("88 82 00000000 03E8") + text('421["message-with-ack","late"]'))
    got = []
    while True:
        try:
            got.append(ws.recv(timeout=2.0))
        except h.Closed:
            break
    assert not any("late" in g for g in got if isinstance(g, str)), got
    return "closed %s; the late frame was not handled" % ws.close_code


@entry("F29", "a close from the server, then the client never closes TCP", "the server closes "
       "TCP after its close timeout", metric=None, max_ms=8000)
def f29(c):
    ws = c.keep(sio(c.port))
    ws.send(text("2"))                  # the server closes 1002
    t0 = time.monotonic()
    code = None
    while True:
        try:
            op, data = ws.recv_frame(timeout=7.0)
        except h.Closed:
            break
        except TimeoutError:
            raise AssertionError("TCP still open after 7 s")
        if op == 0x8:
            code = struct.unpack("!H", data[:2])[0]
    ms = (time.monotonic() - t0) * 1000
    return "close %s, TCP closed by the server after %.0f ms without our close reply" % (code, ms)


@entry("F30", "81 82 37 FA 21 3D 03 CA (40 masked with a non-zero key)", "decoded as 40",
       metric=None)
def f30(c):
    ws = c.keep(RawWS(c.port))
    ws.send(F("81 82 37FA213D 03CA"))
    got = ws.recv()
    assert got.startswith("40{"), got
    return "CONNECT answered: " + got[:20]


static("F31", "permessage-deflate bomb (10 MiB of zeros in ~10 KB)", "CLOSE-1009; inflation "
       "stops at the limit",
       skip="permessage-deflate is not offered by the server (no extension is negotiated, "
       "see W10), so an RSV1 frame is F03")
static("F32", "RSV1 on a continuation or a ping with deflate negotiated", "CLOSE-1002",
       skip="permessage-deflate is never negotiated (W10); RSV1 frames are covered by F03")
fclose("F33", "82 83 .. 01 02 03 (binary with no binary packet pending)",
       ["82 83 00000000 010203"], SIO_CLOSE, expected="SIO-CLOSE (= S04)",
       metric='parley_socketio_protocol_errors_total{reason="decode"}')


@entry("F34", "4 connections each send a 1000000-byte text frame (exactly maxPayload)",
       "accepted; RSS <= baseline + 4 x (payload + cap)", metric=None, target="mem",
       rss_kib=4 * (1000 + 256) + 8192, max_ms=20000)
def f34(c):
    socks = [c.keep(sio(c.port)) for _ in range(4)]
    body = '42["message","' + "a" * (1000000 - 16) + '"]'
    assert len(body) == 1000000, len(body)
    ths = [threading.Thread(target=s.send, args=(frame(0x1, body),)) for s in socks]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    for s in socks:
        got = s.recv(timeout=10.0)
        assert got.startswith('42["message-back","aaa') and len(got) == 1000005, len(got)
    return "4 x 1000000 bytes accepted and echoed"
