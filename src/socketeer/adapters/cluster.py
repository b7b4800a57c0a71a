"""The cluster adapter of ``socket.io-adapter``: the request/response protocol between servers, any backend.

:class:`ClusterAdapter` turns every cluster-wide operation (broadcast, broadcast with acknowledgements,
``sockets_join``/``sockets_leave``, ``disconnect_sockets``, ``fetch_sockets``, ``server_side_emit``) into a
:class:`~socketeer.adapters.cluster_messages.ClusterMessage`, and answers the messages of the other servers.
A backend implements two coroutines, :meth:`~ClusterAdapter.do_publish_batch` (to every server, in order)
and the response path inside it (to one server), and feeds what it receives to
:meth:`~ClusterAdapter.on_message`. :class:`ClusterAdapterWithHeartbeat` adds the node discovery of
``ClusterAdapterWithHeartbeat``: every server announces itself (INITIAL_HEARTBEAT, then a HEARTBEAT when it
has published nothing for ``heartbeat_interval``), and a server not heard from for ``heartbeat_timeout`` is
dropped: requests in flight stop waiting for it.

Publishing is asynchronous and ordered: messages queue up and leave in batches (one round trip to the
broker for everything queued meanwhile). A broadcast reaches the local sockets at once, unless connection
state recovery needs the broker's offset first (the Redis Streams adapter): then it goes out locally when
the offset is known, as in the official adapter. A request ends at its timeout with the answers received
so far; a broker that cannot be reached costs one warning per outage, never an exception in the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .._types import Room
from ..exceptions import AckTimeout
from ..protocol.socketio_packets import SocketPacket, SocketPacketType
from .base import BroadcastFlags, BroadcastOptions, LocalDelivery, SocketDetails
from .cluster_messages import (
    EMITTER_UID,
    BroadcastAckData,
    BroadcastClientCountData,
    BroadcastData,
    ClusterMessage,
    DisconnectSocketsData,
    FetchSocketsData,
    FetchSocketsResponseData,
    MessageType,
    ServerSideEmitData,
    ServerSideEmitResponseData,
    SocketsRoomsData,
)
from .memory import InMemoryAdapter

__all__ = ["ClusterAdapter", "ClusterAdapterWithHeartbeat", "Outgoing", "random_uid"]

logger = logging.getLogger("socketeer.cluster")

DEFAULT_TIMEOUT = 5.0
_M = MessageType
_LOCAL = BroadcastFlags(local=True)


@dataclass(slots=True)
class Outgoing:
    """A message waiting to be published: to every server, or (``to``) to one server as a response."""

    message: ClusterMessage
    to: str | None = None
    on_offset: Callable[[str | None], None] | None = None


@dataclass(slots=True)
class _Request:
    kind: MessageType
    future: asyncio.Future[list[Any]]
    missing: set[str] | None  # uids still owing an answer (heartbeat discovery)
    remaining: int  # answers still owed when only the number of servers is known
    responses: list[Any] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)

    def answer(self, uid: str, values: Iterable[Any]) -> None:
        if uid in self.answered or self.future.done():
            return
        self.answered.add(uid)
        self.responses.extend(values)
        if self.missing is not None:
            self.missing.discard(uid)
        self.remaining -= 1
        self.check()

    def drop(self, uid: str) -> None:
        if self.missing is not None and uid not in self.answered:
            self.missing.discard(uid)
            self.check()

    def check(self) -> None:
        done = not self.missing if self.missing is not None else self.remaining <= 0
        if done and not self.future.done():
            self.future.set_result(self.responses)


@dataclass(slots=True)
class _AckRequest:
    on_sent: Callable[[int], None]
    on_ack: Callable[[Any], None]
    timer: asyncio.TimerHandle | None = None


def random_uid() -> str:
    """A server id as the official adapters make them: 8 random bytes in hex."""
    return os.urandom(8).hex()


class ClusterAdapter(InMemoryAdapter):
    """Rooms of the local sockets plus the cluster protocol. Subclasses implement :meth:`do_publish_batch`
    and :meth:`server_count`, and call :meth:`on_message` for what they receive."""

    def __init__(
        self,
        delivery: LocalDelivery,
        *,
        recovery_duration: float | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(delivery)
        self.name = delivery.name
        self.uid = random_uid()
        self.recovery_duration = recovery_duration
        self.request_timeout = request_timeout
        self._requests: dict[str, _Request] = {}
        self._ack_requests: dict[str, _AckRequest] = {}
        self._queue: list[Outgoing] = []
        self._wakeup: asyncio.Event | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._flushers: list[asyncio.Future[None]] = []
        self._closed = False
        self._failing = False

    # -- to implement ------------------------------------------------------------------------

    async def do_publish_batch(self, batch: list[Outgoing]) -> list[str | None]:
        """Publish these messages in order; the offset of each (``None`` when the backend has none).

        Raise to have them all dropped (the error is logged once per outage)."""
        raise NotImplementedError

    async def server_count(self) -> int:
        """How many servers the cluster has, this one included."""
        raise NotImplementedError

    # -- publishing --------------------------------------------------------------------------

    def publish(
        self,
        mtype: MessageType,
        data: Any = None,
        *,
        to: str | None = None,
        on_offset: Callable[[str | None], None] | None = None,
    ) -> None:
        if self._closed and mtype is not _M.ADAPTER_CLOSE:
            if on_offset is not None:
                on_offset(None)
            return
        self._before_publish()
        self._queue.append(Outgoing(ClusterMessage(self.uid, self.name, mtype, data), to, on_offset))
        if self._publisher is None or self._publisher.done():
            loop = asyncio.get_running_loop()
            self._wakeup = asyncio.Event()
            self._publisher = loop.create_task(self._publish_loop())
        assert self._wakeup is not None
        self._wakeup.set()

    def _before_publish(self) -> None:
        """Hook: called for every message published (the heartbeat variant reschedules its heartbeat)."""

    async def _publish_loop(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        while True:
            if not self._queue:
                if self._closed:
                    return
                wakeup.clear()
                await wakeup.wait()
                continue
            batch, self._queue = self._queue, []
            try:
                offsets = await self.do_publish_batch(batch)
            except asyncio.CancelledError:
                for item in batch:
                    if item.on_offset is not None:
                        item.on_offset(None)
                raise
            except Exception as exc:  # the broker is down or refused: local delivery goes on
                if not self._failing:
                    self._failing = True
                    logger.warning("cluster adapter %s on %s cannot publish: %r", self.uid, self.name, exc)
                offsets = [None] * len(batch)
            else:
                if self._failing:
                    self._failing = False
                    logger.warning("cluster adapter %s on %s publishes again", self.uid, self.name)
            for item, offset in zip(batch, offsets, strict=False):
                if item.on_offset is not None:
                    try:
                        item.on_offset(offset)
                    except Exception:
                        logger.exception("error while delivering a published broadcast locally")
            if not self._queue:
                flushers, self._flushers = self._flushers, []
                for waiter in flushers:
                    if not waiter.done():
                        waiter.set_result(None)

    async def flush(self) -> None:
        """Wait until what is queued now has been handed to the backend (tests, graceful close)."""
        publisher = self._publisher
        if not self._queue or publisher is None or publisher.done():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flushers.append(waiter)
        await asyncio.wait([waiter, publisher], return_when=asyncio.FIRST_COMPLETED)

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for request in self._requests.values():
            if not request.future.done():
                request.future.set_result(request.responses)
        self._requests.clear()
        for ack in self._ack_requests.values():
            if ack.timer is not None:
                ack.timer.cancel()
        self._ack_requests.clear()
        publisher = self._publisher
        if publisher is not None and not publisher.done():
            assert self._wakeup is not None
            self._wakeup.set()
            try:
                await asyncio.wait_for(asyncio.shield(publisher), 2.0)
            except (asyncio.TimeoutError, Exception):
                publisher.cancel()

    # -- broadcasting ------------------------------------------------------------------------

    def _recoverable(self, packet: SocketPacket, opts: BroadcastOptions) -> bool:
        return (
            self.recovery_duration is not None
            and packet.type is SocketPacketType.EVENT
            and packet.id is None
            and not opts.flags.volatile
        )

    def broadcast(self, packet: SocketPacket, opts: BroadcastOptions) -> None:
        if opts.flags.local:
            super().broadcast(packet, opts)
            return
        if self._recoverable(packet, opts):

            def with_offset(offset: str | None) -> None:
                self._broadcast_local(packet, opts, offset)

            self.publish(_M.BROADCAST, BroadcastData(packet, opts), on_offset=with_offset)
            return
        self.publish(_M.BROADCAST, BroadcastData(packet, opts))
        super().broadcast(packet, opts)

    def _broadcast_local(self, packet: SocketPacket, opts: BroadcastOptions, offset: str | None) -> None:
        if offset is not None and self._recoverable(packet, opts):
            packet = packet._replace(data=[*packet.data, offset])
        InMemoryAdapter.broadcast(self, packet, opts)

    def broadcast_with_ack(
        self,
        packet: SocketPacket,
        opts: BroadcastOptions,
        on_sent: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None:
        if not opts.flags.local:
            request_id = random_uid()
            ack = _AckRequest(on_sent, on_ack)
            self._ack_requests[request_id] = ack
            self.publish(_M.BROADCAST, BroadcastData(packet, opts, request_id))
            timeout = opts.flags.timeout if opts.flags.timeout is not None else DEFAULT_TIMEOUT
            ack.timer = asyncio.get_running_loop().call_later(
                timeout, self._ack_requests.pop, request_id, None
            )
        super().broadcast_with_ack(packet, opts, on_sent, on_ack)

    # -- socket management -------------------------------------------------------------------

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = tuple(rooms)
        if not opts.flags.local:
            self.publish(_M.SOCKETS_JOIN, SocketsRoomsData(opts, rooms))
        await super().add_sockets(opts, rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = tuple(rooms)
        if not opts.flags.local:
            self.publish(_M.SOCKETS_LEAVE, SocketsRoomsData(opts, rooms))
        await super().del_sockets(opts, rooms)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool = False) -> None:
        if not opts.flags.local:
            self.publish(_M.DISCONNECT_SOCKETS, DisconnectSocketsData(opts, close))
        self.delivery.disconnect(self.match(opts), close)

    def local_socket_details(self, opts: BroadcastOptions) -> list[SocketDetails]:
        return self.delivery.socket_details(self.match(opts))

    async def _responders(self) -> tuple[set[str] | None, int]:
        """Who owes an answer to a request: (uids, or ``None`` when unknown; how many)."""
        return None, await self.server_count() - 1

    async def _request(
        self, kind: MessageType, data: Any, request_id: str, timeout: float
    ) -> tuple[list[Any], bool]:
        """Publish a request and collect the answers: (answers, whether every server answered in time)."""
        missing, count = await self._responders()
        if (missing is not None and not missing) or count <= 0 or self._closed:
            return [], True
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        request = _Request(kind, future, missing, count)
        self._requests[request_id] = request
        self.publish(kind, data)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout), True
        except asyncio.TimeoutError:
            logger.debug(
                "cluster request %s timed out: %d answers, %s missing",
                request_id,
                len(request.answered),
                request.missing if request.missing is not None else request.remaining,
            )
            return list(request.responses), False
        finally:
            self._requests.pop(request_id, None)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        """Every socket of the cluster that ``opts`` selects; a server that does not answer within the
        timeout (``opts.flags.timeout``, else 5 s) is left out (logged), its sockets missing."""
        local = self.local_socket_details(opts)
        if opts.flags.local:
            return local
        request_id = random_uid()
        timeout = opts.flags.timeout if opts.flags.timeout is not None else self.request_timeout
        remote, complete = await self._request(
            _M.FETCH_SOCKETS, FetchSocketsData(opts, request_id), request_id, timeout
        )
        if not complete:
            logger.warning("fetch_sockets on %s: some servers did not answer within %s s", self.name, timeout)
        return local + remote

    async def server_side_emit(self, packet: list[Any]) -> None:
        self.publish(_M.SERVER_SIDE_EMIT, ServerSideEmitData(packet))

    async def server_side_emit_with_ack(self, packet: list[Any], timeout: float | None = None) -> list[Any]:
        request_id = random_uid()
        responses, complete = await self._request(
            _M.SERVER_SIDE_EMIT,
            ServerSideEmitData(packet, request_id),
            request_id,
            self.request_timeout if timeout is None else timeout,
        )
        if not complete:
            raise AckTimeout("timeout reached: some servers did not answer", responses)
        return responses

    # -- receiving ---------------------------------------------------------------------------

    def on_message(self, message: ClusterMessage, offset: str | None = None) -> None:
        """Handle a message of another server (messages of this server and other namespaces are ignored)."""
        if message.uid == self.uid or message.nsp != self.name or self._closed:
            return
        try:
            self._handle(message, offset)
        except Exception:
            logger.exception(
                "error while handling cluster message %s from %s", message.type.name, message.uid
            )

    def _handle(self, message: ClusterMessage, offset: str | None) -> None:
        data = message.data
        if isinstance(data, BroadcastData):
            self._on_broadcast(message.uid, data, offset)
        elif isinstance(data, SocketsRoomsData):
            local = _local(data.opts)
            if message.type is _M.SOCKETS_JOIN:
                for sid in self.match(local):
                    self.add_all(sid, data.rooms)
            else:
                for sid in self.match(local):
                    for room in data.rooms:
                        self.delete(sid, room)
        elif isinstance(data, DisconnectSocketsData):
            self.delivery.disconnect(self.match(data.opts), data.close)
        elif isinstance(data, FetchSocketsData):
            sockets = tuple(self.local_socket_details(data.opts))
            self.publish(
                _M.FETCH_SOCKETS_RESPONSE, FetchSocketsResponseData(data.request_id, sockets), to=message.uid
            )
        elif isinstance(data, ServerSideEmitData):
            self._on_server_side_emit(message.uid, data)
        elif message.type in (
            _M.FETCH_SOCKETS_RESPONSE,
            _M.SERVER_SIDE_EMIT_RESPONSE,
            _M.BROADCAST_CLIENT_COUNT,
            _M.BROADCAST_ACK,
        ):
            self.on_response(message)

    def _on_broadcast(self, uid: str, data: BroadcastData, offset: str | None) -> None:
        request_id = data.request_id
        if request_id is None:
            self._broadcast_local(data.packet, data.opts, offset)
            return

        def on_sent(count: int) -> None:
            self.publish(_M.BROADCAST_CLIENT_COUNT, BroadcastClientCountData(request_id, count), to=uid)

        def on_ack(value: Any) -> None:
            self.publish(_M.BROADCAST_ACK, BroadcastAckData(request_id, value), to=uid)

        InMemoryAdapter.broadcast_with_ack(self, data.packet, data.opts, on_sent, on_ack)

    def _on_server_side_emit(self, uid: str, data: ServerSideEmitData) -> None:
        request_id = data.request_id
        if request_id is None:
            self.delivery.server_side_received(data.packet, None)
            return
        called = False

        def ack(value: Any = None) -> None:
            nonlocal called
            if called:
                return
            called = True
            self.publish(_M.SERVER_SIDE_EMIT_RESPONSE, ServerSideEmitResponseData(request_id, value), to=uid)

        self.delivery.server_side_received(data.packet, ack)

    def on_response(self, message: ClusterMessage) -> None:
        data = message.data
        if isinstance(data, BroadcastClientCountData):
            ack = self._ack_requests.get(data.request_id)
            if ack is not None:
                ack.on_sent(data.client_count)
        elif isinstance(data, BroadcastAckData):
            ack = self._ack_requests.get(data.request_id)
            if ack is not None:
                ack.on_ack(data.packet)
        elif isinstance(data, FetchSocketsResponseData):
            request = self._requests.get(data.request_id)
            if request is not None and request.kind is _M.FETCH_SOCKETS:
                request.answer(message.uid, data.sockets)
        elif isinstance(data, ServerSideEmitResponseData):
            request = self._requests.get(data.request_id)
            if request is not None and request.kind is _M.SERVER_SIDE_EMIT:
                request.answer(message.uid, (data.packet,))

    def _drop_node(self, uid: str) -> None:
        for request in list(self._requests.values()):
            request.drop(uid)


def _local(opts: BroadcastOptions) -> BroadcastOptions:
    return BroadcastOptions(opts.rooms, opts.except_, _LOCAL)


class ClusterAdapterWithHeartbeat(ClusterAdapter):
    """The cluster adapter whose servers find each other by heartbeat (``ClusterAdapterWithHeartbeat``)."""

    def __init__(
        self,
        delivery: LocalDelivery,
        *,
        recovery_duration: float | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 10.0,
    ) -> None:
        super().__init__(delivery, recovery_duration=recovery_duration, request_timeout=request_timeout)
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.nodes: dict[str, float] = {}  # uid -> loop time it was last heard from
        self._heartbeat: asyncio.TimerHandle | None = None
        self._cleanup: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_publish = 0.0

    async def init(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._schedule_cleanup()
        self.publish(_M.INITIAL_HEARTBEAT)

    def _schedule_cleanup(self) -> None:
        assert self._loop is not None
        period = min(1.0, self.heartbeat_timeout / 4)
        self._cleanup = self._loop.call_later(period, self._check_nodes)

    def _check_nodes(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for uid, seen in list(self.nodes.items()):
            if now - seen > self.heartbeat_timeout:
                logger.info("server %s of %s seems down (no heartbeat)", uid, self.name)
                self.remove_node(uid)
        if not self._closed:
            self._schedule_cleanup()

    def _before_publish(self) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._last_publish = loop.time()
        if self._heartbeat is None and not self._closed:
            self._heartbeat = loop.call_later(self.heartbeat_interval, self._heartbeat_due)

    def _heartbeat_due(self) -> None:
        """A HEARTBEAT when nothing was published for ``heartbeat_interval`` (any message counts as one)."""
        assert self._loop is not None
        self._heartbeat = None
        if self._closed:
            return
        idle = self._loop.time() - self._last_publish
        if idle >= self.heartbeat_interval * 0.99:
            self.publish(_M.HEARTBEAT)
        else:
            self._heartbeat = self._loop.call_later(self.heartbeat_interval - idle, self._heartbeat_due)

    async def close(self) -> None:
        if self._closed:
            return
        self.publish(_M.ADAPTER_CLOSE)
        for handle in (self._heartbeat, self._cleanup):
            if handle is not None:
                handle.cancel()
        await super().close()

    async def server_count(self) -> int:
        return 1 + len(self.nodes)

    async def _responders(self) -> tuple[set[str] | None, int]:
        return set(self.nodes), len(self.nodes)

    def on_message(self, message: ClusterMessage, offset: str | None = None) -> None:
        uid = message.uid
        if uid == self.uid or self._closed:
            return
        if uid != EMITTER_UID:
            loop = self._loop or asyncio.get_running_loop()
            self.nodes[uid] = loop.time()
        mtype = message.type
        if mtype is _M.INITIAL_HEARTBEAT:
            self.publish(_M.HEARTBEAT)
        elif mtype is _M.HEARTBEAT:
            pass
        elif mtype is _M.ADAPTER_CLOSE:
            self.remove_node(uid)
        else:
            super().on_message(message, offset)

    def remove_node(self, uid: str) -> None:
        self.nodes.pop(uid, None)
        self._drop_node(uid)
