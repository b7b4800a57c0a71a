"use strict";
// Official socket.io-client sockets, polling only, for the --workers and nginx tests.
//
// Usage: node polling_clients.js <url> <count> [transports JSON, default ["polling"]]
// (NODE_PATH must reach socket.io-client)
// Opens <count> sockets; once all are connected each one shouts its index, and asks "pid" and "count"
// a few times. Prints one JSON line: {ids, pids, counts, transports, shouts: {client: [indexes heard]}}.
const { io } = require("socket.io-client");
const [url, count] = [process.argv[2], Number(process.argv[3])];
const transports = JSON.parse(process.argv[4] || '["polling"]');
setTimeout(() => { console.log(JSON.stringify({ error: "timeout" })); process.exit(3); }, 20000).unref();
const sockets = [];
const shouts = {};
let connected = 0;
for (let i = 0; i < count; i++) {
  const socket = io(url, { transports, reconnection: false, forceNew: true });
  shouts[i] = [];
  socket.on("shouted", (n) => shouts[i].push(n));
  socket.on("connect", () => { if (++connected === count) run(); });
  socket.on("connect_error", (e) => { console.log(JSON.stringify({ error: String(e.message) })); process.exit(2); });
  sockets.push(socket);
}
async function run() {
  const pids = [];
  const counts = [];
  for (let round = 0; round < 3; round++) {
    for (const s of sockets) pids.push(await s.timeout(5000).emitWithAck("pid"));
  }
  sockets.forEach((s, i) => s.emit("shout", i));
  const deadline = Date.now() + 10000;
  while (Object.values(shouts).some((heard) => heard.length < count) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  for (const s of sockets) counts.push(await s.timeout(5000).emitWithAck("count"));
  if (transports.length > 1) {
    // an upgrade completes in the background: wait (bounded) until every socket has its WebSocket
    const until = Date.now() + 5000;
    while (sockets.some((s) => s.io.engine.transport.name !== "websocket") && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const used = sockets.map((s) => s.io.engine.transport.name);
  console.log(JSON.stringify({ ids: sockets.map((s) => s.id), pids, counts, shouts, transports: used }));
  sockets.forEach((s) => s.disconnect());
  process.exit(0);
}
