// engine.io-parser's packet encoder and decoder streams (the WebTransport framing), for differential tests.
//
// Reads one JSON array of requests on stdin, writes one JSON array of answers on stdout, in order:
//   {"op": "encode", "packets": [{"type": "message", "data": "hi" | {"$bin": b64}}, ...]}
//       -> {"b64": "<the bytes the encoder stream writes>"}
//   {"op": "decode", "chunks": [b64, ...], "max": n}
//       -> {"packets": [{"type": ..., "data": ...}, ...]} (up to and including an "error" packet)
"use strict";

const { createPacketEncoderStream, createPacketDecoderStream } = require("engine.io-parser");

function fromJson(packet) {
  const out = { type: packet.type };
  if (packet.data !== undefined) {
    out.data = typeof packet.data === "string" ? packet.data : Buffer.from(packet.data.$bin, "base64");
  }
  return out;
}

function toJson(packet) {
  const out = { type: packet.type };
  if (packet.data !== undefined) {
    out.data = typeof packet.data === "string" ? packet.data : { $bin: Buffer.from(packet.data).toString("base64") };
  }
  return out;
}

async function encode(packets) {
  const stream = createPacketEncoderStream();
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const chunks = [];
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      chunks.push(Buffer.from(value));
    }
  })();
  for (const packet of packets) await writer.write(fromJson(packet));
  await writer.close();
  await reading;
  return { b64: Buffer.concat(chunks).toString("base64") };
}

async function decode(chunks, max) {
  const stream = createPacketDecoderStream(max, "nodebuffer");
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const packets = [];
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      packets.push(toJson(value));
    }
  })();
  for (const chunk of chunks) await writer.write(new Uint8Array(Buffer.from(chunk, "base64")));
  await writer.close();
  await reading;
  const error = packets.findIndex((p) => p.type === "error");
  return { packets: error === -1 ? packets : packets.slice(0, error + 1) };
}

(async () => {
  const input = [];
  for await (const chunk of process.stdin) input.push(chunk);
  const requests = JSON.parse(Buffer.concat(input).toString("utf8"));
  const answers = [];
  for (const r of requests) {
    answers.push(r.op === "encode" ? await encode(r.packets) : await decode(r.chunks, r.max));
  }
  process.stdout.write(JSON.stringify(answers));
})();
