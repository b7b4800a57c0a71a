"""Rooms and broadcasts reaching the official client: who gets a message and who does not."""

from __future__ import annotations

from interop_node import NodeClients

NAMES = ("a", "b", "c")


async def _marker(app, node: NodeClients, names=NAMES) -> None:
    """Send a marker to every client and wait until each has it: what was sent before has arrived."""
    app.io.emit("marker")
    for name in names:
        await node.event(name, "marker")


async def _three_clients(app, node: NodeClients, mode: str) -> dict[str, str]:
    ids = {}
    for name in NAMES:
        result = await node.connect(name, mode)
        assert result["connected"], result
        await app.connection(result["id"])
        ids[name] = result["id"]
    return ids


async def test_rooms(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    ids = await _three_clients(app, node, mode)

    assert await node.emit_with_ack("a", "join", "r1") == [True]
    assert await node.emit_with_ack("b", "join", "r1") == [True]
    assert app.sockets[ids["a"]].rooms == {ids["a"], "r1"}
    assert app.sockets[ids["c"]].rooms == {ids["c"]}

    app.io.to("r1").emit("room", "members only", {"n": 1})
    assert (await node.event("a", "room"))["args"] == ["members only", {"n": 1}]
    assert (await node.event("b", "room"))["args"] == ["members only", {"n": 1}]
    await _marker(app, node)
    assert node.events("c", "room") == []

    # a socket's own id is a room
    app.io.to(ids["c"]).emit("private", "to c")
    assert (await node.event("c", "private"))["args"] == ["to c"]

    # leaving a room
    app.sockets[ids["b"]].leave("r1")
    app.io.to("r1").emit("room", "second")
    assert (await node.event("a", "room"))["args"] == ["second"]
    await _marker(app, node)
    assert node.events("b", "room") == [["members only", {"n": 1}]]
    assert node.events("a", "private") == [] and node.events("b", "private") == []


async def test_broadcast_except_sender(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    await _three_clients(app, node, mode)

    await node.emit("a", "broadcast", {"from": "a"})
    assert (await node.event("b", "broadcast"))["args"] == [{"from": "a"}]
    assert (await node.event("c", "broadcast"))["args"] == [{"from": "a"}]
    await _marker(app, node)
    assert node.events("a", "broadcast") == []


async def test_socket_to_room_excludes_sender(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    await _three_clients(app, node, mode)
    for name in ("a", "b"):
        assert await node.emit_with_ack(name, "join", "r1") == [True]

    await node.emit("a", "shout", "r1", "hey room")
    assert (await node.event("b", "shout"))["args"] == ["hey room"]
    await _marker(app, node)
    assert node.events("a", "shout") == []
    assert node.events("c", "shout") == []

    # a non-member sending to the room reaches every member
    await node.emit("c", "shout", "r1", "from outside")
    assert (await node.event("a", "shout"))["args"] == ["from outside"]
    assert (await node.event("b", "shout"))["args"] == ["from outside"]
    await _marker(app, node)
    assert node.events("c", "shout") == []


async def test_broadcast_with_acks_and_binary(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    ids = {}
    for name in NAMES:
        result = await node.connect(name, mode, acks={"poll": {"reply": [name, bytes([ord(name)])]}})
        await app.connection(result["id"])
        ids[name] = result["id"]
    for name in ("a", "b"):
        assert await node.emit_with_ack(name, "join", "voters") == [True]

    # one encoded packet with binary attachments, fanned out to the room
    app.io.to("voters").emit("ballot", {"sheet": b"\x01\x02\x03"}, [b"\xff"])
    for name in ("a", "b"):
        assert (await node.event(name, "ballot"))["args"] == [{"sheet": b"\x01\x02\x03"}, [b"\xff"]]

    # a broadcast with acknowledgements collects one answer per client reached
    answers = await app.io.to("voters").timeout(5).emit_with_ack("poll", "yes?")
    assert sorted(answers) == [("a", b"a"), ("b", b"b")]
    everyone = await app.io.timeout(5).emit_with_ack("poll", "all?")
    assert sorted(everyone) == [("a", b"a"), ("b", b"b"), ("c", b"c")]
    await _marker(app, node)
    assert node.events("c", "ballot") == []
