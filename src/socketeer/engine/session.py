"""The Engine.IO v4 server session: heartbeat and upgrade bookkeeping, without I/O.

Feed it what happened (``receive_pong``, ``receive_probe``, ``receive_upgrade``, ...) with the current
time, ask it :meth:`ServerSession.next_deadline`, and when that time comes call
:meth:`ServerSession.handle_timeout`, which says what the transport layer must do.

Heartbeat (v4, server-driven): a PING is due ``ping_interval`` after the handshake and after each
PONG; the session is dead if no PONG arrives ``ping_timeout`` after a PING.

Heartbeat (v3, ``client_pings=True``): the client sends the PINGs (the transport answers each with a
PONG); the session is dead if none arrives ``ping_interval + ping_timeout`` after the handshake or
the previous one.
"""

from __future__ import annotations

from enum import Enum

from ..exceptions import LocalProtocolError

__all__ = ["SessionState", "ServerSession", "TimerAction", "TRANSITIONS"]


class SessionState(Enum):
    OPEN = "open"
    UPGRADING = "upgrading"  # a WebSocket was opened for this session and may send the probe
    PROBED = "probed"  # the probe was answered; waiting for the UPGRADE packet
    CLOSED = "closed"


class TimerAction(Enum):
    NONE = "none"
    SEND_PING = "send ping"
    PING_TIMEOUT = "ping timeout"
    UPGRADE_TIMEOUT = "upgrade timeout"


# (state, event) -> next state. Every transition of the session lives here.
TRANSITIONS: dict[tuple[SessionState, str], SessionState] = {
    (SessionState.OPEN, "start_upgrade"): SessionState.UPGRADING,
    (SessionState.UPGRADING, "probe"): SessionState.PROBED,
    (SessionState.PROBED, "upgrade"): SessionState.OPEN,
    (SessionState.UPGRADING, "abort_upgrade"): SessionState.OPEN,
    (SessionState.PROBED, "abort_upgrade"): SessionState.OPEN,
    (SessionState.OPEN, "close"): SessionState.CLOSED,
    (SessionState.UPGRADING, "close"): SessionState.CLOSED,
    (SessionState.PROBED, "close"): SessionState.CLOSED,
}


class ServerSession:
    """State of one Engine.IO session. Times are in seconds on the caller's monotonic clock."""

    __slots__ = (
        "_ping_at",
        "_pong_deadline",
        "_upgrade_deadline",
        "client_pings",
        "ping_interval",
        "ping_timeout",
        "state",
        "upgrade_timeout",
        "upgraded",
    )

    def __init__(
        self,
        now: float,
        ping_interval: float,
        ping_timeout: float,
        upgrade_timeout: float,
        *,
        client_pings: bool = False,
    ) -> None:
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.upgrade_timeout = upgrade_timeout
        self.client_pings = client_pings
        self.state = SessionState.OPEN
        self.upgraded = False
        self._ping_at: float | None = None if client_pings else now + ping_interval
        self._pong_deadline: float | None = now + ping_interval + ping_timeout if client_pings else None
        self._upgrade_deadline: float | None = None

    def _move(self, event: str) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise LocalProtocolError(f"cannot {event} in state {self.state.value}") from None

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    @property
    def upgrading(self) -> bool:
        return self.state is SessionState.UPGRADING or self.state is SessionState.PROBED

    def next_deadline(self) -> float | None:
        """The earliest time at which :meth:`handle_timeout` has something to do."""
        if self.state is SessionState.CLOSED:
            return None
        candidates = [
            t for t in (self._ping_at, self._pong_deadline, self._upgrade_deadline) if t is not None
        ]
        return min(candidates) if candidates else None

    def handle_timeout(self, now: float) -> TimerAction:
        """Say what is due at ``now``; call again until it returns ``NONE``."""
        if self.state is SessionState.CLOSED:
            return TimerAction.NONE
        if self._pong_deadline is not None and now >= self._pong_deadline:
            self._ping_at = self._pong_deadline = self._upgrade_deadline = None
            return TimerAction.PING_TIMEOUT  # the caller closes the session
        if self._upgrade_deadline is not None and now >= self._upgrade_deadline:
            self._upgrade_deadline = None
            self._move("abort_upgrade")
            return TimerAction.UPGRADE_TIMEOUT
        if self._ping_at is not None and now >= self._ping_at:
            self._ping_at = None
            self._pong_deadline = now + self.ping_timeout
            return TimerAction.SEND_PING
        return TimerAction.NONE

    def receive_pong(self, now: float) -> None:
        """A PONG arrived: the next PING is due one interval from now."""
        if self.state is SessionState.CLOSED or self._pong_deadline is None or self.client_pings:
            return  # an unsolicited pong is harmless, as in the official server
        self._pong_deadline = None
        self._ping_at = now + self.ping_interval

    def receive_ping(self, now: float) -> bool:
        """A client PING arrived (v3): the next is due within ``ping_interval + ping_timeout``.

        Returns whether it is answered with a PONG (only in the v3 heartbeat direction).
        """
        if self.state is SessionState.CLOSED or not self.client_pings:
            return False
        self._pong_deadline = now + self.ping_interval + self.ping_timeout
        return True

    def start_upgrade(self, now: float) -> None:
        """A WebSocket arrived for this polling session."""
        if self.upgraded:
            raise LocalProtocolError("session already upgraded")
        self._move("start_upgrade")
        self._upgrade_deadline = now + self.upgrade_timeout

    def receive_probe(self) -> None:
        self._move("probe")

    def receive_upgrade(self) -> None:
        self._move("upgrade")
        self._upgrade_deadline = None
        self.upgraded = True

    def abort_upgrade(self) -> None:
        if self.upgrading:
            self._move("abort_upgrade")
            self._upgrade_deadline = None

    def close(self) -> bool:
        """Mark closed; returns ``False`` when it already was."""
        if self.state is SessionState.CLOSED:
            return False
        self._move("close")
        self._ping_at = self._pong_deadline = self._upgrade_deadline = None
        return True
