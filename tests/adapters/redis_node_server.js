"use strict";
// A Node socket.io@4 server with the official Redis adapter, driven by socketeer's cluster tests.
//
// Usage: node redis_node_server.js <redis url> <mode> <options JSON> [hard timeout ms]
//   mode: "classic" (createAdapter), "sharded" (createShardedAdapter), or "sharded-cluster"
//   (createShardedAdapter on node-redis' createCluster, the url naming one node); options go to the adapter.
//
// Prints {"ev": "ready", "port": n} once it listens on 127.0.0.1, then reads one JSON command per line
// on stdin and answers each with {"re": <id>, ...}. Server-side events it receives are printed as
// {"ev": "server_side", "name", "args"}; one whose sender wants an acknowledgement is answered with
// "node:" + its first argument. Every socket gets socket.data = {where: "node"} and joins the rooms
// listed in its auth.rooms. It exits when stdin closes, on "exit", or after the hard timeout.

const readline = require("node:readline");
const http = require("node:http");
const { Server } = require("socket.io");
const { createClient, createCluster } = require("redis");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");

const [redisUrl, mode, optionsJson, hardTimeout] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");
const hardTimer = setTimeout(() => process.exit(3), Number(hardTimeout || 60000));

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function toJson(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === "function") return { $fn: true };
  if (value instanceof Set) return [...value].map(toJson);
  if (value !== null && typeof value === "object") {
    const obj = {};
    for (const [k, v] of Object.entries(value)) obj[k] = toJson(v);
    return obj;
  }
  return value;
}

function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    if (Object.keys(value).length === 1 && typeof value.$bin === "string") return Buffer.from(value.$bin, "base64");
    const obj = {};
    for (const [k, v] of Object.entries(value)) obj[k] = fromJson(v);
    return obj;
  }
  return value;
}

async function main() {
  const pub = mode === "sharded-cluster" ? createCluster({ rootNodes: [{ url: redisUrl }] }) : createClient({ url: redisUrl });
  const sub = pub.duplicate();
  pub.on("error", (err) => out({ ev: "redis_error", message: String(err) }));
  sub.on("error", (err) => out({ ev: "redis_error", message: String(err) }));
  await Promise.all([pub.connect(), sub.connect()]);
  const adapter = mode.startsWith("sharded") ? createShardedAdapter(pub, sub, options) : createAdapter(pub, sub, options);
  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter });

  function setup(nsp) {
    nsp.on("connection", (socket) => {
      socket.data = { where: "node" };
      const rooms = (socket.handshake.auth && socket.handshake.auth.rooms) || [];
      if (rooms.length) socket.join(rooms);
      socket.on("whoami", (cb) => cb({ where: "node", id: socket.id }));
    });
    for (const name of ["hello", "question"]) {
      nsp.on(name, (...args) => {
        let cb = null;
        if (args.length && typeof args[args.length - 1] === "function") cb = args.pop();
        out({ ev: "server_side", nsp: nsp.name, name, args: toJson(args) });
        if (cb && !options.silent) cb("node:" + args[0]);
      });
    }
  }
  setup(io.of("/"));
  setup(io.of("/chat"));

  function target(cmd) {
    let op = io.of(cmd.nsp || "/");
    if (cmd.rooms && cmd.rooms.length) op = op.to(cmd.rooms);
    if (cmd.except && cmd.except.length) op = op.except(cmd.except);
    if (cmd.volatile) op = op.volatile;
    if (cmd.local) op = op.local;
    if (cmd.ackTimeout) op = op.timeout(cmd.ackTimeout);
    return op;
  }

  // Commands that publish answer after a PING on the publishing connection: Redis has the message.
  // On a cluster, a PING on the connection to every primary (each message went to its channel's shard).
  const flushed = async () => {
    if (mode === "sharded-cluster") {
      await Promise.all(pub.masters.map(async (node) => (await pub.nodeClient(node)).ping()));
    } else {
      await pub.ping();
    }
    return {};
  };
  const commands = {
    emit(cmd) {
      target(cmd).emit(cmd.event, ...fromJson(cmd.args || []));
      return flushed();
    },
    async emitWithAck(cmd) {
      try {
        return { responses: toJson(await target(cmd).emitWithAck(cmd.event, ...fromJson(cmd.args || []))) };
      } catch (err) {
        return { error: err.message, responses: toJson(err.responses || []) };
      }
    },
    async fetchSockets(cmd) {
      const sockets = await target(cmd).fetchSockets();
      return {
        sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: toJson(s.data), auth: s.handshake.auth })),
      };
    },
    async emitToFetched(cmd) {
      const sockets = await target(cmd).fetchSockets();
      for (const s of sockets) s.emit(cmd.event, ...fromJson(cmd.args || []));
      return { count: sockets.length };
    },
    socketsJoin(cmd) {
      target(cmd).socketsJoin(cmd.join);
      return flushed();
    },
    socketsLeave(cmd) {
      target(cmd).socketsLeave(cmd.leave);
      return flushed();
    },
    disconnectSockets(cmd) {
      target(cmd).disconnectSockets(!!cmd.close);
      return flushed();
    },
    serverSideEmit(cmd) {
      io.of(cmd.nsp || "/").serverSideEmit(cmd.event, ...fromJson(cmd.args || []));
      return flushed();
    },
    async serverSideEmitWithAck(cmd) {
      try {
        return { responses: await io.of(cmd.nsp || "/").serverSideEmitWithAck(cmd.event, ...fromJson(cmd.args || [])) };
      } catch (err) {
        return { error: err.message, responses: err.responses || [] };
      }
    },
    async serverCount(cmd) {
      return { count: await io.of(cmd.nsp || "/").adapter.serverCount() };
    },
    async allRooms(cmd) {
      return { rooms: [...(await io.of(cmd.nsp || "/").adapter.allRooms())] };
    },
    localRooms(cmd) {
      return { rooms: [...io.of(cmd.nsp || "/").adapter.rooms.keys()] };
    },
    exit() {
      setImmediate(async () => {
        io.close();
        clearTimeout(hardTimer);
        setTimeout(() => process.exit(0), 20);
      });
      return {};
    },
  };

  // the adapters subscribed on `sub` when the namespaces were created; a subscription made after them
  // on the same connection is confirmed after theirs: once it is, this server hears the cluster
  const probe = mode.startsWith("sharded") ? "sSubscribe" : "subscribe";
  await sub[probe](`probe#${process.pid}#`, () => {});
  httpServer.listen(0, "127.0.0.1", () => {
    out({ ev: "ready", port: httpServer.address().port });
  });

  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", async (line) => {
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (err) {
      out({ ev: "bad_command", line });
      return;
    }
    try {
      const fn = commands[cmd.cmd];
      if (!fn) throw new Error(`unknown command ${cmd.cmd}`);
      out({ re: cmd.id, ...(await fn(cmd)) });
    } catch (err) {
      out({ re: cmd.id, failed: String(err && err.stack ? err.stack : err) });
    }
  });
  rl.on("close", () => process.exit(0));
}

main().catch((err) => {
  out({ ev: "fatal", error: String(err && err.stack ? err.stack : err) });
  process.exit(2);
});
