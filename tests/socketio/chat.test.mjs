// The chat contract of DESIGN.md through the official client: every event,
// rooms kept apart, history on join, errors, acks, big and binary messages,
// and REST posts reaching Socket.IO clients.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, closeAll, join, once, silence, uniq, URL, ISO, ID } from "./helpers.mjs";

after(closeAll);

test("join-chat, user-joined, typing, send-message with ack, message-received, user-left", async () => {
  const room = uniq("room");
  const a = await connect();
  const b = await connect({ transports: ["websocket"] });

  const jcA = await join(a, "alice", room);
  assert.deepEqual(jcA, { username: "alice", room, history: [] });

  const joined = once(a, "user-joined");
  const jcB = await join(b, "  bob  ", room);
  assert.equal(jcB.room, room);
  assert.equal(jcB.username, "bob");
  const uj = await joined;
  assert.equal(uj.username, "bob");
  assert.equal(uj.room, room);
  assert.match(uj.timestamp, ISO);
  assert.deepEqual(Object.keys(uj).sort(), ["room", "timestamp", "username"]);

  // typing goes to the others only.
  const typing = once(a, "typing");
  const notMe = silence(b, "typing", 500);
  b.emit("typing", { isTyping: true });
  assert.deepEqual(await typing, { username: "bob", isTyping: true });
  await notMe;
  const typing2 = once(a, "typing");
  b.emit("typing", { isTyping: false });
  assert.deepEqual(await typing2, { username: "bob", isTyping: false });

  // send-message: everyone in the room, the sender included.
  const gotA = once(a, "message-received");
  const gotB = once(b, "message-received");
  const ack = await b.timeout(5000).emitWithAck("send-message", { content: "hi all" });
  assert.equal(ack.ok, true);
  assert.match(ack.id, ID);
  for (const m of [await gotA, await gotB]) {
    assert.deepEqual(Object.keys(m).sort(), ["_id", "content", "room", "timestamp", "username"]);
    assert.equal(m._id, ack.id);
    assert.equal(m.username, "bob");
    assert.equal(m.content, "hi all");
    assert.equal(m.room, room);
    assert.match(m.timestamp, ISO);
  }

  // Without an ack callback the message still goes out.
  const gotA2 = once(a, "message-received");
  a.emit("send-message", { content: "no ack" });
  assert.equal((await gotA2).content, "no ack");

  const left = once(a, "user-left");
  b.disconnect();
  const ul = await left;
  assert.equal(ul.username, "bob");
  assert.equal(ul.room, room);
  assert.match(ul.timestamp, ISO);
  a.disconnect();
});

test("two rooms are kept apart", async () => {
  const r1 = uniq("r1"), r2 = uniq("r2");
  const a = await connect();
  const b = await connect();
  await join(a, "ann", r1);
  await join(b, "ben", r2);
  const quiet = silence(a, "message-received", 600);
  const quietJoin = silence(a, "typing", 600);
  const mine = once(b, "message-received");
  b.emit("typing", { isTyping: true });
  b.emit("send-message", { content: "only r2" });
  assert.equal((await mine).room, r2);
  await quiet;
  await quietJoin;
  a.disconnect();
  b.disconnect();
});

test("joining another room leaves the first", async () => {
  const r1 = uniq("r1"), r2 = uniq("r2");
  const a = await connect();
  const b = await connect();
  await join(a, "watcher", r1);
  await join(b, "mover", r1);
  const left = once(a, "user-left");
  const jc = await join(b, "mover", r2);
  assert.equal(jc.room, r2);
  assert.equal((await left).username, "mover");
  a.disconnect();
  b.disconnect();
});

test("history on join: the room's messages, oldest first", async () => {
  const room = uniq("hist");
  const a = await connect();
  await join(a, "writer", room);
  const ids = [];
  for (const c of ["one", "two", "three"]) {
    const ack = await a.timeout(5000).emitWithAck("send-message", { content: c });
    assert.equal(ack.ok, true);
    ids.push(ack.id);
  }
  const b = await connect();
  const jc = await join(b, "reader", room);
  assert.equal(jc.history.length, 3);
  assert.deepEqual(jc.history.map((m) => m.content), ["one", "two", "three"]);
  assert.deepEqual(jc.history.map((m) => m._id), ids);
  for (const m of jc.history) {
    assert.equal(m.username, "writer");
    assert.equal(m.room, room);
    assert.match(m.timestamp, ISO);
  }
  a.disconnect();
  b.disconnect();
});

test("the default room is chat-room", async () => {
  const a = await connect();
  const jc = await join(a, "defaulter");
  assert.equal(jc.room, "chat-room");
  a.disconnect();
});

test("errors: validation and not joined, as error events or through the ack", async () => {
  const a = await connect();
  let err = once(a, "error");
  a.emit("send-message", { content: "before join" });
  let e = await err;
  assert.equal(e.code, "not_joined");
  assert.equal(typeof e.message, "string");

  err = once(a, "error");
  a.emit("join-chat", { username: "   " });
  e = await err;
  assert.equal(e.code, "validation_failed");
  assert.match(e.message, /username/);

  err = once(a, "error");
  a.emit("join-chat", {});
  assert.deepEqual(await err, { message: "username is required", code: "missing_field" });

  await join(a, "valid", uniq("room"));
  const nack = await a.timeout(5000).emitWithAck("send-message", { content: "   " });
  assert.equal(nack.ok, false);
  assert.match(nack.error, /content/);

  err = once(a, "error");
  a.emit("send-message", { content: "x".repeat(20001) });
  e = await err;
  assert.equal(e.code, "validation_failed");

  err = once(a, "error");
  a.emit("send-message", "not an object");
  e = await err;
  assert.equal(e.code, "invalid_body");
  a.disconnect();
});

