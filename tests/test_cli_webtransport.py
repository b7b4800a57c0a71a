"""``socketeer serve --dev-cert DIR --webtransport``: HTTPS on TCP and WebTransport on UDP, same port,
in a subprocess; and the refusals of options that cannot work together."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from socketeer.cli import main
from wt_client import wt_connect

APP = """
import socketeer

io = socketeer.Server()
"""


async def test_serve_with_a_development_certificate_and_webtransport(tmp_path: Path) -> None:
    (tmp_path / "wt_cli_app.py").write_text(textwrap.dedent(APP))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "socketeer", "serve", "wt_cli_app:io", "--port", "0",
        "--dev-cert", str(tmp_path / "cert"), "--webtransport",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 15)).decode().strip() for _ in range(4)]
        assert lines[0].startswith("socketeer listening on https://127.0.0.1:"), lines
        assert lines[1].startswith("development certificate ")
        assert lines[2].startswith('serverCertificateHashes: [{algorithm: "sha-256", value: new Uint8Array([')
        assert lines[3].startswith("WebTransport (HTTP/3) on UDP")
        port = int(lines[0].rsplit(":", 1)[1])
        async with httpx.AsyncClient(verify=False) as http:
            r = await http.get(f"https://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling")
            assert json.loads(r.text[1:])["upgrades"] == ["websocket", "webtransport"]
        async with wt_connect(port) as client:
            session = await client.open_session()
            stream = client.open_stream(session)
            client.send_text(stream, "0")
            assert (await client.receive_text(stream)).startswith('0{"sid":')
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["serve", "x:io", "--webtransport"], "--webtransport needs --certfile or --dev-cert"),
        (["serve", "x:io", "--dev-cert", "d", "--workers", "2"], "run with one worker"),
    ],
)
def test_refused_combinations(argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2  # refused before the app is even imported
    assert error in capsys.readouterr().err
