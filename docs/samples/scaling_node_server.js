// A Node server in the same cluster: socket.io 4 with the official Redis adapter.
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-adapter");

(async () => {
  const pub = createClient({ url: process.env.REDIS_URL || "redis://127.0.0.1:6379/0" });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const io = new Server({ adapter: createAdapter(pub, sub) });
  io.on("reload", (what) => console.log(`reloading ${what}`));
  io.listen(Number(process.env.PORT || 3000));
  console.log(`listening on ${process.env.PORT || 3000}`);
})();
