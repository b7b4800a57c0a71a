// node tutorial_chat_client.js NICKNAME   then type: a message, or "/w NICK text" to whisper
const readline = require("node:readline");
const { io } = require("socket.io-client");

const nickname = process.argv[2] || "";
const socket = io(process.env.SERVER_URL || "http://127.0.0.1:3000", { auth: { nickname } });

socket.on("connect_error", (err) => {
  console.log(`* refused: ${err.message}`);
  process.exit(1);
});
socket.on("welcome", ({ you, online }) => console.log(`* welcome ${you}; online: ${online.join(", ")}`));
socket.on("system", (text) => console.log(`* ${text}`));
socket.on("message", ({ from, text }) => console.log(`<${from}> ${text}`));
socket.on("whisper", ({ from, text }) => console.log(`(${from} whispers) ${text}`));

const input = readline.createInterface({ input: process.stdin });
input.on("line", async (line) => {
  const whisper = /^\/w (\S+) (.+)$/.exec(line);
  if (whisper) {
    const delivered = await socket.emitWithAck("whisper", whisper[1], whisper[2]);
    console.log(delivered ? `* whispered to ${whisper[1]}` : `* nobody called ${whisper[1]} here`);
  } else if (line.trim()) {
    await socket.emitWithAck("message", line);
    console.log("* sent");
  }
});
input.on("close", () => socket.disconnect());
