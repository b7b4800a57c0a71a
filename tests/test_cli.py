"""``socketeer serve`` / ``demo`` / ``connect``: the real command in a subprocess where it serves, in-process
where it only has to refuse bad arguments."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import textwrap
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from socketeer.cli import main

APP = """
import socketeer

io = socketeer.Server()

@io.on("connection")
def connected(socket):
    socket.emit("hello", "from the fixture")

def make():
    return socketeer.Server()

not_a_server = 42
"""


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_fixture_app.py").write_text(textwrap.dedent(APP))
    return tmp_path


async def _start(cwd: Path, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "socketeer", *args,
        cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode().strip()
    if not line:
        err = (await proc.stderr.read()).decode()
        raise AssertionError(f"no ready line; exit code {await proc.wait()}; stderr:\n{err}")
    return proc, line


@pytest.fixture
async def serving(app_dir: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    proc, line = await _start(app_dir, "serve", "cli_fixture_app:io", "--port", "0")
    try:
        yield proc, line
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _base_url(line: str) -> str:
    prefix = "socketeer listening on "
    assert line.startswith(prefix + "http://127.0.0.1:"), line
    return line[len(prefix) :]


async def _exit_code(proc: asyncio.subprocess.Process, timeout: float = 5.0) -> int:
    return await asyncio.wait_for(proc.wait(), timeout)


async def test_serve_answers_a_handshake_and_stops_on_sigterm(
    serving: tuple[asyncio.subprocess.Process, str],
) -> None:
    proc, line = serving
    base = _base_url(line)
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert response.status_code == 200
        assert response.text.startswith('0{"sid":')
        assert (await http.get("/elsewhere")).status_code == 404

        # a long-poll is pending when SIGTERM comes: the server still exits cleanly and promptly
        sid = json.loads(response.text[1:])["sid"]
        connect = await http.post(
            "/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid}, content="40"
        )
        assert connect.text == "ok"
        first = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid})
        assert first.text.startswith("40{")  # CONNECT, maybe followed by the "hello" event
        poll = asyncio.ensure_future(
            http.get("/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid}, timeout=10)
        )
        await asyncio.sleep(0.2)  # nothing to await from outside the process: give the GET time to park
        proc.send_signal(signal.SIGTERM)
        assert await _exit_code(proc) == 0
        try:
            await poll
        except httpx.HTTPError:
            pass  # the connection closed with the server: fine, it did not hang


async def test_serve_stops_on_sigint(serving: tuple[asyncio.subprocess.Process, str]) -> None:
    proc, _line = serving
    proc.send_signal(signal.SIGINT)
    assert await _exit_code(proc) == 0
    assert proc.stderr is not None
    assert b"Traceback" not in await proc.stderr.read()


async def test_serve_accepts_a_factory_and_the_default_loop(app_dir: Path) -> None:
    proc, line = await _start(app_dir, "serve", "cli_fixture_app:make", "--port", "0", "--no-uvloop")
    try:
        async with httpx.AsyncClient(base_url=_base_url(line)) as http:
            response = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
            assert response.text.startswith("0{")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await _exit_code(proc) == 0


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_colon", "expected 'module:attribute'"),
        ("cli_fixture_app:", "expected 'module:attribute'"),
        ("no_such_module_xyz:io", "cannot import module 'no_such_module_xyz'"),
        ("cli_fixture_app:missing", "has no attribute 'missing'"),
        ("cli_fixture_app:not_a_server", "not a socketeer.Server"),
        ("json:dumps", "nor a zero-argument factory"),
    ],
)
def test_serve_refuses_a_bad_target(
    app_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    target: str,
    message: str,
) -> None:
    monkeypatch.chdir(app_dir)
    monkeypatch.syspath_prepend(str(app_dir))
    assert main(["serve", target]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["serve"],
        ["serve", "a:b", "--port", "http"],
        ["serve", "a:b", "--port", "70000"],
        ["demo", "--bogus"],
    ],
)
def test_bad_arguments_exit_non_zero_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: socketeer" in capsys.readouterr().err


def test_demo_refuses_a_missing_client_js(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--port", "0", "--client-js", str(tmp_path / "nope.js")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.fixture
def client_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Stands in for ``socketeer.client.cli`` (another module's entry point) to see what it is handed."""
    calls: list[list[str]] = []
    module = types.ModuleType("socketeer.client.cli")

    def run_connect(argv: list[str]) -> int:
        calls.append(argv)
        return 3

    module.run_connect = run_connect  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "socketeer.client.cli", module)
    yield calls


def test_connect_hands_every_argument_to_the_client(client_cli: list[list[str]]) -> None:
    assert main(["connect", "http://localhost:3000", "--namespace", "/chat", "--help"]) == 3
    assert client_cli == [["http://localhost:3000", "--namespace", "/chat", "--help"]]


def test_connect_without_the_client_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "socketeer.client.cli", None)  # makes the import fail
    assert main(["connect", "http://localhost:3000"]) == 2
    assert "socketeer connect: the client is not available" in capsys.readouterr().err


async def test_python_dash_m_and_help(app_dir: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "socketeer", "--help", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    for command in ("serve", "demo", "connect"):
        assert command.encode() in out
