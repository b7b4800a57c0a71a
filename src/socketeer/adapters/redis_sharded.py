"""The sharded Redis adapter: ``createShardedAdapter`` of ``@socket.io/redis-adapter`` (Redis 7+).

Redis 7's sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``) keeps each channel on one shard of a Redis
Cluster, so a broadcast costs one shard, not the whole cluster. Messages are those of
``socket.io-adapter``'s cluster adapter (:mod:`socketeer.adapters.cluster_messages`), in JSON, or
msgpack when they carry binary. Channels, for the prefix ``socket.io`` and the namespace ``/chat``:

- ``socket.io#/chat#``: every message of the namespace;
- ``socket.io#/chat#<uid>#``: the answers to the requests of the server ``uid``;
- ``socket.io#/chat#<room>#``: broadcasts to that one room, in the dynamic subscription modes (a server
  subscribes to the room's channel while one of its sockets is in the room).

``subscription_mode``: ``"static"`` (two channels per namespace), ``"dynamic"`` (the default: plus one
per public room, a room that is not a socket id), ``"dynamic-private"`` (plus one per room, socket ids
included). A broadcast with acknowledgements always uses the namespace's channel, as the official
adapter does (``server_count`` counts the subscribers of that channel)::

    from socketeer.adapters.redis_sharded import create_sharded_adapter

    io = socketeer.Server(adapter=create_sharded_adapter("redis://127.0.0.1:6379/0"))

On a Redis Cluster (``cluster=True``, or a ``RedisCluster`` client), ``SPUBLISH`` goes to the node
that serves the channel's slot and the server subscribes on each node that serves one of its channels
(:class:`~socketeer.adapters.redis_link.ClusterRedisLink`)::

    io = socketeer.Server(adapter=create_sharded_adapter("redis://10.0.0.1:7000", cluster=True))
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from .._types import Room, Sid
from ..exceptions import RemoteProtocolError
from .base import BroadcastOptions, LocalDelivery, RoomEvent
from .cluster import DEFAULT_TIMEOUT, ClusterAdapter, Outgoing
from .cluster_messages import BroadcastData, MessageType, decode_json_or_msgpack, encode_json_or_msgpack
from .redis_link import ClusterRedisLink, MessageHandler, RedisLink

__all__ = ["ShardedRedisAdapter", "SubscriptionMode", "create_sharded_adapter"]

logger = logging.getLogger("socketeer.redis")

SubscriptionMode = Literal["static", "dynamic", "dynamic-private"]
_MODES = ("static", "dynamic", "dynamic-private")


def looks_like_a_socket_id(room: str) -> bool:
    """The official adapter's test: socket ids are 20 characters long."""
    return len(room) == 20


