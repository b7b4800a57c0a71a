// The official socket.io@4 server as the peer of the fault-injection suite.
// Usage: node node_fault_server.js [--port N] [--recovery] [--ping-interval MS] [--ping-timeout MS]
// Prints "ready <port>" once listening. The same application as fault_apps.py (socketeer's server):
//   connection: emits "welcome" (id, recovered) and joins the room named by auth.key;
//   "up" (n, ack): records n for auth.key, acknowledges with n;
//   "report" (key, ack): the numbers recorded for key, in arrival order;
//   "stream" (key, count, everyMs): emits "down" 0..count-1 to room key, one every everyMs;
//   "shout" (room, size, count): broadcasts count "shouted" events of size bytes to the room;
// "stream" and "shout" answer an acknowledgement when asked for one (a client with retries asks).
"use strict";
const path = require("path");
const http = require("http");
const { Server } = require(path.join(__dirname, "..", "node", "node_modules", "socket.io"));

const argv = process.argv.slice(2);
const opt = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const options = {
  pingInterval: Number(opt("--ping-interval", "25000")),
  pingTimeout: Number(opt("--ping-timeout", "20000")),
};
if (argv.includes("--recovery")) {
  options.connectionStateRecovery = { maxDisconnectionDuration: 30000, skipMiddlewares: true };
}
const httpServer = http.createServer();
const io = new Server(httpServer, options);
const received = new Map(); // key -> numbers, in arrival order

io.on("connection", (socket) => {
  const key = String((socket.handshake.auth && socket.handshake.auth.key) || socket.id);
  if (!socket.recovered) socket.join(key);
  socket.emit("welcome", socket.id, socket.recovered);
  socket.on("up", (n, ack) => {
    if (!received.has(key)) received.set(key, []);
    received.get(key).push(n);
    if (typeof ack === "function") ack(n);
  });
  socket.on("report", (k, ack) => ack(received.get(k) || []));
  socket.on("stream", (k, count, everyMs, ack) => {
    if (typeof ack === "function") ack(); // a client with retries waits for it
    let i = 0;
    const timer = setInterval(() => {
      if (i >= count) return clearInterval(timer);
      io.to(k).emit("down", i++);
    }, everyMs);
  });
  socket.on("shout", (room, size, count, ack) => {
    for (let i = 0; i < count; i++) io.to(room).emit("shouted", i, "x".repeat(size));
    if (typeof ack === "function") ack();
  });
});

httpServer.listen(Number(opt("--port", "0")), "127.0.0.1", () => {
  process.stdout.write(`ready ${httpServer.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
