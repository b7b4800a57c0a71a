const { io } = require("socket.io-client");

const socket = io(process.env.SERVER_URL || "http://127.0.0.1:3000");
socket.on("connect", async () => {
  const ack = await socket.emitWithAck("chat message", "hello");
  console.log(`server: ${ack}`);
  socket.disconnect();
});
