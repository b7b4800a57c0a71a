"""``socketeer serve app:io --workers N``: N processes on one port, one cluster, no sticky sessions.

The supervising process reserves the port, runs the :class:`~socketeer.adapters.local_cluster.WorkerHub`
and starts N workers (``python -m socketeer serve ... --worker-dir DIR``). Each worker:

- listens on the shared port with ``SO_REUSEPORT`` (the kernel spreads the connections over the workers);
- keeps the application's adapter when it configured one (Redis...), or else gets the
  :class:`~socketeer.adapters.local_cluster.LocalClusterAdapter`, so broadcasts, rooms, ``fetch_sockets``
  and ``server_side_emit`` span the workers with no extra service;
- names its Engine.IO sessions after itself and takes on ``DIR/<node id>.sock`` the polling requests
  that the other workers relay to it (:mod:`socketeer.transports.forwarding`): a long-polling client
  works whichever worker each of its requests reaches.

A worker that exits unexpectedly is started again; SIGINT or SIGTERM stops them all gracefully.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from ..adapters.local_cluster import LocalClusterAdapter, WorkerHub
from ..transports.forwarding import NODE_ID_LENGTH, SessionRouter, new_node_id

__all__ = ["UpgradeHandoff", "run_worker", "run_workers"]

logger = logging.getLogger("socketeer.workers")

HUB_NAME = "hub.sock"
_NODE_ID = re.compile(r"[a-z0-9]{6}")
_READY = "socketeer worker ready"


def _reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) a ``SO_REUSEPORT`` socket: the port is ours, the workers share it."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("--workers needs SO_REUSEPORT, which this platform lacks")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def run_workers(
    target: str,
    host: str,
    port: int,
    workers: int,
    *,
    use_uvloop: bool = True,
    on_ready: Callable[[int], None] | None = None,
    app: str | None = None,
) -> int:
    """Supervise ``workers`` worker processes until SIGINT or SIGTERM; returns the exit status.
    ``app`` (``module:attr``): each worker also serves this ASGI application (``serve --app``)."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    reserved = _reserve_port(host, port)
    port = int(reserved.getsockname()[1])
    directory = tempfile.mkdtemp(prefix="socketeer-workers-")
    try:
        return asyncio.run(_supervise(target, host, port, workers, directory, use_uvloop, on_ready, app))
    finally:
        reserved.close()
        shutil.rmtree(directory, ignore_errors=True)


