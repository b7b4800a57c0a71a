"""ASGI servers run as their own processes on loopback, each serving an ``module:attribute`` app.

``with asgi_server("uvicorn-wsproto-h11", "pkg.mod:app") as url:`` starts the server on a free port, waits
(bounded) until it answers HTTP, yields ``http://127.0.0.1:<port>`` and stops it (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["ASGI_SERVERS", "asgi_server", "server_command"]

BIN = Path(sys.executable).parent

#: every ASGI server (and, for uvicorn, WebSocket and HTTP implementation) the ASGI app is tested under
ASGI_SERVERS = (
    "uvicorn-websockets-h11",
    "uvicorn-websockets-sansio-httptools",
    "uvicorn-wsproto-h11",
    "uvicorn-wsproto-httptools",
    "hypercorn",
    "granian",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(kind: str, target: str, port: int) -> list[str]:
    """The command line that serves ``target`` with server ``kind`` on 127.0.0.1:``port``."""
    if kind.startswith("uvicorn-"):
        ws, _, http = kind.removeprefix("uvicorn-").rpartition("-")
        return [
            sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
            "--ws", ws, "--http", http, "--lifespan", "on", "--log-level", "warning",
        ]  # fmt: skip
    if kind == "hypercorn":
        return [sys.executable, "-m", "hypercorn", target, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    if kind == "granian":
        return [
            str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--log-level", "warning", target,
        ]  # fmt: skip
    raise ValueError(kind)


def _answers_http(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"GET /__ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/1.1")
    except OSError:
        return False


@contextlib.contextmanager
def asgi_server(
    kind: str,
    target: str,
    *,
    cwd: Path | None = None,
    pythonpath: Sequence[Path] = (),
    env: dict[str, str] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[str]:
    port = _free_port()
    environ = dict(os.environ, **(env or {}))
    paths = [str(p) for p in pythonpath] + [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    environ["PYTHONPATH"] = os.pathsep.join(paths)
    log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server never blocks on it
    proc = subprocess.Popen(
        server_command(kind, target, port),
        cwd=cwd,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # No event tells when another process listens: ask it, a bounded number of times.
        deadline = time.monotonic() + startup_timeout
        while not _answers_http(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait(timeout=10)
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise AssertionError(f"{kind} did not start serving {target}:\n{output[-3000:]}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        log.close()
