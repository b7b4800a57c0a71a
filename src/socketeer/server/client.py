"""The server's side of one Engine.IO connection: it multiplexes the namespace sockets on it."""

from __future__ import annotations

import logging
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..exceptions import RemoteProtocolError
from ..protocol.socketio_packets import SocketPacket, SocketPacketType
from ..sio.reasons import DisconnectReason
from ..transports.engine_server import CloseReason, EngineConnection
from .socket import Handshake, Socket

if TYPE_CHECKING:
    import asyncio

    from .server import Server

__all__ = ["Client"]

logger = logging.getLogger("socketeer.server")

_CONNECT = SocketPacketType.CONNECT


class Client:
    """Receives what one connection sends and routes it to the socket of its namespace."""

    __slots__ = ("_connect_timer", "_connecting", "conn", "decoder", "server", "sockets")

    def __init__(self, server: Server, conn: EngineConnection) -> None:
        self.server = server
        self.conn = conn
        self.decoder = server.parser.decoder(server.decode_limits)
        self.sockets: dict[str, Socket] = {}
        # the namespaces whose CONNECT is being handled (middlewares running): mostly none, so a tuple,
        # the empty one shared by every client
        self._connecting: tuple[str, ...] = ()
        self._connect_timer: asyncio.TimerHandle | None = server.engine.loop.call_later(
            server.connect_timeout, self._on_connect_timeout
        )

    def handshake(self, auth: dict[str, Any]) -> Handshake:
        request = self.conn.request
        address = request.remote_address[0] if request.remote_address else ""
        now = time.time()
        headers = request.headers  # shared, as the official server shares the request's headers
        if not isinstance(headers, dict):
            headers = dict(headers)
        url = request.path + ("?" + request.query_string if request.query_string else "")
        return Handshake(
            headers=headers,
            query=dict(request.query),
            auth=auth,
            address=address,
            time=formatdate(now, usegmt=True),
            issued=int(now * 1000),
            url=url,
            secure=request.scheme in ("https", "wss"),
            xdomain="origin" in headers,
        )

    def connecting(self, name: str) -> None:
        if name not in self._connecting:
            self._connecting = (*self._connecting, name)

    def connected_or_refused(self, name: str) -> None:
        """The CONNECT to ``name`` is handled (joined or refused)."""
        if name in self._connecting:
            self._connecting = tuple(n for n in self._connecting if n != name)

    def joined(self) -> None:
        """A namespace was joined: the connect timeout is over (as the official server clears it)."""
        timer = self._connect_timer
        if timer is not None:
            self._connect_timer = None
            timer.cancel()

    def _on_connect_timeout(self) -> None:
        self._connect_timer = None
        if not self.sockets and not self._connecting and not self.conn.closed:
            logger.info("closing %s: no namespace joined within connect_timeout", self.conn.sid)
            self.conn.close(CloseReason.FORCED_CLOSE)

    # -- ConnectionHandler ---------------------------------------------------------------------

    def on_text(self, text: str) -> None:
        try:
            packet = self.decoder.feed_text(text)
        except RemoteProtocolError as exc:
            self._parse_error(exc)
            return
        if packet is not None:
            self._on_packet(packet)

    def on_binary(self, data: bytes) -> None:
        try:
            packet = self.decoder.feed_binary(data)
        except RemoteProtocolError as exc:
            self._parse_error(exc)
            return
        if packet is not None:
            self._on_packet(packet)

    def on_close(self, reason: str) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        why = DisconnectReason.parse(reason)
        for socket in list(self.sockets.values()):
            socket._on_close(why)
        self.sockets.clear()

    def _parse_error(self, exc: RemoteProtocolError) -> None:
        logger.info("closing %s: parse error (%s)", self.conn.sid, exc)
        self.conn.close(CloseReason.PARSE_ERROR)

    def _on_packet(self, packet: SocketPacket) -> None:
        socket = self.sockets.get(packet.namespace)
        if packet.type is _CONNECT:
            name, auth = packet.namespace, packet.data
            if self.conn.protocol == 3:  # v4 protocol: "0/nsp?query," with the query as the auth
                name, _, query = name.partition("?")
                auth = dict(parse_qsl(query))
                socket = self.sockets.get(name)
            if socket is None and name not in self._connecting:
                self.server._connect(self, name, auth if auth is not None else {})
            return
        if socket is not None:
            socket._on_packet(packet)

    # -- used by sockets and namespaces --------------------------------------------------------

    def refuse(self, namespace: str, message: str, data: Any = None, *, invalid_namespace: bool = False) -> None:
        counters = self.server.engine.counters
        if counters is not None:
            counters.refusals["invalid_namespace" if invalid_namespace else "middleware"] += 1
        payload: Any = {"message": message}
        if self.conn.protocol == 3 and not invalid_namespace:
            payload = data if data is not None else message  # the v4 protocol: the data, or a plain string
        elif data is not None:
            payload["data"] = data
        self.conn.write(
            self.server.parser.encode(SocketPacket(SocketPacketType.CONNECT_ERROR, namespace, payload))
        )

    def _remove(self, socket: Socket) -> None:
        if self.sockets.get(socket.namespace.name) is socket:
            del self.sockets[socket.namespace.name]

    def disconnect_all(self) -> None:
        for socket in list(self.sockets.values()):
            socket.disconnect()
        self.conn.close(CloseReason.FORCED_CLOSE)
