"use strict";
// An official socket.io-client for socketeer's compression tests.
//
// Usage: node compression_peer.js <server url> <options JSON>   (NODE_PATH must reach socket.io-client)
//
// Options: {"transport": "polling" | "fetch" | "websocket" | "upgrade", "perMessageDeflate": <ws option>}.
// Connects, waits for the server's "big" event, answers it with "echo" (the same string, so a
// client -> server message of the same size goes out too; after the upgrade in "upgrade" mode),
// waits for the ack, prints one JSON line
// {"ok": true, "transport": ..., "length": ...} and exits. Any error prints {"ok": false, "error": ...}.
// A hard timeout of 10 s ends the process in any case.

const { io } = require("socket.io-client");
const { Fetch, NodeWebSocket, NodeXHR } = require("engine.io-client");

const url = process.argv[2];
const opts = JSON.parse(process.argv[3] || "{}");

function done(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

setTimeout(() => done({ ok: false, error: "timeout" }), 10000);

const transports = {
  polling: [NodeXHR],
  fetch: [Fetch],
  websocket: [NodeWebSocket],
  upgrade: [NodeXHR, NodeWebSocket],
}[opts.transport || "websocket"];

const clientOptions = { transports, reconnection: false };
if (opts.perMessageDeflate !== undefined) clientOptions.perMessageDeflate = opts.perMessageDeflate;
const socket = io(url, clientOptions);

socket.on("connect_error", (err) => done({ ok: false, error: err.message }));
socket.on("big", (text) => {
  const echo = () =>
    socket.emit("echo", text, (length) => {
      done({ ok: true, transport: socket.io.engine.transport.name, length, received: text.length });
    });
  // upgrading: echo once on the WebSocket, so that the large client message crosses it
  if (opts.transport === "upgrade" && socket.io.engine.transport.name !== "websocket") {
    socket.io.engine.once("upgrade", echo);
  } else {
    echo();
  }
});
