"use strict";
// The official socket.io server with @socket.io/redis-streams-adapter, the handlers of node_socketio.js.
// Run: PORT=4000 REDIS_URL=redis://127.0.0.1:6379 node benchmarks/peers/node_cluster.js
// (NODE_PATH reaching socket.io, redis and @socket.io/redis-streams-adapter: tests/node/node_modules)
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-streams-adapter");

(async () => {
  const redisClient = createClient({ url: process.env.REDIS_URL });
  redisClient.on("error", () => {});
  await redisClient.connect();
  const io = new Server(Number(process.env.PORT || 4000), { serveClient: false, adapter: createAdapter(redisClient) });
  io.on("connection", (socket) => {
    socket.on("echo", (data) => socket.emit("echo", data));
    socket.on("broadcast", (data) => io.emit("bcast", data));
  });
  process.on("SIGTERM", () => io.close(() => process.exit(0)));
})();
