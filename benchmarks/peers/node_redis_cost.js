"use strict";
// The official socket.io server as a node of benchmarks/redis_cost.py (--peer node): the events of
// redis_cost_peer.py ("join", "go" {count, rate, room} answered by "done") on the official adapters.
// Run: PORT=4000 REDIS_URL=redis://127.0.0.1:6379 CLUSTER_ADAPTER=redis node benchmarks/peers/node_redis_cost.js
// (CLUSTER_ADAPTER: redis = createAdapter, sharded = createShardedAdapter, streams = the streams adapter;
// NODE_PATH reaching socket.io, redis and the @socket.io adapters: tests/node/node_modules)
const { Server } = require("socket.io");
const { createClient } = require("redis");

async function adapter(kind) {
  const pub = createClient({ url: process.env.REDIS_URL });
  pub.on("error", () => {});
  await pub.connect();
  if (kind === "streams") return require("@socket.io/redis-streams-adapter").createAdapter(pub);
  const sub = pub.duplicate();
  sub.on("error", () => {});
  await sub.connect();
  const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
  return kind === "sharded" ? createShardedAdapter(pub, sub) : createAdapter(pub, sub);
}

(async () => {
  const options = { serveClient: false, pingInterval: Number(process.env.PING_INTERVAL || 600) * 1000 };
  if (process.env.REDIS_URL) options.adapter = await adapter(process.env.CLUSTER_ADAPTER || "redis");
  const io = new Server(Number(process.env.PORT || 4000), options);
  const payload = "x".repeat(80);
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      ack(true);
    });
    socket.on("go", ({ count, rate, room }) => {
      const target = room ? io.to(room) : io;
      const started = performance.now();
      let sent = 0;
      const timer = setInterval(() => {
        const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
        while (sent < due) target.emit("bcast", { s: sent++, p: payload });
        if (sent >= count) {
          clearInterval(timer);
          socket.emit("done", { count: sent, seconds: (performance.now() - started) / 1000 });
        }
      }, 1);
    });
  });
  process.on("SIGTERM", () => io.close(() => process.exit(0)));
})();
