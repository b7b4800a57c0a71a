"""Every code sample of the documentation site runs here, against a live server.

The pages show no code of their own: each Python, JavaScript or nginx block is a file of docs/samples/
(or examples/) included with ``--8<--`` (pymdownx.snippets), and each such file is run by a check below.
The first tests keep it that way: a block typed into a page, or a sample without a check, fails them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from io import StringIO
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn

import socketeer
from interop.interop_node import TRANSPORT_MODES, NodeClients

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SAMPLES = DOCS / "samples"
TIMEOUT = 15.0
CODE_LANGUAGES = {"python", "py", "javascript", "js", "nginx", "html", "toml", "ini"}
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$')

Check = Callable[..., Awaitable[None]]
CHECKS: dict[str, tuple[tuple[str, ...], Check]] = {}
#: samples run by other test modules
CHECKED_ELSEWHERE = {
    "examples/fastapi_app.py": "tests/examples/test_examples.py",
    "examples/starlette_app.py": "tests/examples/test_examples.py",
    "examples/django_app.py": "tests/examples/test_examples.py",
    "examples/litestar_app.py": "tests/examples/test_examples.py",
    "docs/samples/webtransport_page.js": "tests/browser/test_webtransport_browser.py",
    "docs/samples/scaling_sharded_cluster.py": "tests/adapters/test_redis_sharded_cluster.py",  # a Redis Cluster
}


def check(*samples: str) -> Callable[[Check], Check]:
    """Register a check that runs these sample files (paths relative to docs/samples/)."""

    def register(fn: Check) -> Check:
        CHECKS[fn.__name__] = (tuple(f"docs/samples/{s}" for s in samples), fn)
        return fn

    return register


# -- the pages include samples, never inline code ------------------------------------------------


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if SAMPLES not in p.parents)


def code_blocks(page: Path) -> list[tuple[str, list[str]]]:
    """(language, lines) of each fenced block of a page."""
    blocks: list[tuple[str, list[str]]] = []
    fence: str | None = None
    for line in page.read_text().splitlines():
        stripped = line.strip()
        if fence is None:
            match = re.match(r"^(```+|~~~+)\s*([\w+-]*)", stripped)
            if match:
                fence, language, lines = match.group(1), match.group(2).lower(), []
        elif stripped.startswith(fence):
            blocks.append((language, lines))
            fence = None
        else:
            lines.append(stripped)
    return blocks


def included_files() -> set[str]:
    found: set[str] = set()
    for page in pages():
        for _, lines in code_blocks(page):
            for line in lines:
                match = SNIPPET.match(line)
                if match:
                    found.add(match.group(1).split(":")[0])
    return found


#: pages with code blocks that are not yet sample files run here, and why; a page stays listed only
#: while it has such blocks (test_not_yet_run_is_still_true)
NOT_YET_RUN = {}


def inline_code(page: Path) -> list[tuple[str, list[str]]]:
    return [
        (language, lines)
        for language, lines in code_blocks(page)
        if language in CODE_LANGUAGES and not all(SNIPPET.match(line) for line in lines if line)
    ]


def test_not_yet_run_is_still_true() -> None:
    for name in NOT_YET_RUN:
        assert inline_code(DOCS / name), f"{name} has no inline code any more: remove it from NOT_YET_RUN"


@pytest.mark.parametrize(
    "page",
    [p for p in pages() if str(p.relative_to(DOCS)) not in NOT_YET_RUN],
    ids=lambda p: str(p.relative_to(DOCS)),
)
def test_code_on_the_page_is_an_included_sample(page: Path) -> None:
    for language, lines in code_blocks(page):
        if language in CODE_LANGUAGES:
            body = [line for line in lines if line]
            assert body and all(SNIPPET.match(line) for line in body), (
                f'{page.name}: a {language} block must include a sample file (--8<-- "docs/samples/..."), '
                f"so that it runs in the tests: {lines[:3]}"
            )
        else:
            assert language in ("sh", "console", "text", "json", ""), (
                f"{page.name}: unexpected block language {language!r}"
            )


def test_every_sample_is_included_and_run() -> None:
    checked = {path for paths, _ in CHECKS.values() for path in paths} | set(CHECKED_ELSEWHERE)
    on_disk = {str(p.relative_to(ROOT)) for p in SAMPLES.iterdir() if p.is_file()}
    included = included_files()
    assert on_disk - checked == set(), "samples without a check"
    assert included - checked == set(), "included files that no test runs"
    assert (on_disk - {"docs/samples/testing_app.py", "docs/samples/myapp.py"}) - included == set(), (
        "samples no page includes"
    )
    for path in included:
        assert (ROOT / path).is_file(), path


# -- helpers -------------------------------------------------------------------------------------

_counter = itertools.count()


def load(name: str) -> ModuleType:
    """A fresh instance of a sample module (a new ``io`` each time)."""
    path = SAMPLES / name
    spec = importlib.util.spec_from_file_location(f"docs_sample_{path.stem}_{next(_counter)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Node:
    """A sample script in Node; its output lines as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, node_modules: Path, script: str, url: str, *args: str) -> Node:
        proc = await asyncio.create_subprocess_exec(
            "node", str(SAMPLES / script), *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=dict(os.environ, NODE_PATH=str(node_modules), SERVER_URL=url),
        )  # fmt: skip
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode().rstrip("\n"))
            self._changed.set()
        self._changed.set()

    async def expect(self, text: str) -> str:
        """The first output line that contains ``text`` (waits for it)."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                if self._reader.done():
                    raise AssertionError(f"{text!r} not in the output: {self.lines}")
                self._changed.clear()
                await self._changed.wait()

    async def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def finish(self) -> list[str]:
        """Wait for the script to end by itself; its output."""
        try:
            await asyncio.wait_for(self.proc.wait(), TIMEOUT)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        await asyncio.wait_for(self._reader, TIMEOUT)
        assert self.proc.returncode == 0, self.lines
        return self.lines

    async def end(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        with contextlib.suppress(AssertionError, asyncio.TimeoutError):
            await self.finish()


async def run_node(node_modules: Path, script: str, url: str) -> list[str]:
    node = await Node.start(node_modules, script, url)
    return await node.finish()


@contextlib.asynccontextmanager
async def serving(io: Any, **options: Any) -> AsyncIterator[str]:
    server = await io.serve("127.0.0.1", options.pop("port", 0), **options)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await io.close()


@contextlib.asynccontextmanager
async def serving_asgi(app: Any, close: Callable[[], Awaitable[None]] | None = None) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(
        app, lifespan="on", log_config=None, log_level="warning", timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        if close is not None:
            await close()
        server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the checks ----------------------------------------------------------------------------------


@check("quickstart.py", "quickstart_client.js")
async def quickstart(node_modules: Path, **_: Any) -> None:
    async with serving(load("quickstart.py").io) as url:
        assert "server: received" in await run_node(node_modules, "quickstart_client.js", url)


@check("tutorial_hello_server.py", "tutorial_hello_client.js", "tutorial_hello_client.py")
async def tutorial_hello(node_modules: Path, capsys: pytest.CaptureFixture[str], **_: Any) -> None:
    async with serving(load("tutorial_hello_server.py").io) as url:
        output = await run_node(node_modules, "tutorial_hello_client.js", url)
        assert output[0].startswith("connected as ") and "the server says hello world" in output
        await load("tutorial_hello_client.py").main(url)
    printed = capsys.readouterr().out
    assert printed.count("says howdy to server") == 2 and "over polling" in printed
    assert printed.count("(client namespace disconnect)") == 2


@check("tutorial_transports_client.js")
async def tutorial_transports(node_modules: Path, **_: Any) -> None:
    async with serving(load("tutorial_hello_server.py").io) as url:
        output = await run_node(node_modules, "tutorial_transports_client.js", url)
    assert sorted(output) == [
        "pollingOnly: polling",
        "upgrading: polling",
        "upgrading: upgraded to websocket",
        "websocketOnly: websocket",
    ]


@check("tutorial_acks_server.py", "tutorial_acks_client.js")
async def tutorial_acks(node_modules: Path, capsys: pytest.CaptureFixture[str], **_: Any) -> None:
    async with serving(load("tutorial_acks_server.py").io) as url:
        output = await run_node(node_modules, "tutorial_acks_client.js", url)
    assert output == ["1 + 2 = 3", 'lookup: {"key":"socketeer","found":true}']
    assert " is Ada" in capsys.readouterr().out


@check("tutorial_rooms_server.py", "tutorial_rooms_client.js")
async def tutorial_rooms(node_modules: Path, **_: Any) -> None:
    async with serving(load("tutorial_rooms_server.py").io) as url:
        output = await run_node(node_modules, "tutorial_rooms_client.js", url)
    text = "\n".join(output)
    assert re.search(r"^alice: say hi to \S+$", text, re.M)
    assert re.search(r"^bob: you are in \['\S+', 'news'\]$|^bob: you are in \['news', '\S+'\]$", text, re.M)
    assert re.search(r"^bob: news: \S+ joined news$", text, re.M)
    assert "bob: news: hello, room" in output and output[-1] == "bob: private from alice: just for you"


@check("tutorial_namespaces_server.py", "tutorial_namespaces_client.js")
async def tutorial_namespaces(node_modules: Path, **_: Any) -> None:
    async with serving(load("tutorial_namespaces_server.py").io) as url:
        output = await run_node(node_modules, "tutorial_namespaces_client.js", url)
    assert "intruder refused: not an admin (send auth.token)" in output
    assert "main: welcome to /" in output
    assert output[-2:] == ["admin: 1 client(s) on the main namespace", "one connection: true"]


@check("tutorial_reconnect_server.py", "tutorial_reconnect_client.js")
async def tutorial_reconnect(node_modules: Path, **_: Any) -> None:
    port = free_port()
    first = load("tutorial_reconnect_server.py").io
    await first.serve("127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    node = await Node.start(node_modules, "tutorial_reconnect_client.js", url)
    try:
        await node.expect("echo: first")
        await first.close()  # the server goes away...
        await node.expect("disconnected: transport close")
        async with serving(load("tutorial_reconnect_server.py").io, port=port):  # ...and comes back
            output = await node.finish()
    finally:
        await node.end()
    assert output[:3] == ["connected", "echo: first", "disconnected: transport close"]
    assert output[3].startswith("reconnected after ") and "connected" in output[4:]
    assert output[-2:] == ["echo: sent while offline", "disconnected: io client disconnect"]
    assert not any("volatile" in line for line in output)


@check("tutorial_chat_server.py", "tutorial_chat_client.js")
async def tutorial_chat(node_modules: Path, **_: Any) -> None:
    async with serving(load("tutorial_chat_server.py").io) as url:
        started: list[Node] = []

        async def start(name: str) -> Node:
            started.append(await Node.start(node_modules, "tutorial_chat_client.js", url, name))
            return started[-1]

        try:
            ada = await start("ada")
            await ada.expect("* welcome ada; online: ada")
            bob = await start("bob")
            await bob.expect("* welcome bob; online: ada, bob")
            nobody, twin = await start(""), await start("ada")
            await ada.expect("* bob joined")
            await bob.type("hi all")
            await bob.expect("* sent")
            await ada.expect("<bob> hi all")
            await ada.type("/w bob psst")
            await ada.expect("* whispered to bob")
            await bob.expect("(ada whispers) psst")
            await bob.type("/w carol hello?")
            await bob.expect("* nobody called carol here")
            await bob.end()
            await ada.expect("* bob left")
            assert "* refused: pick a nickname" in await nobody.expect("refused")
            assert "* refused: ada is taken" in await twin.expect("refused")
            assert not any("hi all" in line for line in bob.lines)  # not echoed to the sender
        finally:
            for node in started:
                await node.end()


@check("auth_server.py", "auth_client.js")
async def auth(node_modules: Path, **_: Any) -> None:
    async with serving(load("auth_server.py").io) as url:
        output = await run_node(node_modules, "auth_client.js", url)
        assert output == ["anonymous: not authorized (bad or missing token)", "hello ada", "whoami: ada"]
        async with httpx.AsyncClient(trust_env=False) as http:
            answer = await http.get(
                f"{url}/socket.io/?EIO=4&transport=polling", headers={"User-Agent": "BadBot/1.0"}
            )
        assert answer.status_code == 403 and answer.json()["message"] == "bots not welcome"


@check("nginx_site.conf")
async def nginx(node_modules: Path, tmp_path: Path, **_: Any) -> None:
    one, two = load("quickstart.py").io, load("quickstart.py").io
    async with serving(one) as url_one, serving(two) as url_two:
        front = free_port()
        site = (SAMPLES / "nginx_site.conf").read_text()
        site = site.replace("127.0.0.1:3000", url_one.removeprefix("http://"))
        site = site.replace("127.0.0.1:3001", url_two.removeprefix("http://"))
        site = site.replace("127.0.0.1:8080", f"127.0.0.1:{front}")
        (tmp_path / "site.conf").write_text(site)
        async with running_nginx(tmp_path, front):
            front_url = f"http://127.0.0.1:{front}"
            assert "server: received" in await run_node(node_modules, "quickstart_client.js", front_url)
            clients = await NodeClients.start(node_modules, front_url)
            try:
                for mode in TRANSPORT_MODES:
                    outcome = await clients.connect(mode, mode)
                    assert outcome["connected"], outcome
                    if mode == "upgrade":
                        await clients.expect(ev="upgrade", manager=mode, transport="websocket")
                    assert await clients.emit_with_ack(mode, "chat message", mode) == ["received"]
                for mode in TRANSPORT_MODES:
                    await clients.disconnect(mode)
            finally:
                await clients.close()


@contextlib.asynccontextmanager
async def running_nginx(tmp_path: Path, front: int) -> AsyncIterator[None]:
    """Debian's nginx with ``tmp_path/site.conf`` in its ``http`` block, until it answers on ``front``."""
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx_bin).is_file():
        pytest.fail("nginx is required for the nginx samples: apt-get install nginx")
    (tmp_path / "nginx.conf").write_text(
        f"worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp_path}/body;\n"
        f" proxy_temp_path {tmp_path}/proxy;\n include {tmp_path}/site.conf;\n}}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        nginx_bin, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(TIMEOUT), httpx.AsyncClient(trust_env=False) as http:
            while True:  # nginx says nothing when it listens: ask it (bounded by the timeout)
                with contextlib.suppress(httpx.TransportError):
                    answer = await http.get(f"http://127.0.0.1:{front}/socket.io/?EIO=4&transport=polling")
                    if answer.status_code == 200:
                        break
                await asyncio.sleep(0.05)
        yield
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), TIMEOUT)