test("fan-out: 24 clients on mixed transports each get every message, in order", async () => {
  const room = uniq("fan");
  const clients = [];
  for (let i = 0; i < 24; i++) {
    const transports = i % 3 === 0 ? ["polling"] : i % 3 === 1 ? ["websocket"] : undefined;
    const s = await connect(transports ? { transports, upgrade: transports[0] !== "polling" } : {});
    await join(s, `fan${i}`, room);
    clients.push(s);
  }
  const want = ["m0", "m1", "m2", "m3", "m4"];
  const done = clients.map((s) => new Promise((resolve) => {
    const seen = [];
    s.on("message-received", (m) => {
      seen.push(m.content);
      if (seen.length === want.length) resolve(seen);
    });
  }));
  for (const c of want) {
    const ack = await clients[5].timeout(5000).emitWithAck("send-message", { content: c });
    assert.equal(ack.ok, true);
  }
  for (const seen of await Promise.all(done)) assert.deepEqual(seen, want);
  for (const s of clients) s.disconnect();
});

test("a 10 KB message", async () => {
  const a = await connect();
  await join(a, "big", uniq("room"));
  const content = "0123456789".repeat(1024);
  const got = once(a, "message-received");
  const ack = await a.timeout(5000).emitWithAck("send-message", { content });
  assert.equal(ack.ok, true);
  assert.equal((await got).content, content);
  a.disconnect();
});

for (const transports of [["websocket"], ["polling"]]) {
  test(`a maxPayload-sized event over ${transports[0]}, and one over it`, async () => {
    const a = await connect({ transports });
    // 4 + 42["message","xxx..."] (and the reply 42["message-back",...]) stay under 1000000.
    const big = "x".repeat(1000000 - 30);
    const back = once(a, "message-back", 15000);
    a.emit("message", big);
    assert.equal((await back).length, big.length);
    const gone = once(a, "disconnect", 10000);
    a.emit("message", big + "y".repeat(100));
    const [reason] = await gone;   // (reason, details)
    assert.match(reason, /^transport (close|error)$/);
  });
}

test("binary attachments both ways", async () => {
  const a = await connect();
  const back = once(a, "message-back");
  a.emit("message", Buffer.from([1, 2, 3]), { nested: Buffer.from([4, 5]), n: 1 });
  const [b1, obj] = await back;
  assert.deepEqual([...b1], [1, 2, 3]);
  assert.deepEqual([...obj.nested], [4, 5]);
  assert.equal(obj.n, 1);

  const acked = await a.timeout(5000).emitWithAck("message-with-ack", Buffer.from("bin"), "txt");
  assert.equal(Buffer.from(acked).toString(), "bin");
  a.disconnect();
});

test("acks: several arguments of several types through a callback", async () => {
  const a = await connect();
  const res = await new Promise((resolve) =>
    a.emit("message-with-ack", 1, "2", { 3: [true] }, (...args) => resolve(args)));
  assert.deepEqual(res, [1, "2", { 3: [true] }]);
  a.disconnect();
});

test("acks from the server: the client answers an emit that asks for one", async () => {
  const a = await connect();
  a.on("ack-request", (x, y, cb) => cb({ got: [x, y] }, "second"));
  const res = once(a, "ack-response");
  a.emit("request-ack", "ping", 7);
  assert.deepEqual(await res, { status: 0, reply: [{ got: ["ping", 7] }, "second"] });
  a.disconnect();
});

test("acks from the server: a client that never answers times out", async () => {
  const a = await connect();
  a.on("ack-request", () => {});   // takes no callback: never acknowledges
  const res = once(a, "ack-response", 6000);
  a.emit("request-ack", "ignored");
  assert.deepEqual(await res, { status: -6, reply: null });   // PARLEY_ETIMEDOUT
  a.disconnect();
});

test("a REST POST reaches Socket.IO clients in its room", async () => {
  const room = uniq("rest");
  const a = await connect();
  await join(a, "listener", room);
  const got = once(a, "message-received");
  const r = await fetch(`${URL}/api/messages`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "rest-user", content: "from REST", room }),
  });
  assert.equal(r.status, 201);
  const m = await got;
  assert.equal(m.username, "rest-user");
  assert.equal(m.content, "from REST");
  assert.equal(m.room, room);
  a.disconnect();
});

test("custom namespace with auth", async () => {
  const { io } = await import("./helpers.mjs");
  const s = io(`${URL}/custom`, { forceNew: true, reconnection: false, auth: { token: "t1" } });
  const auth = once(s, "auth");
  await once(s, "connect");
  assert.deepEqual(await auth, { token: "t1" });
  s.disconnect();
  const bad = io(`${URL}/nope`, { forceNew: true, reconnection: false });
  const e = await once(bad, "connect_error");
  assert.equal(e.message, "Invalid namespace");
  bad.disconnect();
});
