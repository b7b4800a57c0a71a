"""``socketeer connect``: the interactive client, run as a process against the official Node server."""

from __future__ import annotations

import asyncio
import sys

import pytest
from client_peers import StartNodeServer

from socketeer.client.cli import parse_command, run_connect

CLI = "import sys; from socketeer.client.cli import run_connect; sys.exit(run_connect(sys.argv[1:]))"


def test_parse_command() -> None:
    assert parse_command('emit event {"json": 1}') == ("emit", "event", [{"json": 1}], False)
    assert parse_command('emit event {"x":1} [1, 2] "s" word 3 --ack') == (
        "emit",
        "event",
        [{"x": 1}, [1, 2], "s", "word", 3],
        True,
    )
    assert parse_command("emit ping") == ("emit", "ping", [], False)
    assert parse_command("QUIT")[0] == "quit"
    with pytest.raises(ValueError):
        parse_command("emit")


def test_bad_arguments() -> None:
    assert run_connect(["--transport", "carrier-pigeon", "http://x"]) == 2


class Cli:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(cls, *args: str) -> Cli:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        return cls(process)

    async def expect(self, prefix: str, timeout: float = 10) -> str:
        assert self.process.stdout is not None

        async def read() -> str:
            assert self.process.stdout is not None
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(f"CLI ended before {prefix!r}; output: {self.lines}")
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if line.startswith(prefix):
                    return line

        return await asyncio.wait_for(read(), timeout)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    async def finish(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return await asyncio.wait_for(self.process.wait(), 10)


async def test_interactive_session(node_server: StartNodeServer) -> None:
    server = await node_server()
    cli = await Cli.start(server.url, "--transport", "websocket", "--auth", '{"user": "me"}')
    try:
        connected = await cli.expect("connected ")
        assert connected.endswith("(websocket)")
        await cli.expect("<- welcome ")
        cli.send('emit echo {"json": 1} hello --ack')
        assert await cli.expect("ack echo:") == 'ack echo: [{"json": 1}, "hello"]'
        cli.send('emit emit_back {"x":1} [1,2]')
        assert await cli.expect("<- echoed") == '<- echoed [{"x": 1}, [1, 2]]'
        cli.send("emit describe --ack")
        assert '"auth": {"user": "me"}' in await cli.expect("ack describe:")
        cli.send("emit drop_me")
        await cli.expect("disconnected: transport close")
        await cli.expect("reconnect attempt 1")
        await cli.expect("connected ")
        cli.send("quit")
        assert await cli.finish() == 0
    finally:
        if cli.process.returncode is None:
            cli.process.kill()
            await cli.process.wait()


async def test_refused_connection_exits_with_error(node_server: StartNodeServer) -> None:
    server = await node_server()
    cli = await Cli.start(server.url, "--namespace", "/admin", "--transport", "polling")
    line = await cli.expect("connect_error:")
    assert line == 'connect_error: not authorized {"reason": "bad token", "code": 42}'
    assert await cli.finish() == 1