@check("cluster_streams.py")
async def cluster_streams(redis_server: Any, monkeypatch: pytest.MonkeyPatch, **_: Any) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    one, two = load("cluster_streams.py").io, load("cluster_streams.py").io
    assert one.recovery is not None
    async with serving(one), serving(two) as url_two:
        client = socketeer.AsyncClient(url_two)
        news: asyncio.Queue[Any] = asyncio.Queue()
        client.on("news", news.put_nowait)
        await client.connect()
        assert await until_received(news, lambda: one.emit("news", "streamed")) == "streamed"
        await client.disconnect()


@check("cluster_router.py", "cluster_nginx.conf")
async def cluster_router(
    node_modules: Path, redis_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **_: Any
) -> None:
    ports = free_port(), free_port()
    monkeypatch.setenv("REDIS_URL", redis_server.url)  # loopback only: never the sample's 10.0.0.x defaults
    monkeypatch.setenv("NODE01", f"127.0.0.1:{ports[0]}")
    monkeypatch.setenv("NODE02", f"127.0.0.1:{ports[1]}")
    sample = load("cluster_router.py")
    one, two = sample.create_server("node01"), sample.create_server("node02")
    for io in (one, two):
        io.on("hello", lambda socket: "hi")
    async with serving(one, port=ports[0]), serving(two, port=ports[1]):
        async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as http:
            opened = await http.get(f"http://127.0.0.1:{ports[0]}/socket.io/?EIO=4&transport=polling")
            sid = opened.text[1:].split('"')[3]
            assert sid.startswith("node01")
            elsewhere = f"http://127.0.0.1:{ports[1]}/socket.io/?EIO=4&transport=polling&sid={sid}"
            assert (await http.post(elsewhere, content=b"40")).text == "ok"  # relayed to node01
            assert (await http.get(elsewhere)).text.startswith("40{")
        front = free_port()
        site = (SAMPLES / "cluster_nginx.conf").read_text()
        site = site.replace("127.0.0.1:8001", f"127.0.0.1:{ports[0]}").replace(
            "127.0.0.1:8002", f"127.0.0.1:{ports[1]}"
        )
        (tmp_path / "site.conf").write_text(site.replace("listen 8000;", f"listen 127.0.0.1:{front};"))
        async with running_nginx(tmp_path, front):
            clients = await NodeClients.start(node_modules, f"http://127.0.0.1:{front}")
            try:
                for name in ("a", "b", "c"):  # round robin: handshakes and polls land on both servers
                    outcome = await clients.connect(name, "polling")
                    assert outcome["connected"], outcome
                    assert await clients.emit_with_ack(name, "hello") == ["hi"]
            finally:
                await clients.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@check("tls_server.py", "tls_client.py")
