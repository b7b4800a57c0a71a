"use strict";
// The official Engine.IO v3 parser (shipped inside the npm engine.io server) as a line-oriented codec.
//   {"op": "text", "packets": [...]}    -> {"text": "<text payload>"}
//   {"op": "binary", "packets": [...]}  -> {"b64": "<binary payload>"}
//   {"op": "decode", "b64": "...", "binary": bool} -> {"packets": [...]} or {"error": true}
// A packet is {"type": "message", "data": "..."} or {"type": "message", "bin": "<base64>"}.
const readline = require("readline");
const path = require("path");
const parser = require(path.join(require.resolve("engine.io"), "..", "parser-v3"));

function fromJson(p) {
  return p.bin !== undefined ? { type: p.type, data: Buffer.from(p.bin, "base64") } : { type: p.type, data: p.data };
}

function toJson(p) {
  if (Buffer.isBuffer(p.data)) return { type: p.type, bin: p.data.toString("base64") };
  return p.data === undefined ? { type: p.type } : { type: p.type, data: p.data };
}

function handle(req) {
  if (req.op === "text") {
    let result;
    parser.encodePayload(req.packets.map(fromJson), false, (data) => (result = data));
    return { text: result };
  }
  if (req.op === "binary") {
    let result;
    parser.encodePayloadAsBinary(req.packets.map(fromJson), (data) => (result = data));
    return { b64: Buffer.from(result).toString("base64") };
  }
  if (req.op === "decode") {
    const raw = Buffer.from(req.b64, "base64");
    const packets = [];
    let error = false;
    parser.decodePayload(req.binary ? raw : raw.toString("utf8"), (packet) => {
      if (packet.type === "error") error = true;
      else packets.push(toJson(packet));
    });
    return error ? { error: true } : { packets };
  }
  throw new Error("unknown op");
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let answer;
  try {
    answer = handle(JSON.parse(line));
  } catch (err) {
    answer = { exception: String(err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
