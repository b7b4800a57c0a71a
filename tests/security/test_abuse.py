"""Hostile peers against the standalone server over loopback.

Each case abuses the server one way, checks the server's answer (HTTP status, Engine.IO error code,
WebSocket close code), then ``target.check()``: nothing escaped (loop exception handler and ERROR logs
empty), the session count is back to its baseline, and a healthy client still echoes within 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct

import pytest
from abuse_clients import EIO_POLL, EIO_WS, RawWebSocket, healthy_echo, http, polling_open
from abuse_target import StartTarget

from socketeer import Limits
from socketeer.protocol.websocket_frames import Opcode, build_frame, generate_mask

MB = 1_000_000


# -- oversized messages --------------------------------------------------------------------------


async def test_websocket_frame_over_max_http_buffer_size_closes_1009(start_target: StartTarget) -> None:
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    # announce a 2 MB text frame and send only its first kilobyte: refused on the header alone
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, 2 * MB) + generate_mask()
    ws.send_raw(header + b"4" * 1024)
    assert await ws.expect_close() == 1009
    await ws.aclose()
    await target.check()


async def test_fragmented_message_over_the_limit_closes_1009(start_target: StartTarget) -> None:
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    chunk = b"x" * 400_000
    ws.send_raw(build_frame(Opcode.TEXT, b'42["echo","' + chunk, fin=False, mask=generate_mask()))
    ws.send_raw(build_frame(Opcode.CONTINUATION, chunk, fin=False, mask=generate_mask()))
    ws.send_raw(build_frame(Opcode.CONTINUATION, chunk + b'"]', fin=True, mask=generate_mask()))
    assert await ws.expect_close() == 1009
    await ws.aclose()
    await target.check()


async def test_message_at_the_limit_still_echoes(start_target: StartTarget) -> None:
    target = await start_target()
    await healthy_echo(target.port, "y" * (MB - 100), timeout=5)
    await target.check()


async def test_post_over_max_http_buffer_size_is_413_and_closes_the_session(
    start_target: StartTarget,
) -> None:
    target = await start_target()
    sid = await polling_open(target.port)
    reply = await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b"4" + b"x" * (MB + 100))
    assert reply.status == 413
    await target.check()


async def test_post_far_over_the_limit_is_cut_off_without_buffering(start_target: StartTarget) -> None:
    target = await start_target()
    sid = await polling_open(target.port)
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    head = f"POST {EIO_POLL}&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Length: {50 * MB}\r\n\r\n"
    writer.write(head.encode())
    status = None
    with contextlib.suppress(ConnectionError):
        for _ in range(50):  # 50 MB announced; the server answers 413 and hangs up long before
            writer.write(b"x" * MB)
            await writer.drain()
    with contextlib.suppress(ConnectionError):
        line = await asyncio.wait_for(reader.readline(), 2)
        status = int(line.split()[1]) if line else None
    assert status in (413, None)  # 413, or a reset if the kernel dropped it while we were still writing
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b"1")  # the session itself was not touched
    await target.check()


# -- floods ------------------------------------------------------------------------------------------


async def test_post_with_100k_packets_is_refused(start_target: StartTarget) -> None:
    target = await start_target()
    sid = await polling_open(target.port)
    body = "\x1e".join(["4x"] * 100_000).encode()
    reply = await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", body)
    assert reply.status == 400
    assert reply.json()["code"] == 3
    await target.check()


async def test_many_small_websocket_messages_in_one_write(start_target: StartTarget) -> None:
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    frame = build_frame(Opcode.TEXT, b'42["nothing",1]', mask=generate_mask())
    ws.send_raw(frame * 50_000)
    ws.send_text('42["echo","done"]')
    assert await ws.recv_engine(5) == '42["echo","done"]'
    await ws.aclose()
    await target.check()


# -- binary attachments ------------------------------------------------------------------------------


async def _expect_parse_error_close(target_port: int, *messages: str | bytes) -> int | None:
    ws = await RawWebSocket.connect(target_port)
    await ws.sio_connect()
    for message in messages:
        if isinstance(message, bytes):
            ws.send_binary(message)
        else:
            ws.send_text(message)
    code = await ws.expect_close()
    await ws.aclose()
    assert code == 1000, code  # a parse error closes the session, and so the WebSocket, normally
    return code


PLACEHOLDER = '{"_placeholder":true,"num":%d}'


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(['451-["echo",' + PLACEHOLDER % 0 + "]", '42["echo",1]'], id="text-instead-of-binary"),
        pytest.param(['451-["echo",' + PLACEHOLDER % 7 + "]", b"\x01"], id="placeholder-out-of-range"),
        pytest.param(['451-["echo",' + PLACEHOLDER % -1 + "]", b"\x01"], id="placeholder-negative"),
        pytest.param(['451-["echo",{"_placeholder":true,"num":"0"}]', b"\x01"], id="placeholder-not-int"),
        pytest.param(["5999999-[]"], id="huge-attachment-count"),
        pytest.param(['45-1-["echo"]'], id="negative-attachment-count"),
        pytest.param([b"\x00\x01"], id="binary-without-packet"),
    ],
)
async def test_bad_attachments_close_with_parse_error(
    start_target: StartTarget, messages: list[str | bytes]
) -> None:
    target = await start_target()
    await _expect_parse_error_close(target.port, *messages)
    await target.check()


async def test_binary_event_with_zero_attachments_is_an_event(start_target: StartTarget) -> None:
    """``450-[...]`` is accepted as a plain event, as socket.io-parser does."""
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    ws.send_text('450-["echo","z"]')
    assert await ws.recv_engine() == '42["echo","z"]'
    await ws.aclose()
    await target.check()


async def test_unfinished_attachments_are_dropped_with_the_connection(start_target: StartTarget) -> None:
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    ws.send_text('4100-["echo",' + ",".join(PLACEHOLDER % n for n in range(100)) + "]")
    for _ in range(99):
        ws.send_binary(b"z" * 1000)
    await ws.aclose()  # leave with one attachment missing
    await target.check()


# -- session ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_unknown_sid_is_400_code_1(start_target: StartTarget, method: str) -> None:
    target = await start_target()
    reply = await http(target.port, method, f"{EIO_POLL}&sid=nope", b"40" if method == "POST" else b"")
    assert reply.status == 400
    assert reply.json() == {"code": 1, "message": "Session ID unknown"}
    await target.check()


async def test_websocket_with_unknown_sid_is_refused(start_target: StartTarget) -> None:
    target = await start_target()
    reply = await http(
        target.port,
        "GET",
        f"{EIO_WS}&sid=nope",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert reply.status == 400
    assert reply.json()["code"] == 1
    await target.check()


async def test_sid_from_another_connection_is_accepted_like_the_official_server(
    start_target: StartTarget,
) -> None:
    """A sid is a bearer token: any TCP connection that presents it is that session (as in engine.io).

    Documented in docs/security.md; ``allow_request`` and the per-address limits do not change it.
    """
    target = await start_target()
    sid = await polling_open(target.port)
    assert (await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b"40")).status == 200
    # a second, unrelated connection polls with that sid and receives the session's CONNECT reply
    reply = await http(target.port, "GET", f"{EIO_POLL}&sid={sid}")
    assert reply.status == 200 and reply.body.startswith(b"40{"), reply
    assert (await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b"1")).status == 200
    await target.check()


async def test_second_websocket_for_a_websocket_session_is_closed(start_target: StartTarget) -> None:
    target = await start_target()
    owner = await RawWebSocket.connect(target.port)
    sid = await owner.sio_connect()
    intruder = await RawWebSocket.connect(target.port, f"{EIO_WS}&sid={sid}")
    assert await intruder.expect_close() == 1000
    await intruder.aclose()
    owner.send_text('42["echo","still mine"]')
    assert await owner.recv_engine() == '42["echo","still mine"]'
    await owner.aclose()
    await target.check()


async def test_concurrent_polls_are_400_and_close_the_session(start_target: StartTarget) -> None:
    target = await start_target()
    sid = await polling_open(target.port)
    first = asyncio.create_task(http(target.port, "GET", f"{EIO_POLL}&sid={sid}"))
    conn = target.io.engine.connections[sid]  # type: ignore[index]
    await target.wait_for(lambda: conn._poll is not None, what="the first poll to be held")
    second = await http(target.port, "GET", f"{EIO_POLL}&sid={sid}")
    assert second.status == 400
    assert second.json()["code"] == 3
    answered = await first
    assert answered.status == 200 and answered.body == b"1"
    await target.check()


# -- upgrade probes ----------------------------------------------------------------------------------


async def _probe(port: int) -> tuple[str, RawWebSocket]:
    sid = await polling_open(port)
    ws = await RawWebSocket.connect(port, f"{EIO_WS}&sid={sid}")
    return sid, ws


async def _close_polling(port: int, sid: str) -> None:
    reply = await http(port, "POST", f"{EIO_POLL}&sid={sid}", b"1")
    assert reply.status in (200, 400)


async def test_probe_twice_aborts_the_upgrade(start_target: StartTarget) -> None:
    target = await start_target()
    sid, ws = await _probe(target.port)
    ws.send_text("2probe")
    assert await ws.recv() == "3probe"
    ws.send_text("2probe")
    assert await ws.expect_close() == 1002
    await ws.aclose()
    # the session carries on over polling
    assert (await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b"40")).status == 200
    reply = await http(target.port, "GET", f"{EIO_POLL}&sid={sid}")
    assert reply.status == 200 and b"40{" in reply.body, reply
    await _close_polling(target.port, sid)
    await target.check()


@pytest.mark.parametrize(
    "first", [pytest.param("5", id="upgrade-before-probe"), pytest.param(b"\x05", id="binary-during-probe")]
)
async def test_bad_probe_sequence_aborts_the_upgrade(start_target: StartTarget, first: str | bytes) -> None:
    target = await start_target()
    sid, ws = await _probe(target.port)
    if isinstance(first, bytes):
        ws.send_binary(first)
    else:
        ws.send_text(first)
    assert await ws.expect_close() == 1002
    await ws.aclose()
    assert (await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b"40")).status == 200
    await _close_polling(target.port, sid)
    await target.check()


async def test_binary_after_the_probe_aborts_the_upgrade(start_target: StartTarget) -> None:
    target = await start_target()
    sid, ws = await _probe(target.port)
    ws.send_text("2probe")
    assert await ws.recv() == "3probe"
    ws.send_binary(b"5")
    assert await ws.expect_close() == 1002
    await ws.aclose()
    await _close_polling(target.port, sid)
    await target.check()


async def test_second_websocket_during_an_upgrade_is_closed(start_target: StartTarget) -> None:
    target = await start_target()
    sid, ws = await _probe(target.port)
    other = await RawWebSocket.connect(target.port, f"{EIO_WS}&sid={sid}")
    assert await other.expect_close() == 1000
    await other.aclose()
    # the first probe still completes the upgrade
    assert (await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b"40")).status == 200
    ws.send_text("2probe")
    assert await ws.recv() == "3probe"
    ws.send_text("5")
    ws.send_text('42["echo","upgraded"]')
    received = [await ws.recv_engine(), await ws.recv_engine()]
    assert received[-1] == '42["echo","upgraded"]', received
    await ws.aclose()
    await target.check()


async def test_probe_left_hanging_is_closed_by_the_upgrade_timeout(start_target: StartTarget) -> None:
    target = await start_target(upgrade_timeout=0.2)
    sid, ws = await _probe(target.port)
    ws.send_text("2probe")
    assert await ws.recv() == "3probe"
    assert await ws.expect_close() is not None  # never sends "5"
    await ws.aclose()
    # the session goes on over polling
    assert (await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b"40")).status == 200
    reply = await http(target.port, "GET", f"{EIO_POLL}&sid={sid}")
    assert reply.status == 200 and b"40{" in reply.body, reply
    await _close_polling(target.port, sid)
    await target.check()


# -- malformed frames and encodings --------------------------------------------------------------------


async def test_invalid_utf8_in_a_text_frame_closes_1007(start_target: StartTarget) -> None:
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    ws.send_text(b'42["echo","\xff\xfe"]')
    assert await ws.expect_close() == 1007
    await ws.aclose()
    await target.check()


async def test_invalid_utf8_in_a_post_body_is_400_and_closes_the_session(start_target: StartTarget) -> None:
    target = await start_target()
    sid = await polling_open(target.port)
    reply = await http(target.port, "POST", f"{EIO_POLL}&sid={sid}", b'42["echo","\xff"]')
    assert reply.status == 400
    await target.check()


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(build_frame(Opcode.TEXT, b'42["echo",1]'), id="unmasked"),
        pytest.param(bytes([0x09, 0x80]) + b"\0\0\0\0", id="fragmented-ping"),
        pytest.param(bytes([0x89, 0xFE, 0, 200]) + b"\0" * 204, id="ping-over-125"),
        pytest.param(bytes([0xC1, 0x80]) + b"\0\0\0\0", id="rsv1-set"),
        pytest.param(bytes([0x83, 0x80]) + b"\0\0\0\0", id="reserved-opcode"),
        pytest.param(bytes([0x80, 0x80]) + b"\0\0\0\0", id="continuation-first"),
        pytest.param(bytes([0x81, 0xFF]) + struct.pack("!Q", 1 << 63) + b"\0\0\0\0", id="length-msb"),
        pytest.param(bytes([0x88, 0x81]) + b"\0\0\0\0" + b"\x03", id="close-one-byte"),
    ],
)
async def test_rfc6455_violations_close_1002(start_target: StartTarget, frame: bytes) -> None:
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    ws.send_raw(frame)
    assert await ws.expect_close() == 1002
    await ws.aclose()
    await target.check()


# -- HTTP pipelining ---------------------------------------------------------------------------------


async def _read_responses(reader: asyncio.StreamReader, count: int) -> list[tuple[int, bytes]]:
    replies = []
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        for _ in range(count):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            replies.append((int(head.split()[1]), await reader.readexactly(length)))
    return replies


async def test_pipelined_requests_are_answered_in_order(start_target: StartTarget) -> None:
    target = await start_target()
    sid = await polling_open(target.port)
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    held = f"GET {EIO_POLL}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n"
    unknown = f"GET {EIO_POLL}&sid=nope HTTP/1.1\r\nHost: x\r\n\r\n"
    writer.write((held + unknown * 20).encode())
    conn = target.io.engine.connections[sid]  # type: ignore[index]
    await target.wait_for(lambda: conn._poll is not None, what="the long poll to be held")
    await asyncio.sleep(0.05)  # the 400s must wait behind the held poll, not overtake it
    await _close_polling(target.port, sid)
    replies = await _read_responses(reader, 21)
    # the held poll is answered first ("6": the session was closed by the client), then the 400s
    assert replies[0] == (200, b"6") and [status for status, _ in replies[1:]] == [400] * 20, replies[:3]
    writer.close()
    await target.check()


async def test_pipelining_flood_is_cut_off(start_target: StartTarget) -> None:
    target = await start_target()
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(f"GET {EIO_POLL}&sid=nope HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 5000)
    replies = await _read_responses(reader, 5000)
    # cut off after at most 100 queued requests: a 503, unless the reset of the unread rest beat it to us
    assert len(replies) <= 101 and all(status in (400, 503) for status, _ in replies), len(replies)
    with contextlib.suppress(ConnectionError):
        assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    await target.check()


async def test_upgrade_pipelined_behind_a_request_is_refused(start_target: StartTarget) -> None:
    target = await start_target()
    sid = await polling_open(target.port)
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(
        f"GET {EIO_POLL}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET {EIO_WS}&sid={sid} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    data = await asyncio.wait_for(reader.read(), 2)
    assert b" 101 " not in data and data.startswith(b"HTTP/1.1 400"), data
    writer.close()
    await _close_polling(target.port, sid)
    await target.check()


# -- slow and half-open peers --------------------------------------------------------------------------


async def test_slowloris_headers_are_cut_by_the_request_timeout(start_target: StartTarget) -> None:
    target = await start_target(request_timeout=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(f"GET {EIO_POLL} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())
    closed = False
    for _ in range(30):  # one header byte every 100 ms, for up to 3 s
        try:
            data = await asyncio.wait_for(reader.read(1024), 0.1)
        except asyncio.TimeoutError:
            writer.write(b"a")
            continue
        except ConnectionError:
            data = b""
        assert data == b"", data
        closed = True
        break
    elapsed = loop.time() - started
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    assert closed and elapsed < 1.0, elapsed
    await target.check()


async def test_connection_that_sends_nothing_is_closed(start_target: StartTarget) -> None:
    target = await start_target(request_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    assert await asyncio.wait_for(reader.read(), 1.0) == b""
    writer.close()
    await target.check()


async def test_slow_body_is_cut_by_the_request_timeout(start_target: StartTarget) -> None:
    target = await start_target(request_timeout=0.3)
    sid = await polling_open(target.port)
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(f"POST {EIO_POLL}&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n4".encode())
    assert await asyncio.wait_for(reader.read(), 1.0) == b""
    writer.close()
    await _close_polling(target.port, sid)
    await target.check()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", id="no-key"
        ),
        pytest.param(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n",
            id="bad-key",
        ),
        pytest.param(
            "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            id="not-websocket",
        ),
    ],
)
async def test_bad_upgrade_requests_are_400(start_target: StartTarget, headers: str) -> None:
    target = await start_target()
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(f"GET {EIO_WS} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    status_line = await asyncio.wait_for(reader.readline(), 2)
    writer.close()
    assert status_line.split()[1] == b"400", status_line
    await target.check()


async def test_oversized_headers_are_431(start_target: StartTarget) -> None:
    target = await start_target()
    reply = await http(target.port, "GET", EIO_POLL, headers={"X-Big": "a" * 20_000})
    assert reply.status == 431
    await target.check()


async def test_cross_origin_websocket_is_refused(start_target: StartTarget) -> None:
    target = await start_target()
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(
        f"GET {EIO_WS} HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\nOrigin: http://evil.example\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    status_line = await asyncio.wait_for(reader.readline(), 2)
    assert status_line.split()[1] == b"403", status_line
    writer.close()
    await target.check()


async def test_client_that_never_answers_pings_is_closed(start_target: StartTarget) -> None:
    target = await start_target(ping_interval=0.2, ping_timeout=0.2)
    ws = await RawWebSocket.connect(target.port)
    opening = await ws.recv()
    assert isinstance(opening, str)
    ws.send_text("40")
    assert str(await ws.recv()).startswith("40")
    assert await ws.recv(1) == "2"  # and never "3"
    loop = asyncio.get_running_loop()
    started = loop.time()
    await ws.expect_close(2)
    assert loop.time() - started < 1.0
    await ws.aclose()
    # a polling client that never polls again is reaped the same way
    await polling_open(target.port)
    await target.check()


async def _slow_reader(port: int) -> RawWebSocket:
    """A WebSocket client with a tiny receive buffer that will never read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    ws = RawWebSocket(reader, writer)
    from socketeer.protocol.websocket_frames import build_handshake_request, generate_client_key

    writer.write(build_handshake_request(f"127.0.0.1:{port}", EIO_WS, generate_client_key()))
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    await ws.sio_connect()
    return ws


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


