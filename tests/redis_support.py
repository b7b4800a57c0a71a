"""A real ``redis-server`` for the tests: started on a free loopback port, stopped, restarted, killed.

Each :class:`RedisServer` is a child process of the test run with persistence off; ``restart()`` brings it
back on the same port (an outage as clients see it), ``kill()`` ends it with SIGKILL.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["RedisCluster", "RedisServer", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, workdir: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH: scripts/test installs it with apt-get")
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def version(self) -> tuple[int, ...]:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=True).stdout
        token = next(part for part in out.split() if part.startswith("v="))
        return tuple(int(x) for x in token[2:].split("."))

    def start(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
                "--loglevel", "warning",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} on port {self.port}")
            if self._ping():
                return
            time.sleep(0.01)  # polling a child process that has no readiness event to await
        raise RuntimeError(f"redis-server did not answer PING on port {self.port} within {timeout} s")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class RedisCluster:
    """A Redis Cluster of ``size`` primaries (each with ``replicas`` replicas) on free loopback ports.

    Each node is a ``redis-server --cluster-enabled yes`` child process; ``start()`` joins them with
    ``redis-cli --cluster create`` and waits until every node reports the cluster ``ok``.
    """

    def __init__(self, workdir: Path, size: int = 3, replicas: int = 0, node_timeout_ms: int = 5000) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not on PATH: scripts/test installs it with apt-get")
        self.cli = cli
        self.replicas = replicas
        self.nodes = [
            RedisServer(
                workdir / f"node-{i}",
                extra_args=(
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",  # in the node's own --dir
                    "--cluster-node-timeout", str(node_timeout_ms),
                    "--cluster-port", str(free_port()),  # not port + 10000, which may be above 65535
                    "--cluster-replica-validity-factor", "0",  # a replica may take over however fresh
                    "--repl-diskless-sync-delay", "0",
                ),
            )
            for i in range(size * (1 + replicas))
        ]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def url(self) -> str:
        """The URL of one node: a cluster client discovers the others from it."""
        return self.nodes[0].url

    def version(self) -> tuple[int, ...]:
        return self.nodes[0].version()

    def start(self, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                self.cli,
                "--cluster", "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas", str(self.replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            check=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._cluster_ok(port) and self._replica_synced(port) for port in self.ports):
                return
            time.sleep(0.05)  # polling the cluster's state: nodes agree on it via gossip, no event to await
        raise RuntimeError(f"the Redis Cluster on {self.ports} did not reach state ok within {timeout} s")

    def _replica_synced(self, port: int) -> bool:
        out = subprocess.run(
            [self.cli, "-p", str(port), "info", "replication"], capture_output=True, text=True, timeout=5
        ).stdout
        return "role:master" in out or "master_link_status:up" in out

    def _cluster_ok(self, port: int) -> bool:
        out = subprocess.run(
            [self.cli, "-p", str(port), "cluster", "info"], capture_output=True, text=True, timeout=5
        ).stdout
        return "cluster_state:ok" in out

    def _cli(self, port: int, *args: str) -> str:
        done = subprocess.run([self.cli, "-p", str(port), *args], capture_output=True, text=True, timeout=5)
        if done.returncode != 0 or done.stdout.startswith("ERR"):
            raise RuntimeError(f"redis-cli {' '.join(args)} on {port}: {done.stdout}{done.stderr}")
        return done.stdout.strip()

    def move_slot(self, slot: int, source: int, target: int) -> None:
        """Give ``slot`` (holding no keys) from the node on port ``source`` to the one on ``target``,
        as ``redis-cli --cluster reshard`` does: IMPORTING, MIGRATING, then the new owner on every node."""
        target_id = self._cli(target, "cluster", "myid")
        self._cli(target, "cluster", "setslot", str(slot), "importing", self._cli(source, "cluster", "myid"))
        self._cli(source, "cluster", "setslot", str(slot), "migrating", target_id)
        for port in (target, source, *(p for p in self.ports if p not in (source, target))):
            self._cli(port, "cluster", "setslot", str(slot), "node", target_id)

    def restart_node(self, index: int, timeout: float = 30.0) -> None:
        """Stop a node and start it again on its port, with its cluster config (it keeps its slots)."""
        self.nodes[index].stop()
        self.start_node(index, timeout)

    def start_node(self, index: int, timeout: float = 30.0) -> None:
        """Start a stopped node again; return once the cluster is ok."""
        self.nodes[index].start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._cluster_ok(port) for port in self.ports):
                return
            time.sleep(0.05)  # gossip brings the cluster back to state ok: no event to await
        raise RuntimeError(f"the Redis Cluster on {self.ports} is not ok {timeout} s after a restart")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
