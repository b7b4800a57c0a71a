"""Property-based fuzzing through the public entry points, after a valid handshake.

Hypothesis drives random bytes and random Engine.IO / Socket.IO text into one running server, over
WebSocket frames and over polling POST bodies. The property: nothing ever escapes (the loop exception
handler and the error log stay empty), every session ends, and a healthy client still echoes.
One server serves all the examples of a test (hence the suppressed function-scoped-fixture check).
"""

from __future__ import annotations

import contextlib
import json

from abuse_clients import EIO_POLL, RawWebSocket, http, polling_open
from abuse_target import StartTarget, Target
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketeer.protocol.websocket_frames import Opcode, build_frame, generate_mask

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
placeholders = st.builds(
    lambda num, flag: {"_placeholder": flag, "num": num},
    st.one_of(st.integers(-2, 5), st.text(max_size=2)),
    st.booleans(),
)
socketio_text = st.builds(
    lambda kind, attachments, namespace, ack, body: f"{kind}{attachments}{namespace}{ack}{body}",
    st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "7", "x", ""]),
    st.sampled_from(["", "1-", "2-", "0-", "-1-", "999999-", "1"]),
    st.sampled_from(["", "/", "/admin,", "/x,", "/" + "n" * 300 + ",", ","]),
    st.sampled_from(["", "1", "0", "-1", "12345678901234567890", "1.5"]),
    st.one_of(
        json_values.map(json.dumps),
        st.lists(
            st.one_of(st.sampled_from(["echo", "mirror", "connect", "x"]), json_values, placeholders)
        ).map(json.dumps),
        st.text(max_size=30),
    ),
)
engineio_text = st.one_of(
    st.builds(lambda text: "4" + text, socketio_text),  # a Socket.IO packet in an Engine.IO MESSAGE
    st.builds(lambda kind, rest: kind + rest, st.sampled_from(list("0123456789b")), st.text(max_size=20)),
    st.text(max_size=40),
)
ws_messages = st.lists(
    st.one_of(
        engineio_text.map(lambda text: ("text", text.encode("utf-8", "surrogatepass"))),
        st.binary(max_size=64).map(lambda data: ("binary", data)),
        st.binary(max_size=64).map(lambda data: ("text", data)),  # may be invalid UTF-8
        st.binary(min_size=1, max_size=32).map(lambda data: ("raw", data)),  # arbitrary bytes on the stream
    ),
    min_size=1,
    max_size=6,
)


@SETTINGS
@given(messages=ws_messages)
async def test_random_websocket_input_after_handshake(
    start_target: StartTarget, messages: list[tuple[str, bytes]]
) -> None:
    target = await _shared(start_target)
    ws = await RawWebSocket.connect(target.port)
    try:
        await ws.sio_connect()
        for kind, data in messages:
            if kind == "raw":
                ws.send_raw(data)
            elif kind == "binary":
                ws.send_binary(data)
            else:
                ws.send_raw(build_frame(Opcode.TEXT, data, mask=generate_mask()))
        ws.send_text('42["echo","end"]')
        # the echo comes back, or the server closed; a frame left incomplete by random bytes swallows it
        with contextlib.suppress(EOFError, ConnectionError, TimeoutError):
            while await ws.recv_engine(0.5) != '42["echo","end"]':
                pass
    finally:
        await ws.aclose()  # also when the example fails, so that the next one starts clean
    await target.check()  # nothing escaped, sessions ended, a healthy client echoes


@SETTINGS
@given(
    packets=st.lists(engineio_text, min_size=1, max_size=8), raw=st.binary(max_size=64), use_raw=st.booleans()
)
async def test_random_polling_bodies_after_handshake(
    start_target: StartTarget, packets: list[str], raw: bytes, use_raw: bool
) -> None:
    target = await _shared(start_target)
    sid = await polling_open(target.port)
    body = raw if use_raw else "\x1e".join(packets).encode("utf-8", "surrogatepass")
    try:
        reply = await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", body)
        assert reply.status in (200, 400), reply
    finally:
        if sid in target.io.engine.connections:  # end the session (the server may have already)
            await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b"1")
    await target.check()  # nothing escaped, sessions ended, a healthy client echoes


_targets: dict[int, Target] = {}


async def _shared(start_target: StartTarget) -> Target:
    """One server per test function (all its examples), started by the first example."""
    target = _targets.get(id(start_target))
    if target is None:
        _targets.clear()
        target = _targets[id(start_target)] = await start_target()
    return target
