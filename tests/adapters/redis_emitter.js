"use strict";
// Runs operations of the official @socket.io/redis-emitter against a Redis server, then exits.
//
// Usage: node redis_emitter.js <redis url> <operations JSON>
//   operations: [{"op": "emit" | "socketsJoin" | "socketsLeave" | "disconnectSockets" | "serverSideEmit",
//                 "nsp", "rooms", "except", "volatile", "event", "args", "join", "leave", "close"}]
// Binary arguments are {"$bin": base64}. Prints {"done": n} once Redis has taken every message.

const { createClient } = require("redis");
const { Emitter } = require("@socket.io/redis-emitter");

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
  const [url, opsJson] = process.argv.slice(2);
  const client = createClient({ url });
  await client.connect();
  const root = new Emitter(client);
  const ops = JSON.parse(opsJson);
  for (const op of ops) {
    const emitter = op.nsp ? root.of(op.nsp) : root;
    if (op.op === "serverSideEmit") {
      emitter.serverSideEmit(op.event, ...fromJson(op.args || []));
      continue;
    }
    let target = emitter;
    if (op.rooms && op.rooms.length) target = target.to(op.rooms);
    if (op.except && op.except.length) target = target.except(op.except);
    if (op.volatile) target = target.volatile;
    if (op.op === "emit") target.emit(op.event, ...fromJson(op.args || []));
    else if (op.op === "socketsJoin") target.socketsJoin(op.join);
    else if (op.op === "socketsLeave") target.socketsLeave(op.leave);
    else if (op.op === "disconnectSockets") target.disconnectSockets(!!op.close);
    else throw new Error(`unknown op ${op.op}`);
  }
  await client.ping(); // after every PUBLISH on this connection
  process.stdout.write(JSON.stringify({ done: ops.length }) + "\n");
  await client.quit();
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(2);
});
