"use strict";
// Official socket.io-client against a socketeer server with engine header hooks.
// Usage: node engine_hooks_client.js <url> <polling|websocket|upgrade>
// Prints one JSON line: the engine id the client got, its transport, the server's answer to "whoami",
// and (websocket mode) the headers of the 101 as the `ws` package saw them.
const { io } = require("socket.io-client");
const WebSocket = require("ws");

const [url, mode] = process.argv.slice(2);
const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: "timeout" }));
  process.exit(2);
}, 10000);

function finish(result) {
  clearTimeout(timer);
  console.log(JSON.stringify(result));
  process.exit(0);
}

const transports = mode === "polling" ? ["polling"] : mode === "websocket" ? ["websocket"] : ["polling", "websocket"];
const socket = io(url, { transports, withCredentials: true, reconnection: false });
socket.on("connect_error", (err) => finish({ error: err.message }));

function ask() {
  socket.emit("whoami", (answer) => {
    const result = { engineId: socket.io.engine.id, transport: socket.io.engine.transport.name, answer };
    socket.close();
    if (mode !== "websocket") return finish(result);
    // the client hides the 101's headers: ask `ws` (what the client runs on) for them
    const raw = new WebSocket(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket");
    raw.on("upgrade", (res) => {
      result.upgradeHeaders = res.headers;
      raw.close();
      finish(result);
    });
    raw.on("error", (err) => finish({ error: String(err) }));
  });
}

socket.on("connect", () => {
  if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
    socket.io.engine.once("upgrade", ask);
  } else {
    ask();
  }
});
