"use strict";
// The official socket.io server with the same handlers as socketeer_peer.py.
// Run: PORT=4000 node benchmarks/peers/node_socketio.js   (NODE_PATH reaching benchmarks/node/node_modules)
// PING_INTERVAL / PING_TIMEOUT (seconds) set the heartbeat, BACKLOG the listen backlog (scale.py).
const http = require("node:http");
const { Server } = require("socket.io");

const options = { serveClient: false };
if (process.env.PING_INTERVAL) options.pingInterval = Number(process.env.PING_INTERVAL) * 1000;
if (process.env.PING_TIMEOUT) options.pingTimeout = Number(process.env.PING_TIMEOUT) * 1000;
const httpServer = http.createServer();
const io = new Server(httpServer, options);
httpServer.listen({ port: Number(process.env.PORT || 4000), backlog: Number(process.env.BACKLOG || 511) });
io.on("connection", (socket) => {
  socket.on("echo", (data) => socket.emit("echo", data));
  socket.on("ack", (data, ack) => ack(data));
  socket.on("broadcast", (data) => io.emit("bcast", data));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack(true);
  });
  socket.on("room", (message) => io.to(message.room).emit("bcast", message.data));
});
process.on("SIGTERM", () => io.close(() => process.exit(0)));
