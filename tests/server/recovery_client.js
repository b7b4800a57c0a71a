// Official socket.io-client with connection state recovery: prints what it sees as JSON lines.
// argv: url transportsJSON
const { io } = require("socket.io-client");
const [url, transports] = [process.argv[2], JSON.parse(process.argv[3])];
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const socket = io(url, { transports, reconnectionDelay: 50, reconnectionDelayMax: 100 });
socket.on("connect", () => out({ event: "connect", id: socket.id, recovered: socket.recovered }));
socket.on("disconnect", (reason) => out({ event: "disconnect", reason }));
socket.on("b", (value) => out({ event: "b", value }));
socket.on("done", () => { out({ event: "done" }); socket.disconnect(); process.exit(0); });
setTimeout(() => { out({ event: "timeout" }); process.exit(1); }, 15000);