async def test_slow_consumer_is_closed_and_others_get_every_broadcast(start_target: StartTarget) -> None:
    limit = 256 * 1024
    target = await start_target(limits=Limits(max_send_buffer=limit))
    slow = await _slow_reader(target.port)
    fast = [await RawWebSocket.connect(target.port) for _ in range(3)]
    for ws in fast:
        await ws.sio_connect()
    count = 200
    big = "b" * 100_000  # 200 x 100 kB = 20 MB offered to each client
    expected = '42["big","' + big + '"]'
    rss_before = _rss_bytes()
    for _ in range(count):
        target.io.emit("big", big)
        # the producer runs at the pace of the healthy clients; the slow one falls behind and is cut off
        got = await asyncio.gather(*(ws.recv_engine(5) for ws in fast))
        assert got == [expected] * 3
    rss_after = _rss_bytes()
    await target.wait_for(lambda: target.connections == 3, 2, "the slow client to be closed")
    assert await slow.expect_close(5) in (1000, None)  # its unread backlog ends with the close frame
    growth = rss_after - rss_before
    print(f"slow consumer: RSS {rss_before / MB:.1f} MB -> {rss_after / MB:.1f} MB ({growth / MB:+.1f} MB)")
    assert growth < 40 * MB
    for ws in (*fast, slow):
        await ws.aclose()
    await target.check()


