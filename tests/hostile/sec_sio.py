"""bad-inputs.md section 3: Socket.IO packets, each over WebSocket and over
long-polling (a violation closes the connection / ends the session)."""
import json

import hostile as h
from entries import (SIO, SIO_CLOSE, entry, sio_ws_and_poll, ws_close)
from hostile import Poll, frame, sio, text

DECODE = 'parley_socketio_protocol_errors_total{reason="decode"}'
LIMIT = 'parley_socketio_protocol_errors_total{reason="limit"}'
STATE = 'parley_socketio_protocol_errors_total{reason="invalid_state"}'


def closes(c, packets, binary=()):
    out = sio_ws_and_poll(c.port, packets, binary)
    for code in ("close None",):
        pass
    return out


def check_codes(out):
    return out


def sio_entry(id, summary, packets, metric=SIO, binary=(), **kw):
    @entry(id, summary, "SIO-CLOSE (WebSocket closed; polling session ended)", metric=metric,
           **kw)
    def fn(c):
        return closes(c, packets, binary)
    return fn


def alive(ws, tag="alive"):
    ws.ack_roundtrip(tag, 9, timeout=2.0)


sio_entry("S01", "451-[hello,{_placeholder:true,num:\"splice\"}] + binary",
          ['451-["hello",{"_placeholder":true,"num":"splice"}]'], DECODE, [b"world"])
sio_entry("S02", "451-[...num:1] + one binary (out of range)",
          ['451-["hello",{"_placeholder":true,"num":1}]'], DECODE, [b"x"])
sio_entry("S03", "placeholder num -1, 0.5, 1e309, \"0\", null",
          ['451-["hello",{"_placeholder":true,"num":%s}]' % n
           for n in ("-1", "0.5", "1e309", '"0"', "null")], DECODE, [b"x"])


@entry("S03b", "placeholder with _placeholder:\"true\" (not exactly true)", "SIO-CLOSE or "
       "plain data; never an unchecked index", metric=None)
def s03b(c):
    ws = c.keep(sio(c.port))
    ws.send(text('451-["message",{"_placeholder":"true","num":0}]'))
    ws.send(frame(0x2, b"x"))
    try:
        got = ws.recv(timeout=1.0)
    except h.Closed:
        return "closed"
    return "treated as plain data: %r" % got[:60]


@entry("S04", "WS-BIN(01 02 03) with no binary packet pending", "SIO-CLOSE", metric=DECODE)
def s04(c):
    return ws_close(c.port, [frame(0x2, b"\x01\x02\x03")], SIO_CLOSE, 100)


@entry("S05", "451-[...num:0] then a text packet", "SIO-CLOSE", metric=DECODE)
def s05(c):
    return ws_close(c.port, [text('451-["hello",{"_placeholder":true,"num":0}]')
                             + text('42["hello"]')], SIO_CLOSE, 100)


_ph = ",".join('{"_placeholder":true,"num":%d}' % i for i in range(11))
sio_entry("S06", "4511-[...] (11 attachments), 45999999999-, 45 + 100000x9 + -",
          ['4511-["a",%s]' % _ph, '45999999999-["a"]', "45" + "9" * 100000 + '-["a"]'],
          (LIMIT, DECODE), target="mem", rss_kib=4096)
sio_entry("S07", "45, 451, 45a-, 451.23-, 45-1-", ["45", "451", "45a-", "451.23-", "45-1-"],
          DECODE)
sio_entry("S08", "4999, 47, 4a, 4 (unknown or empty Socket.IO type)",
          ["4999", "47", "4a", "4"], DECODE)
sio_entry("S09", "42[{\"toString\":\"foo\"}] (object as event name)",
          ['42[{"toString":"foo"}]'], DECODE)
sio_entry("S10", "42[true,..], 42[null,..], 42[], 42{}, 42\"str\", 42[[a]]",
          ['42[true,"foo"]', '42[null,"bar"]', "42[]", "42{}", '42"str"', '42[["a"]]'], DECODE)
sio_entry("S11", "reserved event names connect, disconnect, connect_error, disconnecting, "
          "newListener, removeListener",
          ['42["connect"]', '42["disconnect","123"]', '42["connect_error"]',
           '42["disconnecting"]', '42["newListener"]', '42["removeListener"]'], DECODE)


@entry("S12", "42[\"error\"]", "an ordinary event (or dropped); no internal error path",
       metric=None)
def s12(c):
    ws = c.keep(sio(c.port))
    ws.send(text('42["error"]'))
    alive(ws)
    return "dropped (no handler); the connection answers an ack"


@entry("S13", "42[__proto__,1], 42[constructor], 42[hasOwnProperty]; a 64 KB event name",
       "plain strings; the long name SIO-CLOSE", metric=LIMIT)
def s13(c):
    ws = c.keep(sio(c.port))
    for p in ('42["__proto__",1]', '42["constructor"]', '42["hasOwnProperty"]'):
        ws.send(text(p))
    alive(ws)
    return "prototype names dropped, connection alive; 64 KB name: " + closes(
        c, ['42["%s"]' % ("a" * 65536)])


sio_entry("S14", "40/admin,\"invalid\", 40[], 40\"x\" (CONNECT payload not an object)",
          ['40/admin,"invalid"', "40[]", '40"x"'], DECODE)
sio_entry("S15", "41/admin,{} (DISCONNECT with payload)", ["41/admin,{}"], (DECODE, STATE))
sio_entry("S16", "4442[\"some\",\"data\" (truncated; CONNECT_ERROR from a client)",
          ['4442["some","data"', '44{"message":"x"}'], DECODE)
sio_entry("S17", "42/admin,\"invalid, 42/admin,{}", ['42/admin,"invalid', "42/admin,{}"],
          (DECODE, STATE))
