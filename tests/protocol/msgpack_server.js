// The official socket.io@4 server with socket.io-msgpack-parser, as a peer for socketeer's client.
// Usage: node msgpack_server.js   (NODE_PATH must point at tests/node/node_modules)
// Prints "ready <port>" once listening on 127.0.0.1.
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const parser = require("socket.io-msgpack-parser");

const httpServer = http.createServer();
const io = new Server(httpServer, { parser });

io.use((socket, next) => (socket.handshake.auth.token === "bad" ? next(new Error("refused")) : next()));

io.on("connection", (socket) => {
  // a Date and a Uint8Array travel as notepack's extension type 0; undefined in an array as well
  socket.emit("welcome", socket.id, Buffer.from([1, 2, 3]), new Date(1700000000123), [undefined, 1]);
  socket.on("echo", (...args) => {
    const ack = args.pop();
    ack(...args);
  });
  socket.on("ask", (question, ack) => {
    socket.timeout(5000).emit("question", question, (err, answer) => ack(err ? "error" : answer));
  });
  socket.on("broadcast", (...args) => io.emit("news", ...args));
  socket.on("typed", (ack) => ack(new Uint8Array([9]), new Uint8Array(8), new Uint8Array([4, 5, 6])));
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(`ready ${httpServer.address().port}\n`);
});
