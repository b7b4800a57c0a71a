import itertools
from typing import Any

import socketeer
from socketeer.transports.ports import HttpRequest

io = socketeer.Server()


class IdService:  # stands for your own id source (a database sequence, a cluster-wide allocator...)
    def __init__(self) -> None:
        self._ids = itertools.count(1)

    async def next(self) -> str:
        return f"node-1-{next(self._ids)}"


id_service = IdService()


@io.engine.on_initial_headers  # the handshake only (polling, or a new WebSocket's 101)
def initial(headers: dict[str, Any], request: HttpRequest) -> None:
    headers["Set-Cookie"] = "affinity=node-1; Path=/"


@io.engine.on_headers  # every successful Engine.IO response, 101s included
def every(headers: dict[str, Any], request: HttpRequest) -> None:
    headers["X-Served-By"] = "node-1"


async def make_id(request: HttpRequest) -> str:  # or a plain function; gets the handshake request
    return await id_service.next()


io.engine.generate_id = make_id
