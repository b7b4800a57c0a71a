"use strict";
// The official socket.io-client with connection state recovery, moved from one server to another.
//
// Usage: node recovery_mover.js <url A> <url B> <transports JSON>   (NODE_PATH must reach socket.io-client)
// Connects to A; on the line "move" on stdin, points its Manager at B and drops the connection: it
// reconnects to B, sending its pid and last offset. Prints connect {id, recovered}, events and disconnects.
// Answers the event "question" with "answer".
const readline = require("node:readline");
const { io } = require("socket.io-client");

const [urlA, urlB, transports] = [process.argv[2], process.argv[3], JSON.parse(process.argv[4])];
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
setTimeout(() => process.exit(3), 30000).unref();
const socket = io(urlA, { transports, reconnectionDelay: 20, reconnectionDelayMax: 50, auth: { room: "r1" } });
socket.on("connect", () => out({ ev: "connect", id: socket.id, recovered: socket.recovered }));
socket.on("disconnect", (reason) => out({ ev: "disconnect", reason }));
socket.onAny((event, ...args) => out({ ev: "event", name: event, args }));
socket.on("question", (...args) => args.pop()("answer"));
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "move") {
    socket.io.uri = urlB;
    socket.io.engine.close();
  } else if (line === "exit") {
    socket.disconnect();
    process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
