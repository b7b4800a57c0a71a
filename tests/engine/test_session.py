"""The sans-I/O session driven with a fake clock: no sleeps, exact deadlines."""

from __future__ import annotations

import pytest

from socketeer.engine.session import TRANSITIONS, ServerSession, SessionState, TimerAction
from socketeer.exceptions import LocalProtocolError


def make(now: float = 100.0) -> ServerSession:
    return ServerSession(now, ping_interval=25.0, ping_timeout=20.0, upgrade_timeout=10.0)


def test_heartbeat_schedule() -> None:
    session = make()
    assert session.next_deadline() == 125.0
    assert session.handle_timeout(124.9) is TimerAction.NONE
    assert session.handle_timeout(125.0) is TimerAction.SEND_PING
    assert session.next_deadline() == 145.0
    session.receive_pong(130.0)
    assert session.next_deadline() == 155.0
    assert session.handle_timeout(150.0) is TimerAction.NONE


def test_ping_timeout_exactly_at_interval_plus_timeout() -> None:
    session = make(0.0)
    assert session.handle_timeout(25.0) is TimerAction.SEND_PING
    assert session.handle_timeout(44.999) is TimerAction.NONE
    assert session.handle_timeout(45.0) is TimerAction.PING_TIMEOUT
    assert not session.closed  # the caller closes, and learns it closed it
    assert session.close() is True
    assert session.close() is False
    assert session.next_deadline() is None
    assert session.handle_timeout(1000.0) is TimerAction.NONE


def test_unsolicited_pong_is_ignored() -> None:
    session = make(0.0)
    session.receive_pong(1.0)
    assert session.next_deadline() == 25.0


def test_upgrade_sequence() -> None:
    session = make(0.0)
    session.start_upgrade(1.0)
    assert session.state is SessionState.UPGRADING and session.upgrading
    assert session.next_deadline() == 11.0
    session.receive_probe()
    assert session.state is SessionState.PROBED
    session.receive_upgrade()
    assert session.state is SessionState.OPEN and session.upgraded
    assert session.next_deadline() == 25.0
    with pytest.raises(LocalProtocolError):
        session.start_upgrade(2.0)


def test_upgrade_timeout_returns_to_open() -> None:
    session = make(0.0)
    session.start_upgrade(1.0)
    assert session.handle_timeout(11.0) is TimerAction.UPGRADE_TIMEOUT
    assert session.state is SessionState.OPEN and not session.upgraded


def test_upgrade_out_of_order_is_refused() -> None:
    session = make(0.0)
    with pytest.raises(LocalProtocolError):
        session.receive_probe()
    session.start_upgrade(0.0)
    with pytest.raises(LocalProtocolError):
        session.receive_upgrade()
    session.abort_upgrade()
    assert session.state is SessionState.OPEN


def test_transitions_table_is_closed() -> None:
    states = {s for pair in TRANSITIONS for s in pair if isinstance(s, SessionState)} | set(
        TRANSITIONS.values()
    )
    assert states == set(SessionState)


def test_v3_heartbeat_the_client_pings_and_the_deadline_is_interval_plus_timeout() -> None:
    session = ServerSession(0.0, 25.0, 20.0, 10.0, client_pings=True)
    assert session.next_deadline() == 45.0
    assert session.handle_timeout(44.9) is TimerAction.NONE  # the server never pings
    assert session.receive_ping(30.0) is True
    assert session.next_deadline() == 75.0
    session.receive_pong(31.0)  # a pong from a v3 client changes nothing
    assert session.next_deadline() == 75.0
    assert session.handle_timeout(75.0) is TimerAction.PING_TIMEOUT


def test_v4_sessions_do_not_answer_client_pings() -> None:
    session = ServerSession(0.0, 25.0, 20.0, 10.0)
    assert session.receive_ping(1.0) is False
    assert session.next_deadline() == 25.0