async def _supervise(
    target: str,
    host: str,
    port: int,
    workers: int,
    directory: str,
    use_uvloop: bool,
    on_ready: Callable[[int], None] | None,
    app: str | None = None,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    hub = WorkerHub(os.path.join(directory, HUB_NAME))
    await hub.start()
    command = [sys.executable, "-m", "socketeer", "serve", target, "--host", host, "--port", str(port)]
    command += ["--worker-dir", directory]
    if not use_uvloop:
        command.append("--no-uvloop")
    if app is not None:
        command += ["--app", app]

    async def spawn() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise RuntimeError(f"a worker exited with {await proc.wait()} before it was ready")
            if line.decode(errors="replace").startswith(_READY):
                break
            sys.stdout.write(line.decode(errors="replace"))
        loop.create_task(_echo(proc))
        return proc

    procs: list[asyncio.subprocess.Process] = []
    try:
        procs = list(await asyncio.gather(*(spawn() for _ in range(workers))))
    except Exception as exc:
        print(f"socketeer serve: {exc}", file=sys.stderr, flush=True)
        await _stop_all(procs)
        await hub.close()
        return 1
    if on_ready is not None:
        on_ready(port)
    status = 0
    while not stop.is_set():
        waits = {asyncio.ensure_future(p.wait()): i for i, p in enumerate(procs)}
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
        for future in waits:
            if future not in done:
                future.cancel()
        stopper.cancel()
        if stop.is_set():
            break
        for future in done:
            index = waits.get(future)
            if index is None:
                continue
            print(f"socketeer serve: worker {index} exited with {future.result()}; restarting it", flush=True)
            await asyncio.sleep(0.5)
            try:
                procs[index] = await spawn()
            except Exception as exc:
                print(f"socketeer serve: cannot restart worker {index}: {exc}", file=sys.stderr, flush=True)
                stop.set()
                status = 1
    await _stop_all(procs)
    await hub.close()
    return status


async def _echo(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()


async def _stop_all(procs: Sequence[asyncio.subprocess.Process], timeout: float = 10.0) -> None:
    for proc in procs:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


class UpgradeHandoff:
    """WebSocket upgrades for another worker's session: the connection itself goes to the owner.

    The worker that gets the upgrade sends the socket's file descriptor and the request's bytes over a
    unix datagram socket (``SCM_RIGHTS``) to the owner, which serves the connection as its own; no byte
    of the WebSocket passes through the first worker afterwards.
    """

    def __init__(self, directory: str, node_id: str, engine: Any, server: Any) -> None:
        self.directory = directory
        self.node_id = node_id
        self.engine = engine
        self.server = server
        self.path = os.path.join(directory, f"{node_id}.ws")
        self._inbox: socket.socket | None = None
        self._outbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.handed = 0

    def start(self) -> None:
        inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        inbox.bind(self.path)
        inbox.setblocking(False)
        self._inbox = inbox
        asyncio.get_running_loop().add_reader(inbox.fileno(), self._receive)

    def _receive(self) -> None:
        assert self._inbox is not None
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self._inbox, 256 * 1024, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.warning("cannot receive a handed-off connection: %r", exc)
                return
            for fd in fds:
                self.server.adopt(socket.socket(fileno=fd), data)

    def __call__(self, request: Any, raw: bytes, transport: asyncio.Transport) -> bool:
        sid = request.query.get("sid")
        if sid is None or sid in self.engine.connections or sid[:NODE_ID_LENGTH] == self.node_id:
            return False
        owner = sid[:NODE_ID_LENGTH]
        if _NODE_ID.fullmatch(owner) is None:
            return False
        path = os.path.join(self.directory, f"{owner}.ws")
        sock = transport.get_extra_info("socket")
        if sock is None or not os.path.exists(path):
            return False
        try:
            # socket.send_fds() ignores its address argument before Python 3.13: sendmsg() directly
            fds = array.array("i", [sock.fileno()])
            self._outbox.sendmsg([raw], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], 0, path)
        except OSError as exc:
            logger.info("cannot hand a WebSocket upgrade to worker %s: %r", owner, exc)
            return False
        self.handed += 1
        transport.abort()  # our copy only: the owner holds the connection now
        return True

    def close(self) -> None:
        if self._inbox is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._inbox.fileno())
            self._inbox.close()
        self._outbox.close()


def run_worker(
    target_server: object,
    host: str,
    port: int,
    directory: str,
    *,
    use_uvloop: bool = True,
    app: Any = None,
) -> None:
    """The worker side (``--worker-dir``): serve on the shared port and the worker's own unix socket
    (and ``app``, an ASGI application, on the same port: :mod:`socketeer.integrations.handover`)."""
    from ..server.server import Server
    from .standalone import install_uvloop, serve

    io = target_server
    assert isinstance(io, Server)
    if use_uvloop:
        install_uvloop()
    node_id = new_node_id()
    router = SessionRouter.in_directory(node_id, directory)
    io.engine.use_router(router)
    if io.default_adapter:
        if io.recovery is not None:
            logger.warning(
                "connection state recovery needs an adapter that keeps sessions for the whole cluster "
                "(RedisStreamsAdapter); the workers' in-machine cluster adapter recovers nothing"
            )
        io.set_adapter(LocalClusterAdapter.factory(os.path.join(directory, HUB_NAME)))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        if app is not None:
            from .handover import serve as serve_with_app

            server = await serve_with_app(io, host, port, app=app, reuse_port=True)
        else:
            server = await serve(io, host, port, reuse_port=True)
        await server.start_unix(os.path.join(directory, f"{node_id}.sock"))
        handoff = UpgradeHandoff(directory, node_id, io.engine, server)
        handoff.start()
        server.upgrade_handoff = handoff
        print(f"{_READY} {node_id} {os.getpid()}", flush=True)
        parent = os.getppid()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if os.getppid() != parent:  # the supervisor is gone: so are we
                break
        router.close()
        handoff.close()
        await io.close()

    asyncio.run(main())
