"""Disconnect reasons on both sides, as the official client and server name them."""

from __future__ import annotations


async def test_client_disconnect(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    result = await node.connect("a", mode)
    socket = await app.connection(result["id"])

    await node.disconnect("a")

    assert await node.disconnected("a") == "io client disconnect"
    assert await app.disconnect_reason(socket.id) == "client namespace disconnect"
    assert not socket.connected


async def test_server_namespace_disconnect(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    first = await node.connect("a", mode)
    second = await node.connect("b", mode)
    await app.connection(first["id"])
    socket_b = await app.connection(second["id"])

    await node.emit("a", "bye")  # the server calls socket.disconnect() in the handler
    socket_b.disconnect()  # and from outside a handler

    assert await node.disconnected("a") == "io server disconnect"
    assert await node.disconnected("b") == "io server disconnect"
    assert await app.disconnect_reason(first["id"]) == "server namespace disconnect"
    assert await app.disconnect_reason(second["id"]) == "server namespace disconnect"


async def test_server_disconnect_with_close(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    main = await node.connect("main", mode, manager="m")
    chat = await node.connect("chat", mode, nsp="/chat", manager="m")
    socket = await app.connection(main["id"])
    await app.connection(chat["id"], nsp="/chat")

    socket.disconnect(close=True)

    # as the official server: each namespace gets DISCONNECT, then the connection closes
    assert await node.disconnected("main") == "io server disconnect"
    assert await node.disconnected("chat") == "io server disconnect"
    await node.expect(ev="engine_close", manager="m")
    assert await app.disconnect_reason(main["id"]) == "server namespace disconnect"
    assert await app.disconnect_reason(chat["id"]) == "server namespace disconnect"
    assert socket.client.conn.closed


async def test_server_close(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    ids = []
    for name in ("a", "b"):
        result = await node.connect(name, mode)
        await app.connection(result["id"])
        ids.append(result["id"])
        await node.event(name, "welcome")  # the last message the server sends
        if mode == "upgrade":
            await node.expect(ev="upgrade", manager=name)
        # An event the server does not answer, sent after the welcome arrived: once the server has it,
        # a polling client's next GET is waiting there too, so the close packet has a poll to go out
        # on. (The official server cannot answer a client between two polls either.)
        await node.emit(name, "note")
        await app.event("note", result["id"])

    await app.io.close()

    assert await node.disconnected("a") == "transport close"
    assert await node.disconnected("b") == "transport close"
    for sid in ids:
        assert await app.disconnect_reason(sid) == "server shutting down"


async def test_client_process_killed(start_app, start_node, mode):
    app, url = await start_app(ping_interval=0.5, ping_timeout=0.5)
    node = await start_node(url)
    result = await node.connect("a", mode)
    socket = await app.connection(result["id"])
    if mode == "upgrade":
        await node.expect(ev="upgrade", manager="a")
        assert await node.emit_with_ack("a", "sum", 1, 1) == [2]  # the server switched too
        assert socket.transport == "websocket"

    node.kill()

    reason = await app.disconnect_reason(socket.id, timeout=5)
    if mode == "polling":
        # the official server says "ping timeout" here; noticing the dropped poll sooner is fine too
        assert reason in ("ping timeout", "transport close", "transport error")
    else:
        assert reason == "transport close"
