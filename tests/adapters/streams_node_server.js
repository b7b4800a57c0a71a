"use strict";
// A socket.io@4 server with the official @socket.io/redis-streams-adapter, for socketeer's cluster tests.
//
// Usage: node streams_node_server.js <redis url> <recovery: 0|1>   (NODE_PATH must reach the packages)
// Prints {"ready": port} once it listens on 127.0.0.1, then one JSON line per observation. Commands are
// JSON lines on stdin, answered with {"re": id, ...}: emit {room?, except?, event, args}, fetch {},
// count {}, sse {event, args, ack}, ask {} (a broadcast of "question" with acknowledgements). A
// client's auth.room is joined at connection; socket.data is
// {"from": "node"}. The server-side event "ping" is answered with "pong-node".
const readline = require("node:readline");
const http = require("node:http");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-streams-adapter");

const [redisUrl, recovery] = [process.argv[2], process.argv[3] === "1"];
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
setTimeout(() => process.exit(3), 60000).unref();

(async () => {
  const redisClient = createClient({ url: redisUrl });
  redisClient.on("error", () => {});
  await redisClient.connect();
  const opts = { adapter: createAdapter(redisClient) };
  if (recovery) opts.connectionStateRecovery = { maxDisconnectionDuration: 60000 };
  const httpServer = http.createServer();
  const io = new Server(httpServer, opts);
  io.on("connection", (socket) => {
    socket.data = { from: "node" };
    if (socket.handshake.auth && socket.handshake.auth.room) socket.join(socket.handshake.auth.room);
    out({ ev: "connection", id: socket.id, recovered: socket.recovered });
  });
  io.on("ping", (...args) => {
    const cb = args.pop();
    out({ ev: "server_side", name: "ping", args });
    cb("pong-node");
  });
  io.on("note", (...args) => out({ ev: "server_side", name: "note", args }));
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", async (line) => {
    const cmd = JSON.parse(line);
    try {
      if (cmd.cmd === "emit") {
        let op = io;
        if (cmd.room) op = op.to(cmd.room);
        if (cmd.except) op = op.except(cmd.except);
        op.emit(cmd.event, ...cmd.args);
        out({ re: cmd.id });
      } else if (cmd.cmd === "fetch") {
        const sockets = await io.fetchSockets();
        out({ re: cmd.id, sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data })) });
      } else if (cmd.cmd === "count") {
        out({ re: cmd.id, count: await io.of("/").adapter.serverCount() });
      } else if (cmd.cmd === "sse") {
        if (cmd.ack) {
          const responses = await io.serverSideEmitWithAck(cmd.event, ...cmd.args);
          out({ re: cmd.id, responses });
        } else {
          io.serverSideEmit(cmd.event, ...cmd.args);
          out({ re: cmd.id });
        }
      } else if (cmd.cmd === "ask") {
        out({ re: cmd.id, answers: await io.timeout(3000).emitWithAck("question") });
      } else if (cmd.cmd === "join") {
        io.in(cmd.sid).socketsJoin(cmd.room);
        out({ re: cmd.id });
      }
    } catch (e) {
      out({ re: cmd.id, failed: String(e && e.message) });
    }
  });
  rl.on("close", () => process.exit(0));
  httpServer.listen(0, "127.0.0.1", () => out({ ready: httpServer.address().port }));
})();
