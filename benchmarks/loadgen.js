"use strict";
// socketeer's load generator: Socket.IO v5 / Engine.IO v4 clients written at the frame level on Node's
// `net` and `http` (no client library), one scenario per run, one JSON line of results on stdout.
//
//   node benchmarks/loadgen.js --scenario echo --port 4000 --server-pid 1234 [--clients 100 --window 4
//        --rooms 100 --warmup 2 --duration 5]
//
// Scenarios (see benchmarks/README.md): echo, ack, fanout, rooms, connect, polling-echo; for the tail
// latency benchmark (latency_bench.py) echo-rate (open loop, --rate msgs/s) and storm (a room fan-out
// on other connections that runs until SIGTERM or --duration). Only the measured window counts; every
// wait is bounded (a hard deadline ends the process).
const net = require("node:net");
const http = require("node:http");
const fs = require("node:fs");

// -- options ------------------------------------------------------------------------------------

const DEFAULTS = {
  echo: { clients: 100, window: 4 },
  ack: { clients: 100, window: 4 },
  fanout: { clients: 1000, window: 16 },
  rooms: { clients: 1000, window: 32, rooms: 100 },
  connect: { clients: 5000, window: 100 },
  "polling-echo": { clients: 50, window: 1 },
  // open loop: --rate messages per second over the clients, whatever the replies do
  "echo-rate": { clients: 100, rate: 1000, maxInFlight: 20000 },
  // clients in room "storm" and one sender emitting to it, --window emits in flight, until SIGTERM
  storm: { clients: 1000, window: 16, payload: 80 },
};

function parseArgs(argv) {
  const opts = { port: 4000, host: "127.0.0.1", warmup: 2, duration: 5, serverPid: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const value = argv[i + 1];
    opts[key] = /^[0-9.]+$/.test(value) ? Number(value) : value;
  }
  const defaults = DEFAULTS[opts.scenario];
  if (defaults === undefined) throw new Error(`unknown scenario ${opts.scenario}`);
  // --ports a,b spreads the clients over several servers (a cluster); --server-pids p,q sums their CPU
  opts.portList = String(opts.ports || opts.port).split(",").map(Number);
  opts.pidList = String(opts.serverPids || opts.serverPid).split(",").map(Number).filter((p) => p > 0);
  return { ...defaults, ...opts };
}

let nextPortIndex = 0;
const nextPort = () => opts.portList[nextPortIndex++ % opts.portList.length];
const serversCpuUs = () => opts.pidList.reduce((sum, pid) => sum + treeCpuUs(pid), 0);

const opts = parseArgs(process.argv.slice(2));
const hardDeadline = setTimeout(() => {
  process.stdout.write(JSON.stringify({ scenario: opts.scenario, error: "hard deadline" }) + "\n");
  process.exit(2);
}, (opts.warmup + opts.duration + 60) * 1000);

const PAYLOAD = "x".repeat(80);
const data = (seq) => `{"s":${seq},"p":"${PAYLOAD}"}`;

// -- /proc accounting ---------------------------------------------------------------------------

const TICK_US = 1e6 / 100; // USER_HZ

