// The Node original that Parley replaces, as the benchmark's baseline:
// Express + socket.io 4.8 with the chat events and REST endpoints of the
// compatibility contract (DESIGN.md). Messages are kept in memory instead
// of MongoDB, so the baseline measures the transport and fan-out, not a
// database. Listens on HOST:PORT (127.0.0.1:3001 by default).
'use strict';

const http = require('http');
const crypto = require('crypto');
const express = require('express');
const { Server } = require('socket.io');

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 3001);
const DEFAULT_ROOM = 'chat-room';
const HISTORY_LIMIT = 50;
const HISTORY_MAX = 200;
const MAX_CONTENT = 2000;
const MAX_USERNAME = 32;
const ORIGINS = ['http://localhost:5173', 'http://localhost:3000'];

// Messages per room, oldest first, as the Mongo collection sorted by _id.
const rooms = new Map();
const started = Date.now();

// ObjectId layout: 4 bytes of seconds, 5 random bytes, a 3-byte counter.
const idRandom = crypto.randomBytes(5).toString('hex');
let idCounter = crypto.randomBytes(3).readUIntBE(0, 3);
function newId() {
  idCounter = (idCounter + 1) & 0xffffff;
  const secs = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0');
  return secs + idRandom + idCounter.toString(16).padStart(6, '0');
}

function store(username, content, room) {
  const msg = { _id: newId(), username, content, room, timestamp: new Date() };
  let list = rooms.get(room);
  if (!list) rooms.set(room, (list = []));
  list.push(msg);
  // Bounded like a capped collection, so a long run does not grow forever.
  if (list.length > 100000) list.splice(0, list.length - 100000);
  return msg;
}

function history(room, limit, before) {
  const list = rooms.get(room) || [];
  let end = list.length;
  if (before) {
    while (end > 0 && list[end - 1]._id >= before) end--;
  }
  const start = Math.max(0, end - limit);
  return { messages: list.slice(start, end), hasMore: start > 0 };
}

function checkString(v, name, max) {
  if (v === undefined || v === null) return `${name} is required`;
  if (typeof v !== 'string') return `${name} must be a string`;
  const t = v.trim();
  if (!t) return `${name} is required`;
  if ([...t].length > max) return `${name} is too long (max ${max})`;
  return null;
}

const app = express();
app.use(express.json({ limit: '64kb' }));
app.use((req, res, next) => {
  const origin = req.headers.origin;
  if (origin && ORIGINS.includes(origin)) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
  }
  next();
});

app.get('/health', (req, res) => {
  res.json({ status: 'ok', storage: 'connected', uptime: (Date.now() - started) / 1000 });
});

app.get('/api/messages', (req, res) => {
  const room = (req.query.room || DEFAULT_ROOM).toString();
  let limit = req.query.limit ? parseInt(req.query.limit, 10) : HISTORY_LIMIT;
  if (!Number.isFinite(limit) || limit < 1) {
    return res.status(400).json({ error: { code: 'invalid_field', message: 'limit must be a positive integer' } });
  }
  limit = Math.min(limit, HISTORY_MAX);
  const page = history(room, limit, req.query.before);
  res.json({
    room,
    messages: page.messages,
    has_more: page.hasMore,
    next_before: page.hasMore ? page.messages[0]._id : null,
  });
});

const server = http.createServer(app);
const io = new Server(server, { cors: { origin: ORIGINS } });

app.post('/api/messages', (req, res) => {
  const b = req.body || {};
  const bad = checkString(b.username, 'username', MAX_USERNAME) ||
              checkString(b.content, 'content', MAX_CONTENT);
  if (bad) return res.status(400).json({ error: { code: 'validation_failed', message: bad } });
  const room = typeof b.room === 'string' && b.room.trim() ? b.room.trim() : DEFAULT_ROOM;
  const msg = store(b.username.trim(), b.content.trim(), room);
  io.to(room).emit('message-received', msg);
  res.status(201).json(msg);
});

io.on('connection', (socket) => {
  socket.on('join-chat', (data, ack) => {
    const bad = data && typeof data === 'object'
      ? checkString(data.username, 'username', MAX_USERNAME) : 'username is required';
    if (bad) return socket.emit('error', { message: bad, code: 'validation_failed' });
    const room = typeof data.room === 'string' && data.room.trim() ? data.room.trim() : DEFAULT_ROOM;
    if (socket.data.room && socket.data.room !== room) {
      socket.leave(socket.data.room);
      socket.to(socket.data.room).emit('user-left',
        { username: socket.data.username, room: socket.data.room, timestamp: new Date() });
    }
    socket.data.username = data.username.trim();
    socket.data.room = room;
    socket.join(room);
    socket.to(room).emit('user-joined', { username: socket.data.username, room, timestamp: new Date() });
    socket.emit('join-confirmed',
      { username: socket.data.username, room, history: history(room, HISTORY_LIMIT).messages });
    if (typeof ack === 'function') ack({ ok: true, username: socket.data.username, room });
  });

  socket.on('send-message', (data, ack) => {
    if (!socket.data.room) {
      const e = { message: 'join-chat first', code: 'not_joined' };
      return typeof ack === 'function' ? ack({ ok: false, error: e.message, code: e.code }) : socket.emit('error', e);
    }
    const bad = data && typeof data === 'object' ? checkString(data.content, 'content', MAX_CONTENT) : 'content is required';
    if (bad) {
      return typeof ack === 'function' ? ack({ ok: false, error: bad, code: 'validation_failed' })
                                       : socket.emit('error', { message: bad, code: 'validation_failed' });
    }
    const msg = store(socket.data.username, data.content.trim(), socket.data.room);
    io.to(socket.data.room).emit('message-received', msg);
    if (typeof ack === 'function') ack({ ok: true, id: msg._id });
  });

  socket.on('typing', (data) => {
    if (!socket.data.room) return;
    socket.to(socket.data.room).emit('typing', { username: socket.data.username, isTyping: !!(data && data.isTyping) });
  });

  socket.on('disconnect', () => {
    if (socket.data.room) {
      socket.to(socket.data.room).emit('user-left',
        { username: socket.data.username, room: socket.data.room, timestamp: new Date() });
    }
  });
});

server.listen(PORT, HOST, () => {
  console.log(`reference listening on ${HOST}:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