async def test_drop_policy_keeps_the_slow_client_and_drops_what_does_not_fit(
    start_target: StartTarget,
) -> None:
    limit = 256 * 1024
    target = await start_target(limits=Limits(max_send_buffer=limit, send_buffer_policy="drop"))
    slow = await _slow_reader(target.port)
    fast = [await RawWebSocket.connect(target.port) for _ in range(2)]
    for ws in fast:
        await ws.sio_connect()
    big = "d" * 100_000
    expected = '42["big","' + big + '"]'
    rss_before = _rss_bytes()
    for _ in range(100):
        target.io.emit("big", big)
        assert await asyncio.gather(*(ws.recv_engine(5) for ws in fast)) == [expected] * 2
    growth = _rss_bytes() - rss_before
    assert target.connections == 3  # the slow client is still connected: its messages were dropped
    assert growth < 40 * MB
    for ws in (*fast, slow):
        await ws.aclose()
    await target.check()


async def test_volatile_after_a_normal_emit_in_the_same_iteration_is_delivered(
    start_target: StartTarget,
) -> None:
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    target.io.emit("normal", 1)
    target.io.volatile.emit("volatile", 2)  # the client keeps up: nothing is dropped
    assert [await ws.recv_engine(5), await ws.recv_engine(5)] == ['42["normal",1]', '42["volatile",2]']
    await ws.aclose()
    await target.check()


