// The official client on each transport: default (polling, then the
// upgrade to WebSocket), WebSocket only, polling only; and reconnection.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, closeAll, join, once, uniq, io, URL } from "./helpers.mjs";

after(closeAll);

async function roundTrip(s, room) {
  const name = uniq("u");
  const jc = await join(s, name, room);
  assert.equal(jc.username, name);
  assert.equal(jc.room, room);
  const got = once(s, "message-received");
  const ack = await s.timeout(5000).emitWithAck("send-message", { content: "hello " + name });
  assert.equal(ack.ok, true);
  const m = await got;
  assert.equal(m._id, ack.id);
  assert.equal(m.content, "hello " + name);
}

test("default transports: polling first, then the upgrade to websocket", async () => {
  const s = io(URL, { reconnection: false, forceNew: true });
  try {
    const upgraded = once(s.io, "open").then(() => once(s.io.engine, "upgrade", 8000));
    await once(s, "connect");
    assert.equal(s.io.engine.transport.name === "polling" || s.io.engine.transport.name === "websocket", true);
    const t = await upgraded;
    assert.equal(t.name, "websocket");
    assert.equal(s.io.engine.transport.name, "websocket");
    await roundTrip(s, uniq("room"));
  } finally {
    s.disconnect();
  }
});

test("the default client starts on polling", async () => {
  const s = io(URL, { reconnection: false, forceNew: true, autoConnect: false });
  try {
    const first = new Promise((resolve) => s.io.once("open", () => resolve(s.io.engine.transport.name)));
    s.connect();
    assert.equal(await first, "polling");
    await once(s, "connect");
  } finally {
    s.disconnect();
  }
});

test("websocket only", async () => {
  const s = await connect({ transports: ["websocket"] });
  assert.equal(s.io.engine.transport.name, "websocket");
  await roundTrip(s, uniq("room"));
  s.disconnect();
});

test("polling only", async () => {
  const s = await connect({ transports: ["polling"], upgrade: false });
  assert.equal(s.io.engine.transport.name, "polling");
  await roundTrip(s, uniq("room"));
  // Several messages in a row drain into polling responses in order.
  const seen = [];
  const all = new Promise((resolve) => s.on("message-received", (m) => {
    seen.push(m.content);
    if (seen.length === 5) resolve();
  }));
  for (let i = 0; i < 5; i++) s.emit("send-message", { content: `p${i}` });
  await all;
  assert.deepEqual(seen, ["p0", "p1", "p2", "p3", "p4"]);
  assert.equal(s.io.engine.transport.name, "polling");
  s.disconnect();
});

test("reconnect after the connection drops", async () => {
  const s = io(URL, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200,
                      transports: ["websocket"] });
  try {
    await once(s, "connect");
    const room = uniq("room");
    await join(s, uniq("u"), room);
    const firstId = s.id;
    const dropped = once(s, "disconnect");
    s.io.engine.close();          // the transport goes away under the socket
    const [reason] = await dropped;
    assert.equal(reason, "forced close");
    await once(s, "connect", 8000);
    assert.notEqual(s.id, firstId);
    // A reconnected client joins again and chats as before.
    await roundTrip(s, room);

    // Now the server drops it (a message over maxPayload: close 1009).
    const dropped2 = once(s, "disconnect");
    s.emit("message", "z".repeat(1000001));
    const [reason2] = await dropped2;
    assert.equal(reason2, "transport close");
    await once(s, "connect", 8000);
    await roundTrip(s, room);
  } finally {
    s.disconnect();
  }
});

test("disconnect() from the client is a clean namespace disconnect", async () => {
  const a = await connect();
  const b = await connect();
  const room = uniq("room");
  await join(a, "alice", room);
  await join(b, "bob", room);
  const left = once(a, "user-left");
  b.disconnect();
  const ev = await left;
  assert.equal(ev.username, "bob");
  assert.equal(ev.room, room);
  a.disconnect();
});

test("multiplexing: / and /custom share one Engine.IO connection", async () => {
  const { Manager } = await import("./helpers.mjs").then((h) => h.clientModule());
  const m = new Manager(URL, { reconnection: false });
  const main = m.socket("/");
  const custom = m.socket("/custom", { auth: { token: "mux" } });
  try {
    const auth = once(custom, "auth");
    await Promise.all([once(main, "connect"), once(custom, "connect")]);
    assert.deepEqual(await auth, { token: "mux" });
    assert.equal(m.engine.id.length > 0, true);
    const room = uniq("mux");
    await join(main, "muxer", room);
    const got = once(main, "message-received");
    main.emit("send-message", { content: "over the shared connection" });
    assert.equal((await got).content, "over the shared connection");
    // Leaving /custom keeps / working on the same connection.
    custom.disconnect();
    const back = once(main, "message-back");
    main.emit("message", "still here");
    assert.equal(await back, "still here");
  } finally {
    main.disconnect();
    custom.disconnect();
  }
});
