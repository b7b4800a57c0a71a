const { io } = require("socket.io-client");
const url = process.env.SERVER_URL || "http://127.0.0.1:3000";

const anonymous = io(url, { forceNew: true });
anonymous.on("connect_error", (err) => {
  console.log(`anonymous: ${err.message} (${err.data.reason})`);
  anonymous.close();

  // auth is sent with the CONNECT packet (a function is evaluated at each reconnection)
  const socket = io(url, { forceNew: true, auth: (cb) => cb({ token: "s3cret-ada" }) });
  socket.on("hello", async (user) => {
    console.log(`hello ${user}`);
    console.log(`whoami: ${await socket.emitWithAck("whoami")}`);
    socket.disconnect();
  });
});
