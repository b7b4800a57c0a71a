"use strict";
// A bounded keep-alive HTTP/1.1 load loop on loopback, for benchmarks/fastpath_bench.py:
//
//   node benchmarks/http_load.js --port 4000 --path /api/item --server-pid 1234 [--connections 50
//        --warmup 2 --duration 5]
//
// Each connection sends one GET, reads the whole response (Content-Length), sends the next. Prints one
// JSON line: requests/s over the measured window, the server's CPU time per request (µs, from /proc,
// the process and its children) and both processes' CPU share. Stops by itself after warmup + duration.

const net = require("node:net");
const fs = require("node:fs");

function options() {
  const opts = { port: 4000, host: "127.0.0.1", path: "/api/item", connections: 50, warmup: 2, duration: 5, serverPid: 0 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const value = argv[i + 1];
    opts[key] = typeof opts[key] === "number" ? Number(value) : value;
  }
  return opts;
}

const TICK_US = 1e6 / 100; // USER_HZ

function treeCpuUs(pid) {
  if (!pid) return 0;
  const stats = new Map();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(name), [Number(fields[1]), Number(fields[11]) + Number(fields[12])]);
    } catch (_) {
      // gone meanwhile
    }
  }
  let total = 0;
  const todo = [pid];
  while (todo.length) {
    const current = todo.pop();
    const own = stats.get(current);
    if (own) total += own[1];
    for (const [child, [ppid]] of stats) if (ppid === current) todo.push(child);
  }
  return total * TICK_US;
}

function main() {
  const opts = options();
  const request = Buffer.from(`GET ${opts.path} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\nAccept: application/json\r\n\r\n`);
  let counting = false;
  let done = 0;
  let errors = 0;
  let statusErrors = 0;
  const sockets = [];

  function connect() {
    const sock = net.createConnection({ host: opts.host, port: opts.port });
    sock.setNoDelay(true);
    let buffer = Buffer.alloc(0);
    sock.on("connect", () => sock.write(request));
    sock.on("data", (chunk) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      for (;;) {
        const head = buffer.indexOf("\r\n\r\n");
        if (head < 0) return;
        const text = buffer.subarray(0, head).toString("latin1");
        const match = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        const length = match ? Number(match[1]) : 0;
        if (buffer.length < head + 4 + length) return;
        if (!text.startsWith("HTTP/1.1 200")) statusErrors += 1;
        buffer = buffer.subarray(head + 4 + length);
        if (counting) done += 1;
        sock.write(request);
      }
    });
    sock.on("error", () => {
      errors += 1;
    });
    sockets.push(sock);
  }

  for (let i = 0; i < opts.connections; i++) connect();
  let cpu0 = 0;
  let own0 = null;
  let t0 = 0;
  setTimeout(() => {
    counting = true;
    cpu0 = treeCpuUs(opts.serverPid);
    own0 = process.cpuUsage();
    t0 = process.hrtime.bigint();
  }, opts.warmup * 1000);
  setTimeout(() => {
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    const serverUs = treeCpuUs(opts.serverPid) - cpu0;
    const own = process.cpuUsage(own0);
    counting = false;
    for (const sock of sockets) sock.destroy();
    process.stdout.write(
      JSON.stringify({
        requests_per_s: done / elapsed,
        server_cpu_us_per_req: done ? serverUs / done : null,
        server_cpu_pct: (100 * serverUs) / (elapsed * 1e6),
        loadgen_cpu_pct: (100 * (own.user + own.system)) / (elapsed * 1e6),
        requests: done,
        errors,
        status_errors: statusErrors,
      }) + "\n",
    );
    process.exit(0);
  }, (opts.warmup + opts.duration) * 1000);
}

main();
