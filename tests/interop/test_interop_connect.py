"""Connecting the official ``socket.io-client`` to socketeer: auth, middleware, namespaces, the upgrade."""

from __future__ import annotations

from interop_node import manager_options


async def test_connect_with_auth(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)

    result = await node.connect("a", mode, auth={"token": "abc", "n": 1, "nested": {"ok": True}})

    assert result["connected"] is True
    socket = await app.connection(result["id"])
    assert socket.id == result["id"]
    assert socket.handshake.auth == {"token": "abc", "n": 1, "nested": {"ok": True}}
    assert socket.handshake.query["EIO"] == "4"
    assert socket.handshake.address == "127.0.0.1"
    welcome = await node.event("a", "welcome")
    assert welcome["args"] == [result["id"], {"token": "abc", "n": 1, "nested": {"ok": True}}]
    assert (await node.state("a"))["id"] == socket.id


async def test_middleware_refusal_with_data(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)

    refused = await node.connect("refused", mode, auth={"refuse": True})
    accepted = await node.connect("accepted", mode, auth={"refuse": False})

    assert refused["connected"] is False
    assert refused["message"] == "not authorized"
    assert refused["data"] == {"code": 42}
    assert accepted["connected"] is True
    await app.connection(accepted["id"])
    assert [s.sid for s in app.seen if s.kind == "connection"] == [accepted["id"]]
    assert (await node.state("refused"))["connected"] is False


async def test_namespaces_multiplexed_on_one_connection(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)

    main = await node.connect("main", mode, manager="shared")
    chat = await node.connect("chat", mode, nsp="/chat", manager="shared")

    assert main["connected"] and chat["connected"]
    assert main["id"] != chat["id"]
    main_socket = await app.connection(main["id"], nsp="/")
    chat_socket = await app.connection(chat["id"], nsp="/chat")
    assert main_socket.client is chat_socket.client  # one Engine.IO connection carries both
    assert main_socket.client.conn.sid == chat_socket.client.conn.sid

    app.io.of("/chat").emit("news", "for chat")
    app.io.emit("news", "for main")
    assert (await node.event("chat", "news"))["args"] == ["for chat"]
    assert (await node.event("main", "news"))["args"] == ["for main"]

    assert await node.emit_with_ack("chat", "echo", "via chat") == ["via chat"]
    assert await app.event("echo", chat["id"]) == ["via chat"]
    assert (await node.event("chat", "echoed"))["args"] == ["via chat"]
    assert node.events("main", "echoed") == []  # the echo stayed in /chat
    assert node.events("chat", "news") == [["for chat"]]
    assert node.events("main", "news") == [["for main"]]

    # leaving one namespace keeps the other, and the connection, alive
    await node.disconnect("chat")
    assert await app.disconnect_reason(chat["id"]) == "client namespace disconnect"
    assert await node.emit_with_ack("main", "sum", 2, 3) == [5]
    assert main_socket.connected


async def test_unknown_namespace_is_refused(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)

    result = await node.connect("lost", mode, nsp="/nowhere")

    assert result["connected"] is False
    assert result["message"] == "Invalid namespace"
    # the same connection can still join a namespace that exists
    ok = await node.connect("chat", mode, nsp="/chat", manager="lost")
    assert ok["connected"] is True


async def test_upgrade_ends_on_websocket(start_app, start_node):
    app, url = await start_app()
    node = await start_node(url)

    result = await node.connect("a", "upgrade")
    assert manager_options("upgrade") == {}  # the client's defaults: polling first, then the upgrade
    opened = await node.expect(ev="open", manager="a")
    assert opened["transport"] == "polling"
    upgraded = await node.expect(ev="upgrade", manager="a")
    assert upgraded["transport"] == "websocket"
    assert (await node.state("a"))["transport"] == "websocket"

    # a round trip after the upgrade: the server has switched too, and traffic flows both ways
    assert await node.emit_with_ack("a", "echo", "after upgrade", style="callback") == ["after upgrade"]
    socket = await app.connection(result["id"])
    assert socket.transport == "websocket"
    assert socket.client.conn.transport == "websocket"
    socket.emit("pushed", {"over": "websocket"})
    assert (await node.event("a", "pushed"))["args"] == [{"over": "websocket"}]


async def test_heartbeat_keeps_the_connection(start_app, start_node, mode):
    app, url = await start_app(ping_interval=0.1, ping_timeout=0.5)
    node = await start_node(url)
    result = await node.connect("a", mode)
    socket = await app.connection(result["id"])

    for _ in range(6):  # six heartbeats, each answered in time by the official client
        await node.expect(ev="ping", manager="a", timeout=5)
    assert socket.connected
    assert (await node.state("a"))["connected"] is True
    assert await node.emit_with_ack("a", "sum", 20, 22) == [42]
    assert not [m for m in node.observed if m.get("ev") == "disconnect"]
