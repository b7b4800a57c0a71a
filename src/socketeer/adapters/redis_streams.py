"""The Redis Streams adapter, in the format of ``@socket.io/redis-streams-adapter`` 0.3 (extra ``socketeer[redis]``).

Python and Node servers with the official package share one cluster:

- broadcasts, ``sockets_join``/``sockets_leave`` and ``disconnect_sockets`` are appended to the stream
  ``socket.io`` (``XADD ... MAXLEN ~ 10000``) as entries with the string fields ``uid``, ``nsp``, ``type``
  and ``data`` (JSON, or base64 msgpack when binary); every server reads the stream with ``XREAD BLOCK``
  from where it was, so a short outage of Redis loses nothing;
- ephemeral messages (broadcasts with acknowledgements, ``server_side_emit``, ``fetch_sockets``) go in
  msgpack over pub/sub on ``socket.io#<nsp>#``, and the answers on ``socket.io#<nsp>#<uid>#``;
- the servers of a namespace are the subscribers of ``socket.io#<nsp>#`` (``PUBSUB NUMSUB``): a server
  that dies (even SIGKILLed) leaves the count as soon as Redis sees its connection close;
- with connection state recovery, a disconnected socket is kept as ``sio:session:<pid>`` (base64 msgpack of
  ``{sid, pid, rooms, data}``, ``PX`` the recovery window) and the missed broadcasts are read back from the
  stream: a client may recover on any server of the cluster, the entry ids being the offsets.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._types import Sid
from ..exceptions import RemoteProtocolError
from .base import LocalDelivery, PersistedSession, RestoredSession
from .cluster import ClusterAdapter, Outgoing
from .cluster_messages import (
    BroadcastData,
    ClusterMessage,
    decode_msgpack,
    decode_stream_entry,
    encode_msgpack,
    encode_stream_entry,
    is_ephemeral,
)

try:
    import msgpack as _msgpack
    import redis.asyncio as _redis
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError("the Redis Streams adapter needs redis and msgpack: install socketeer[redis]") from _exc

__all__ = ["RedisStreamsAdapter", "RedisStreamsOptions", "create_adapter"]

logger = logging.getLogger("socketeer.redis")

_OFFSET = re.compile(r"^[0-9]+-[0-9]+$")
_RESTORE_MAX_XRANGE_CALLS = 100
_XRANGE_COUNT = 1000


@dataclass(frozen=True, slots=True)
class RedisStreamsOptions:
    """The options of the official adapter (times in seconds)."""

    stream_name: str = "socket.io"
    stream_count: int = 1
    channel_prefix: str = "socket.io"
    max_len: int = 10_000
    read_count: int = 100
    block_time: float = 5.0
    session_key_prefix: str = "sio:session:"
    only_plaintext: bool = False
    request_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.stream_count < 1 or self.max_len < 1 or self.read_count < 1 or self.block_time <= 0:
            raise ValueError("stream_count, max_len, read_count and block_time must be positive")

    def stream_of(self, namespace: str) -> str:
        """The stream of a namespace: one stream, or ``<name>-<hashCode(nsp) % count>`` as in JavaScript."""
        if self.stream_count == 1:
            return self.stream_name
        return f"{self.stream_name}-{int(math.fmod(_hash_code(namespace), self.stream_count))}"


def _hash_code(text: str) -> int:
    """JavaScript's ``hash = hash * 31 + charCodeAt(i); hash |= 0`` over UTF-16 code units."""
    value = 0
    units = text.encode("utf-16-le")
    for i in range(0, len(units), 2):
        value = (value * 31 + int.from_bytes(units[i : i + 2], "little")) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _next_offset(offset: str) -> str:
    timestamp, sequence = offset.split("-")
    return f"{timestamp}-{int(sequence) + 1}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Backoff:
    """Reconnection delays: 0.1 s doubling up to 2 s; one warning per outage."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.delay = 0.0
        self.failing = False

    def failed(self, exc: BaseException) -> float:
        if not self.failing:
            self.failing = True
            logger.warning("Redis Streams adapter: %s failed (%r); retrying", self.what, exc)
        self.delay = min(2.0, self.delay * 2 or 0.1)
        return self.delay

    def ok(self) -> None:
        if self.failing:
            self.failing = False
            logger.warning("Redis Streams adapter: %s works again", self.what)
        self.delay = 0.0


class _Hub:
    """What the adapters of one server share: the Redis clients, the stream readers, the subscriptions."""

    def __init__(self, redis: str | Any, options: RedisStreamsOptions) -> None:
        self.options = options
        self._url = redis if isinstance(redis, str) else None
        self._given = None if isinstance(redis, str) else redis
        self.client: Any = None
        self._streams: set[str] = set()
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.adapters: dict[str, RedisStreamsAdapter] = {}
        self._channels: dict[str, RedisStreamsAdapter] = {}
        self._side_tasks: set[asyncio.Task[Any]] = set()

    async def register(self, adapter: RedisStreamsAdapter) -> None:
        if self.client is None:
            # one client: its pool gives the blocking XREAD and the subscriptions their own connections
            self.client = self._given if self._given is not None else _redis.Redis.from_url(str(self._url))
            self._pubsub = self.client.pubsub()
        self.adapters[adapter.name] = adapter
        public, private = adapter.public_channel, adapter.private_channel
        self._channels[public] = adapter
        self._channels[private] = adapter
        backoff = _Backoff("subscribing")
        while True:
            try:
                await self._pubsub.subscribe(public, private)
                break
            except Exception as exc:
                await asyncio.sleep(backoff.failed(exc))
        backoff.ok()
        if not any(t.get_name() == "socketeer-redis-pubsub" for t in self._tasks):
            self._tasks.append(
                asyncio.get_running_loop().create_task(self._listen(), name="socketeer-redis-pubsub")
            )
        stream = self.options.stream_of(adapter.name)
        if stream not in self._streams:
            self._streams.add(stream)
            offset = await self._current_offset(stream)
            self._tasks.append(asyncio.get_running_loop().create_task(self._read(stream, offset)))

    async def _current_offset(self, stream: str) -> str:
        """The id of the stream's last entry, so that reading starts after it (``$`` without the race)."""
        try:
            last = await self.client.xrevrange(stream, count=1)
        except Exception as exc:
            logger.debug("cannot read the end of stream %s: %r", stream, exc)
            return "$"
        return _text(last[0][0]) if last else "0-0"

    async def unregister(self, adapter: RedisStreamsAdapter) -> None:
        self.adapters.pop(adapter.name, None)
        self._channels.pop(adapter.public_channel, None)
        self._channels.pop(adapter.private_channel, None)
        if self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(adapter.public_channel, adapter.private_channel)
            except Exception as exc:
                logger.debug("unsubscribe failed: %r", exc)
        if not self.adapters:
            await self.close()

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._side_tasks:
            await asyncio.wait(list(self._side_tasks), timeout=2.0)
        self._streams.clear()
        closing = []
        if self._pubsub is not None:
            closing.append(self._pubsub)
            self._pubsub = None
        if self.client is not None and self._given is None:
            closing.append(self.client)
        self.client = None
        for client in closing:
            try:
                await client.aclose()
            except Exception as exc:  # pragma: no cover - best effort
                logger.debug("closing a Redis client failed: %r", exc)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _read(self, stream: str, offset: str) -> None:
        options = self.options
        block_time = options.block_time
        socket_timeout = self.client.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout:  # a blocking read must end before the client gives up on the socket
            block_time = min(block_time, socket_timeout / 2)
        block = max(1, int(block_time * 1000))
        backoff = _Backoff(f"reading stream {stream}")
        while True:
            try:
                response = await self.client.xread({stream: offset}, count=options.read_count, block=block)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await asyncio.sleep(backoff.failed(exc))
                continue
            backoff.ok()
            if not response:
                continue
            for _name, entries in response:
                for entry_id, fields in entries:
                    offset = _text(entry_id)
                    self._on_entry(offset, fields)

    def _on_entry(self, offset: str, fields: dict[Any, Any]) -> None:
        try:
            message = decode_stream_entry(fields)
        except RemoteProtocolError as exc:
            logger.debug("ignoring stream entry %s: %s", offset, exc)
            return
        adapter = self.adapters.get(message.nsp)
        if adapter is not None:
            adapter.on_message(message, offset)

    async def _listen(self) -> None:
        backoff = _Backoff("listening to pub/sub")
        while True:
            pubsub = self._pubsub
            if pubsub is None:
                return
            try:
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await asyncio.sleep(backoff.failed(exc))
                continue
            backoff.ok()
            if item is None or item.get("type") != "message":
                continue
            adapter = self._channels.get(_text(item["channel"]))
            if adapter is None:
                continue
            data = item["data"]
            try:
                message = decode_msgpack(data if isinstance(data, bytes) else str(data).encode())
            except RemoteProtocolError as exc:
                logger.debug("ignoring a pub/sub message: %s", exc)
                continue
            adapter.on_message(message)


