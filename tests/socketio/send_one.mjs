// A one-shot official client for test_socketio_python.py: join ROOM as
// USERNAME, send CONTENT, wait for its own message-received, exit 0.
import { connect, join, once, closeAll } from "./helpers.mjs";

const room = process.env.ROOM, username = process.env.USERNAME, content = process.env.CONTENT;
const s = await connect();
await join(s, username, room);
const got = once(s, "message-received");
const ack = await s.timeout(5000).emitWithAck("send-message", { content });
if (!ack.ok) throw new Error("send-message refused: " + JSON.stringify(ack));
await got;
closeAll();
