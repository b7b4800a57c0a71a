// npm install engine.io-client
const { Socket } = require("engine.io-client");

const socket = new Socket(process.env.SERVER_URL || "http://127.0.0.1:8000");
socket.on("open", () => {
  socket.send("hello");
});
socket.on("message", (data) => {
  console.log("received", data);
  if (data === "hello") socket.close();
});
