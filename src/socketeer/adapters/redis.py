"""``RedisAdapter``: the cluster adapter of ``@socket.io/redis-adapter`` 8.x, on Redis pub/sub.

Install with ``pip install socketeer[redis]``. Every server of the cluster, socketeer or Node with the
official adapter, subscribes to the same channels (see :mod:`socketeer.adapters.redis_codec`), so
broadcasts reach the clients of all of them and requests (``fetch_sockets``, ``sockets_join``,
``server_side_emit``, broadcasts with acknowledgements...) are answered by all of them::

    from socketeer.adapters.redis import create_adapter

    io = socketeer.Server(adapter=create_adapter("redis://127.0.0.1:6379/0"))

Options, as the official ones: ``key`` (the channel prefix, ``"socket.io"``), ``requests_timeout``
(seconds, 5), ``publish_on_specific_response_channel`` (answer on ``<key>-response#<nsp>#<uid>#``
instead of the namespace's response channel).

Where the official adapter rejects a request on timeout, this one answers with what it received:
``fetch_sockets`` and ``all_rooms`` return the sockets and rooms of the servers that answered (and
log it); ``server_side_emit_with_ack`` raises :class:`~socketeer.exceptions.AckTimeout` whose
``responses`` hold the answers received. The same happens at once when Redis becomes unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from .._types import Room, Sid
from ..exceptions import AckTimeout
from ..protocol.socketio_packets import SocketPacket
from .base import BroadcastOptions, LocalDelivery, SocketDetails
from .memory import InMemoryAdapter
from .redis_codec import (
    MalformedMessage,
    RequestType,
    decode_broadcast,
    decode_message,
    decode_opts,
    encode_broadcast,
    encode_json,
    encode_msgpack,
    encode_opts,
    packet_from_wire,
    packet_to_wire,
    room_of,
)
from .redis_link import RedisLink

__all__ = ["RedisAdapter", "create_adapter", "glob_escape", "new_uid"]

logger = logging.getLogger("socketeer.redis")

_ALPHABET = string.ascii_letters + string.digits


def new_uid(length: int = 6) -> str:
    """A random id as ``uid2(6)`` makes them (server uids and request ids)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis ``PSUBSCRIBE`` pattern."""
    out = []
    for char in text:
        if char in "*?[]\\":
            out.append("\\")
        out.append(char)
    return "".join(out)


@dataclass(slots=True)
class _Pending:
    """A request waiting for the other servers' answers."""

    type: RequestType
    expected: int
    future: asyncio.Future[None]
    received: int = 0
    sockets: list[SocketDetails] = field(default_factory=list)
    rooms: set[Room] = field(default_factory=set)
    responses: list[Any] = field(default_factory=list)

    def settle(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


def _details(value: Any) -> SocketDetails | None:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return None
    rooms = value.get("rooms")
    try:
        room_set = frozenset(room_of(r) for r in rooms) if isinstance(rooms, list) else frozenset()
    except MalformedMessage:
        room_set = frozenset()
    handshake = value.get("handshake")
    return SocketDetails(
        Sid(value["id"]), handshake if isinstance(handshake, dict) else {}, room_set, value.get("data")
    )


def _details_to_wire(details: SocketDetails) -> dict[str, Any]:
    return {"id": details.id, "handshake": details.handshake, "rooms": sorted(details.rooms), "data": details.data}


def _json_safe(value: Any) -> bytes:
    """JSON as the Node adapter's ``JSON.stringify`` (values JSON cannot hold become strings)."""
    try:
        return encode_json(value)
    except TypeError:
        import json

        return json.dumps(value, default=repr, separators=(",", ":")).encode()


class RedisAdapter(InMemoryAdapter):
    """The adapter of one namespace on one server of a Redis pub/sub cluster."""

    def __init__(
        self,
        delivery: LocalDelivery,
        link: RedisLink,
        *,
        key: str = "socket.io",
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
    ) -> None:
        super().__init__(delivery)
        if requests_timeout <= 0:
            raise ValueError("requests_timeout must be positive")
        self.link = link
        self.uid = new_uid()
        self.key = key
        self.requests_timeout = requests_timeout
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        nsp = delivery.name
        self.channel = f"{key}#{nsp}#"
        self.request_channel = f"{key}-request#{nsp}#"
        self.response_channel = f"{key}-response#{nsp}#"
        self.specific_response_channel = f"{self.response_channel}{self.uid}#"
        self._channel = self.channel.encode()
        self._request_channel = self.request_channel.encode()
        self._response_channel = self.response_channel.encode()
        self._pattern = (glob_escape(self.channel) + "*").encode()
        self._requests: dict[str, _Pending] = {}
        self._ack_requests: dict[str, tuple[Callable[[int], None], Callable[[Any], None]]] = {}
        self._remove_listener: Callable[[], None] | None = None
        self._initialized = False
        self._handlers = {
            RequestType.SOCKETS: self._on_sockets_request,
            RequestType.ALL_ROOMS: self._on_all_rooms_request,
            RequestType.REMOTE_JOIN: self._on_join_request,
            RequestType.REMOTE_LEAVE: self._on_leave_request,
            RequestType.REMOTE_DISCONNECT: self._on_disconnect_request,
            RequestType.REMOTE_FETCH: self._on_fetch_request,
            RequestType.SERVER_SIDE_EMIT: self._on_server_side_emit_request,
            RequestType.BROADCAST: self._on_broadcast_request,
        }

    def __repr__(self) -> str:
        return f"<RedisAdapter nsp={self.delivery.name!r} uid={self.uid!r}>"

    # -- lifecycle ---------------------------------------------------------------------------------

    async def init(self) -> None:
        if self._initialized:
            return
        self._initialized = True
        await self.link.acquire()
        self._remove_listener = self.link.on_outage(self._settle_all)
        await self.link.subscribe(
            channels={
                self._request_channel: self._on_request_message,
                self._response_channel: self._on_response_message,
                self.specific_response_channel.encode(): self._on_response_message,
            },
            patterns={self._pattern: self._on_broadcast_message},
        )
        if not await self.link.wait_subscribed(self.requests_timeout):
            logger.warning("the Redis adapter of %s starts unsubscribed: Redis does not answer", self.delivery.name)

    async def close(self) -> None:
        if not self._initialized:
            return
        self._initialized = False
        self._settle_all()
        if self._remove_listener is not None:
            self._remove_listener()
        await self.link.unsubscribe(
            channels=[self._request_channel, self._response_channel, self.specific_response_channel.encode()],
            patterns=[self._pattern],
        )
        await self.link.release()

    def _settle_all(self) -> None:
        for pending in list(self._requests.values()):
            pending.settle()

    # -- publishing --------------------------------------------------------------------------------

    def _publish_request(self, request: dict[str, Any], *, binary: bool = False) -> None:
        self.link.publish(self._request_channel, encode_msgpack(request) if binary else _json_safe(request))

    async def _publish_request_and_wait(self, request: dict[str, Any]) -> None:
        """Publish and return once Redis has it: what this server does next comes after it everywhere."""
        await self.link.publish_and_wait(self._request_channel, _json_safe(request))

    def _publish_response(self, request: dict[str, Any], response: bytes) -> None:
        uid = request.get("uid")
        if self.publish_on_specific_response_channel and isinstance(uid, str):
            channel = f"{self.response_channel}{uid}#".encode()
        else:
            channel = self._response_channel
        self.link.publish(channel, response)

    async def _server_count(self) -> int:
        try:
            return await self.server_count()
        except Exception as exc:
            logger.debug("server count unavailable (%r): acting on this server only", exc)
            return 1

    async def _request(self, pending: _Pending, request_id: str, request: dict[str, Any], timeout: float) -> None:
        """Publish ``request`` and wait for the answers (or the timeout, or an outage)."""
        self._requests[request_id] = pending
        try:
            self._publish_request(request)
            if not self.link.healthy:
                return
            await asyncio.wait_for(asyncio.shield(pending.future), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._requests.pop(request_id, None)

    # -- broadcasting ------------------------------------------------------------------------------

    def broadcast(self, packet: SocketPacket, opts: BroadcastOptions) -> None:
        if not opts.flags.local:
            channel = self._channel
            if len(opts.rooms) == 1:
                (room,) = opts.rooms
                channel = f"{self.channel}{room}#".encode()
            self.link.publish(channel, encode_broadcast(self.uid, packet, opts))
        super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: SocketPacket,
        opts: BroadcastOptions,
        on_sent: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None:
        if not opts.flags.local:
            request_id = new_uid()
            self._ack_requests[request_id] = (on_sent, on_ack)
            self._publish_request(
                {
                    "uid": self.uid,
                    "requestId": request_id,
                    "type": int(RequestType.BROADCAST),
                    "packet": packet_to_wire(packet),
                    "opts": encode_opts(opts),
                },
                binary=True,
            )
            # no way to know when every client of every server has answered: forget it after the delay
            delay = opts.flags.timeout if opts.flags.timeout is not None else self.requests_timeout
            asyncio.get_running_loop().call_later(delay, self._ack_requests.pop, request_id, None)
        super().broadcast_with_ack(packet, opts, on_sent, on_ack)

    # -- cluster-wide operations -------------------------------------------------------------------

    async def server_count(self) -> int:
        reply = await self.link.command("PUBSUB", "NUMSUB", self._request_channel)
        return int(reply[1]) if isinstance(reply, (list, tuple)) and len(reply) > 1 else 1

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        await super().add_sockets(opts, rooms)
        if not opts.flags.local:
            await self._publish_request_and_wait(
                {"uid": self.uid, "type": int(RequestType.REMOTE_JOIN), "opts": encode_opts(opts, flags=False), "rooms": rooms}
            )

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        await super().del_sockets(opts, rooms)
        if not opts.flags.local:
            await self._publish_request_and_wait(
                {"uid": self.uid, "type": int(RequestType.REMOTE_LEAVE), "opts": encode_opts(opts, flags=False), "rooms": rooms}
            )

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        if not opts.flags.local:
            await self._publish_request_and_wait(
                {
                    "uid": self.uid,
                    "type": int(RequestType.REMOTE_DISCONNECT),
                    "opts": encode_opts(opts, flags=False),
                    "close": close,
                }
            )
        await super().disconnect_sockets(opts, close)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        local = await super().fetch_sockets(opts)
        if opts.flags.local:
            return local
        count = await self._server_count()
        if count <= 1:
            return local
        request_id = new_uid()
        pending = _Pending(RequestType.REMOTE_FETCH, count, asyncio.get_running_loop().create_future(), 1, local)
        request = {
            "uid": self.uid,
            "requestId": request_id,
            "type": int(RequestType.REMOTE_FETCH),
            "opts": encode_opts(opts, flags=False),
        }
        await self._request(pending, request_id, request, self.requests_timeout)
        if pending.received < count:
            logger.info("fetch_sockets on %s: %d of %d servers answered", self.delivery.name, pending.received, count)
        return pending.sockets

    async def all_rooms(self) -> set[Room]:
        local = set(self.rooms())
        count = await self._server_count()
        if count <= 1:
            return local
        request_id = new_uid()
        pending = _Pending(RequestType.ALL_ROOMS, count, asyncio.get_running_loop().create_future(), 1, rooms=local)
        request = {"uid": self.uid, "requestId": request_id, "type": int(RequestType.ALL_ROOMS)}
        await self._request(pending, request_id, request, self.requests_timeout)
        if pending.received < count:
            logger.info("all_rooms on %s: %d of %d servers answered", self.delivery.name, pending.received, count)
        return pending.rooms

    async def server_side_emit(self, packet: list[Any]) -> None:
        await self._publish_request_and_wait({"uid": self.uid, "type": int(RequestType.SERVER_SIDE_EMIT), "data": packet})

    async def server_side_emit_with_ack(self, packet: list[Any], timeout: float | None = None) -> list[Any]:
        expected = await self._server_count() - 1
        if expected <= 0:
            return []
        request_id = new_uid()
        pending = _Pending(RequestType.SERVER_SIDE_EMIT, expected, asyncio.get_running_loop().create_future())
        request = {
            "uid": self.uid,
            "requestId": request_id,
            "type": int(RequestType.SERVER_SIDE_EMIT),
            "data": packet,
        }
        await self._request(pending, request_id, request, timeout if timeout is not None else self.requests_timeout)
        if len(pending.responses) < expected:
            raise AckTimeout(
                f"timeout reached: only {len(pending.responses)} responses received out of {expected}",
                list(pending.responses),
            )
        return pending.responses

    # -- receiving: broadcasts ---------------------------------------------------------------------

    def _on_broadcast_message(self, channel: bytes, data: bytes) -> None:
        if not channel.startswith(self._channel):
            logger.debug("ignoring a message on another channel %r", channel)
            return
        room = channel[len(self._channel) : -1]
        if room:
            try:
                name = room.decode()
            except UnicodeDecodeError:
                logger.debug("ignoring a broadcast on an undecodable channel %r", channel)
                return
            if name not in self.rooms():
                return  # no local socket in that room (the official adapter's shortcut)
        try:
            message = decode_broadcast(data)
        except MalformedMessage as exc:
            logger.debug("ignoring a malformed broadcast on %r: %s", channel, exc)
            return
        if message.uid == self.uid:
            return
        if message.packet.namespace != self.delivery.name:
            logger.debug("ignoring a broadcast for namespace %r", message.packet.namespace)
            return
        super().broadcast(message.packet, message.opts)

    # -- receiving: requests -----------------------------------------------------------------------

    def _on_request_message(self, channel: bytes, data: bytes) -> None:
        try:
            request = decode_message(data)
            kind = RequestType(request["type"])
            handler = self._handlers[kind]
        except (MalformedMessage, ValueError, KeyError, TypeError) as exc:
            logger.debug("ignoring a request on %r: %r", channel, exc)
            return
        try:
            handler(request)
        except (MalformedMessage, ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.debug("ignoring a malformed %s request: %r", kind.name, exc)

    def _is_own(self, request: dict[str, Any]) -> bool:
        return request.get("uid") == self.uid or request.get("requestId") in self._requests

    def _on_sockets_request(self, request: dict[str, Any]) -> None:
        if self._is_own(request):
            return
        rooms = request.get("rooms") or []
        sids = self.sockets(frozenset(room_of(r) for r in rooms)) if isinstance(rooms, list) else set()
        self._publish_response(request, _json_safe({"requestId": request.get("requestId"), "sockets": sorted(sids)}))

    def _on_all_rooms_request(self, request: dict[str, Any]) -> None:
        if self._is_own(request):
            return
        rooms = sorted(self.rooms())
        self._publish_response(request, _json_safe({"requestId": request.get("requestId"), "rooms": rooms}))

    def _legacy_socket(self, request: dict[str, Any]) -> Sid | None:
        sid = request.get("sid")
        if isinstance(sid, str) and self.delivery.has_socket(Sid(sid)):
            return Sid(sid)
        return None

    def _on_join_request(self, request: dict[str, Any]) -> None:
        if request.get("uid") == self.uid:
            return
        if "opts" in request:
            opts = decode_opts(request["opts"])
            rooms = [room_of(r) for r in request.get("rooms") or []]
            for sid in self.match(opts):
                self.add_all(sid, rooms)
            return
        target = self._legacy_socket(request)
        if target is not None:
            self.add_all(target, [room_of(request.get("room"))])
            self._publish_response(request, _json_safe({"requestId": request.get("requestId")}))

    def _on_leave_request(self, request: dict[str, Any]) -> None:
        if request.get("uid") == self.uid:
            return
        if "opts" in request:
            opts = decode_opts(request["opts"])
            rooms = [room_of(r) for r in request.get("rooms") or []]
            for sid in self.match(opts):
                for room in rooms:
                    self.delete(sid, room)
            return
        target = self._legacy_socket(request)
        if target is not None:
            self.delete(target, room_of(request.get("room")))
            self._publish_response(request, _json_safe({"requestId": request.get("requestId")}))

    def _on_disconnect_request(self, request: dict[str, Any]) -> None:
        if request.get("uid") == self.uid:
            return
        close = bool(request.get("close", False))
        if "opts" in request:
            self.delivery.disconnect(self.match(decode_opts(request["opts"])), close)
            return
        target = self._legacy_socket(request)
        if target is not None:
            self.delivery.disconnect([target], close)
            self._publish_response(request, _json_safe({"requestId": request.get("requestId")}))

    def _on_fetch_request(self, request: dict[str, Any]) -> None:
        if self._is_own(request):
            return
        details = self.delivery.socket_details(self.match(decode_opts(request.get("opts"))))
        self._publish_response(
            request,
            _json_safe({"requestId": request.get("requestId"), "sockets": [_details_to_wire(d) for d in details]}),
        )

    def _on_server_side_emit_request(self, request: dict[str, Any]) -> None:
        if request.get("uid") == self.uid:
            return
        data = request.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise MalformedMessage("server-side emit without an event name")
        request_id = request.get("requestId")
        if request_id is None:
            self.delivery.server_side_received(data, None)
            return
        answered = False

        def ack(value: Any) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            response = {"type": int(RequestType.SERVER_SIDE_EMIT), "requestId": request_id, "data": value}
            # the official adapter answers on the namespace's response channel, whatever its options
            self.link.publish(self._response_channel, _json_safe(response))

        self.delivery.server_side_received(data, ack)

    def _on_broadcast_request(self, request: dict[str, Any]) -> None:
        request_id = request.get("requestId")
        if request.get("uid") == self.uid or request_id in self._ack_requests:
            return
        packet = packet_from_wire(request.get("packet"))
        opts = decode_opts(request.get("opts"))

        def on_sent(count: int) -> None:
            response = {"type": int(RequestType.BROADCAST_CLIENT_COUNT), "requestId": request_id, "clientCount": count}
            self._publish_response(request, _json_safe(response))

        def on_ack(value: Any) -> None:
            if isinstance(value, tuple):
                value = value[0]  # the official adapter forwards the first argument
            response = {"type": int(RequestType.BROADCAST_ACK), "requestId": request_id, "packet": value}
            self._publish_response(request, encode_msgpack(response))

        super().broadcast_with_ack(packet._replace(namespace=self.delivery.name), opts, on_sent, on_ack)

    # -- receiving: responses ----------------------------------------------------------------------

    def _on_response_message(self, channel: bytes, data: bytes) -> None:
        try:
            response = decode_message(data)
        except MalformedMessage as exc:
            logger.debug("ignoring a malformed response on %r: %s", channel, exc)
            return
        request_id = response.get("requestId")
        if not isinstance(request_id, str):
            logger.debug("ignoring a response without a request id")
            return
        ack_request = self._ack_requests.get(request_id)
        if ack_request is not None:
            kind = response.get("type")
            if kind == RequestType.BROADCAST_CLIENT_COUNT:
                count = response.get("clientCount")
                if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                    ack_request[0](count)
            elif kind == RequestType.BROADCAST_ACK:
                ack_request[1](response.get("packet"))
            return
        pending = self._requests.get(request_id)
        if pending is None:
            return  # another server's request, or one that ended
        if pending.type is RequestType.REMOTE_FETCH:
            sockets = response.get("sockets")
            if not isinstance(sockets, list):
                return
            pending.received += 1
            pending.sockets.extend(d for d in (_details(s) for s in sockets) if d is not None)
            if pending.received >= pending.expected:
                pending.settle()
        elif pending.type is RequestType.ALL_ROOMS:
            rooms = response.get("rooms")
            if not isinstance(rooms, list):
                return
            pending.received += 1
            for room in rooms:
                try:
                    pending.rooms.add(room_of(room))
                except MalformedMessage:
                    continue
            if pending.received >= pending.expected:
                pending.settle()
        elif pending.type is RequestType.SERVER_SIDE_EMIT:
            pending.responses.append(response.get("data"))
            if len(pending.responses) >= pending.expected:
                pending.settle()


def create_adapter(
    redis: Redis | str | RedisLink,
    *,
    key: str = "socket.io",
    requests_timeout: float = 5.0,
    publish_on_specific_response_channel: bool = False,
) -> Callable[[LocalDelivery], RedisAdapter]:
    """The ``adapter`` option of :class:`~socketeer.Server`: one :class:`RedisAdapter` per namespace,
    all on one :class:`~socketeer.adapters.redis_link.RedisLink` (a URL, a ``redis.asyncio.Redis``
    client made with ``decode_responses=False``, or a link)."""
    link = redis if isinstance(redis, RedisLink) else RedisLink(redis)

    def factory(delivery: LocalDelivery) -> RedisAdapter:
        return RedisAdapter(
            delivery,
            link,
            key=key,
            requests_timeout=requests_timeout,
            publish_on_specific_response_channel=publish_on_specific_response_channel,
        )

    return factory
