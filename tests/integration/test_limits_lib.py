"""Helpers for the limits tests (test_limits*.py; this file holds no tests): a config written into the
test's temp dir with the listener / socketio keys a test lowers, and a small
raw Socket.IO-over-WebSocket client that keeps the wire visible."""
import json
import os
import socket
import time

import websocket

from parleytest import Server

CONFIG = """\
server:
  host: ${{PARLEY_HOST:-127.0.0.1}}
  port: ${{PARLEY_PORT:-3001}}
  workers: 2
  shutdown_timeout: {shutdown_timeout}
log:
  level: ${{PARLEY_LOG_LEVEL:-warn}}
  format: text
listener:
{listener}
chat:
  max_content_length: 20000
storage:
  plugin: sqlite
  config:
    path: ${{PARLEY_DATA:-./data}}/parley.db
transports:
  - plugin: rest
  - plugin: socketio
    config:
      cors_origins: ["*"]
      ping_interval: {ping_interval}
      ping_timeout: 20s
{socketio}
"""


def block(keys, indent):
    return "\n".join("%s%s: %s" % (" " * indent, k, v) for k, v in keys.items()) or \
        " " * indent + "max_body: 1MiB"


def write_config(directory, listener=None, socketio=None, shutdown_timeout="5s",
                 ping_interval="25s", name="limits.yaml"):
    path = os.path.join(directory, name)
    listener = dict({"max_body": "2MiB", "max_message": "2MiB"}, **(listener or {}))
    text = CONFIG.format(listener=block(listener, 2), socketio=block(socketio or {}, 6)
                         if socketio else "", shutdown_timeout=shutdown_timeout,
                         ping_interval=ping_interval)
    with open(path, "w") as f:
        f.write(text)
    return path


def metric(server, series):
    """The value of one exact series (name{labels}) from /metrics, 0 when absent."""
    _, _, body = server.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(series + " "):
            return float(line.split()[1])
    return 0.0


class SioClient:
    """Socket.IO v5 over a raw WebSocket: connect to "/", answer pings."""

    def __init__(self, port, rcvbuf=None, timeout=10, connect=True):
        opts = []
        if rcvbuf:
            opts.append((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf))
        kw = {"timeout": timeout, "suppress_origin": True, "sockopt": tuple(opts)}
        self.ws = websocket.create_connection(
            "ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket" % port, **kw)
        first = self.ws.recv()
        assert first.startswith("0{"), first
        self.ack_id = 0
        self.backlog = []
        if connect:
            self.ws.send("40")
            got = self.ws.recv()
            assert got.startswith("40{"), got

    def recv(self, timeout=None):
        """The next Socket.IO packet text (pings answered); None when closed."""
        if self.backlog:
            return self.backlog.pop(0)
        if timeout is not None:
            self.ws.settimeout(timeout)
        while True:
            try:
                op, data = self.ws.recv_data()
            except (websocket.WebSocketConnectionClosedException, ConnectionError):
                return None
            if op == websocket.ABNF.OPCODE_CLOSE:
                self.close_frame = data
                return None
            text = data.decode()
            if text == "2":
                self.ws.send("3")
                continue
            if text.startswith("4"):
                return text[1:]
            if text == "1":
                self.eio_close = True   # Engine.IO close; the WebSocket close follows
                continue

    def emit(self, event, payload, ack=False):
        pre = "2"
        if ack:
            self.ack_id += 1
            pre += str(self.ack_id)
        self.ws.send("4" + pre + json.dumps([event, payload]))
        return self.ack_id if ack else None

    def wait_event(self, name, timeout=10):
        """Packets until EVENT `name`; the others are kept for later recv()."""
        deadline = time.monotonic() + timeout
        kept = []
        try:
            while time.monotonic() < deadline:
                p = self.recv(timeout=max(0.05, deadline - time.monotonic()))
                if p is None:
                    raise AssertionError("closed while waiting for %s" % name)
                if p.startswith("2["):
                    ev = json.loads(p[1:])
                    if ev[0] == name:
                        return ev[1] if len(ev) > 1 else None
                kept.append(p)
            raise AssertionError("no %s within %.1f s (got %r)" % (name, timeout, kept[-5:]))
        finally:
            self.backlog = kept + self.backlog

    def wait_ack(self, ack_id, timeout=10):
        deadline = time.monotonic() + timeout
        kept = []
        prefix = "3%d[" % ack_id
        try:
            while time.monotonic() < deadline:
                p = self.recv(timeout=max(0.05, deadline - time.monotonic()))
                if p is None:
                    raise AssertionError("closed while waiting for ack %d" % ack_id)
                if p.startswith(prefix):
                    return json.loads(p[len(prefix) - 1:])[0]
                kept.append(p)
            raise AssertionError("no ack %d within %.1f s" % (ack_id, timeout))
        finally:
            self.backlog = kept + self.backlog

    def join(self, username, room):
        self.emit("join-chat", {"username": username, "room": room})
        return self.wait_event("join-confirmed")

    def close(self):
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass


def start(config, env=None, data_dir=None, port=None):
    return Server(config=config, env=env, data_dir=data_dir, port=port).start()
