// The official socket.io-msgpack-parser as a line-oriented codec, for differential tests.
//
// One JSON request per stdin line, one JSON answer per stdout line, in order:
//   {"op": "encode", "packet": {...}}  ->  {"ok": true, "b64": "<the one binary message>"}
//   {"op": "decode", "b64": "..."}     ->  {"ok": true, "packet": {...}} or {"ok": false, "error": "..."}
// Values that JSON cannot hold are tagged objects:
//   {"$bin": b64}  Buffer              {"$ab": b64}   ArrayBuffer (decoded from extension type 0)
//   {"$u8": b64}   Uint8Array (encode only; notepack sends it as extension type 0)
//   {"$date": ms}  Date                {"$undef": 1}  undefined
//   {"$num": "NaN" | "Infinity" | "-Infinity" | "-0"}
// The packet's keys keep the request's order, so the encoder sees the object the test describes.
"use strict";

const readline = require("readline");
const { Encoder, Decoder } = require("socket.io-msgpack-parser");

function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [key] = keys;
      const v = value[key];
      if (key === "$bin") return Buffer.from(v, "base64");
      if (key === "$u8") return new Uint8Array(Buffer.from(v, "base64"));
      if (key === "$date") return new Date(v);
      if (key === "$undef") return undefined;
      if (key === "$num") return v === "-0" ? -0 : Number(v);
    }
    const out = {};
    for (const key of keys) out[key] = fromJson(value[key]);
    return out;
  }
  return value;
}

function toJson(value) {
  if (value === undefined) return { $undef: 1 };
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return { $num: String(value) };
    if (Object.is(value, -0)) return { $num: "-0" };
    return value;
  }
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $ab: Buffer.from(value).toString("base64") };
  if (value instanceof Date) return { $date: value.getTime() };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = toJson(value[key]);
    return out;
  }
  return value;
}

const encoder = new Encoder();

function handle(request) {
  if (request.op === "encode") {
    const parts = encoder.encode(fromJson(request.packet));
    if (parts.length !== 1) throw new Error(`expected one message, got ${parts.length}`);
    return { ok: true, b64: Buffer.from(parts[0]).toString("base64") };
  }
  if (request.op === "decode") {
    const decoder = new Decoder();
    let decoded = null;
    decoder.on("decoded", (packet) => {
      decoded = packet;
    });
    decoder.add(Buffer.from(request.b64, "base64"));
    return { ok: true, packet: toJson(decoded) };
  }
  throw new Error(`unknown op ${request.op}`);
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  let answer;
  try {
    answer = handle(JSON.parse(line));
  } catch (err) {
    answer = { ok: false, error: String(err && err.message ? err.message : err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