# -- admission limits and timeouts -----------------------------------------------------------------------


async def test_max_connections_refuses_with_403_code_4(start_target: StartTarget) -> None:
    target = await start_target(limits=Limits(max_connections=2))
    first, second = await polling_open(target.port), await polling_open(target.port)
    reply = await http(target.port, "GET", EIO_POLL)
    assert reply.status == 403 and reply.json() == {"code": 4, "message": "Too many connections"}
    ws_reply = await http(target.port, "GET", EIO_WS, headers=_WS_HEADERS)
    assert ws_reply.status == 403 and ws_reply.json()["code"] == 4
    await _close_polling(target.port, first)
    await _close_polling(target.port, second)
    await target.check()  # room again: the healthy client gets in


async def test_max_connections_per_address(start_target: StartTarget) -> None:
    target = await start_target(limits=Limits(max_connections_per_address=1))
    sid = await polling_open(target.port)
    reply = await http(target.port, "GET", EIO_POLL)
    assert reply.status == 403 and reply.json()["code"] == 4, reply
    await _close_polling(target.port, sid)
    await target.check()


async def test_handshake_rate_per_address(start_target: StartTarget) -> None:
    target = await start_target(limits=Limits(max_handshakes_per_second_per_address=3))
    sids = [await polling_open(target.port) for _ in range(3)]
    reply = await http(target.port, "GET", EIO_POLL)
    assert reply.status == 403 and reply.json() == {"code": 4, "message": "Too many handshakes"}
    for sid in sids:
        await _close_polling(target.port, sid)
    await asyncio.sleep(1.0)  # the window is one second of wall time: nothing to await instead
    await target.check()


