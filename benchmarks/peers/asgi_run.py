"""Serve an ASGI app of this directory under one ASGI server, on 127.0.0.1:$PORT, uvloop as the loop:

    PORT=4000 python benchmarks/peers/asgi_run.py uvicorn|hypercorn|granian module:attribute

``uvicorn`` runs with its httptools HTTP and ``websockets`` WebSocket implementations, ``hypercorn``
with its own (h11, wsproto), ``granian`` with one worker and one runtime thread.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SERVERS = ("uvicorn", "hypercorn", "granian")


def load(target: str) -> object:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in SERVERS:
        sys.exit(f"usage: asgi_run.py {'|'.join(SERVERS)} module:attribute")
    server, target = sys.argv[1], sys.argv[2]
    port = int(os.environ.get("PORT", "4000"))
    # the app's module is found here, also by the worker processes a server starts
    sys.path.insert(0, str(HERE))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            target, host="127.0.0.1", port=port, http="httptools", ws="websockets", loop="uvloop",
            lifespan="on", log_level="warning",
        )  # fmt: skip
    elif server == "hypercorn":
        import uvloop
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.loglevel = "WARNING"
        config.accesslog = None
        uvloop.run(serve(load(target), config))  # type: ignore[arg-type]
    else:
        from granian.constants import Interfaces, Loops
        from granian.log import LogLevels
        from granian.server import Server

        Server(
            target, address="127.0.0.1", port=port, interface=Interfaces.ASGI, workers=1, runtime_threads=1,
            loop=Loops.uvloop, log_level=LogLevels.warning, websockets=True,
        ).serve()  # fmt: skip


if __name__ == "__main__":
    main()
