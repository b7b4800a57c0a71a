"""Long-polling without sticky sessions: a request for a session that another server owns goes to its owner.

Every Engine.IO session id starts with the id of the server that created it (:class:`SessionRouter`):
``<node id><random>``. When a polling request (GET or POST) reaches a server that does not hold the session,
the engine asks its router for the owner and relays the request there over HTTP/1.1 (a kept-alive
connection per owner, over a unix socket between the workers of one machine or TCP between machines),
then answers the client with the owner's response, as the official ``@socket.io/cluster-engine`` does.
The owner is looked up in a table this server trusts (the workers' socket directory, or the configured
peers), never taken from the request: a forged session id cannot make a server connect elsewhere.

WebSocket upgrades are not relayed: an upgrade that reaches another server is refused as an unknown
session, and the client goes on with long-polling on that session (the official client's behaviour).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from .ports import HttpRequest, HttpResponse

__all__ = ["NODE_ID_LENGTH", "Address", "SessionRouter", "new_node_id"]

logger = logging.getLogger("socketeer.engine")

NODE_ID_LENGTH = 6
_NODE_ID = re.compile(r"^[a-z0-9]{6}$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "content-length", "transfer-encoding", "upgrade", "host", "te", "trailer"}
)
_MAX_IDLE = 8
_MAX_RESPONSE_HEAD = 64 * 1024


def new_node_id() -> str:
    """A random server id: 6 characters of ``[a-z0-9]``."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(NODE_ID_LENGTH))


@dataclass(frozen=True, slots=True)
class Address:
    """Where a server takes relayed requests: a unix socket ``path``, or ``host`` and ``port``."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.host is None or self.port is None):
            raise ValueError("an Address is a unix socket path or a host and a port")

    @classmethod
    def parse(cls, text: str) -> Address:
        """``unix:/path`` or ``host:port``."""
        if text.startswith("unix:"):
            return cls(path=text[5:])
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"expected host:port or unix:/path, got {text!r}")
        return cls(host=host.strip("[]"), port=int(port))


class SessionRouter:
    """Names this server's sessions after it, and relays requests for other servers' sessions.

    ``resolve(node_id)`` returns where that server takes relayed requests, or ``None`` when it is unknown
    (the request is then answered here: an unknown session).
    """

    def __init__(self, node_id: str, resolve: Callable[[str], Address | None]) -> None:
        if not _NODE_ID.match(node_id):
            raise ValueError("a node id is 6 characters of [a-z0-9]")
        self.node_id = node_id
        self._resolve = resolve
        self._idle: dict[Address, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.relayed = 0

    @classmethod
    def with_peers(cls, node_id: str, peers: dict[str, Address]) -> SessionRouter:
        """A router for a fixed set of servers (``{node id: address}``)."""
        table = dict(peers)
        return cls(node_id, table.get)

    @classmethod
    def in_directory(cls, node_id: str, directory: str) -> SessionRouter:
        """The workers of one machine: server ``x`` takes relayed requests on ``<directory>/x.sock``."""

        def resolve(node: str) -> Address | None:
            path = os.path.join(directory, f"{node}.sock")
            return Address(path=path) if os.path.exists(path) else None

        return cls(node_id, resolve)

    def generate_id(self) -> str:
        """A session id owned by this server (``EngineServer(generate_id=...)``)."""
        return self.node_id + secrets.token_urlsafe(15)

    def session_created(self) -> Awaitable[None] | None:
        """Called for each new session of this server; what it returns is awaited before the session's id
        is given out (a router that registers itself somewhere does it with the first session)."""
        return None

    async def locate(self, sid: str) -> Address | None:
        """:meth:`owner_of`, for routers that may look further (a registry) when they do not know it."""
        return self.owner_of(sid)

    def owner_of(self, sid: str) -> Address | None:
        """Where to relay a request for ``sid``: ``None`` for this server's sessions and unknown owners."""
        node = sid[:NODE_ID_LENGTH]
        if node == self.node_id or len(sid) <= NODE_ID_LENGTH or not _NODE_ID.match(node):
            return None
        return self._resolve(node)

    async def forward(self, address: Address, request: HttpRequest) -> HttpResponse:
        """Relay ``request`` to its owner and return the owner's response (502 when it cannot be reached)."""
        head = _request_head(request)
        for attempt in (0, 1):
            reused, (reader, writer) = await self._connection(address, fresh=attempt > 0)
            try:
                writer.write(head + request.body)
                response, keep_alive = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                writer.close()
                if (
                    reused
                    and attempt == 0
                    and isinstance(exc, asyncio.IncompleteReadError)
                    and not exc.partial
                ):
                    continue  # a kept-alive connection the owner had closed: once more on a fresh one
                logger.info("cannot relay a request to %s: %r", address, exc)
                return HttpResponse(502, [("Content-Type", "text/plain")], b"Bad Gateway")
            except BaseException:
                writer.close()
                raise
            self.relayed += 1
            if keep_alive:
                idle = self._idle.setdefault(address, [])
                if len(idle) < _MAX_IDLE:
                    idle.append((reader, writer))
                else:
                    writer.close()
            else:
                writer.close()
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connection(
        self, address: Address, fresh: bool
    ) -> tuple[bool, tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        idle = self._idle.get(address)
        while idle and not fresh:
            reader, writer = idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return True, (reader, writer)
            writer.close()
        if address.path is not None:
            return False, await asyncio.open_unix_connection(address.path)
        return False, await asyncio.open_connection(address.host, address.port)

    def close(self) -> None:
        for idle in self._idle.values():
            for _, writer in idle:
                writer.close()
        self._idle.clear()


def _request_head(request: HttpRequest) -> bytes:
    target = quote(request.path, safe="/%:@!$&'()*+,;=-._~")
    if request.query_string:
        target += "?" + request.query_string
    lines = [f"{request.method} {target} HTTP/1.1", "Host: socketeer-relay"]
    for name, value in request.headers.items():
        if name not in _HOP_BY_HOP:
            lines.append(f"{name}: {value}")
    if request.remote_address is not None and "x-forwarded-for" not in request.headers:
        lines.append(f"x-forwarded-for: {request.remote_address[0]}")
    lines.append(f"Content-Length: {len(request.body)}")
    lines.append("Connection: keep-alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_response(reader: asyncio.StreamReader) -> tuple[HttpResponse, bool]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise ValueError("response head too large") from None
    if len(head) > _MAX_RESPONSE_HEAD:
        raise ValueError("response head too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    headers: list[tuple[str, str]] = []
    length = 0
    keep_alive = True
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        value = value.strip()
        lower = name.lower()
        if lower == "content-length":
            length = int(value)
        elif lower == "connection":
            keep_alive = value.lower() == "keep-alive"
        else:
            headers.append((name, value))
    body = await reader.readexactly(length) if length else b""
    return HttpResponse(status, headers, body), keep_alive