async def test_client_that_never_joins_a_namespace_is_closed(start_target: StartTarget) -> None:
    target = await start_target(connect_timeout=0.2)
    ws = await RawWebSocket.connect(target.port)
    assert str(await ws.recv()).startswith("0")  # and never sends "40"
    assert await ws.expect_close(2) == 1000
    await ws.aclose()
    await target.check()


async def test_idle_keep_alive_connection_is_closed(start_target: StartTarget) -> None:
    target = await start_target(keep_alive_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(f"GET {EIO_POLL}&sid=nope HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    replies = await _read_responses(reader, 1)
    assert replies[0][0] == 400
    assert await asyncio.wait_for(reader.read(), 1.0) == b""  # then nothing: closed after 0.2 s
    writer.close()
    await target.check()


async def test_event_flood_over_the_rate_limit_disconnects_the_socket(start_target: StartTarget) -> None:
    target = await start_target(limits=Limits(max_events_per_second=50))
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    frame = build_frame(Opcode.TEXT, b'42["nothing",1]', mask=generate_mask())
    ws.send_raw(frame * 10_000)
    assert await ws.recv_engine() == '44{"message":"rate limit exceeded"}'
    ws.send_text('42["echo","ignored"]')  # the socket is gone; the Engine.IO connection stays
    ws.send_text("40")
    assert str(await ws.recv_engine()).startswith("40{")  # and may join again
    await ws.aclose()
    await target.check()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("42" + json.dumps(["e" * 513]), id="event-name-over-512"),
        pytest.param("40/" + "n" * 257 + ",", id="namespace-over-256"),
        pytest.param(
            '4101-["echo",' + ",".join(['{"_placeholder":true,"num":0}'] * 101) + "]", id="101-attachments"
        ),
    ],
)
async def test_name_and_attachment_limits_are_parse_errors(start_target: StartTarget, text: str) -> None:
    target = await start_target()
    assert await _expect_parse_error_close(target.port, text) is not None
    await target.check()


