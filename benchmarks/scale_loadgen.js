"use strict";
// The load generator of the scale scenario (benchmarks/scale.py): many idle Socket.IO clients written at
// the frame level on Node's `net` (no client library, no HTTP agent), each bound to one of several
// loopback source addresses so that their count is not capped by the ephemeral ports of one address.
//
//   node benchmarks/scale_loadgen.js --port 4000 --server-pid 1234 --clients 100000 [--transport websocket
//        --sources 16 --window 200 --ping-interval 5 --ping-timeout 10 --hold 20 --broadcasts 3]
//
// Phases: ramp (open every client, `window` handshakes in flight), settle, hold (nothing but heartbeats:
// every PING answered with a PONG, counted per client), broadcasts (one client emits `broadcast`, the
// server sends `bcast` to everyone; timed until the last client has it), close. One JSON line of results
// on stdout. Every phase is bounded; a hard deadline ends the process.
const net = require("node:net");
const fs = require("node:fs");

// -- options ------------------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = {
    port: 4000, host: "127.0.0.1", serverPid: 0, clients: 10000, transport: "websocket", sources: 16,
    window: 200, postLines: 100, pingInterval: 5, pingTimeout: 10, settle: 2, hold: 20, broadcasts: 3, deadline: 420,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const value = argv[i + 1];
    opts[key] = /^[0-9.]+$/.test(value) ? Number(value) : value;
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const POLLING = opts.transport === "polling";
const hardDeadline = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: "hard deadline", phase }) + "\n");
  process.exit(2);
}, opts.deadline * 1000);
let phase = "start";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (x, digits) => Math.round(x * 10 ** digits) / 10 ** digits;
const now = () => performance.now();

// -- /proc accounting ---------------------------------------------------------------------------

const TICK_US = 1e6 / 100; // USER_HZ

function cpuUs(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

function rssKb(pid) {
  const match = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) : null;
}

// -- clients ------------------------------------------------------------------------------------

// Source addresses 127.0.0.2 .. 127.0.0.(sources+1), round-robin: each has its own ephemeral ports.
let nextSource = 0;
const source = () => `127.0.0.${2 + (nextSource++ % opts.sources)}`;

const ZERO_MASK = Buffer.alloc(4);
function wsFrame(text) {
  const body = Buffer.from(text);
  const n = body.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : Buffer.from([0x81, 0x80 | 126, n >> 8, n & 255]);
  return Buffer.concat([head, ZERO_MASK, body]);
}
const PONG_FRAME = wsFrame("3");
const CONNECT_FRAME = wsFrame("40");
const UPGRADE_REQUEST = Buffer.from(
  `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\n` +
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\n\r\n",
);

const stats = { closed: 0, errors: 0, unexpected: 0 };
let onBroadcast = () => {};

// What every client does with a text packet once connected: PINGs answered, broadcasts counted.
function onPacket(client, text) {
  if (text === "2") {
    const t = now();
    if (client.lastPing > 0 && t - client.lastPing > client.maxGap) client.maxGap = t - client.lastPing;
    client.lastPing = t;
    client.pings++;
    client.pong();
  } else if (text.startsWith('42["bcast"')) {
    client.got++;
    onBroadcast(client, text);
  } else if (text === "1" || text.startsWith("41")) {
    stats.unexpected++;
  }
}

class WsClient {
  constructor(resolve, reject) {
    this.buf = null;
    this.state = 0; // 0 upgrading, 1 waiting for the Engine.IO open, 2 for the CONNECT reply, 3 connected
    this.pings = 0;
    this.lastPing = 0;
    this.maxGap = 0;
    this.got = 0;
    this.done = resolve;
    this.fail = reject;
    const socket = net.connect({ host: opts.host, port: opts.port, localAddress: source(), noDelay: true });
    this.socket = socket;
    socket.on("connect", () => socket.write(UPGRADE_REQUEST));
    socket.on("data", (chunk) => this.data(chunk));
    socket.on("error", (err) => this.lost(err));
    socket.on("close", () => this.lost(null));
  }