async def tls(certificate: tuple[Path, Path], **_: Any) -> None:
    cert, key = certificate
    sample = load("tls_server.py")
    server = await sample.start(str(cert), str(key), port=0)
    try:
        answer = await load("tls_client.py").main(f"https://127.0.0.1:{server.port}", str(cert))
        assert answer == "pong over https"
        with pytest.raises(ssl.SSLError):  # not a certificate the default context trusts
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=ssl.create_default_context()
            )
    finally:
        await sample.io.close()


@check("webtransport_server.py", "webtransport_client.py")
async def webtransport(tmp_path: Path, **_: Any) -> None:
    sample = load("webtransport_server.py")
    server = await sample.start_dev(str(tmp_path / "devcert"), port=0)
    try:
        url = f"https://127.0.0.1:{server.port}"
        assert await load("webtransport_client.py").main(url, verify=False) == "pong over webtransport"
        # the same certificate serves HTTPS on TCP (polling, WebSocket), same port
        context = ssl.create_default_context(cafile=str(tmp_path / "devcert" / "dev-cert.pem"))
        async with httpx.AsyncClient(trust_env=False, verify=context) as http:
            answer = await http.get(f"{url}/socket.io/?EIO=4&transport=polling")
            assert answer.status_code == 200 and '"webtransport"' in answer.text
        with pytest.raises(ConnectionError):  # verified: no authority vouches for a development certificate
            await load("webtransport_client.py").main(url)
    finally:
        await sample.io.close()


