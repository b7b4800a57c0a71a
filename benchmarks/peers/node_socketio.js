"use strict";
// The official socket.io server with the same handlers as socketeer_peer.py.
// Run: PORT=4000 node benchmarks/peers/node_socketio.js   (NODE_PATH reaching benchmarks/node/node_modules)
const { Server } = require("socket.io");

const io = new Server(Number(process.env.PORT || 4000), { serveClient: false });
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
