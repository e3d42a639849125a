"""bad-inputs.md section 2: Engine.IO packets over WebSocket (E) and
long-polling (P)."""
import time

import hostile as h
from entries import (EIO, SIO, SIO_CLOSE, entry, poll_alive, poll_closes, ws_close, ws_ignored)
from hostile import Poll, RawWS, frame, text


@entry("E01", "WS-TEXT(\"2\") client ping", "EIO-CLOSE (1002)",
       metric='parley_eio_protocol_errors_total{reason="heartbeat_direction"}')
def e01(c):
    return ws_close(c.port, [text("2")], (1002,), 100)


@entry("E02", "WS-TEXT(\"2probe\") on a session that is not upgrading", "EIO-CLOSE", metric=EIO)
def e02(c):
    return ws_close(c.port, [text("2probe")], (1002,), 100)


@entry("E03", "WS-TEXT(\"\") empty text frame", "EIO-CLOSE (parse error)",
       metric='parley_eio_protocol_errors_total{reason="parse_error"}')
def e03(c):
    return ws_close(c.port, [text("")], (1002,), 100)


@entry("E04", "WS-TEXT 9, x, \\x00, 7abc", "EIO-CLOSE", metric=EIO)
def e04(c):
    return ws_close(c.port, [text(t) for t in ("9", "x", "\x00", "7abc")], (1002,), 100)


@entry("E05", "WS-TEXT(\"6\") noop", "IGNORE", metric=None)
def e05(c):
    return ws_ignored(c.port, [text("6")])


@entry("E06", "WS-TEXT(\"5\") upgrade outside an upgrade", "IGNORE", metric=None)
def e06(c):
    return ws_ignored(c.port, [text("5")])


@entry("E07", "WS-TEXT(\"3\") unsolicited pong x10000", "IGNORE, BOUNDED; must not keep the "
       "session alive without real pongs", metric=None, max_ms=10000)
def e07(c):
    out = ws_ignored(c.port, [text("3") * 1] * 10000)
    # A client that only sends unsolicited pongs early and then never
    # answers a ping is still timed out (ping 1 s + timeout 1 s here).
    ws = c.keep(RawWS(c.port)).sio_connect()
    for _ in range(100):
        ws.send(text("3"))
    t0 = time.monotonic()
    while True:
        try:
            op, data = ws.recv_frame(timeout=4.0)      # pings left unanswered
        except h.Closed:
            break
        if op == 0x8:
            break
    ms = (time.monotonic() - t0) * 1000
    assert ms < 3500, ms
    return out + "; a pong-spammer that ignores pings is closed after %.0f ms" % ms


@entry("E08", "WS-TEXT(\"1\") close packet", "clean close; disconnect handlers run once",
       metric=None)
def e08(c):
    return ws_close(c.port, [text("1")], (1000, None), 200, tolerate_eof=True)


@entry("E09", "WS-TEXT b!!!, b, bAQID=", "strict: invalid base64 EIO-CLOSE; \"b\" an empty "
       "binary message", metric=(EIO, SIO))
def e09(c):
    a = ws_close(c.port, [text("b!!!"), text("bAQID=")], (1002,), 100)
    # "b" alone decodes to an empty binary message; with no binary packet
    # pending Socket.IO closes the connection (S04), also 1002.
    b = ws_close(c.port, [text("b")], SIO_CLOSE, 100)
    return "b!!!, bAQID=: %s; b: %s (a binary with no packet pending: S04)" % (a, b)


@entry("E10", "WS-TEXT(\"4\" + 1000000 x a): 1000001 bytes", "CLOSE-1009 from the header, "
       "before the payload is buffered", target="mem", rss_kib=2048,
       metric='parley_listener_ws_closed_total{code="1009"}')
def e10(c):
    ws = c.keep(RawWS(c.port)).sio_connect()
    f = frame(0x1, b"4" + b"a" * 1000000)
    t0 = time.monotonic()
    ws.send(f[:14])             # the frame header only, no payload byte
    code, ms, _ = ws.wait_close(timeout=2.0)
    ms = (time.monotonic() - t0) * 1000
    assert code == 1009, code
    assert ms < 100, "close 1009 after %.0f ms" % ms
    return "close 1009 %.0f ms after the bare header (no payload sent or buffered)" % ms


@entry("E11", "WebSocket connects and sends nothing", "closed by connect_timeout (1 s here)",
       metric='parley_socketio_protocol_errors_total{reason="connect_timeout"}', max_ms=3000)