@check("testing_app.py", "test_testing_app.py")
async def testing_guide(**_: Any) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SAMPLES / "test_testing_app.py"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and b"2 passed" in out, out.decode()


@check("metrics_server.py")
async def metrics(**_: Any) -> None:
    sample = load("metrics_server.py")
    async with serving(sample.io, http_handler=sample.http_handler) as url:
        client = socketeer.AsyncClient(url)
        await client.connect()
        assert await client.emit_with_ack("work", 21) == 42
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(f"{url}/socket.io/?EIO=3&transport=polling")).status_code == 400
            text = (await http.get(f"{url}/metrics")).text
            assert (await http.get(f"{url}/elsewhere")).status_code == 404
            await client.disconnect()
            async with asyncio.timeout(TIMEOUT):
                while (
                    "client namespace disconnect" not in text
                ):  # the server sees the disconnect a moment later
                    await asyncio.sleep(0.02)
                    text = (await http.get(f"{url}/metrics")).text
    assert 'socketeer_events_total{event="work"} 1' in text
    assert 'socketeer_refusals_total{message="Unsupported protocol version"} 1' in text
    assert 'socketeer_disconnects_total{reason="client namespace disconnect"} 1' in text
    assert "socketeer_connected_clients 0" in text


@check("migration_pysio.py", "migration_socketeer.py", "migration_client.js")
async def migration(node_modules: Path, **_: Any) -> None:
    outputs = []
    for name in ("migration_pysio.py", "migration_socketeer.py"):
        sample = load(name)
        close = sample.io.close if hasattr(sample, "io") else None
        async with serving_asgi(sample.app, close) as url:
            outputs.append(await run_node(node_modules, "migration_client.js", url))
    assert (
        outputs[0]
        == outputs[1]
        == [
            "without a token: not authorized",
            "2 + 3 = 5",
            'bob got {"from":"ada","text":"hi"}',
        ]
    )


