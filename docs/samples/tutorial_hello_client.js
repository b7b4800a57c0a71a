// npm install socket.io-client   (in a browser page: the same code, without the require line)
const { io } = require("socket.io-client");

const socket = io(process.env.SERVER_URL || "http://127.0.0.1:3000");

socket.on("connect", () => {
  console.log(`connected as ${socket.id}`);
});

socket.on("hello", (text) => {
  console.log(`the server says hello ${text}`);
  socket.emit("howdy", "server");
  socket.disconnect();
});