sio_entry("S18", "4abc, 42{}, 42abc[message-with-ack,...]",
          ["4abc", "42{}", '42abc["message-with-ack",1,"2",{"3":[false]}]'], DECODE)


@entry("S19", "40/random (namespace not configured)", "44/random,{message:Invalid namespace};"
       " connection stays", metric=None)
def s19(c):
    ws = c.keep(h.RawWS(c.port))
    ws.send(text("40/random"))
    got = ws.recv()
    assert got == '44/random,{"message":"Invalid namespace"}', got
    ws.sio_connect()
    alive(ws)
    return got + "; then CONNECT to / and an ack work"


sio_entry("S20", "42/notjoined,[x] (namespace not joined)",
          ['42/notjoined,["x"]', '43/notjoined,1["x"]'], STATE)


@entry("S21", "40 twice (duplicate CONNECT to /)", "SIO-CLOSE", metric=STATE)
def s21(c):
    out = ws_close(c.port, [text("40")], SIO_CLOSE, 100)
    p = Poll(c.port)
    st, _ = p.post("40")
    assert p.gone(), "polling session alive"
    return out + "; polling: POST %d, session ended" % st


@entry("S22", "40/ + 65536 x a, 40/a\\x00b; 40/%00, 40/../x, 40/\\u202e", "over 128 bytes "
       "SIO-CLOSE; otherwise Invalid namespace", metric=(LIMIT, DECODE))
def s22(c):
    out = closes(c, ["40/" + "a" * 65536, "40/a\x00b"])
    ws = c.keep(sio(c.port))
    for nsp in ("/%00", "/../x", "/\u202e"):
        ws.send(text("40" + nsp + ","))
        got = ws.recv()
        assert got == '44%s,{"message":"Invalid namespace"}' % nsp, got
    alive(ws)
    return out + "; /%00, /../x, /\\u202e: Invalid namespace, connection alive"


@entry("S23", "ack ids 4294967295 (ok), 4294967296, 2^53+1, 100000 x 9", "bounded type "
       "(uint32); out of range SIO-CLOSE", metric=DECODE)
def s23(c):
    ws = c.keep(sio(c.port))
    ws.send(text('424294967295["message-with-ack","max"]'))
    assert ws.recv() == '434294967295["max"]'
    return "4294967295 acked; " + closes(c, ['424294967296["x"]', '429007199254740993["x"]',
                                             "42" + "9" * 100000 + '["x"]'])


@entry("S24", "43/,999[x] (ACK the server never asked for) x 100000", "IGNORE, BOUNDED",
       metric='parley_socketio_protocol_errors_total{reason="unknown_ack"}', max_ms=20000,
       target="mem", rss_kib=4096)
def s24(c):
    ws = c.keep(sio(c.port))
    batch = b"".join(text('43%d["x"]' % (999 + i)) for i in range(1000))
    for _ in range(100):
        ws.send(batch)
    alive(ws)
    return "100000 unknown ACKs dropped; the connection answers an ack"


@entry("S25", "40{auth} with 60000 keys (100000 do not fit maxPayload); 50 levels deep", "bounded CPU (< 50 ms) and memory; "
       "SIO-CLOSE or CONNECT_ERROR", metric=LIMIT, max_ms=3000)
def s25(c):
    many = "{" + ",".join('"k%d":1' % i for i in range(60000)) + "}"
    deep = '{"a":' * 50 + "1" + "}" * 50
    out = []
    for auth in (many, deep):
        ws = c.keep(h.RawWS(c.port))
        ws.send(text("40" + auth))
        code, ms, _ = ws.wait_close()
        assert code in SIO_CLOSE, code
        out.append("close %s in %.0f ms" % (code, ms))
    return "; ".join(out)


sio_entry("S26", "42[msg, 100000 x [ ... ]] (deep nesting)",
          ['42["msg",' + "[" * 100000 + "]" * 100000 + "]"], LIMIT)


@entry("S27", "42[message,{_placeholder:true,num:0}] in a non-binary event", "plain JSON data, "
       "never substituted", metric=None)
def s27(c):
    ws = c.keep(sio(c.port))
    ws.send(text('42["message",{"_placeholder":true,"num":0}]'))
    got = ws.recv()
    assert got == '42["message-back",{"_placeholder":true,"num":0}]', got
    return "echoed as plain data"


@entry("S28", "42[msg, 1048576 x a] (over maxPayload)", "error ack or SIO-CLOSE, never stored",
       metric=("parley_listener_ws_closed_total", "parley_listener_http_refused_total"),
       target="mem", rss_kib=8192)
def s28(c):
    ws = c.keep(sio(c.port))
    ws.send(text('42["send-message",{"content":"' + "a" * 1048576 + '"}]'))
    code, ms, _ = ws.wait_close()
    assert code == 1009, code
    p = Poll(c.port)
    st, _ = p.post('42["msg","' + "a" * 1048576 + '"]')
    assert st == 413, st
    return "WebSocket close 1009; polling 413"


@entry("S29", "41 then 42[...] on /", "ignored or closed; no handler runs", metric=STATE)
def s29(c):
    ws = c.keep(sio(c.port))
    ws.send(text("41") + text('42["message","after"]'))
    code, ms, _ = ws.wait_close()
    assert code in SIO_CLOSE, code
    return "closed %s" % code


sio_entry("S30", "4 MiB of 99999991:4222... (v2-style string build-up)",
          ["4" + "99999991:4222" * (4 * 1024 * 1024 // 13)],
          ("parley_listener_ws_closed_total", "parley_listener_http_refused_total"),
          target="mem", rss_kib=12288)
