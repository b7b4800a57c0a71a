"""``socketeer.Emitter``: send to a cluster's clients from any Python process, with no server.

The format of ``@socket.io/redis-emitter`` 5.x: broadcasts as msgpack ``["emitter", packet, opts]`` on
the channels of :mod:`socketeer.adapters.redis_codec`, requests (join, leave, disconnect, server-side
emit) as JSON on the namespace's request channel. Every server of the cluster with a Redis adapter,
socketeer's or the official Node one, obeys it::

    async with socketeer.Emitter("redis://127.0.0.1:6379/0") as emitter:
        await emitter.to("room-1").except_("banned").emit("news", {"id": 7})
        await emitter.of("/admin").sockets_join("audit")
        await emitter.server_side_emit("reload", "config")

Operators are immutable (each method returns a new one) and every operation returns once Redis has
taken the message; a Redis error reaches the caller (a job that publishes wants to know).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from redis.asyncio import Redis

from .._types import Room
from ..protocol.socketio_packets import check_event_name, event_packet
from .base import BroadcastFlags, BroadcastOptions, RoomsLike, room_set
from .redis_codec import EMITTER_UID, RequestType, encode_broadcast, encode_json

__all__ = ["Emitter", "EmitterOperator"]

def _namespace(name: str) -> str:
    return name if name.startswith("/") else "/" + name


class Emitter:
    """Publishes to the servers of a Redis cluster (``key`` is the adapters' channel prefix)."""

    def __init__(self, redis: Redis | str, *, key: str = "socket.io", namespace: str = "/") -> None:
        if isinstance(redis, str):
            self.client: Redis = Redis.from_url(redis)
            self._owns_client = True
        else:
            self.client = redis
            self._owns_client = False
        self.key = key
        self.namespace = _namespace(namespace)

    def __repr__(self) -> str:
        return f"<Emitter key={self.key!r} nsp={self.namespace!r}>"

    async def aclose(self) -> None:
        """Close the Redis connection (only when the emitter made it from a URL)."""
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Emitter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def of(self, namespace: str) -> EmitterOperator:
        """The operator of another namespace (``/`` is the default)."""
        return EmitterOperator(self, _namespace(namespace))

    def _operator(self) -> EmitterOperator:
        return EmitterOperator(self, self.namespace)

    def to(self, *rooms: RoomsLike) -> EmitterOperator:
        return self._operator().to(*rooms)

    in_ = to

    def except_(self, *rooms: RoomsLike) -> EmitterOperator:
        return self._operator().except_(*rooms)

    @property
    def volatile(self) -> EmitterOperator:
        return self._operator().volatile

    def compress(self, compress: bool = True) -> EmitterOperator:
        return self._operator().compress(compress)

    async def emit(self, event: str, *args: Any) -> None:
        await self._operator().emit(event, *args)

    async def sockets_join(self, *rooms: RoomsLike) -> None:
        await self._operator().sockets_join(*rooms)

    async def sockets_leave(self, *rooms: RoomsLike) -> None:
        await self._operator().sockets_leave(*rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self._operator().disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        await self._operator().server_side_emit(event, *args)


@dataclass(frozen=True, slots=True)
class EmitterOperator:
    """Whom an emitter's message reaches; every method returns a new operator."""

    emitter: Emitter
    namespace: str = "/"
    rooms: frozenset[Room] = field(default_factory=frozenset)
    except_rooms: frozenset[Room] = field(default_factory=frozenset)
    flags: BroadcastFlags = field(default_factory=BroadcastFlags)

    def of(self, namespace: str) -> EmitterOperator:
        return EmitterOperator(self.emitter, _namespace(namespace))

    def to(self, *rooms: RoomsLike) -> EmitterOperator:
        return replace(self, rooms=self.rooms | room_set(rooms))

    in_ = to

    def except_(self, *rooms: RoomsLike) -> EmitterOperator:
        return replace(self, except_rooms=self.except_rooms | room_set(rooms))

    @property
    def volatile(self) -> EmitterOperator:
        return replace(self, flags=replace(self.flags, volatile=True))

    def compress(self, compress: bool = True) -> EmitterOperator:
        return replace(self, flags=replace(self.flags, compress=compress))

    @property
    def _prefix(self) -> str:
        return f"{self.emitter.key}#{self.namespace}#"

    @property
    def _request_channel(self) -> str:
        return f"{self.emitter.key}-request#{self.namespace}#"

    async def _publish(self, channel: str, data: bytes) -> None:
        await self.emitter.client.publish(channel.encode(), data)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the targeted clients of every server."""
        check_event_name(event)
        packet = event_packet(self.namespace, [event, *args])
        opts = BroadcastOptions(self.rooms, self.except_rooms, self.flags)
        channel = self._prefix
        if len(self.rooms) == 1:
            (room,) = self.rooms
            channel += room + "#"
        await self._publish(channel, encode_broadcast(EMITTER_UID, packet, opts))

    def _opts(self) -> dict[str, Any]:
        return {"rooms": sorted(self.rooms), "except": sorted(self.except_rooms)}

    async def sockets_join(self, *rooms: RoomsLike) -> None:
        """Make the targeted sockets of every server join ``rooms``."""
        request = {"type": int(RequestType.REMOTE_JOIN), "opts": self._opts(), "rooms": sorted(room_set(rooms))}
        await self._publish(self._request_channel, encode_json(request))

    async def sockets_leave(self, *rooms: RoomsLike) -> None:
        request = {"type": int(RequestType.REMOTE_LEAVE), "opts": self._opts(), "rooms": sorted(room_set(rooms))}
        await self._publish(self._request_channel, encode_json(request))

    async def disconnect_sockets(self, close: bool = False) -> None:
        request = {"type": int(RequestType.REMOTE_DISCONNECT), "opts": self._opts(), "close": close}
        await self._publish(self._request_channel, encode_json(request))

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``[event, *args]`` to every server of the namespace (without acknowledgements, as the
        official emitter)."""
        check_event_name(event)
        request = {"uid": EMITTER_UID, "type": int(RequestType.SERVER_SIDE_EMIT), "data": [event, *args]}
        await self._publish(self._request_channel, encode_json(request))