_WS_HEADERS = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


# -- versions, transports, payload shapes ----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_eio3_is_400_code_5(start_target: StartTarget, transport: str) -> None:
    target = await start_target()
    headers = (
        {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }
        if transport == "websocket"
        else {}
    )
    reply = await http(target.port, "GET", f"/socket.io/?EIO=3&transport={transport}", headers=headers)
    assert reply.status == 400
    assert reply.json()["code"] == 5
    await target.check()


@pytest.mark.parametrize("transport", ["flashsocket", "", "webtransport", "polling%00"])
async def test_unknown_transport_is_400_code_0(start_target: StartTarget, transport: str) -> None:
    target = await start_target()
    reply = await http(target.port, "GET", f"/socket.io/?EIO=4&transport={transport}")
    assert reply.status == 400
    assert reply.json() == {"code": 0, "message": "Transport unknown"}
    await target.check()


async def test_deeply_nested_json_is_a_parse_error(start_target: StartTarget) -> None:
    target = await start_target()
    depth = 100_000
    code = await _expect_parse_error_close(target.port, '42["echo",' + "[" * depth + "]" * depth + "]")
    assert code is not None
    await target.check()


@pytest.mark.parametrize("event", ["echo", "mirror"])
@pytest.mark.parametrize(
    "depth",
    [
        200,
        900,
        1000,
        1020,
    ],
)
async def test_nested_json_the_decoder_accepts_does_not_break_the_server(
    start_target: StartTarget, depth: int, event: str
) -> None:
    """``echo`` emits the value back (from the handler); ``mirror`` returns it as the ack (after it)."""
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    nested = "[" * depth + "]" * depth
    ws.send_text(f'421["{event}",{nested}]')
    ws.send_text('42["echo","after"]')
    replies = []
    with contextlib.suppress(EOFError):
        while '42["echo","after"]' not in replies:
            replies.append(await ws.recv_engine())
    await ws.aclose()
    # answered, or refused as a parse error (closed with a close frame): never an exception
    assert f"431[{nested}]" in replies or ws.close_code is not None, replies
    await target.check()


