const { io } = require("socket.io-client");

const socket = io(process.env.SERVER_URL || "http://127.0.0.1:3000", {
  reconnectionDelay: 200, // the first retry after ~0.2 s, then backing off...
  reconnectionDelayMax: 1000, // ...to at most 1 s between attempts (defaults: 1 s and 5 s)
});

socket.on("connect", () => console.log("connected"));
socket.on("disconnect", (reason) => {
  console.log(`disconnected: ${reason}`);
  if (!socket.active) return; // closed on purpose (socket.disconnect()): it will not reconnect
  // not connected: kept in the send buffer and sent once reconnected
  socket.emit("echo", "sent while offline");
  // volatile: dropped rather than buffered (for values that are stale by then)
  socket.volatile.emit("echo", "volatile while offline");
});
socket.io.on("reconnect", (attempt) => console.log(`reconnected after ${attempt} attempt(s)`));
socket.on("echo", (text) => {
  console.log(`echo: ${text}`);
  if (text === "sent while offline") socket.disconnect();
});

socket.emit("echo", "first");