class RedisStreamsAdapter(ClusterAdapter):
    """The adapter of one namespace; build them with :meth:`factory`::

    io = socketeer.Server(adapter=RedisStreamsAdapter.factory("redis://localhost:6379/0"))
    """

    def __init__(
        self,
        delivery: LocalDelivery,
        hub: _Hub,
        *,
        recovery_duration: float | None = None,
    ) -> None:
        super().__init__(
            delivery, recovery_duration=recovery_duration, request_timeout=hub.options.request_timeout
        )
        self._hub = hub
        options = hub.options
        self.stream = options.stream_of(self.name)
        self.public_channel = f"{options.channel_prefix}#{self.name}#"
        self.private_channel = f"{options.channel_prefix}#{self.name}#{self.uid}#"
        self._registered = False

    @classmethod
    def factory(
        cls, redis: str | Any, options: RedisStreamsOptions | None = None, **kwargs: Any
    ) -> Callable[[Any], RedisStreamsAdapter]:
        """An adapter factory for ``Server(adapter=...)``: ``redis`` is a URL or a ``redis.asyncio.Redis``
        (created with the default ``decode_responses=False``); options as :class:`RedisStreamsOptions`."""
        if options is None:
            options = RedisStreamsOptions(**kwargs)
        elif kwargs:
            raise TypeError("give either options or keyword options, not both")
        hub = _Hub(redis, options)

        def create(nsp: Any) -> RedisStreamsAdapter:
            recovery = getattr(getattr(nsp, "server", None), "recovery", None)
            duration = getattr(recovery, "max_disconnection_duration", None)
            return cls(nsp, hub, recovery_duration=duration)

        return create

    async def init(self) -> None:
        if not self._registered:
            self._registered = True
            await self._hub.register(self)

    async def close(self) -> None:
        await super().close()
        if self._registered:
            self._registered = False
            await self._hub.unregister(self)

    async def do_publish_batch(self, batch: list[Outgoing]) -> list[str | None]:
        client = self._hub.client
        if client is None:
            raise ConnectionError("the adapter is not started")
        options = self._hub.options
        pipe = client.pipeline(transaction=False)
        kinds: list[bool] = []
        for item in batch:
            message = item.message
            if item.to is not None:
                pipe.publish(f"{options.channel_prefix}#{self.name}#{item.to}#", encode_msgpack(message))
                kinds.append(False)
            elif is_ephemeral(message):
                pipe.publish(self.public_channel, encode_msgpack(message))
                kinds.append(False)
            else:
                pipe.xadd(self.stream, self._entry(message), maxlen=options.max_len, approximate=True)
                kinds.append(True)
        results = await pipe.execute()
        return [_text(result) if is_entry else None for result, is_entry in zip(results, kinds, strict=True)]

    def _entry(self, message: ClusterMessage) -> dict[str, str]:
        fields = encode_stream_entry(message)
        if self._hub.options.only_plaintext and "data" in fields and not fields["data"].startswith("{"):
            raise ValueError("only_plaintext is set but the message holds binary data")
        return fields

    async def server_count(self) -> int:
        client = self._hub.client
        if client is None:
            return 1
        result = await client.pubsub_numsub(self.public_channel)
        return int(result[0][1]) if result else 1

    # -- connection state recovery ------------------------------------------------------------

    def persist_session(self, session: PersistedSession) -> None:
        if self.recovery_duration is None:
            return
        encoded = base64.b64encode(
            _msgpack.packb(
                {
                    "sid": session.sid,
                    "pid": session.pid,
                    "rooms": sorted(session.rooms),
                    "data": session.data,
                },
                use_bin_type=True,
            )
        ).decode("ascii")
        key = self._hub.options.session_key_prefix + session.pid
        ttl = max(1, int(self.recovery_duration * 1000))
        self._hub.spawn(self._set(key, encoded, ttl))

    async def _set(self, key: str, value: str, ttl_ms: int) -> None:
        try:
            await self._hub.client.set(key, value, px=ttl_ms)
        except Exception as exc:
            logger.warning("Redis Streams adapter: cannot persist session %s: %r", key, exc)

    async def restore_session(self, pid: str, offset: str) -> RestoredSession | None:
        client = self._hub.client
        if client is None or not _OFFSET.match(offset):
            return None
        key = self._hub.options.session_key_prefix + pid
        try:
            pipe = client.pipeline(transaction=True)
            pipe.get(key)
            pipe.delete(key)
            (raw, _), found = await asyncio.gather(pipe.execute(), client.xrange(self.stream, offset, offset))
        except Exception as exc:
            logger.warning("Redis Streams adapter: cannot restore session %s: %r", pid, exc)
            return None
        if not raw or not found:
            return None
        try:
            session = _msgpack.unpackb(base64.b64decode(raw), raw=False)
            sid, rooms, data = session["sid"], session.get("rooms") or [], session.get("data")
            if not isinstance(sid, str) or not isinstance(rooms, list):
                raise TypeError("bad session")
        except Exception as exc:
            logger.debug("ignoring an unreadable session %s: %r", pid, exc)
            return None
        room_set = frozenset(r for r in rooms if isinstance(r, str))
        missed: list[list[Any]] = []
        start = offset
        try:
            for _ in range(_RESTORE_MAX_XRANGE_CALLS):
                entries = await client.xrange(self.stream, _next_offset(start), "+", count=_XRANGE_COUNT)
                if not entries:
                    break
                for entry_id, fields in entries:
                    start = _text(entry_id)
                    self._missed(start, fields, room_set, missed)
        except Exception as exc:
            logger.warning("Redis Streams adapter: cannot read missed packets for %s: %r", pid, exc)
            return None
        return RestoredSession(Sid(sid), pid, room_set, data, missed)

    def _missed(
        self, entry_id: str, fields: dict[Any, Any], rooms: frozenset[str], out: list[list[Any]]
    ) -> None:
        nsp = fields.get(b"nsp", fields.get("nsp"))
        kind = fields.get(b"type", fields.get("type"))
        if nsp is None or _text(nsp) != self.name or kind is None or _text(kind) != "3":
            return
        try:
            message = decode_stream_entry(fields)
        except RemoteProtocolError:
            return
        data = message.data
        if not isinstance(data, BroadcastData) or data.request_id is not None or data.opts.flags.volatile:
            return
        opts = data.opts
        if (not opts.rooms or not rooms.isdisjoint(opts.rooms)) and rooms.isdisjoint(opts.except_):
            out.append([*data.packet.data, entry_id])


def create_adapter(redis: str | Any, **options: Any) -> Callable[[Any], RedisStreamsAdapter]:
    """The ``adapter`` option of :class:`~socketeer.Server` (as the other Redis adapters'
    ``create_adapter``): :meth:`RedisStreamsAdapter.factory` with the :class:`RedisStreamsOptions`."""
    return RedisStreamsAdapter.factory(redis, **options)