def e11(c):
    ws = c.keep(RawWS(c.port))
    t0 = time.monotonic()
    code, ms, _ = ws.wait_close(timeout=3.0)
    ms = (time.monotonic() - t0) * 1000
    assert 800 < ms < 2200, ms
    return "close %s after %.0f ms" % (code, ms)


# ---------------------------------------------------------------- polling

@entry("P01", "POLL-POST 40\\x1e42[...ack]", "valid: 2 packets, in order", metric=None)
def p01(c):
    p = Poll(c.port, connect_sio=False)
    st, body = p.post('40\x1e421["message-with-ack","one"]\x1e422["message-with-ack","two"]')
    assert (st, body) == (200, b"ok"), (st, body)
    got = []
    while len(got) < 4:
        st, body = p.get()
        assert st == 200, st
        got += [x for x in body.decode().split("\x1e") if x]
    assert got[0].startswith("40{") and got[1:] == ['42["auth",{}]', '431["one"]',
                                                    '432["two"]'], got
    return "200 ok; CONNECT, auth, both acks in order"


@entry("P02", "POLL-POST 4hello\\x1e (trailing separator)", "EIO-CLOSE", metric=EIO)
def p02(c):
    return poll_closes(c.port, ["4hello\x1e"])


@entry("P03", "POLL-POST \\x1e\\x1e\\x1e, \\x1e, empty body", "EIO-CLOSE (empty body: "
       "documented)", metric=EIO)
def p03(c):
    out = poll_closes(c.port, ["\x1e\x1e\x1e", "\x1e"])
    p = Poll(c.port)
    st, _, body, _, _, _ = h.http(c.port, h.req("POST", p.target(), [
        "Content-Type: text/plain", "Content-Length: 0"]))
    assert st == 400 and h.eio_error(body) == 3, (st, body)
    assert p.gone()
    return out + "; Content-Length: 0: 400{3}, session ended"


@entry("P04", "POLL-POST 300000 x 6\\x1e (600 KB)", "linear time (< 100 ms) or a packet cap "
       "(1000) then EIO-CLOSE", metric=EIO, target="mem", rss_kib=8192, max_ms=3000)
def p04(c):
    p = Poll(c.port)
    t0 = time.monotonic()
    st, body = p.post("6\x1e" * 300000)
    ms = (time.monotonic() - t0) * 1000
    assert st == 400 and h.eio_error(body) == 3, (st, body)
    assert p.gone()
    # Under the cap (and without the trailing separator): accepted.
    p2 = Poll(c.port)
    st, _ = p2.post("\x1e".join(["6"] * 1000))
    assert st == 200, st
    poll_alive(p2)
    return "400{3} in %.0f ms (over the 1000-packet cap), session ended; 1000 x 6: 200" % ms


@entry("P05", "POLL-POST 2", "EIO-CLOSE (heartbeat direction)",
       metric='parley_eio_protocol_errors_total{reason="heartbeat_direction"}')
def p05(c):
    return poll_closes(c.port, ["2"])


@entry("P06", "POLL-POST 4 + \\xC3\\x28\\xFF (invalid UTF-8)", "EIO-CLOSE or U+FFFD; never "
       "passed on", metric=EIO)
def p06(c):
    return poll_closes(c.port, [b"4\xc3\x28\xff"])


@entry("P07", "POLL-POST bAQID (valid), b!!!, b====", "first valid, others EIO-CLOSE",
       metric=EIO)
def p07(c):
    p = Poll(c.port)
    st, _ = p.post('451-["message",{"_placeholder":true,"num":0}]\x1ebAQID')
    assert st == 200
    got = []
    for _ in range(3):
        st, body = p.get()
        got += [x for x in body.decode().split("\x1e") if x]
        if len(got) >= 2:
            break
    assert got == ['451-["message-back",{"_placeholder":true,"num":0}]', "bAQID"], got
    return "bAQID as an attachment: echoed; " + poll_closes(c.port, ["b!!!", "b===="])


@entry("P08", "POLL-POST of 200 x 451-[...] with attachments", "the total decoded size per "
       "request is bounded", metric=None, target="mem", rss_kib=8192)
def p08(c):
    att = "b" + "A" * 4000              # 3000 bytes each
    one = '451-["message",{"_placeholder":true,"num":0}]\x1e' + att
    p = Poll(c.port)
    st, body = p.post("\x1e".join([one] * 200))      # 200 packets + 200 attachments, 800 KB
    if st == 200:
        # The cap of 1000 packets is not hit (400 packets): each binary
        # event is decoded and echoed, within max_http_buffer_size.
        return "200: %d packets accepted (under the 1000-packet and 1 MB caps)" % 400
    assert st == 400, st
    assert p.gone()
    return "400, session ended"
