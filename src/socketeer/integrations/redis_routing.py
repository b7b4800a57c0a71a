"""Polling without sticky sessions across machines, the servers finding each other in Redis.

Each server writes where it takes relayed requests under ``<prefix><node id>`` (``SET ... PX``, refreshed
while it runs) and reads the others' entries, so that a request for another server's session is relayed
there (see :mod:`socketeer.transports.forwarding`). Extra ``socketeer[redis]``::

    router = RedisSessionRouter("redis://10.0.0.5:6379/0", advertise="10.0.0.11:8000")
    io.engine.use_router(router)
    io.add_closer(router.aclose)

Only addresses found in Redis are ever connected to, so whoever can write these keys can choose where a
server relays requests: keep Redis private, as any Socket.IO cluster's Redis must be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable
from typing import Any

from ..transports.forwarding import NODE_ID_LENGTH, Address, SessionRouter, new_node_id

try:
    import redis.asyncio as _redis
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError("RedisSessionRouter needs redis: install socketeer[redis]") from _exc

__all__ = ["RedisSessionRouter"]

logger = logging.getLogger("socketeer")
_NODE_ID = re.compile(r"[a-z0-9]{6}")


class RedisSessionRouter(SessionRouter):
    """A :class:`SessionRouter` whose table of servers lives in Redis."""

    def __init__(
        self,
        redis: str | Any,
        advertise: str | Address,
        *,
        node_id: str | None = None,
        prefix: str = "socketeer:node:",
        ttl: float = 15.0,
    ) -> None:
        self._table: dict[str, Address] = {}
        super().__init__(node_id or new_node_id(), self._table.get)
        self.advertise = advertise if isinstance(advertise, Address) else Address.parse(advertise)
        if self.advertise.path is not None:
            raise ValueError("advertise a host:port that the other servers can reach")
        self.prefix = prefix
        self.ttl = ttl
        self._given = None if isinstance(redis, str) else redis
        self._url = redis if isinstance(redis, str) else None
        self.client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._registered: asyncio.Event | None = None

    def _client(self) -> Any:
        if self.client is None:
            self.client = self._given if self._given is not None else _redis.Redis.from_url(str(self._url))
        return self.client

    async def start(self) -> None:
        """Register this server now (otherwise it registers with its first session)."""
        ready = self.session_created()
        if ready is not None:
            await ready

    def session_created(self) -> Awaitable[None] | None:
        if self._task is None:
            self._registered = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._keep_registered())
        assert self._registered is not None
        if self._registered.is_set():
            return None
        return self._wait_registered(self._registered)

    async def _wait_registered(self, registered: asyncio.Event) -> None:
        """The first sessions wait (a second at most) until the other servers can find this one."""
        try:
            await asyncio.wait_for(registered.wait(), 1.0)
        except asyncio.TimeoutError:
            logger.warning(
                "session router %s is not registered yet: its sessions may not be found", self.node_id
            )

    async def _keep_registered(self) -> None:
        key = self.prefix + self.node_id
        value = f"{self.advertise.host}:{self.advertise.port}"
        failing = False
        while True:
            try:
                await self._client().set(key, value, px=int(self.ttl * 1000))
                await self._refresh()
                if failing:
                    logger.warning("session router %s: Redis works again", self.node_id)
                failing = False
                assert self._registered is not None
                self._registered.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    logger.warning("session router %s cannot reach Redis: %r", self.node_id, exc)
                failing = True
            await asyncio.sleep(self.ttl / 3)

    async def _refresh(self) -> None:
        table: dict[str, Address] = {}
        async for key in self._client().scan_iter(match=self.prefix + "*", count=1000):
            name = (key.decode() if isinstance(key, bytes) else key)[len(self.prefix) :]
            if len(name) == NODE_ID_LENGTH:
                address = await self._read(name)
                if address is not None:
                    table[name] = address
        self._table.clear()
        self._table.update(table)

    async def _read(self, node: str) -> Address | None:
        raw = await self._client().get(self.prefix + node)
        if raw is None:
            return None
        try:
            address = Address.parse(raw.decode() if isinstance(raw, bytes) else raw)
        except ValueError:
            return None
        return address if address.path is None else None

    async def locate(self, sid: str) -> Address | None:
        owner = self.owner_of(sid)
        if owner is not None:
            return owner
        node = sid[:NODE_ID_LENGTH]
        if node == self.node_id or len(sid) <= NODE_ID_LENGTH or _NODE_ID.fullmatch(node) is None:
            return None
        try:
            address = await self._read(node)  # a server that registered since the last refresh
        except Exception as exc:
            logger.debug("session router %s cannot look %s up: %r", self.node_id, node, exc)
            return None
        if address is not None:
            self._table[node] = address
        return address

    def owner_of(self, sid: str) -> Address | None:
        return super().owner_of(sid) if self._table else None

    async def aclose(self) -> None:
        """Stop refreshing and remove this server's entry (``io.add_closer(router.aclose)``)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        super().close()
        if self.client is not None:
            try:
                await asyncio.wait_for(self.client.delete(self.prefix + self.node_id), 1.0)
            except (Exception, asyncio.TimeoutError) as exc:
                logger.debug("session router %s cannot unregister: %r", self.node_id, exc)
            if self._given is None:
                with contextlib.suppress(Exception, asyncio.TimeoutError):
                    await asyncio.wait_for(self.client.aclose(), 1.0)
            self.client = None
