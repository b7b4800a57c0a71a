"""``socketeer serve --workers 2`` and a round-robin nginx: long-polling without sticky sessions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from redis_support import RedisServer, free_port

HERE = Path(__file__).resolve().parent
LISTENING = re.compile(rb"socketeer listening on http://127\.0\.0\.1:(\d+)")


class Served:
    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port

    async def stop(self) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 15)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError("the server did not stop on SIGTERM") from None


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    started: list[Served] = []

    async def start(*args: str, env: dict[str, str] | None = None) -> Served:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "socketeer",
            "serve",
            "workers_app:io",
            "--no-uvloop",
            *args,
            cwd=HERE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        assert proc.stdout is not None
        seen = b""
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, f"the server exited: {seen!r}"
            seen += line
            match = LISTENING.search(line)
            if match:
                break
        served = Served(proc, int(match.group(1)))
        started.append(served)
        asyncio.ensure_future(_drain(proc))
        return served

    yield start
    for served in started:
        await served.stop()


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.readline():
        pass


async def http(port: int, method: str, query: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request on a fresh connection (so that the kernel may pick any worker)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            f"{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def polling_session(port: int, rounds: int) -> tuple[set[str], list[int]]:
    """Handshake, connect, then ``rounds`` acknowledged events, every request on its own connection."""
    status, body = await http(port, "GET", "")
    assert status == 200, body
    sid = json.loads(body[1:])["sid"]
    assert (await http(port, "POST", f"&sid={sid}", b"40"))[0] == 200
    status, body = await http(port, "GET", f"&sid={sid}")
    assert status == 200 and body.startswith(b"40"), body
    pids = []
    for i in range(rounds):
        status, body = await http(port, "POST", f"&sid={sid}", f'42{i}["pid"]'.encode())
        assert status == 200, (i, body)
        status, body = await http(port, "GET", f"&sid={sid}")
        assert status == 200 and body.startswith(f"43{i}[".encode()), (i, body)
        pids.append(json.loads(body[len(f"43{i}") :])[0])
    assert (await http(port, "POST", f"&sid={sid}", b"1"))[0] == 200  # close the session
    return {sid[:6]}, pids


async def test_two_workers_share_sessions_without_sticky_routing(serve: Callable[..., Any]) -> None:
    served = await serve("--port", "0", "--workers", "2")
    # fresh connections spread over both workers: two distinct node ids in the session ids
    owners: set[str] = set()
    for _ in range(24):
        status, body = await http(served.port, "GET", "")
        owners.add(json.loads(body[1:])["sid"][:6])
    assert len(owners) == 2
    # a session whose 40 requests land on either worker works, and is served by one process
    _, pids = await polling_session(served.port, 20)
    assert len(set(pids)) == 1
    assert await served.stop() == 0


async def test_two_workers_with_official_polling_clients(
    serve: Callable[..., Any], node_modules: Path
) -> None:
    served = await serve("--port", "0", "--workers", "2")
    # 16 sessions: the chance that the kernel gives them all to one worker is 2 in 65536
    result = await _clients(node_modules, f"http://127.0.0.1:{served.port}", 16)
    assert len(set(result["pids"])) == 2  # both workers own sessions and answered
    assert all(sorted(heard) == list(range(16)) for heard in result["shouts"].values())  # broadcast across
    assert result["counts"] == [16] * 16  # fetch_sockets across the workers


async def test_two_workers_hand_websocket_upgrades_to_the_session_owner(
    serve: Callable[..., Any], node_modules: Path
) -> None:
    served = await serve("--port", "0", "--workers", "2")
    result = await _clients(node_modules, f"http://127.0.0.1:{served.port}", 16, ["polling", "websocket"])
    assert result["transports"] == ["websocket"] * 16  # every upgrade reached its session's owner
    assert len(set(result["pids"])) == 2
    assert all(sorted(heard) == list(range(16)) for heard in result["shouts"].values())


async def _clients(
    node_modules: Path, url: str, count: int, transports: list[str] | None = None
) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "polling_clients.js"),
        url,
        str(count),
        json.dumps(transports or ["polling"]),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, NODE_PATH=str(node_modules)),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, (out, err)
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


def _nginx_config(prefix: Path, port: int, upstreams: list[int]) -> Path:
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams)
    config = prefix / "nginx.conf"
    config.write_text(
        f"""daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  upstream socketeer {{
{servers}  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://socketeer;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 60s;
    }}
  }}
}}
"""
    )
    return config


async def test_nginx_round_robin_in_front_of_two_servers(
    redis_server: RedisServer, serve: Callable[..., Any], node_modules: Path, tmp_path: Path
) -> None:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        pytest.fail("nginx is not installed: scripts/test installs it with apt-get")
    port_a, port_b, port = free_port(), free_port(), free_port()
    peers = f"aaaaaa=127.0.0.1:{port_a},bbbbbb=127.0.0.1:{port_b}"
    env = {"REDIS_URL": redis_server.url, "PEERS": peers}
    a = await serve("--port", str(port_a), env={**env, "NODE_ID": "aaaaaa"})
    b = await serve("--port", str(port_b), env={**env, "NODE_ID": "bbbbbb"})
    config = _nginx_config(tmp_path, port, [a.port, b.port])
    nginx = await asyncio.create_subprocess_exec(
        binary,
        "-c",
        str(config),
        "-p",
        str(tmp_path),
        "-e",
        str(tmp_path / "error.log"),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.02)  # nginx has no readiness signal but its listening socket
        # round robin: consecutive handshakes alternate between the servers
        owners = [json.loads((await http(port, "GET", ""))[1][1:])["sid"][:6] for _ in range(4)]
        assert set(owners) == {"aaaaaa", "bbbbbb"}
        _, pids = await polling_session(port, 10)
        assert len(set(pids)) == 1
        result = await _clients(node_modules, f"http://127.0.0.1:{port}", 6)
        assert len(set(result["pids"])) == 2
        assert all(sorted(heard) == list(range(6)) for heard in result["shouts"].values())
        assert result["counts"] == [6] * 6
    finally:
        nginx.terminate()
        await nginx.wait()
