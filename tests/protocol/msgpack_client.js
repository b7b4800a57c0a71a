// An official socket.io-client using socket.io-msgpack-parser, driven through a fixed scenario.
//
//   node msgpack_client.js <url> <polling|websocket|upgrade>
//
// Prints one JSON line per thing it observes ({"event": ..., ...}; binary as {"$bin": base64}) and
// exits 0 once the scenario is complete, 1 on a connection error, 2 on timeout.
"use strict";

const { io } = require("socket.io-client");
const parser = require("socket.io-msgpack-parser");

const [url, mode] = process.argv.slice(2);
const transports = mode === "upgrade" ? ["polling", "websocket"] : [mode];

function toJson(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = toJson(value[key]);
    return out;
  }
  return value;
}

function out(record) {
  process.stdout.write(JSON.stringify(record) + "\n");
}

const timer = setTimeout(() => {
  out({ event: "timeout" });
  process.exit(2);
}, 20000);

const socket = io(url, { parser, transports, reconnection: false, forceNew: true });
const seen = new Set();

function done(name) {
  seen.add(name);
  if (seen.has("ack") && seen.has("broadcasted") && seen.has("room")) {
    out({ event: "done", transport: socket.io.engine.transport.name });
    clearTimeout(timer);
    socket.disconnect();
    setImmediate(() => process.exit(0));
  }
}

socket.on("connect_error", (err) => {
  out({ event: "connect_error", message: err.message });
  process.exit(1);
});

socket.on("welcome", (...args) => out({ event: "welcome", args: toJson(args) }));

// the server's emit_with_ack: answer with the bytes plus one, and an object
socket.on("ask", (data, callback) => {
  out({ event: "ask", args: toJson([data]) });
  callback(Buffer.concat([data, Buffer.from([0xff])]), { ok: true });
});

socket.on("broadcasted", (...args) => {
  out({ event: "broadcasted", args: toJson(args) });
  done("broadcasted");
});

socket.on("room", (...args) => {
  out({ event: "room", args: toJson(args) });
  done("room");
});

socket.on("connect", () => {
  out({ event: "connect", id: socket.id });
  const payload = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  socket.emit("echo", payload, { n: 1, s: "héllo", big: 2 ** 40, f: 1.5 }, [null, true, -7], (...ack) => {
    out({ event: "ack", args: toJson(ack) });
    done("ack");
    socket.emit("shout", "hello everyone");
  });
});
