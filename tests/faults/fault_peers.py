"""Peers of the fault-injection suite: the official Node server, the official JS client, socketeer's server
running the same application as ``node_fault_server.js``, and the timing every scenario uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_SERVER = HERE / "node_fault_server.js"

# Short heartbeats and reconnection delays keep each scenario well under a second.
PING_INTERVAL_MS = 300
PING_TIMEOUT_MS = 200
RECONNECT = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2, "randomization_factor": 0.0}


class NodeFaultServer:
    """``node_fault_server.js`` in a subprocess (not bound to an event loop, so it outlives each test)."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.process = subprocess.Popen(
            ["node", str(NODE_SERVER), *args], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        word, _, value = line.partition(" ")
        if word != "ready":
            self.stop()
            raise RuntimeError(f"node server did not start: {line!r}")
        self.port = int(value)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
