"""socketeer's pytest plugin as a user meets it: a test file of a few lines, run by pytest itself."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

# the user's app, in a module no other test imports (in-process pytest runs share sys.modules)
APP = """
from socketeer import Server

io = Server()
io.on("connection", lambda socket: socket.emit("welcome", socket.id))
io.on("echo", lambda socket, text: text)
chat = io.of("/chat")
chat.on("connection", lambda socket: socket.emit("topic", socket.handshake.auth.get("user")))
"""

USER_TEST = """
from plugin_user_app import io
from socketeer.testing import next_event

async def test_echo(socketeer_client):
    client = await socketeer_client(io)
    assert await next_event(client, "welcome") == (client.id,)
    assert await client.emit_with_ack("echo", "hi") == "hi"
"""


def test_entry_point_registers_the_plugin() -> None:
    [plugin] = [ep for ep in entry_points(group="pytest11") if ep.name == "socketeer"]
    assert plugin.value == "socketeer.testing.plugin"


@pytest.mark.parametrize("asyncio_mode", ["auto", "strict"])
def test_five_line_user_test_passes(pytester: pytest.Pytester, asyncio_mode: str) -> None:
    pytester.makepyfile(plugin_user_app=APP)
    test = USER_TEST
    if asyncio_mode == "strict":
        test = "import pytest\n" + test.replace("async def", "@pytest.mark.asyncio\nasync def")
    pytester.makepyfile(test_user=test)
    pytester.makeini(
        f"[pytest]\nasyncio_mode = {asyncio_mode}\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_fixtures_serve_standalone_and_asgi_and_fail_when_they_should(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(plugin_user_app=APP)
    pytester.makepyfile(
        test_more="""
import pytest
from plugin_user_app import io
from socketeer.client import AsyncClient
from socketeer.testing import next_event

@pytest.mark.parametrize("kind", ["standalone", "asgi"])
async def test_kinds(socketeer_server, socketeer_client, kind):
    url = await socketeer_server(io, kind)
    assert url == await socketeer_server(io, kind)  # one server per test and kind
    a = await socketeer_client(io, kind, transports=("websocket",))
    b = await socketeer_client(url, namespace="/chat", auth={"user": "ann"})
    assert a.transport == "websocket"
    assert await next_event(b, "topic") == ("ann",)
    assert await a.emit_with_ack("echo", kind) == kind

async def test_own_client_records_from_first_call(socketeer_server):
    url = await socketeer_server(io)
    async with AsyncClient(url, reconnection=False) as client:
        await client.emit_with_ack("echo", "sync")  # the welcome came first, before anyone listened
        with pytest.raises(TimeoutError):
            await next_event(client, "welcome", timeout=0.2)

async def test_missing_event_fails(socketeer_client):
    client = await socketeer_client(io)
    await next_event(client, "never", timeout=0.2)
"""
    )
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*TimeoutError: no 'never' event within 0.2 s*"])


def test_pytest_starts_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """The entry point loads the plugin for every install of socketeer: pytest must start without the extra."""
    pytester.makepyfile(pytest_asyncio="raise ImportError('pytest-asyncio is not installed')")
    pytester.makepyfile(test_sync="def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
