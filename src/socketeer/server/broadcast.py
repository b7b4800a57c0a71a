"""The immutable broadcast builder: ``io.to("a").except_("b").timeout(5).emit(...)``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .._types import Room
from ..adapters.base import BroadcastFlags, BroadcastOptions, RoomsLike, room_set
from ..exceptions import AckTimeout
from ..protocol.socketio_packets import check_event_name, event_packet

if TYPE_CHECKING:
    from .namespace import Namespace
    from .socket import RemoteSocket

__all__ = ["BroadcastOperator", "RoomsLike"]

logger = logging.getLogger("socketeer.server")



@dataclass(frozen=True, slots=True)
class BroadcastOperator:
    """Who a broadcast reaches and how. Every method returns a new operator; instances can be shared."""

    namespace: Namespace
    rooms: frozenset[Room] = field(default_factory=frozenset)
    except_rooms: frozenset[Room] = field(default_factory=frozenset)
    flags: BroadcastFlags = field(default_factory=BroadcastFlags)

    def to(self, *rooms: RoomsLike) -> BroadcastOperator:
        """Target the sockets in these rooms (added to the rooms already chosen)."""
        return replace(self, rooms=self.rooms | room_set(rooms))

    in_ = to

    def except_(self, *rooms: RoomsLike) -> BroadcastOperator:
        """Leave out the sockets in these rooms."""
        return replace(self, except_rooms=self.except_rooms | room_set(rooms))

    @property
    def volatile(self) -> BroadcastOperator:
        """The message may be dropped for a client that cannot take it right now."""
        return replace(self, flags=replace(self.flags, volatile=True))

    @property
    def local(self) -> BroadcastOperator:
        """Only the sockets of this server, even with a clustered adapter."""
        return replace(self, flags=replace(self.flags, local=True))

    def compress(self, compress: bool = True) -> BroadcastOperator:
        return replace(self, flags=replace(self.flags, compress=compress))

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Set the deadline for :meth:`emit_with_ack`."""
        return replace(self, flags=replace(self.flags, timeout=seconds))

    def _options(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_rooms, self.flags)

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to every targeted socket. The packet is encoded once."""
        check_event_name(event)
        packet = event_packet(self.namespace.name, [event, *args])
        self.namespace._broadcast(packet, self._options())

    send = emit

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send an event to every targeted socket and collect one answer from each.

        Across a cluster every server reports how many of its clients got the event; the answer is
        complete when all :meth:`~socketeer.adapters.base.Adapter.server_count` servers have reported
        and their clients have answered. Raises :class:`~socketeer.exceptions.AckTimeout` (carrying the
        answers received) when the deadline set with :meth:`timeout` passes first.
        """
        check_event_name(event)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        responses: list[Any] = []
        # [servers expected (-1: not known yet), servers that reported, clients expected]
        state = [1 if self.flags.local else -1, 0, 0]

        def check() -> None:
            if 0 <= state[0] <= state[1] and len(responses) >= state[2] and not done.done():
                done.set_result(None)

        def on_sent(count: int) -> None:
            state[1] += 1
            state[2] += count
            check()

        def on_ack(value: Any) -> None:
            responses.append(value)
            check()

        adapter = self.namespace.adapter
        packet = event_packet(self.namespace.name, [event, *args])
        adapter.broadcast_with_ack(packet, self._options(), on_sent, on_ack)

        async def complete() -> None:
            if state[0] < 0:
                try:
                    state[0] = await adapter.server_count()
                except Exception as exc:  # the broker is unreachable: count the servers that reported
                    logger.debug("server_count failed during a broadcast with acks: %r", exc)
                    state[0] = 0
                check()
            await asyncio.shield(done)

        try:
            await asyncio.wait_for(complete(), self.flags.timeout)
        except asyncio.TimeoutError:
            counters = self.namespace.server.engine.counters
            if counters is not None:
                counters.acks_timed_out += 1
            raise AckTimeout("operation has timed out", list(responses)) from None
        return responses

    # -- socket management ---------------------------------------------------------------------

    async def fetch_sockets(self) -> list[RemoteSocket]:
        """The targeted sockets, as proxies that can emit, join, leave and disconnect."""
        return await self.namespace._fetch_sockets(self._options())

    async def sockets_join(self, *rooms: RoomsLike) -> None:
        await self.namespace.adapter.add_sockets(self._options(), room_set(rooms))

    async def sockets_leave(self, *rooms: RoomsLike) -> None:
        await self.namespace.adapter.del_sockets(self._options(), room_set(rooms))

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self.namespace._disconnect_sockets(self._options(), close)
