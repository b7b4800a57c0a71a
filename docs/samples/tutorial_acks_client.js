const { io } = require("socket.io-client");

const socket = io(process.env.SERVER_URL || "http://127.0.0.1:3000");

// answer the server's question: the last argument is the acknowledgement callback
socket.on("your name?", (callback) => callback("Ada"));

socket.on("nice to meet you", async (name) => {
  // a callback as the last argument asks for an acknowledgement...
  socket.emit("add", 1, 2, (sum) => console.log(`1 + 2 = ${sum}`));
  // ...or a promise, with a timeout
  const answer = await socket.timeout(5000).emitWithAck("lookup", "socketeer");
  console.log(`lookup: ${JSON.stringify(answer)}`);
  socket.disconnect();
});
