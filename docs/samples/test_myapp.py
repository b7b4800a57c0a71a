import pytest
from myapp import io  # your Server

from socketeer.testing import next_event


async def test_echo(socketeer_client):
    client = await socketeer_client(io)
    assert await next_event(client, "welcome") == (client.id,)
    assert await client.emit_with_ack("echo", "hi") == "hi"


@pytest.mark.parametrize("kind", ["standalone", "asgi"])
async def test_rooms(socketeer_client, kind):
    a = await socketeer_client(io, kind)
    b = await socketeer_client(io, kind)
    a.emit("join", "room-1")
    b.emit("join", "room-1")
    assert await next_event(a, "joined") == (b.id,)