@check("engineio_server.py", "engineio_client.js")
async def engineio(node_modules: Path, capsys: pytest.CaptureFixture[str], **_: Any) -> None:
    sample = load("engineio_server.py")
    closed: asyncio.Queue[str] = asyncio.Queue()
    sample.eio.on("close", lambda sock, reason: closed.put_nowait(reason))
    async with serving(sample.eio) as url:
        output = await run_node(node_modules, "engineio_client.js", url)
        assert await asyncio.wait_for(closed.get(), TIMEOUT) == "transport close"
        assert sample.eio.clients == {}
    assert (
        len(output) == 2
        and re.fullmatch(r"received welcome \S+", output[0])
        and output[1] == "received hello"
    )
    assert f"open {output[0].split()[-1]} polling" in capsys.readouterr().out


@check("howto_mount.py")
async def howto_mount(**_: Any) -> None:
    sample = load("howto_mount.py")
    async with serving_asgi(sample.app) as url:
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(f"{url}/")).text == "hello"
        client = socketeer.AsyncClient(url, transports=["websocket"])
        await client.connect()
        await client.disconnect()


@check("fastapi_fastpath.py")
async def fastapi_fastpath(node_modules: Path, **_: Any) -> None:
    sample = load("fastapi_fastpath.py")
    async with serving(sample.io, app=sample.api) as url:
        clients = await NodeClients.start(node_modules, url)
        try:
            for name, mode in zip(("a", "b", "c"), TRANSPORT_MODES, strict=True):
                assert (await clients.connect(name, mode))["connected"]
            async with httpx.AsyncClient(trust_env=False) as http:
                assert (await http.get(f"{url}/api/stats")).json() == {"connected": 3, "motd": "welcome"}
            await clients.emit("a", "chat", "hello")
            assert (await clients.event("c", "chat"))["args"] == ["hello"]
        finally:
            await clients.close()