function treeCpuUs(pid) {
  if (!pid) return 0;
  const stats = new Map(); // pid -> [ppid, ticks]
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(name), [Number(fields[1]), Number(fields[11]) + Number(fields[12])]);
    } catch (_) {
      // the process ended meanwhile
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

function rssMb(pid) {
  try {
    const match = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch (_) {
    return null;
  }
}

// -- WebSocket client (RFC 6455, client role) ---------------------------------------------------

const ZERO_MASK = Buffer.alloc(4); // a valid mask key: the server unmasks as usual

function frame(text) {
  const body = Buffer.from(text);
  const n = body.length;
  let head;
  if (n < 126) {
    head = Buffer.from([0x81, 0x80 | n]);
  } else if (n < 65536) {
    head = Buffer.from([0x81, 0x80 | 126, n >> 8, n & 255]);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x81;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, ZERO_MASK, body]);
}

class WsClient {
  constructor(onText) {
    this.onText = onText;
    this.buffer = Buffer.alloc(0);
    this.upgraded = false;
    this.raw = false; // text frames handed over as Buffers (the storm's receivers: no decoding)
    this.pending = [];
    this.socket = null;
    this.port = nextPort();
  }

  open(path) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: opts.host, port: this.port || opts.port, noDelay: true });
      this.socket = socket;
      socket.on("connect", () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\nUpgrade: websocket\r\n` +
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
      });
      socket.on("data", (chunk) => {
        this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
        if (!this.upgraded) {
          const end = this.buffer.indexOf("\r\n\r\n");
          if (end < 0) return;
          if (!this.buffer.subarray(0, 12).toString().endsWith("101")) {
            reject(new Error(`no upgrade: ${this.buffer.subarray(0, 40)}`));
            socket.destroy();
            return;
          }
          this.upgraded = true;
          this.buffer = this.buffer.subarray(end + 4);
          resolve(this);
        }
        this.parse();
      });
      socket.on("error", reject);
    });
  }

  parse() {
    let buf = this.buffer;
    while (buf.length >= 2) {
      const opcode = buf[0] & 15;
      let len = buf[1] & 127;
      let offset = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = buf.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (buf.length < 10) break;
        len = Number(buf.readBigUInt64BE(2));
        offset = 10;
      }
      if (buf.length < offset + len) break;
      const body = buf.subarray(offset, offset + len);
      buf = buf.subarray(offset + len);
      if (opcode === 1) this.onText(this, this.raw ? body : body.toString());
      else if (opcode === 9) this.socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | body.length]), ZERO_MASK, body]));
      else if (opcode === 8) this.socket.end();
    }
    this.buffer = buf;
  }

  send(text) {
    // writes of one callback leave together (as a client handling a batch of input would send them)
    if (this.pending.push(frame(text)) === 1) setImmediate(() => this.flush());
  }

  flush() {
    const frames = this.pending;
    this.pending = [];
    if (frames.length && !this.socket.destroyed) this.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }

  close() {
    if (this.socket) this.socket.destroy();
  }
}

// A Socket.IO client over WebSocket: Engine.IO open, pings answered, CONNECT to "/", then `onPacket`.
function connectSio(onPacket) {
  return new Promise((resolve, reject) => {
    let state = 0; // 0 waiting for open, 1 waiting for CONNECT reply, 2 connected
    const ws = new WsClient((client, text) => {
      if (text === "2") return client.send("3");
      if (state === 2) return onPacket(client, text);
      if (state === 0 && text[0] === "0") {
        state = 1;
        client.send("40");
      } else if (state === 1 && text.startsWith("40")) {
        state = 2;
        resolve(client);
      } else if (state === 1 && text.startsWith("44")) {
        reject(new Error(`connect refused: ${text}`));
      }
    });
    ws.open("/socket.io/?EIO=4&transport=websocket").catch(reject);
  });
}

async function connectMany(count, inFlight, onPacket) {
  const clients = [];
  let next = 0;
  let errors = 0;
  async function worker() {
    while (next < count) {
      next++;
      try {
        clients.push(await connectSio(onPacket));
      } catch (_) {
        errors++;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return { clients, errors };
}

// -- the measured window ------------------------------------------------------------------------

class Window {
  constructor() {
    this.open = false;
    this.count = 0;
    this.latencies = [];
    this.sampleMask = 7; // one latency in 8 is kept (0: every one)
    this.extended = false; // p90, p99.9 and max in the result too
  }

  record(sentAt) {
    if (!this.open) return;
    this.count++;
    if (sentAt !== undefined && (this.count & this.sampleMask) === 0) this.latencies.push(performance.now() - sentAt);
  }

  async run(onOpen) {
    await sleep(opts.warmup * 1000);
    const cpu0 = serversCpuUs();
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    this.open = true;
    if (onOpen) onOpen();
    await sleep(opts.duration * 1000);
    this.open = false;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = serversCpuUs() - cpu0;
    const self = process.cpuUsage(self0);
    return this.result(seconds, cpu, (self.user + self.system) / (seconds * 1e4));
  }

  result(seconds, serverCpuUs, loadgenPct) {
    const sorted = this.latencies.sort((a, b) => a - b);
    const pct = (p) => (sorted.length ? round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))], 3) : null);
    const extended = this.extended
      ? { p90_ms: pct(0.9), p999_ms: pct(0.999), max_ms: sorted.length ? round(sorted[sorted.length - 1], 3) : null, samples: sorted.length }
      : {};
    return {
      messages: this.count,
      seconds: round(seconds, 3),
      msgs_per_s: Math.round(this.count / seconds),
      p50_ms: pct(0.5),
      p99_ms: pct(0.99),
      ...extended,
      server_cpu_us_per_msg: this.count ? round(serverCpuUs / this.count, 2) : null,
      server_cpu_pct: round(serverCpuUs / (seconds * 1e4), 1),
      loadgen_cpu_pct: round(loadgenPct, 1),
    };
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (x, digits) => Math.round(x * 10 ** digits) / 10 ** digits;

function seqOf(text) {
  const at = text.indexOf('"s":');
  return at < 0 ? -1 : parseInt(text.slice(at + 4, at + 16), 10);
}

// -- scenarios ----------------------------------------------------------------------------------

async function echoLike(withAck) {
  const win = new Window();
  const sentAt = new Map(); // client -> FIFO of send times (replies come back in order)
  let seq = 0;
  const send = (client) => {
    seq++;
    sentAt.get(client).push(performance.now());
    client.send(withAck ? `42${seq}["ack",${data(seq)}]` : `42["echo",${data(seq)}]`);
  };
  const onPacket = (client, text) => {
    if (text.startsWith(withAck ? "43" : '42["echo"')) {
      win.record(sentAt.get(client).shift());
      send(client);
    }
  };
  const { clients, errors } = await connectMany(opts.clients, 100, onPacket);
  for (const client of clients) {
    sentAt.set(client, []);
    for (let i = 0; i < opts.window; i++) send(client);
  }
  const result = await win.run();
  return { ...result, errors, clients: clients.length, window: opts.window, close: clients };
}

// A sender emits, every member of the target receives; `members(seq)` says how many must receive one
// emit before the next may leave (W emits in flight).
async function broadcastLike(groups) {
  const win = new Window();
  const received = new Map(); // seq -> deliveries so far
  const sentAt = new Map();
  let seq = 0;
  let sender = null;
  let perGroup = 0; // receivers of one emit, once connected
  const emit = () => {
    seq++;
    sentAt.set(seq, performance.now());
    received.set(seq, 0);
    if (groups === 1) sender.send(`42["broadcast",${data(seq)}]`);
    else sender.send(`42["room",{"room":"r${seq % groups}","data":${data(seq)}}]`);
  };
  const onPacket = (client, text) => {
    if (text.charCodeAt(1) === 51) return; // an ack (the joins)
    if (!text.startsWith('42["bcast"')) return;
    const s = seqOf(text);
    win.record(sentAt.get(s));
    const n = received.get(s) + 1;
    if (n === perGroup) {
      received.delete(s);
      sentAt.delete(s);
      emit();
    } else {
      received.set(s, n);
    }
  };
  const { clients, errors } = await connectMany(opts.clients, 100, onPacket);
  perGroup = Math.floor(clients.length / groups);
  if (perGroup === 0) throw new Error(`${clients.length} clients for ${groups} rooms`);
  if (groups > 1) {
    let joined = 0;
    await new Promise((resolve) => {
      clients.forEach((client, i) => {
        const original = client.onText;
        client.onText = (c, text) => {
          if (text.startsWith("43")) {
            client.onText = original;
            if (++joined === clients.length) resolve();
          } else original(c, text);
        };
        client.send(`421["join","r${i % groups}"]`);
      });
    });
    sender = await connectSio(() => {});
    clients.push(sender);
  } else {
    sender = clients[0];
  }
  for (let i = 0; i < opts.window; i++) emit();
  const result = await win.run();
  return { ...result, errors, clients: opts.clients, window: opts.window, rooms: groups > 1 ? groups : undefined, close: clients };
}

// Open loop: every millisecond tick sends the messages due at --rate since the start (round-robin over
// the clients), whether or not the replies came back; every reply's latency is kept (send call to
// receipt). `lag_p99_ms` says how late the ticks ran (the load generator keeping its schedule or not);
// more than --max-in-flight unanswered messages stop the sending (counted in `skipped`).
async function echoRate() {
  const win = new Window();
  win.sampleMask = 0;
  win.extended = true;
  const sentAt = new Map(); // client -> FIFO of send times
  let inFlight = 0;
  const onPacket = (client, text) => {
    if (text.startsWith('42["echo"')) {
      inFlight--;
      win.record(sentAt.get(client).shift());
    }
  };
  const { clients, errors } = await connectMany(opts.clients, 100, onPacket);
  for (const client of clients) sentAt.set(client, []);
  let seq = 0;
  let sent = 0;
  let skipped = 0;
  let next = 0;
  let running = true;
  const lags = [];
  const perMs = opts.rate / 1000;
  const t0 = performance.now();
  const tick = () => {
    if (!running) return;
    const now = performance.now();
    const due = Math.floor((now - t0) * perMs);
    if (due > sent) {
      if (win.open) lags.push(now - (t0 + (sent + 1) / perMs));
      for (; sent < due; sent++) {
        if (inFlight >= opts.maxInFlight) {
          skipped++;
          continue;
        }
        const client = clients[next++ % clients.length];
        seq++;
        inFlight++;
        sentAt.get(client).push(performance.now());
        client.send(`42["echo",${data(seq)}]`);
      }
    }
    setTimeout(tick, 1);
  };
  tick();
  let skippedBefore = 0;
  const result = await win.run(() => {
    skippedBefore = skipped;
  });
  running = false;
  lags.sort((a, b) => a - b);
  return {
    ...result,
    errors,
    clients: clients.length,
    rate: opts.rate,
    lag_p99_ms: lags.length ? round(lags[Math.floor(0.99 * lags.length)], 3) : null,
    skipped: skipped - skippedBefore,
    close: clients,
  };
}

// The fan-out storm on other connections than the measured ones: --clients receivers join room
// "storm", one more client emits `room` to it with --window emits in flight (the next leaves when
// every receiver has one), payload --payload bytes. Prints {"ready": true} once storming, then runs
// until SIGTERM or --duration seconds, and prints its deliveries per second and its own CPU use.
async function storm() {
  const payload = "x".repeat(opts.payload);
  const received = new Map(); // seq -> deliveries so far
  let seq = 0;
  let sender = null;
  let deliveries = 0;
  let bytes = 0;
  let receivers = 0;
  const emit = () => {
    seq++;
    received.set(seq, 0);
    sender.send(`42["room",{"room":"storm","data":{"s":${seq},"p":"${payload}"}}]`);
  };
  const onFrame = (client, body) => {
    if (body.length === 1 && body[0] === 50) return client.send("3"); // a ping, as a Buffer
    const at = body.indexOf('"s":');
    if (at < 0 || at > 40) return;
    let s = 0;
    for (let i = at + 4; body[i] >= 48 && body[i] <= 57; i++) s = s * 10 + body[i] - 48;
    deliveries++;
    bytes += body.length;
    const n = received.get(s) + 1;
    if (n === receivers) {
      received.delete(s);
      emit();
    } else {
      received.set(s, n);
    }
  };
  const { clients, errors } = await connectMany(opts.clients, 100, () => {});
  await Promise.all(
    clients.map(
      (client) =>
        new Promise((resolve) => {
          const original = client.onText;
          client.onText = (c, text) => {
            if (text.startsWith("43")) {
              client.onText = onFrame;
              client.raw = true;
              resolve();
            } else original(c, text);
          };
          client.send('421["join","storm"]');
        }),
    ),
  );
  receivers = clients.length;
  sender = await connectSio(() => {});
  clients.push(sender);
  const cpu0 = serversCpuUs();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < opts.window; i++) emit();
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  await new Promise((resolve) => {
    process.once("SIGTERM", resolve);
    setTimeout(resolve, opts.duration * 1000);
  });
  const seconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  return {
    seconds: round(seconds, 3),
    deliveries,
    deliveries_per_s: Math.round(deliveries / seconds),
    emits_per_s: Math.round(deliveries / receivers / seconds),
    mb_per_s: round(bytes / seconds / 1e6, 1),
    server_cpu_pct: round((serversCpuUs() - cpu0) / (seconds * 1e4), 1),
    loadgen_cpu_pct: round((self.user + self.system) / (seconds * 1e4), 1),
    errors,
    clients: receivers,
    window: opts.window,
    payload: opts.payload,
    close: clients,
  };
}

async function connectScenario() {
  await sleep(opts.warmup * 1000);
  const rss0 = rssMb(opts.serverPid);
  const cpu0 = treeCpuUs(opts.serverPid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const latencies = [];
  const timed = async () => {
    const start = performance.now();
    const client = await connectSio(() => {});
    latencies.push(performance.now() - start);
    return client;
  };
  const clients = [];
  let next = 0;
  let errors = 0;
  const worker = async () => {
    while (next < opts.clients) {
      next++;
      try {
        clients.push(await timed());
      } catch (_) {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.window }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = treeCpuUs(opts.serverPid) - cpu0;
  const self = process.cpuUsage(self0);
  const rss1 = rssMb(opts.serverPid);
  const win = new Window();
  win.count = clients.length;
  win.latencies = latencies;
  return {
    ...win.result(seconds, cpu, (self.user + self.system) / (seconds * 1e4)),
    errors,
    clients: opts.clients,
    window: opts.window,
    server_rss_mb: rss1 === null ? null : round(rss1, 1),
    rss_kb_per_conn: rss0 === null || rss1 === null || !clients.length ? null : round(((rss1 - rss0) * 1024) / clients.length, 1),
    close: clients,
  };
}

// Long-polling: per client one long-poll GET always outstanding and one POST at a time.
async function pollingEcho() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 * opts.clients });
  const request = (method, query, body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: opts.host, port: opts.port, method, agent, path: `/socket.io/?EIO=4&transport=polling${query}`,
          headers: body === undefined ? {} : { "Content-Type": "text/plain;charset=UTF-8" } },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks).toString()));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const win = new Window();
  let seq = 0;
  let stopped = false;
  let errors = 0;
  const runClient = async () => {
    const opened = await request("GET", "");
    const sid = JSON.parse(opened.slice(1)).sid;
    const q = `&sid=${sid}`;
    await request("POST", q, "40");
    const times = [];
    let pending = Promise.resolve();
    const post = () => {
      seq++;
      times.push(performance.now());
      pending = pending.then(() => request("POST", q, `42["echo",${data(seq)}]`));
    };
    for (let i = 0; i < opts.window; i++) post();
    while (!stopped) {
      const body = await request("GET", q);
      for (const packet of body.split("\x1e")) {
        if (packet === "2") pending = pending.then(() => request("POST", q, "3"));
        else if (packet.startsWith('42["echo"')) {
          win.record(times.shift());
          if (!stopped) post();
        }
      }
    }
    await pending;
    await request("POST", q, "1").catch(() => {});
  };
  const running = Array.from({ length: opts.clients }, () => runClient().catch(() => errors++));
  const result = await win.run();
  stopped = true;
  await Promise.race([Promise.all(running), sleep(30000)]);
  agent.destroy();
  return { ...result, errors, clients: opts.clients, window: opts.window, transport: "polling" };
}

async function main() {
  const scenario = opts.scenario;
  let result;
  if (scenario === "echo") result = await echoLike(false);
  else if (scenario === "ack") result = await echoLike(true);
  else if (scenario === "fanout") result = await broadcastLike(1);
  else if (scenario === "rooms") result = await broadcastLike(opts.rooms);
  else if (scenario === "connect") result = await connectScenario();
  else if (scenario === "echo-rate") result = await echoRate();
  else if (scenario === "storm") result = await storm();
  else result = await pollingEcho();
  const clients = result.close || [];
  delete result.close;
  if (result.server_rss_mb === undefined) {
    const rss = rssMb(opts.serverPid);
    result.server_rss_mb = rss === null ? null : round(rss, 1);
  }
  for (const client of clients) client.close();
  process.stdout.write(JSON.stringify({ scenario, transport: "websocket", ...result }) + "\n");
  clearTimeout(hardDeadline);
  setTimeout(() => process.exit(0), 50);
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ scenario: opts.scenario, error: String(err && err.stack) }) + "\n");
  process.exit(1);
});
