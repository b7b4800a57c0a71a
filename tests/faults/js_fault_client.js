// The official socket.io-client as a peer of the fault-injection suite (and its calibration).
// Usage: node js_fault_client.js <url> <options JSON>   (options: transports, key, retries, ackTimeout,
//   reconnectionDelay, reconnectionDelayMax, keepAlive, hardTimeoutMs)
// Prints one JSON line per thing it sees: {"ev": "connect", id, recovered, transport}, {"ev": "disconnect",
// reason}, {"ev": "connect_error", message}, {"ev": "welcome"}, {"ev": "down", n}, {"ev": "shouted", n},
// {"ev": "upgrade", transport}, {"ev": "reconnect_attempt", n}, {"ev": "ack", n}, {"ev": "report", list}.
// Commands, one JSON line each on stdin: {"cmd": "up", from, to} emits "up" n (with an acknowledgement)
// for n in [from, to); {"cmd": "stream", count, everyMs}; {"cmd": "shout", room, size, count};
// {"cmd": "report"}; {"cmd": "exit"}. Exits when stdin closes or after hardTimeoutMs.
"use strict";
const path = require("path");
const readline = require("node:readline");
const { io } = require(path.join(__dirname, "..", "node", "node_modules", "socket.io-client"));

const url = process.argv[2];
const opts = JSON.parse(process.argv[3] || "{}");
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
setTimeout(() => { out({ ev: "fatal", error: "hard timeout" }); process.exit(3); }, opts.hardTimeoutMs || 20000);

const socket = io(url, {
  transports: opts.transports || ["polling", "websocket"],
  auth: { key: opts.key },
  retries: opts.retries || 0,
  ackTimeout: opts.ackTimeout || 1000,
  reconnectionDelay: opts.reconnectionDelay || 50,
  reconnectionDelayMax: opts.reconnectionDelayMax || 200,
  randomizationFactor: 0,
  timeout: 5000,
  // keepAlive: kept-alive HTTP connections, as a browser uses (by default Node's client opens one per request)
  ...(opts.keepAlive ? { agent: new (require("http").Agent)({ keepAlive: true }) } : {}),
});
const transportName = () => (socket.io.engine && socket.io.engine.transport ? socket.io.engine.transport.name : null);
socket.io.on("open", () => socket.io.engine.on("upgrade", (t) => out({ ev: "upgrade", transport: t.name })));
socket.io.on("reconnect_attempt", (n) => out({ ev: "reconnect_attempt", n }));
socket.on("connect", () => out({ ev: "connect", id: socket.id, recovered: socket.recovered, transport: transportName() }));
socket.on("connect_error", (err) => out({ ev: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => out({ ev: "disconnect", reason }));
socket.on("welcome", () => out({ ev: "welcome" }));
socket.on("down", (n) => out({ ev: "down", n }));
socket.on("shouted", (n) => out({ ev: "shouted", n }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === "up") {
    for (let n = cmd.from; n < cmd.to; n++) socket.emit("up", n, (err, back) => out({ ev: "ack", n: err ? null : back }));
  } else if (cmd.cmd === "stream") socket.emit("stream", opts.key, cmd.count, cmd.everyMs);
  else if (cmd.cmd === "shout") socket.emit("shout", cmd.room, cmd.size, cmd.count);
  else if (cmd.cmd === "report") socket.timeout(5000).emit("report", opts.key, (err, list) => out({ ev: "report", list: err ? null : list }));
  else if (cmd.cmd === "exit") { socket.disconnect(); process.exit(0); }
}).on("close", () => { socket.disconnect(); process.exit(0); });