@check("howto_recovery.py")
async def howto_recovery(**_: Any) -> None:
    sample = load("howto_recovery.py")
    async with serving(sample.io) as url:
        client = socketeer.AsyncClient(url)
        news: asyncio.Queue[str] = asyncio.Queue()
        client.on("news", news.put_nowait)
        await client.connect()
        sample.io.to("news").emit("news", "in the room")
        assert await asyncio.wait_for(news.get(), TIMEOUT) == "in the room"
        assert sample.io.recovery is not None and sample.io.recovery.max_disconnection_duration == 120
        await client.disconnect()


@check("howto_limits.py")
async def howto_limits(**_: Any) -> None:
    io = load("howto_limits.py").io
    limits = io.engine_config.limits
    assert (limits.max_events_per_second, limits.max_connections_per_address) == (20, 50)
    assert io.engine_config.max_http_buffer_size == 100_000
    async with serving(io) as url:
        client = socketeer.AsyncClient(url)
        await client.connect()
        await client.disconnect()


@check("howto_refusals.py")
async def howto_refusals(caplog: pytest.LogCaptureFixture, **_: Any) -> None:
    caplog.set_level(logging.INFO, logger="myapp")
    async with serving(load("howto_refusals.py").io) as url, httpx.AsyncClient(trust_env=False) as http:
        assert (await http.get(f"{url}/socket.io/?EIO=4&transport=carrier-pigeon")).status_code == 400
    assert "refused GET /socket.io/: Transport unknown (0)" in caplog.text


@check("myapp.py", "test_myapp.py", "testing_serve.py")
async def testing_plugin(capsys: pytest.CaptureFixture[str], **_: Any) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SAMPLES / "test_myapp.py"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and b"3 passed" in out, out.decode()
    sys.path.insert(0, str(SAMPLES))  # `from myapp import io`, as when run from that folder
    try:
        await load("testing_serve.py").main()
    finally:
        sys.path.remove(str(SAMPLES))
        sys.modules.pop("myapp", None)  # no other test may import this sample by accident
    assert "('pong',)" in capsys.readouterr().out


@check("typed_events.py", "typed_client.py")
async def typed_events(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, **_: Any) -> None:
    sample = load("typed_events.py")
    sample.io.on("connection", lambda socket, auth: socket.emit("notice", {"text": "hello", "level": 2}))
    async with serving(sample.io) as url:
        client = socketeer.AsyncClient(url)
        await client.connect()
        assert await client.emit_with_ack("order", {"sku": "a1", "quantity": 2}) == {"total": 5.0}
        refused = await client.emit_with_ack("order", {"sku": "a1", "quantity": 0})
        assert "greater than 0" in str(refused), refused
        await client.disconnect()
        monkeypatch.setenv("SERVER_URL", url)
        typed = load("typed_client.py")
        noticed = asyncio.Event()
        typed.client.on("notice", lambda *args: noticed.set())  # after the sample's own listener
        await typed.client.connect()
        await asyncio.wait_for(noticed.wait(), TIMEOUT)
        await typed.client.disconnect()
    assert "notice (level 2): hello" in capsys.readouterr().out


