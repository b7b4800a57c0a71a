"use strict";
// Drives socket.io-client 2.x sockets (the npm alias socket.io-client-v2) for socketeer's legacy tests.
//
// Usage: node v2_client_driver.js <server url> [hard timeout ms]   (NODE_PATH must reach the packages)
// One JSON command per stdin line, answered by {"re": id, ...}; what the sockets see is printed as
// {"ev": kind, "client": name, ...} lines. Binary values cross as {"$bin": base64}.
const readline = require("node:readline");
const io = require("socket.io-client-v2");

const url = process.argv[2];
const hardTimeoutMs = Number(process.argv[3] || 30000);
const sockets = new Map();

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

setTimeout(() => {
  out({ ev: "fatal", error: `hard timeout after ${hardTimeoutMs} ms` });
  process.exit(3);
}, hardTimeoutMs).unref();

function toJson(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(toJson);
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
    if (Object.keys(value).length === 1 && typeof value.$bin === "string") return Buffer.from(value.$bin, "base64");
    const obj = {};
    for (const [k, v] of Object.entries(value)) obj[k] = fromJson(v);
    return obj;
  }
  return value;
}

function transportOf(socket) {
  const engine = socket.io && socket.io.engine;
  return engine && engine.transport ? engine.transport.name : null;
}

function open(name, nsp, opts) {
  const socket = io(url + nsp, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200, ...opts });
  sockets.set(name, socket);
  socket.on("connect", () => out({ ev: "connect", client: name, id: socket.id, transport: transportOf(socket) }));
  socket.on("disconnect", (reason) => out({ ev: "disconnect", client: name, reason }));
  socket.on("error", (error) => out({ ev: "error", client: name, error: toJson(error) }));
  socket.on("reconnect", (attempt) => out({ ev: "reconnect", client: name, attempt }));
  const onevent = socket.onevent;
  socket.onevent = function (packet) {
    const args = packet.data || [];
    out({ ev: "event", client: name, event: args[0], args: toJson(args.slice(1)) });
    onevent.call(this, packet);
  };
  socket.io.on("open", () => {
    const engine = socket.io.engine;
    engine.on("upgrade", (t) => out({ ev: "upgrade", client: name, transport: t.name }));
  });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = JSON.parse(line);
  const re = (extra) => out({ re: cmd.id, ...extra });
  try {
    if (cmd.cmd === "open") {
      open(cmd.client, cmd.nsp || "", cmd.opts || {});
      re({});
    } else if (cmd.cmd === "emit") {
      const socket = sockets.get(cmd.client);
      const args = fromJson(cmd.args || []);
      if (cmd.ack) socket.emit(cmd.event, ...args, (...answer) => re({ ack: toJson(answer) }));
      else {
        socket.emit(cmd.event, ...args);
        re({});
      }
    } else if (cmd.cmd === "close") {
      sockets.get(cmd.client).close();
      re({});
    } else if (cmd.cmd === "info") {
      const socket = sockets.get(cmd.client);
      re({ id: socket.id, connected: socket.connected, transport: transportOf(socket) });
    } else if (cmd.cmd === "exit") {
      re({});
      process.exit(0);
    } else {
      re({ error: `unknown command ${cmd.cmd}` });
    }
  } catch (err) {
    re({ error: String(err && err.stack ? err.stack : err) });
  }
});
rl.on("close", () => process.exit(0));
out({ ev: "ready" });
