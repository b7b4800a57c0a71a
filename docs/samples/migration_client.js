// the same official client against either server
const { io } = require("socket.io-client");
const url = process.env.SERVER_URL || "http://127.0.0.1:8000";

const refused = io(url, { forceNew: true });
refused.on("connect_error", (err) => {
  console.log(`without a token: ${err.message}`);
  refused.close();
  const ada = io(url, { forceNew: true, auth: { token: "t0ken" } });
  const bob = io(url, { forceNew: true, auth: { token: "t0ken" } });
  bob.on("chat", (message) => {
    console.log(`bob got ${JSON.stringify(message)}`);
    ada.disconnect();
    bob.disconnect();
  });
  ada.on("chat", () => console.log("ada heard herself"));
  bob.on("connect", async () => {
    console.log(`2 + 3 = ${await ada.emitWithAck("add", 2, 3)}`);
    ada.emit("chat", "hi");
  });
});
