const { io } = require("socket.io-client");
const url = process.env.SERVER_URL || "http://127.0.0.1:3000";

const sockets = {
  // the default: start with HTTP long-polling (works everywhere), upgrade to WebSocket when possible
  upgrading: io(url),
  // WebSocket only: no long-polling, no upgrade (fails where WebSocket is blocked)
  websocketOnly: io(url, { transports: ["websocket"], forceNew: true }),
  // long-polling only
  pollingOnly: io(url, { transports: ["polling"], forceNew: true }),
};

for (const [name, socket] of Object.entries(sockets)) {
  socket.io.on("open", () => {
    const engine = socket.io.engine; // the Engine.IO connection under the socket
    console.log(`${name}: ${engine.transport.name}`);
    engine.on("upgrade", (transport) => {
      console.log(`${name}: upgraded to ${transport.name}`);
      setTimeout(() => socket.disconnect(), 100); // once the upgrade has settled
    });
  });
  socket.on("hello", () => {
    if (name !== "upgrading") socket.disconnect();
  });
}
