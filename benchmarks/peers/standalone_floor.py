"""The standalone floor: a raw ``asyncio.Protocol`` on uvloop with socketeer's own WebSocket frame codec
(``socketeer.protocol.websocket_frames``), speaking just enough Engine.IO and Socket.IO to answer the
load generator's ``echo``, ``ack`` and ``broadcast`` the cheapest way (string slicing, no JSON, no
session), with the standalone server's write discipline: a broadcast framed once, and the frames of
one event-loop iteration joined into one ``transport.write`` per connection. socketeer's standalone
server minus this is what socketeer adds on its own path (compare with ``asgi_floor.py``).

Run: ``PORT=4000 python benchmarks/peers/standalone_floor.py``.
"""

from __future__ import annotations

import asyncio
import os

import uvloop

from socketeer.protocol.websocket_frames import (
    FrameReader,
    build_frame,
    build_handshake_response,
    build_text_frame,
)

SID = "floorfloorfloorfloor"
OPEN = '0{"sid":"' + SID + '","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
CONNECTED = build_text_frame(('40{"sid":"' + SID + '"}').encode())

connections: set[Connection] = set()
dirty: list[Connection] = []  # connections with frames to write at the end of this loop iteration


def flush() -> None:
    todo = dirty[:]
    dirty.clear()
    for conn in todo:
        out = conn.out
        conn.out = []
        if not conn.transport.is_closing():
            conn.transport.write(out[0] if len(out) == 1 else b"".join(out))


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.head = b""
        self.reader: FrameReader | None = None
        self.out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        connections.discard(self)

    def send(self, frame: bytes) -> None:
        if not self.out:
            if not dirty:
                asyncio.get_running_loop().call_soon(flush)
            dirty.append(self)
        self.out.append(frame)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        if reader is None:
            self.handshake(data)
            return
        for opcode, payload in reader.feed(data):
            if opcode == 1:
                text: str = payload  # type: ignore[assignment]
                if text.startswith('42["echo",'):  # the same packet back
                    self.send(build_text_frame(text.encode()))
                elif text.startswith('42["broadcast",'):  # 42["bcast",data] to everyone, framed once
                    frame = build_text_frame(('42["bcast",' + text[15:]).encode())
                    for conn in connections:
                        conn.send(frame)
                elif text.startswith("42"):  # 42<id>["ack",data] -> 43<id>[data]
                    at = text.index("[", 2)
                    self.send(build_text_frame(("43" + text[2:at] + "[" + text[at + 7 :]).encode()))
                elif text == "40":
                    self.send(CONNECTED)
            elif opcode == 9:  # ping
                self.send(build_frame(10, payload))  # type: ignore[arg-type]
            elif opcode == 8:
                self.transport.close()

    def handshake(self, data: bytes) -> None:
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = self.head[:end].decode("latin-1").split("\r\n")
        rest = self.head[end + 4 :]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("upgrade", "").lower() != "websocket":  # the runner's readiness check
            body = OPEN.encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            self.transport.close()
            return
        self.transport.write(build_handshake_response(headers["sec-websocket-key"]))
        self.reader = FrameReader()
        self.head = b""
        connections.add(self)
        self.send(build_text_frame(OPEN.encode()))
        if rest:
            self.data_received(rest)


async def main() -> None:
    port = int(os.environ.get("PORT", "4000"))
    server = await asyncio.get_running_loop().create_server(Connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main())
