"""The cluster of the workers of one machine: the cluster adapter over a unix socket, no broker needed.

``socketeer serve app:io --workers N`` runs a :class:`WorkerHub` in the supervising process; each worker's
:class:`LocalClusterAdapter` connects to it, and the hub copies every frame a worker sends to all the other
workers. The messages are those of ``socket.io-adapter``'s cluster adapter (JSON, msgpack when they hold
binary), and the workers find each other by heartbeat, so a worker that dies is dropped after
``heartbeat_timeout`` and requests stop waiting for it.

Frame: a 4-byte big-endian length, then one byte ``n`` and the ``n``-byte uid of the adapter a response
is for (``n = 0``: for everyone), then the encoded message.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

from ..exceptions import RemoteProtocolError
from .base import LocalDelivery
from .cluster import ClusterAdapterWithHeartbeat, Outgoing
from .cluster_messages import decode_json_or_msgpack, encode_json_or_msgpack

__all__ = ["LocalClusterAdapter", "WorkerHub"]

logger = logging.getLogger("socketeer.cluster")

_LENGTH = struct.Struct(">I")
_MAX_FRAME = 64 * 1024 * 1024


def _frame(to: str | None, payload: bytes) -> bytes:
    target = (to or "").encode("ascii")
    return _LENGTH.pack(1 + len(target) + len(payload)) + bytes((len(target),)) + target + payload


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (length,) = _LENGTH.unpack(await reader.readexactly(4))
    if length > _MAX_FRAME or length < 1:
        raise ValueError(f"frame of {length} bytes")
    return await reader.readexactly(length)


class WorkerHub:
    """Copies each frame from one worker to every other worker (runs in the supervising process)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                body = await _read_frame(reader)
                data = _LENGTH.pack(len(body)) + body
                for other in self._writers:
                    if other is not writer and not other.is_closing():
                        other.write(data)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()


class _HubLink:
    """One worker's connection to the hub, shared by the adapters of its namespaces."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.adapters: dict[str, LocalClusterAdapter] = {}
        self.writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None

    async def register(self, adapter: LocalClusterAdapter) -> None:
        self.adapters[adapter.name] = adapter
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self.writer is None:
                reader, self.writer = await asyncio.open_unix_connection(self.path)
                self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))

    async def unregister(self, adapter: LocalClusterAdapter) -> None:
        self.adapters.pop(adapter.name, None)
        if not self.adapters and self.writer is not None:
            writer, self.writer = self.writer, None
            if self._reader_task is not None:
                self._reader_task.cancel()
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                body = await _read_frame(reader)
                self._dispatch(body)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            if self.adapters:
                logger.warning("the connection to the workers' hub is lost (%r)", exc)

    def _dispatch(self, body: bytes) -> None:
        to_length = body[0]
        to = body[1 : 1 + to_length].decode("ascii", "replace")
        try:
            message = decode_json_or_msgpack(body[1 + to_length :])
        except RemoteProtocolError as exc:
            logger.debug("ignoring a frame from the hub: %s", exc)
            return
        adapter = self.adapters.get(message.nsp)
        if adapter is not None and (not to or to == adapter.uid):
            adapter.on_message(message)


class LocalClusterAdapter(ClusterAdapterWithHeartbeat):
    """The adapter of one namespace in a worker; build them with :meth:`factory`."""

    def __init__(self, delivery: LocalDelivery, link: _HubLink, **options: Any) -> None:
        super().__init__(delivery, **options)
        self._link = link

    @classmethod
    def factory(
        cls, hub_path: str, *, heartbeat_interval: float = 5.0, heartbeat_timeout: float = 10.0
    ) -> Callable[[Any], LocalClusterAdapter]:
        link = _HubLink(hub_path)

        def create(nsp: Any) -> LocalClusterAdapter:
            return cls(nsp, link, heartbeat_interval=heartbeat_interval, heartbeat_timeout=heartbeat_timeout)

        return create

    async def init(self) -> None:
        await self._link.register(self)
        await super().init()

    async def close(self) -> None:
        await super().close()
        await self._link.unregister(self)

    async def do_publish_batch(self, batch: list[Outgoing]) -> list[str | None]:
        writer = self._link.writer
        if writer is None:
            raise ConnectionError("not connected to the workers' hub")
        frames = []
        for item in batch:
            try:
                frames.append(_frame(item.to, encode_json_or_msgpack(item.message)))
            except (TypeError, ValueError, ImportError) as exc:
                logger.warning(
                    "cannot send a %s message to the other workers: %r", item.message.type.name, exc
                )
        writer.write(b"".join(frames))
        await writer.drain()
        return [None] * len(batch)