  lost(err) {
    if (this.state === 4) return;
    if (this.state === 3) stats.closed++;
    else if (this.fail) this.fail(err || new Error("closed during the handshake"));
    this.state = 4;
  }

  data(chunk) {
    let buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.state === 0) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        this.buf = buf;
        return;
      }
      if (buf.toString("latin1", 9, 12) !== "101") {
        this.fail(new Error(`no upgrade: ${buf.toString("latin1", 0, 40)}`));
        this.fail = null;
        this.socket.destroy();
        return;
      }
      this.state = 1;
      buf = buf.subarray(end + 4);
    }
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
      if (opcode === 1) this.text(body.toString());
      else if (opcode === 8) this.socket.end();
    }
    this.buf = buf.length ? Buffer.from(buf) : null; // a copy: a slice would keep the whole chunk alive
  }

  text(text) {
    if (this.state === 3) return onPacket(this, text);
    if (this.state === 1 && text[0] === "0") {
      this.state = 2;
      this.socket.write(CONNECT_FRAME);
    } else if (this.state === 2 && text.startsWith("40")) {
      this.state = 3;
      this.done(this);
      this.done = this.fail = null;
    } else if (text === "2") {
      this.pong();
    } else if (this.state === 2 && text.startsWith("44")) {
      this.fail(new Error(`connect refused: ${text}`));
      this.fail = null;
      this.socket.destroy();
    }
  }

  pong() {
    this.socket.write(PONG_FRAME);
  }

  emit(text) {
    this.socket.write(wsFrame(text));
  }

  close() {
    this.state = 4;
    this.socket.destroy();
  }
}

// Long-polling: each client's keep-alive TCP connection holds its GET (always one waiting); the POSTs
// (the CONNECT, the PONGs, the broadcast's emit) of every client share a pool of `--post-lines`
// keep-alive connections (the sid is in the query), one request at a time on each.
class HttpLine {
  constructor(onLost) {
    this.onLost = onLost;
    this.buf = null;
    this.queue = []; // [head, callback] of the requests waiting for the one in flight
    this.current = null; // the callback of the one in flight
    this.socket = net.connect({ host: opts.host, port: opts.port, localAddress: source(), noDelay: true });
    this.socket.on("data", (chunk) => this.data(chunk));
    this.socket.on("error", (err) => onLost(err));
    this.socket.on("close", () => onLost(null));
  }

