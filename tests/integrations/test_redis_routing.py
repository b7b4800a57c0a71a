"""Two servers that find each other in Redis relay polling requests to the session's owner."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from redis_support import RedisServer
from socketeer import Server
from socketeer.integrations.redis_routing import RedisSessionRouter


async def request(port: int, method: str, query: str, body: bytes = b"") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


async def test_sessions_are_relayed_between_servers_registered_in_redis(
    redis_server: RedisServer, serve_socketeer: Any
) -> None:
    servers = [Server(), Server()]
    ports = []
    routers = []
    for io in servers:

        @io.on("where")
        def where(socket: Any, io: Server = io) -> int:
            return servers.index(io)

        url = await serve_socketeer(io)
        port = int(url.rsplit(":", 1)[1])
        router = RedisSessionRouter(redis_server.url, advertise=f"127.0.0.1:{port}")
        io.engine.use_router(router)
        io.add_closer(router.aclose)
        ports.append(port)
        routers.append(router)
    await routers[1].start()
    # a session opened on server 0 (which registers with it), then used through both servers in turn
    status, body = await request(ports[0], "GET", "")
    sid = json.loads(body[1:])["sid"]
    assert sid.startswith(routers[0].node_id)
    assert (await request(ports[1], "POST", f"&sid={sid}", b"40"))[0] == 200
    assert (await request(ports[1], "GET", f"&sid={sid}"))[1].startswith(b"40")
    for i in range(6):
        port = ports[i % 2]
        assert (await request(port, "POST", f"&sid={sid}", f'42{i}["where"]'.encode()))[0] == 200
        status, body = await request(port, "GET", f"&sid={sid}")
        assert body == f"43{i}[0]".encode(), body
    assert routers[1].relayed >= 3
    # a forged session id naming no registered server is answered here: unknown session
    status, body = await request(ports[1], "GET", "&sid=zzzzzzforged0000000000")
    assert status == 400 and b"Session ID unknown" in body
