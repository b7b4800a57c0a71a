// The official socket.io@4 server as a peer for the Python client tests.
// Usage: node node_server.js [--port N] [--recovery] [--ping-interval MS] [--ping-timeout MS]
//        [--per-message-deflate JSON]  (the perMessageDeflate option, e.g. '{"threshold": 0}')
// Prints "ready <port>" once listening.
"use strict";
const path = require("path");
const http = require("http");
const { Server } = require(path.join(__dirname, "..", "node", "node_modules", "socket.io"));

const argv = process.argv.slice(2);
function opt(name, fallback) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
}
const port = Number(opt("--port", process.env.PORT || "0"));
const options = {
  pingInterval: Number(opt("--ping-interval", "25000")),
  pingTimeout: Number(opt("--ping-timeout", "20000")),
};
if (argv.includes("--per-message-deflate")) {
  options.perMessageDeflate = JSON.parse(opt("--per-message-deflate", "true"));
}
if (argv.includes("--recovery")) {
  options.connectionStateRecovery = { maxDisconnectionDuration: 60000, skipMiddlewares: true };
}

const httpServer = http.createServer();
const io = new Server(httpServer, options);
const seen = new Map(); // idempotency: message id -> receipts

function onConnection(socket) {
  socket.emit("welcome", socket.id, socket.recovered);
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("emit_back", (...args) => socket.emit("echoed", ...args));
  socket.on("ask", (question, ack) => {
    socket.timeout(5000).emit("question", question, (err, answer) => ack(err ? "error" : answer));
  });
  socket.on("join", (room, ack) => { socket.join(room); ack(Array.from(socket.rooms)); });
  socket.on("rooms", (ack) => ack(Array.from(socket.rooms)));
  socket.on("to_room", (room, ...args) => {
    const ack = args.pop();
    io.of(socket.nsp.name).to(room).emit("news", ...args);
    ack("sent");
  });
  socket.on("late", (id, ack) => {
    const n = (seen.get(id) || 0) + 1;
    seen.set(id, n);
    if (n === 1) setTimeout(() => ack("ok", n), 400); // too late: the client times out and retries
    else ack("ok", n);
  });
  socket.on("stats", (ack) => ack(Object.fromEntries(seen)));
  socket.on("disconnect_me", () => socket.disconnect());
  socket.on("drop_me", () => socket.conn.close());
  socket.on("log", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    socket.data.log = (socket.data.log || []).concat(args);
    if (ack) ack(socket.data.log.length);
  });
  socket.on("get_log", (ack) => ack(socket.data.log || []));
  socket.on("describe", (ack) => ack({ auth: socket.handshake.auth, query: socket.handshake.query,
    header: socket.handshake.headers["x-test"] || null, transport: socket.conn.transport.name }));
}

io.on("connection", onConnection);
io.of("/chat").on("connection", onConnection);
const admin = io.of("/admin");
admin.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === "secret") return next();
  const err = new Error("not authorized");
  err.data = { reason: "bad token", code: 42 };
  next(err);
});
admin.on("connection", onConnection);

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`ready ${httpServer.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