  request(method, query, body, callback) {
    const head =
      `${method} /socket.io/?EIO=4&transport=polling${query} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\n` +
      (body === undefined ? "\r\n" : `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    if (this.current !== null) this.queue.push([head, callback]);
    else {
      this.current = callback;
      this.socket.write(head);
    }
  }

  data(chunk) {
    let buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) break;
      const head = buf.toString("latin1", 0, end);
      const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!match) {
        this.onLost(new Error(`no content-length: ${head.slice(0, 200)}`));
        this.socket.destroy();
        return;
      }
      const size = Number(match[1]);
      if (buf.length < end + 4 + size) break;
      const status = head.slice(9, 12);
      const body = buf.toString("utf8", end + 4, end + 4 + size);
      buf = buf.subarray(end + 4 + size);
      const callback = this.current;
      this.current = null;
      if (this.queue.length) {
        const [next, nextCallback] = this.queue.shift();
        this.current = nextCallback;
        this.socket.write(next);
      }
      callback(status, body);
    }
    this.buf = buf.length ? Buffer.from(buf) : null;
  }

  close() {
    this.socket.destroy();
  }
}

class PollingClient {
  constructor(resolve, reject) {
    this.state = 0; // 0 handshake, 1 waiting for the CONNECT reply, 3 connected, 4 gone
    this.pings = 0;
    this.lastPing = 0;
    this.maxGap = 0;
    this.got = 0;
    this.q = "";
    this.done = resolve;
    this.fail = reject;
    this.get = new HttpLine((err) => this.lost(err));
    this.onPolled = (status, body) => this.polled(status, body);
    this.onPosted = (status, body) => this.posted(status, body);
    this.get.request("GET", "", undefined, this.onPolled);
  }

  lost(err) {
    if (this.state === 4) return;
    if (this.state === 3) stats.closed++;
    else if (this.fail) this.fail(err || new Error("closed during the handshake"));
    this.state = 4;
    this.get.close();
  }

  polled(status, body) {
    if (this.state === 4) return;
    if (status !== "200") {
      if (this.state === 3) stats.unexpected++;
      return this.lost(new Error(`HTTP ${status}: ${body.slice(0, 80)}`));
    }
    if (this.state === 0) {
      this.q = `&sid=${JSON.parse(body.slice(1)).sid}`;
      this.state = 1;
      postLine().request("POST", this.q, "40", this.onPosted);
    } else {
      for (const packet of body.split("\x1e")) {
        if (this.state === 1 && packet.startsWith("40")) {
          this.state = 3;
          this.done(this);
          this.done = this.fail = null;
        } else if (this.state === 1 && packet === "2") this.pong();
        else if (this.state === 3) onPacket(this, packet);
      }
    }
    if (this.state !== 4) this.get.request("GET", this.q, undefined, this.onPolled);
  }

  posted(status, body) {
    if (status !== "200" && this.state !== 4) {
      stats.unexpected++;
      this.lost(new Error(`POST: HTTP ${status}: ${body.slice(0, 80)}`));
    }
  }

  pong() {
    postLine().request("POST", this.q, "3", this.onPosted);
  }

  emit(text) {
    postLine().request("POST", this.q, text, this.onPosted);
  }

  close() {
    this.state = 4;
    this.get.close();
  }
}

const postLines = [];
let nextPostLine = 0;
function postLine() {
  if (postLines.length < opts.postLines) {
    const line = new HttpLine((err) => {
      if (phase !== "close") {
        stats.errors++;
        process.stderr.write(`a POST connection was lost: ${err}\n`);
      }
    });
    postLines.push(line);
    return line;
  }
  return postLines[nextPostLine++ % postLines.length];
}

const Client = POLLING ? PollingClient : WsClient;
const connect = () => new Promise((resolve, reject) => new Client(resolve, reject));

// -- phases -------------------------------------------------------------------------------------

async function ramp() {
  const clients = [];
  let next = 0;
  let errors = 0;
  let firstError = null;
  const worker = async () => {
    while (next < opts.clients) {
      next++;
      try {
        clients.push(await connect());
      } catch (err) {
        errors++;
        firstError = firstError || String(err && err.message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.window, opts.clients) }, worker));
  return { clients, errors, firstError };
}

// One broadcast: the first client emits, every client must receive it; resolves with the time from the
// emit to the last arrival, or null when some clients still had not got it after `limitMs`.
function broadcast(clients, seq, limitMs) {
  return new Promise((resolve) => {
    let count = 0;
    const t0 = now();
    const timer = setTimeout(() => {
      onBroadcast = () => {};
      resolve({ ms: null, received: count });
    }, limitMs);
    onBroadcast = (client, text) => {
      if (!text.includes(`"s":${seq},`)) return;
      if (++count === clients.length) {
        clearTimeout(timer);
        onBroadcast = () => {};
        resolve({ ms: now() - t0, received: count });
      }
    };
    clients[0].emit(`42["broadcast",{"s":${seq},"p":"${"x".repeat(80)}"}]`);
  });
}

async function main() {
  const pid = opts.serverPid;
  const result = { transport: opts.transport, clients: opts.clients, sources: opts.sources, window: opts.window };
  const self0 = process.cpuUsage();
  // the server at rest, before any client
  const rss0 = rssKb(pid);
  const cpuRamp0 = cpuUs(pid);
  phase = "ramp";
  const t0 = now();
  const { clients, errors, firstError } = await ramp();
  const rampS = (now() - t0) / 1000;
  const cpuRamp = cpuUs(pid) - cpuRamp0;
  Object.assign(result, {
    connected: clients.length,
    connect_errors: errors,
    first_error: firstError,
    ramp_s: round(rampS, 2),
    handshakes_per_s: Math.round(clients.length / rampS),
    ramp_server_cpu_us_per_handshake: clients.length ? round(cpuRamp / clients.length, 1) : null,
    ramp_server_cpu_pct: round(cpuRamp / (rampS * 1e4), 1),
  });
  if (!clients.length) throw new Error(`no client connected: ${firstError}`);

  phase = "settle";
  await sleep(opts.settle * 1000);
  const rss1 = rssKb(pid);
  for (const client of clients) {
    client.pings = 0;
    client.maxGap = 0;
  }

  phase = "hold"; // nothing but heartbeats
  const closedBefore = stats.closed;
  const cpuHold0 = cpuUs(pid);
  const th0 = now();
  await sleep(opts.hold * 1000);
  const holdS = (now() - th0) / 1000;
  const cpuHold = cpuUs(pid) - cpuHold0;
  const rss2 = rssKb(pid);
  const pings = clients.map((c) => c.pings).sort((a, b) => a - b);
  const gaps = clients.map((c) => c.maxGap).sort((a, b) => a - b);
  // each client must get a PING at least every ping_interval (+ the slack of a busy loop): a client whose
  // gap reached ping_interval + ping_timeout would have closed the connection as the official client does
  const expected = Math.floor(holdS / opts.pingInterval + 0.01) - 1;
  const missed = clients.filter((c) => c.state !== 3 || c.pings < expected || c.maxGap >= (opts.pingInterval + opts.pingTimeout) * 1000).length;
  Object.assign(result, {
    server_rss0_mb: round(rss0 / 1024, 1),
    server_rss_mb: round(rss2 / 1024, 1),
    rss_kb_per_conn: round((rss1 - rss0) / clients.length, 2),
    rss_kb_per_conn_after_hold: round((rss2 - rss0) / clients.length, 2),
    hold_s: round(holdS, 2),
    hold_server_cpu_pct: round(cpuHold / (holdS * 1e4), 2),
    heartbeats_per_s: Math.round(pings.reduce((a, b) => a + b, 0) / holdS),
    heartbeat_cpu_us: pings.length ? round(cpuHold / pings.reduce((a, b) => a + b, 0), 2) : null,
    pings_min: pings[0],
    pings_median: pings[pings.length >> 1],
    pings_max: pings[pings.length - 1],
    pings_expected_min: expected,
    max_ping_gap_ms: Math.round(gaps[gaps.length - 1]),
    median_ping_gap_ms: Math.round(gaps[gaps.length >> 1]),
    missed_heartbeats: missed,
    closed_during_hold: stats.closed - closedBefore,
  });

  phase = "broadcast";
  const times = [];
  let missedMessages = 0;
  for (let seq = 1; seq <= opts.broadcasts; seq++) {
    const { ms, received } = await broadcast(clients, seq, 30000);
    missedMessages += clients.length - received;
    times.push(ms === null ? null : round(ms, 1));
    await sleep(200);
  }
  const delivered = clients.filter((c) => c.got === opts.broadcasts).length;
  const sorted = times.filter((t) => t !== null).sort((a, b) => a - b);
  Object.assign(result, {
    broadcast_ms: times,
    broadcast_ms_median: sorted.length ? sorted[sorted.length >> 1] : null,
    missed_messages: missedMessages,
    clients_with_every_message: delivered,
    closed_total: stats.closed,
    post_lines_lost: stats.errors,
    unexpected_packets: stats.unexpected,
  });
  const self = process.cpuUsage(self0);
  result.loadgen_cpu_s = round((self.user + self.system) / 1e6, 1);
  result.loadgen_rss_mb = round(process.memoryUsage().rss / 1048576, 1);

  phase = "close";
  for (const client of clients) client.close();
  for (const line of postLines) line.close();
  process.stdout.write(JSON.stringify(result) + "\n");
  clearTimeout(hardDeadline);
  setTimeout(() => process.exit(0), 100);
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack), phase }) + "\n");
  process.exit(1);
});
