"use strict";
// Drives official socket.io-client sockets for socketeer's interop tests.
//
// Usage: node client_driver.js <server url> [hard timeout ms]   (NODE_PATH must reach socket.io-client)
//
// Reads one JSON command per line on stdin and answers each with {"re": <id>, ...} on stdout. Everything
// the sockets observe (connect, connect_error, events, disconnect, engine upgrades) is printed as
// {"ev": <kind>, ...} lines as it happens. Binary values cross the JSON boundary as {"$bin": <base64>};
// {"$big": n} in a command stands for a string of n "x" characters, and strings over 64 KiB are printed
// as {"$strlen": n}. The process exits when stdin closes, on the "exit" command, or after the hard timeout.

const readline = require("node:readline");
const { Manager } = require("socket.io-client");

const url = process.argv[2];
const hardTimeoutMs = Number(process.argv[3] || 60000);
const managers = new Map(); // name -> Manager
const sockets = new Map(); // client name -> Socket

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const hardTimer = setTimeout(() => {
  out({ ev: "fatal", error: `hard timeout after ${hardTimeoutMs} ms` });
  process.exit(3);
}, hardTimeoutMs);

function toJson(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  }
  if (typeof value === "string" && value.length > 65536) return { $strlen: value.length };
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === "function") return { $fn: true };
  if (value !== null && typeof value === "object") {
    const obj = {};
    for (const [k, v] of Object.entries(value)) obj[k] = toJson(v);
    return obj;
  }
  return value;
}

function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && typeof value.$bin === "string") return Buffer.from(value.$bin, "base64");
    if (keys.length === 1 && typeof value.$big === "number") return "x".repeat(value.$big);
    const obj = {};
    for (const [k, v] of Object.entries(value)) obj[k] = fromJson(v);
    return obj;
  }
  return value;
}

function errorJson(err) {
  return { message: err && err.message, data: err && err.data !== undefined ? toJson(err.data) : null };
}

function getManager(name, opts) {
  let manager = managers.get(name);
  if (manager === undefined) {
    manager = new Manager(url, { reconnection: false, timeout: 10000, ...opts });
    managers.set(name, manager);
    manager.on("open", () => {
      const engine = manager.engine;
      out({ ev: "open", manager: name, transport: engine.transport.name });
      engine.on("upgrade", (transport) => out({ ev: "upgrade", manager: name, transport: transport.name }));
      engine.on("close", (reason) => out({ ev: "engine_close", manager: name, reason }));
      engine.on("ping", () => out({ ev: "ping", manager: name, transport: engine.transport.name }));
    });
  }
  return manager;
}

function transportOf(socket) {
  const engine = socket.io.engine;
  return engine && engine.transport ? engine.transport.name : null;
}

// acks: {event: {"reply": [args]}} answers the server's acknowledgement requests for that event with
// those arguments, {"echo": true} answers with the event's own arguments; other events are not answered.
function openSocket(cmd) {
  const name = cmd.client;
  if (sockets.has(name)) throw new Error(`client ${name} exists`);
  const manager = getManager(cmd.manager || name, cmd.opts || {});
  const socket = manager.socket(cmd.nsp || "/", { auth: fromJson(cmd.auth || {}) });
  sockets.set(name, socket);
  const acks = cmd.acks || {};
  socket.onAny((event, ...args) => {
    let ack = null;
    if (args.length > 0 && typeof args[args.length - 1] === "function") ack = args.pop();
    out({ ev: "event", client: name, name: event, args: toJson(args), ack: ack !== null });
    const spec = acks[event];
    if (ack !== null && spec !== undefined) {
      if (spec.echo) ack(...args);
      else ack(...fromJson(spec.reply || []));
    }
  });
  socket.on("connect", () => out({ ev: "connect", client: name, id: socket.id, transport: transportOf(socket) }));
  // stream: {event, count} sends `count` events (with their index), one per millisecond from the connect on
  if (cmd.stream) {
    socket.once("connect", () => {
      let i = 0;
      const timer = setInterval(() => {
        if (i >= cmd.stream.count || !socket.connected) clearInterval(timer);
        else socket.emit(cmd.stream.event, i++);
      }, 1);
    });
  }
  socket.on("connect_error", (err) => out({ ev: "connect_error", client: name, ...errorJson(err) }));
  socket.on("disconnect", (reason, details) =>
    out({
      ev: "disconnect",
      client: name,
      reason,
      description: details && details.description !== undefined ? String(details.description) : null,
    }),
  );
  return socket;
}

function socketOf(cmd) {
  const socket = sockets.get(cmd.client);
  if (socket === undefined) throw new Error(`no client ${cmd.client}`);
  return socket;
}

const commands = {
  // Open a socket and answer once it is connected or refused.
  connect(cmd) {
    return new Promise((resolve) => {
      const socket = openSocket(cmd);
      const done = (result) => {
        socket.off("connect", onConnect);
        socket.off("connect_error", onError);
        resolve(result);
      };
      const onConnect = () => done({ connected: true, id: socket.id, transport: transportOf(socket) });
      const onError = (err) => done({ connected: false, ...errorJson(err) });
      socket.on("connect", onConnect);
      socket.on("connect_error", onError);
    });
  },
  emit(cmd) {
    socketOf(cmd).emit(cmd.event, ...fromJson(cmd.args || []));
    return {};
  },
  // emitWithAck (promise: the first acknowledgement argument) or a plain callback (every argument).
  async emitWithAck(cmd) {
    const socket = socketOf(cmd);
    const args = fromJson(cmd.args || []);
    if (cmd.style === "callback") {
      return new Promise((resolve) => {
        socket.emit(cmd.event, ...args, (...res) => resolve({ args: toJson(res) }));
      });
    }
    try {
      const value = await socket.timeout(cmd.timeout || 5000).emitWithAck(cmd.event, ...args);
      return { args: toJson([value]) };
    } catch (err) {
      return { error: err.message };
    }
  },
  // Emit `count` events at once, each with its index: they leave in as few packets as the client batches.
  burst(cmd) {
    const socket = socketOf(cmd);
    for (let i = 0; i < cmd.count; i++) socket.emit(cmd.event, i);
    return {};
  },
  disconnect(cmd) {
    socketOf(cmd).disconnect();
    return {};
  },
  // Report every event this client sends, as {"ev": "outgoing", client, name, args} (onAnyOutgoing).
  anyOutgoing(cmd) {
    const socket = socketOf(cmd);
    socket.onAnyOutgoing((event, ...args) => out({ ev: "outgoing", client: cmd.client, name: event, args: toJson(args) }));
    return {};
  },
  state(cmd) {
    const socket = socketOf(cmd);
    return { connected: socket.connected, id: socket.id || null, transport: transportOf(socket) };
  },
  exit() {
    setImmediate(shutdown, 0);
    return {};
  },
};

function shutdown(code) {
  for (const socket of sockets.values()) socket.disconnect();
  clearTimeout(hardTimer);
  // let the close frames / close packets leave before exiting
  setTimeout(() => process.exit(code), 50);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    out({ ev: "fatal", error: `bad command line: ${err.message}` });
    return;
  }
  const handler = commands[cmd.cmd];
  try {
    if (handler === undefined) throw new Error(`unknown command ${cmd.cmd}`);
    const result = await handler(cmd);
    out({ re: cmd.id, ...result });
  } catch (err) {
    out({ re: cmd.id, failed: String(err && err.message) });
  }
});
rl.on("close", () => shutdown(0));
out({ ev: "ready", pid: process.pid });
