const { io } = require("socket.io-client");
const url = process.env.SERVER_URL || "http://127.0.0.1:3000";

const alice = io(url, { forceNew: true });
alice.on("connect", () => {
  const bob = io(url, { forceNew: true });
  alice.on("say hi", (id) => console.log(`alice: say hi to ${id}`));
  bob.on("news", (text) => console.log(`bob: news: ${text}`));
  bob.on("private", ({ from, text }) => {
    console.log(`bob: private from ${from === alice.id ? "alice" : from}: ${text}`);
    alice.disconnect();
    bob.disconnect();
  });
  bob.on("connect", async () => {
    console.log(`bob: ${await bob.emitWithAck("join", "news")}`);
    await alice.emitWithAck("join", "news");
    alice.emit("to room", "news", "hello, room");
    alice.emit("private", bob.id, "just for you");
  });
});
