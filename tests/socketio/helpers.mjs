// Shared helpers for the socket.io-client tests. The client comes from the
// node_modules that the runner (tests/integration/test_socketio_client.py)
// installed with `npm ci` from this folder's lockfile; SIO_MODULES names the
// folder that holds that node_modules, PARLEY_URL the server under test.
import { createRequire } from "node:module";
import path from "node:path";

const modules = process.env.SIO_MODULES;
if (!modules) throw new Error("SIO_MODULES is not set (run through test_socketio_client.py)");
const require = createRequire(path.join(modules, "index.js"));

export const { io } = require("socket.io-client");
export function clientModule() {
  return require("socket.io-client");
}
export const URL = process.env.PARLEY_URL;
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const ID = /^[0-9a-f]{24}$/;

let seq = 0;
export function uniq(prefix) {
  seq += 1;
  return `${prefix}-${process.pid}-${Date.now() % 100000}-${seq}`;
}

export function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    function on(...args) {
      clearTimeout(t);
      resolve(args.length <= 1 ? args[0] : args);
    }
    emitter.once(event, on);
  });
}

// Resolves if `event` does NOT arrive within ms.
export function silence(emitter, event, ms = 400) {
  return new Promise((resolve, reject) => {
    const on = (x) => {
      clearTimeout(t);
      reject(new Error(`unexpected '${event}': ${JSON.stringify(x)}`));
    };
    const t = setTimeout(() => {
      emitter.off(event, on);
      resolve();
    }, ms);
    emitter.on(event, on);
  });
}

const open = new Set();

export async function connect(opts = {}) {
  const s = io(URL, { reconnection: false, forceNew: true, timeout: 5000, ...opts });
  open.add(s);
  await once(s, "connect");
  return s;
}

export function closeAll() {
  for (const s of open) s.disconnect();
  open.clear();
}

export async function join(s, username, room) {
  const body = room === undefined ? { username } : { username, room };
  const p = once(s, "join-confirmed");
  s.emit("join-chat", body);
  return p;
}