@check("legacy_eio3.py")
async def legacy(**_: Any) -> None:
    async with serving(load("legacy_eio3.py").io) as url, httpx.AsyncClient(trust_env=False) as http:
        answer = await http.get(f"{url}/socket.io/?EIO=3&transport=polling")
    assert answer.status_code == 200 and '"sid"' in answer.text  # a v3 handshake, refused without the option


@check("howto_engine_hooks.py")
async def howto_engine_hooks(**_: Any) -> None:
    async with serving(load("howto_engine_hooks.py").io) as url, httpx.AsyncClient(trust_env=False) as http:
        first = await http.get(f"{url}/socket.io/?EIO=4&transport=polling")
        second = await http.get(f"{url}/socket.io/?EIO=4&transport=polling")
        assert first.headers["set-cookie"] == "affinity=node-1; Path=/"
        assert first.headers["x-served-by"] == "node-1"
        assert [r.text[1:].split('"')[3] for r in (first, second)] == ["node-1-1", "node-1-2"]
        sid = "node-1-2"
        poll = await http.post(f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}", content=b"1")
        assert poll.headers["x-served-by"] == "node-1" and "set-cookie" not in poll.headers


@check("scaling_redis_server.py", "scaling_node_server.js", "scaling_sharded_server.py", "scaling_emitter.py")
async def scaling(
    node_modules: Path,
    redis_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    **_: Any,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    port = free_port()
    monkeypatch.setenv("PORT", str(port))
    node = await Node.start(node_modules, "scaling_node_server.js", "")
    drivers: list[NodeClients] = []
    try:
        await node.expect(f"listening on {port}")
        async with serving(load("scaling_redis_server.py").io) as url:
            for name, target in (("py", url), ("node", f"http://127.0.0.1:{port}")):
                driver = await NodeClients.start(node_modules, target)
                drivers.append(driver)
                assert (await driver.connect(name, "websocket"))["connected"]
            py_id = (await drivers[0].state("py"))["id"]
            await load("scaling_emitter.py").main(py_id)
            for driver, name in zip(drivers, ("py", "node"), strict=True):
                assert (await driver.event(name, "maintenance"))["args"] == [{"in": 300}]
            assert await drivers[0].disconnected("py") == "io server disconnect"
            await node.expect("reloading config")
            async with asyncio.timeout(TIMEOUT):
                while "reloading config" not in capsys.readouterr().out:
                    await asyncio.sleep(0.01)  # the print of the server in this process: no event to await
        sharded = load("scaling_sharded_server.py").io
        async with serving(sharded):
            assert await sharded.server_count() == 1
    finally:
        for driver in drivers:
            await driver.close()
        if node.proc.returncode is None:  # a server: it runs until stopped
            node.proc.kill()
        await node.proc.wait()


async def until_received(queue: asyncio.Queue[Any], send: Callable[[], None]) -> Any:
    """Send until the other server hears it: its subscription to Redis is set up a moment after it
    starts, and nothing tells when (bounded by the timeout)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            send()
            with contextlib.suppress(asyncio.TimeoutError):
                return await asyncio.wait_for(queue.get(), 0.2)


@check("cluster_redis_router.py")
async def cluster_redis_router(redis_server: Any, monkeypatch: pytest.MonkeyPatch, **_: Any) -> None:
    port = free_port()
    monkeypatch.setenv("REDIS_URL", redis_server.url)  # loopback only: never the sample's 10.0.0.x defaults
    monkeypatch.setenv("ADVERTISE", f"127.0.0.1:{port}")
    sample = load("cluster_redis_router.py")
    async with (
        serving(sample.io, port=port) as url,
        httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as http,
    ):
        opened = await http.get(f"{url}/socket.io/?EIO=4&transport=polling")
        assert opened.status_code == 200
        assert sample.router.node_id and opened.text[1:].split('"')[3].startswith(sample.router.node_id)


@check("compression_flags.py")
async def compression_flags(**_: Any) -> None:
    async with serving(load("compression_flags.py").io) as url:
        client = socketeer.AsyncClient(url, transports=["websocket"])
        got: asyncio.Queue[Any] = asyncio.Queue()
        for event in ("frame", "blob"):
            client.on(event, lambda data, event=event: got.put_nowait((event, data)))
        await client.connect()
        client.emit("snapshot", b"\xff\xd8jpeg" * 500, b"blob" * 500, {"t": 1})
        seen = {await asyncio.wait_for(got.get(), TIMEOUT) for _ in range(2)}
        assert seen == {("frame", b"\xff\xd8jpeg" * 500), ("blob", b"blob" * 500)}
        await client.disconnect()


@check("compression_http.py", "compression_deflate.py", "compression_client.py")
async def compression_options(monkeypatch: pytest.MonkeyPatch, **_: Any) -> None:
    plain = load("compression_http.py").io  # the last one: http_compression=False
    async with serving(plain) as url, httpx.AsyncClient(trust_env=False) as http:
        answer = await http.get(
            f"{url}/socket.io/?EIO=4&transport=polling", headers={"Accept-Encoding": "gzip"}
        )
        assert answer.status_code == 200 and "content-encoding" not in answer.headers
    deflating = load("compression_deflate.py").io
    async with serving(deflating) as url:
        monkeypatch.setenv("SERVER_URL", url)
        client = load("compression_client.py").client  # the last one: offers deflate, threshold 0
        await client.connect()
        await client.disconnect()


@check("metrics_prometheus.py", "metrics_asgi.py")
async def prometheus_metrics(**_: Any) -> None:
    sample = load("metrics_prometheus.py")
    async with serving(sample.io, http_handler=sample.metrics.http_handler("/metrics")) as url:
        client = socketeer.AsyncClient(url, reconnection=False)
        await client.connect()
        assert await client.emit_with_ack("work", 21) == 42
        async with httpx.AsyncClient(trust_env=False) as http:
            text = (await http.get(f"{url}/metrics")).text
        await client.close()
    assert 'socketeer_connected_sockets{namespace="/",transport="' in text
    assert 'socketeer_handler_seconds_count{event="work"} 1.0' in text
    asgi = load("metrics_asgi.py")
    async with serving_asgi(asgi.app, asgi.io.close) as url:
        client = socketeer.AsyncClient(url, reconnection=False)
        await client.connect()
        async with httpx.AsyncClient(trust_env=False) as http:
            text = (await http.get(f"{url}/metrics")).text
        await client.close()
    assert "socketeer_handshakes_total{transport=" in text


@check("logging_context.py")
async def logging_context(**_: Any) -> None:
    sample = load("logging_context.py")
    out, trace_out = StringIO(), StringIO()
    handler = sample.configure_logging(out)
    trace_handler = logging.StreamHandler(trace_out)
    socketeer.enable_trace(handler=trace_handler)
    try:
        async with serving(sample.io) as url:
            client = socketeer.AsyncClient(url, transports=("websocket",), reconnection=False)
            await client.connect()
            assert await client.emit_with_ack("join", "r1") is True
            sid = client.id
            await client.close()
    finally:
        socketeer.enable_trace(False)
        logging.getLogger("socketeer.trace").removeHandler(trace_handler)
        logging.getLogger("socketeer.server").removeHandler(handler)
        logging.getLogger("socketeer.server").setLevel(logging.NOTSET)
    assert f"INFO [/ {sid} websocket] joined r1" in out.getvalue()
    assert '< 420["join","r1"]' in trace_out.getvalue() and "> 430[true]" in trace_out.getvalue()


# last, so that every @check above is among the parameters
@pytest.mark.parametrize("name", sorted(CHECKS))
async def test_sample(name: str, request: pytest.FixtureRequest) -> None:
    _, fn = CHECKS[name]
    wanted = [
        p
        for p in (
            "node_modules",
            "capsys",
            "caplog",
            "tmp_path",
            "certificate",
            "monkeypatch",
            "redis_server",
        )
        if p in fn.__code__.co_varnames
    ]
    fixtures = {p: request.getfixturevalue(p) for p in wanted}
    await fn(**fixtures)