@pytest.mark.parametrize(
    "ack_id",
    ["1" * 16, "9" * 400, "99999999999999999999999999999999999999999"],
)
async def test_huge_ack_id_is_a_parse_error(start_target: StartTarget, ack_id: str) -> None:
    target = await start_target()
    assert await _expect_parse_error_close(target.port, f'42{ack_id}["echo","x"]') is not None
    await target.check()


async def test_largest_ack_id_is_answered(start_target: StartTarget) -> None:
    target = await start_target()
    ws = await RawWebSocket.connect(target.port)
    await ws.sio_connect()
    ws.send_text('42999999999999999["echo","x"]')
    replies = {await ws.recv_engine(), await ws.recv_engine()}
    assert replies == {'42["echo","x"]', '43999999999999999["x"]'}, replies
    await ws.aclose()
    await target.check()


@pytest.mark.parametrize(
    "event", ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]
)
async def test_reserved_event_names_from_the_client_are_a_parse_error(
    start_target: StartTarget, event: str
) -> None:
    target = await start_target()
    assert await _expect_parse_error_close(target.port, "42" + json.dumps([event])) is not None
    await target.check()


@pytest.mark.parametrize(
    "text",
    ["42", "42[]", "42{}", '42"echo"', "42[null]", "42[true]", "4/" + "n" * 300 + ",", "49", "4", "4x"],
)
async def test_malformed_socketio_packets_are_a_parse_error(start_target: StartTarget, text: str) -> None:
    target = await start_target()
    await _expect_parse_error_close(target.port, text)
    await target.check()
