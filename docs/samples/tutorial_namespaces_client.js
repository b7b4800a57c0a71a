const { io } = require("socket.io-client");
const url = process.env.SERVER_URL || "http://127.0.0.1:3000";

const main = io(url);
const intruder = io(`${url}/admin`, { forceNew: true });
intruder.on("connect_error", (err) => {
  console.log(`intruder refused: ${err.message} (${err.data.hint})`);
  // main and admin share one connection: the Manager multiplexes namespaces
  const admin = io(`${url}/admin`, { auth: { token: "let-me-in" } });
  admin.on("stats", (stats) => {
    console.log(`admin: ${stats.clients} client(s) on the main namespace`);
    console.log(`one connection: ${admin.io === main.io}`);
    admin.disconnect();
    main.disconnect();
  });
});
main.on("welcome", (nsp) => console.log(`main: welcome to ${nsp}`));