class ShardedRedisAdapter(ClusterAdapter):
    """The adapter of one namespace on one server, over Redis sharded pub/sub."""

    def __init__(
        self,
        delivery: LocalDelivery,
        link: RedisLink,
        *,
        channel_prefix: str = "socket.io",
        subscription_mode: SubscriptionMode = "dynamic",
        request_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(delivery, request_timeout=request_timeout)
        if subscription_mode not in _MODES:
            raise ValueError(f"subscription_mode must be one of {_MODES}, not {subscription_mode!r}")
        self.link = link
        self.subscription_mode = subscription_mode
        self.channel = f"{channel_prefix}#{delivery.name}#"
        self.response_channel = f"{self.channel}{self.uid}#"
        self._channel = self.channel.encode()
        self._response_channel = self.response_channel.encode()
        self._dynamic = subscription_mode != "static"
        self._room_channels: set[bytes] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._remove_listener: Callable[[], None] | None = None
        if self._dynamic:
            self.on_room_event(self._on_room_event)

    def __repr__(self) -> str:
        return f"<ShardedRedisAdapter nsp={self.name!r} uid={self.uid!r} mode={self.subscription_mode}>"

    # -- lifecycle ---------------------------------------------------------------------------------

    async def init(self) -> None:
        if self._started:
            return
        self._started = True
        await self.link.acquire()
        self._remove_listener = self.link.on_outage(self._on_outage)
        channels: dict[bytes, MessageHandler] = {self._channel: self._on_raw, self._response_channel: self._on_raw}
        for room in list(self.rooms()):
            if self._separate_channel(room):
                channel = self._room_channel(room)
                self._room_channels.add(channel)
                channels[channel] = self._on_raw
        await self.link.subscribe(shard_channels=channels)
        if not await self.link.wait_subscribed(self.request_timeout):
            logger.warning("the sharded Redis adapter of %s starts unsubscribed: Redis does not answer", self.name)

    async def close(self) -> None:
        await super().close()
        if not self._started:
            return
        self._started = False
        if self._remove_listener is not None:
            self._remove_listener()
        for task in list(self._tasks):
            task.cancel()
        channels = [self._channel, self._response_channel, *self._room_channels]
        self._room_channels.clear()
        await self.link.unsubscribe(shard_channels=channels)
        await self.link.release()

    def _on_outage(self) -> None:
        """Redis is gone: the requests in flight end now, with what they have, as at their timeout."""
        for request in list(self._requests.values()):
            if not request.future.done():
                request.future.set_exception(asyncio.TimeoutError())

    # -- channels ----------------------------------------------------------------------------------

    def _room_channel(self, room: Room) -> bytes:
        return f"{self.channel}{room}#".encode()

    def _separate_channel(self, room: Room) -> bool:
        if self.subscription_mode == "dynamic-private":
            return True
        return self.subscription_mode == "dynamic" and Sid(room) not in self._sids

    def _on_room_event(self, event: str, room: Room, sid: Sid | None) -> None:
        if not self._started or event not in (RoomEvent.CREATE_ROOM, RoomEvent.DELETE_ROOM):
            return
        if not self._separate_channel(room):
            return
        channel = self._room_channel(room)
        if event == RoomEvent.CREATE_ROOM:
            self._room_channels.add(channel)
            self._spawn(self.link.subscribe(shard_channels={channel: self._on_raw}))
        elif channel in self._room_channels:
            self._room_channels.discard(channel)
            self._spawn(self.link.unsubscribe(shard_channels=[channel]))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _channel_of(self, item: Outgoing) -> bytes:
        if item.to is not None:
            return f"{self.channel}{item.to}#".encode()
        message = item.message
        data = message.data
        if (
            message.type is MessageType.BROADCAST
            and isinstance(data, BroadcastData)
            and data.request_id is None
            and len(data.opts.rooms) == 1
        ):
            (room,) = data.opts.rooms
            if self.subscription_mode == "dynamic-private" or (
                self.subscription_mode == "dynamic" and not looks_like_a_socket_id(room)
            ):
                return self._room_channel(room)
        return self._channel

    # -- cluster-wide operations: they return once Redis has the message, so that what this server
    # does next (a broadcast to the rooms just joined) comes after it on every server

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        await super().add_sockets(opts, rooms)
        await self.flush()

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        await super().del_sockets(opts, rooms)
        await self.flush()

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool = False) -> None:
        await super().disconnect_sockets(opts, close)
        await self.flush()

    async def server_side_emit(self, packet: list[Any]) -> None:
        await super().server_side_emit(packet)
        await self.flush()

    # -- ClusterAdapter backend --------------------------------------------------------------------

    async def do_publish_batch(self, batch: list[Outgoing]) -> list[str | None]:
        last: asyncio.Future[None] | None = None
        for item in batch:
            last = asyncio.get_running_loop().create_future()
            self.link.publish(self._channel_of(item), encode_json_or_msgpack(item.message), sharded=True, sent=last)
        if last is not None:
            await last
        return [None] * len(batch)

    async def server_count(self) -> int:
        try:
            return await self.link.shard_subscribers(self._channel)
        except Exception as exc:
            logger.debug("server count unavailable (%r): acting on this server only", exc)
            return 1

    def _on_raw(self, channel: bytes, data: bytes) -> None:
        try:
            message = decode_json_or_msgpack(data)
        except RemoteProtocolError as exc:
            logger.debug("ignoring a malformed message on %r: %s", channel, exc)
            return
        if channel == self._response_channel:
            if message.nsp == self.name and message.uid != self.uid:
                self.on_response(message)
        else:
            self.on_message(message)


def create_sharded_adapter(
    redis: Redis | RedisCluster | str | RedisLink,
    *,
    cluster: bool = False,
    channel_prefix: str = "socket.io",
    subscription_mode: SubscriptionMode = "dynamic",
    request_timeout: float = DEFAULT_TIMEOUT,
) -> Callable[[LocalDelivery], ShardedRedisAdapter]:
    """The ``adapter`` option of :class:`~socketeer.Server` for Redis sharded pub/sub (Redis 7+).

    ``redis``: a URL, a client, or a link shared with other adapters. A Redis Cluster is either a
    ``redis.asyncio.cluster.RedisCluster`` client or the URL of one of its nodes with ``cluster=True``
    (the client finds the others); each message then goes to the shard that serves its channel.
    """
    link: RedisLink
    if isinstance(redis, RedisLink):
        link = redis
    elif isinstance(redis, RedisCluster) or (cluster and isinstance(redis, str)):
        link = ClusterRedisLink(redis)
    elif cluster:
        raise TypeError("cluster=True needs a URL (or pass a redis.asyncio.cluster.RedisCluster client)")
    else:
        link = RedisLink(redis)

    def factory(delivery: LocalDelivery) -> ShardedRedisAdapter:
        return ShardedRedisAdapter(
            delivery,
            link,
            channel_prefix=channel_prefix,
            subscription_mode=subscription_mode,
            request_timeout=request_timeout,
        )

    return factory
