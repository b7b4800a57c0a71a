"use strict";
// The official socket.io server with @socket.io/redis-streams-adapter, the handlers of node_socketio.js.
// Run: PORT=4000 REDIS_URL=redis://127.0.0.1:6379 node benchmarks/peers/node_cluster.js
// (NODE_PATH reaching socket.io, redis and @socket.io/redis-streams-adapter: tests/node/node_modules)
const { Server } = require("socket.io");
const { createClient } = require("redis");
// CLUSTER_ADAPTER=redis or sharded: @socket.io/redis-adapter's createAdapter or createShardedAdapter instead.

async function adapter(kind) {
  const redisClient = createClient({ url: process.env.REDIS_URL });
  redisClient.on("error", () => {});
  await redisClient.connect();
  if (kind === "redis" || kind === "sharded") {
    const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
    const sub = redisClient.duplicate();
    sub.on("error", () => {});
    await sub.connect();
    return kind === "redis" ? createAdapter(redisClient, sub) : createShardedAdapter(redisClient, sub);
  }
  return require("@socket.io/redis-streams-adapter").createAdapter(redisClient);
}

(async () => {
  const io = new Server(Number(process.env.PORT || 4000), {
    serveClient: false,
    adapter: await adapter(process.env.CLUSTER_ADAPTER || "streams"),
  });
  io.on("connection", (socket) => {
    socket.on("echo", (data) => socket.emit("echo", data));
    socket.on("broadcast", (data) => io.emit("bcast", data));
  });
  process.on("SIGTERM", () => io.close(() => process.exit(0)));
})();
