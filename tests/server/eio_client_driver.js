"use strict";
// One official engine.io-client socket for socketeer's EngineIOServer tests.
//
// Usage: node eio_client_driver.js <url> <options JSON> [hard timeout ms]   (NODE_PATH must reach engine.io-client)
//
// Prints what the socket observes as JSON lines: {"ev": "open", id, transport}, {"ev": "upgrade", transport},
// {"ev": "message", text} or {"ev": "message", bin: <base64>}, {"ev": "close", reason}. Reads commands as
// JSON lines on stdin: {"text": s}, {"bin": base64}, {"close": true}. Exits on stdin's end, after a close,
// or after the hard timeout.
const readline = require("node:readline");
const { Socket } = require("engine.io-client");

const [url, optionsJson, hardMs] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const hard = setTimeout(() => {
  out({ ev: "fatal", error: "hard timeout" });
  process.exit(3);
}, Number(hardMs || 30000));

const socket = new Socket(url, JSON.parse(optionsJson || "{}"));
socket.binaryType = "nodebuffer";
socket.on("open", () => out({ ev: "open", id: socket.id, transport: socket.transport.name }));
socket.on("upgrade", (transport) => out({ ev: "upgrade", transport: transport.name }));
socket.on("message", (data) => {
  if (typeof data === "string") out({ ev: "message", text: data });
  else out({ ev: "message", bin: Buffer.from(data).toString("base64") });
});
socket.on("error", (err) => out({ ev: "error", message: String(err && err.message) }));
socket.on("close", (reason) => {
  out({ ev: "close", reason });
  clearTimeout(hard);
  setTimeout(() => process.exit(0), 20);
});

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.text !== undefined) socket.send(cmd.text);
  else if (cmd.bin !== undefined) socket.send(Buffer.from(cmd.bin, "base64"));
  else if (cmd.close) socket.close();
});
rl.on("close", () => {
  socket.close();
  clearTimeout(hard);
  setTimeout(() => process.exit(0), 20);
});
