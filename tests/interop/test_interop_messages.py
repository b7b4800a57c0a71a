"""Events, acknowledgements, binary attachments and size limits between socketeer and the official client."""

from __future__ import annotations

import asyncio

import pytest

from socketeer.exceptions import AckTimeout

ARGS = [1, "two", {"three": [3, 3.5, None]}, None, True, "héllo ✓ 😀", [], {}]


async def test_emit_both_ways(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    result = await node.connect("a", mode)
    socket = await app.connection(result["id"])

    # server -> client, on connection
    assert (await node.event("a", "welcome"))["args"][0] == result["id"]

    # client -> server, several arguments
    await node.emit("a", "echo", *ARGS)
    assert await app.event("echo", socket.id) == ARGS
    assert (await node.event("a", "echoed"))["args"] == ARGS

    # server -> client, several arguments, from outside any handler
    socket.emit("multi", *ARGS)
    received = await node.event("a", "multi")
    assert received["args"] == ARGS
    assert received["ack"] is False

    # many in a row keep their order
    for i in range(20):
        socket.emit("seq", i)
    for i in range(20):
        assert (await node.event("a", "seq"))["args"] == [i]


async def test_client_acks(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    await node.connect("a", mode)

    assert await node.emit_with_ack("a", "sum", 1, 2, 3.5) == [6.5]
    assert await node.emit_with_ack("a", "echo", "one", {"two": 2}, style="callback") == ["one", {"two": 2}]
    assert await node.emit_with_ack("a", "echo", style="callback") == []
    assert await node.emit_with_ack("a", "size", "four") == [4]


async def test_server_acks(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    result = await node.connect(
        "a", mode, acks={"question": {"reply": [42, "answer"]}, "mirror": {"echo": True}}
    )
    socket = await app.connection(result["id"])

    assert await socket.emit_with_ack("question", "life?", timeout=5) == (42, "answer")
    asked = await node.event("a", "question")
    assert asked["args"] == ["life?"]
    assert asked["ack"] is True
    assert await socket.emit_with_ack("mirror", {"x": [1, 2]}, timeout=5) == {"x": [1, 2]}
    assert await socket.timeout(5).emit_with_ack("mirror", "a", "b") == ("a", "b")

    # a callback-style acknowledgement
    answered: list[tuple[object, ...]] = []
    done = asyncio.get_running_loop().create_future()

    def on_answer(*args: object) -> None:
        answered.append(args)
        done.set_result(None)

    socket.emit("question", "again?", callback=on_answer)
    await asyncio.wait_for(done, 5)
    assert answered == [(42, "answer")]


async def test_server_ack_timeout(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    result = await node.connect("a", mode)
    socket = await app.connection(result["id"])

    with pytest.raises(AckTimeout):
        await socket.emit_with_ack("unanswered", 1, timeout=0.3)
    received = await node.event("a", "unanswered")
    assert received["args"] == [1]
    assert received["ack"] is True
    # the connection is unharmed
    assert await node.emit_with_ack("a", "sum", 1, 1) == [2]


BLOB_A = bytes(range(256)) * 4
BLOB_B = b"\x00\xff" * 5000
BLOB_C = "binary ✓".encode()


async def test_binary_both_ways(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    result = await node.connect("a", mode, acks={"give": {"reply": [{"blob": BLOB_C}, [BLOB_A]]}})
    socket = await app.connection(result["id"])

    payload = {"file": BLOB_A, "nested": {"list": [BLOB_B, "text", BLOB_C], "n": 1}}
    # client -> server: several attachments, nested in objects and arrays, and the echo back
    acked = await node.emit_with_ack("a", "echo", payload, BLOB_C, "plain", style="callback")
    assert acked == [payload, BLOB_C, "plain"]
    received = await app.event("echo", socket.id)
    assert received == [payload, BLOB_C, "plain"]
    assert isinstance(received[0]["file"], bytes)
    assert (await node.event("a", "echoed"))["args"] == [payload, BLOB_C, "plain"]

    # server -> client
    socket.emit("bin", [BLOB_B, {"deep": [BLOB_A, {"deeper": BLOB_C}]}], BLOB_A)
    assert (await node.event("a", "bin"))["args"] == [
        [BLOB_B, {"deep": [BLOB_A, {"deeper": BLOB_C}]}],
        BLOB_A,
    ]

    # binary acknowledgements answered by the client
    assert await socket.emit_with_ack("give", BLOB_B, timeout=5) == ({"blob": BLOB_C}, [BLOB_A])
    assert (await node.event("a", "give"))["args"] == [BLOB_B]


async def test_empty_binary(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    result = await node.connect("a", mode)
    socket = await app.connection(result["id"])

    assert await node.emit_with_ack("a", "echo", b"", {"x": b""}, style="callback") == [b"", {"x": b""}]
    socket.emit("bin", {"empty": b""})
    assert (await node.event("a", "bin"))["args"] == [{"empty": b""}]


async def test_message_size_limit(start_app, start_node, mode):
    app, url = await start_app()  # default max_http_buffer_size: 1e6
    node = await start_node(url)
    big = await node.connect("big", mode)
    other = await node.connect("other", mode)
    big_socket = await app.connection(big["id"])
    await app.connection(other["id"])

    # 900 KB: accepted
    assert await node.emit_with_ack("big", "size", {"$big": 900_000}, timeout_ms=10_000) == [900_000]
    assert big_socket.connected

    # 2 MB: refused, the sender's connection is closed
    await node.emit("big", "size", {"$big": 2_000_000})
    assert await node.disconnected("big") in ("transport close", "transport error")
    assert await app.disconnect_reason(big["id"]) in ("transport close", "transport error")
    assert not big_socket.connected

    # the other client is unaffected
    app.io.emit("after", "still here")
    assert (await node.event("other", "after"))["args"] == ["still here"]
    assert node.events("big", "after") == []
    assert await node.emit_with_ack("other", "sum", 1, 2) == [3]


async def test_bursts_keep_order(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    result = await node.connect("a", mode)
    socket = await app.connection(result["id"])

    # client -> server: many packets in one go (one POST, over polling)
    await node.call("burst", client="a", event="tick", count=300)
    for i in range(300):
        assert await app.event("tick", socket.id) == [i]

    # server -> client: many packets in one go (one poll response, over polling), text and binary mixed
    for i in range(300):
        socket.emit("tock", i, bytes([i % 256])) if i % 3 == 0 else socket.emit("tock", i)
    for i in range(300):
        expected = [i, bytes([i % 256])] if i % 3 == 0 else [i]
        assert (await node.event("a", "tock"))["args"] == expected


async def test_traffic_across_the_upgrade(start_app, start_node):
    app, url = await start_app()
    streamed: asyncio.Future[tuple[int, int | None]] = asyncio.get_running_loop().create_future()

    @app.io.on("connection")
    async def stream(socket, auth):
        # From the connection on, keep sending while the transport changes under us.
        sent = 0
        upgraded_at = None
        while sent < 3000 and (upgraded_at is None or sent < upgraded_at + 50):
            socket.emit("tock", sent, {"blob": bytes([sent % 256])})
            sent += 1
            if upgraded_at is None and socket.transport == "websocket":
                upgraded_at = sent
            await asyncio.sleep(0.001)  # pacing: spread the sends over the upgrade
        streamed.set_result((sent, upgraded_at))

    node = await start_node(url)
    result = await node.call(
        "connect", client="a", manager="a", nsp="/", opts={}, stream={"event": "tick", "count": 200}
    )
    assert result["connected"]

    sent, upgraded_at = await asyncio.wait_for(streamed, 10)
    assert upgraded_at is not None, "the upgrade never completed"
    assert upgraded_at > 1, "the upgrade finished before any message went over polling"
    for i in range(sent):
        assert (await node.event("a", "tock"))["args"] == [i, {"blob": bytes([i % 256])}]
    for i in range(200):
        assert await app.event("tick", result["id"]) == [i]
    assert (await node.expect(ev="upgrade", manager="a"))["transport"] == "websocket"
