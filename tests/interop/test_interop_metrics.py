"""Prometheus metrics with the official JS client as the traffic, in each transport mode."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from socketeer import Server, Socket
from socketeer.metrics import Metrics
from socketeer.testing import serve


async def test_metrics_count_the_official_client(start_node: Any, mode: str) -> None:
    io = Server()

    @io.on("echo")
    def echo(socket: Socket, *args: Any) -> Any:
        return args[0] if args else None

    metrics = Metrics(io, handler_latency=1)
    async with serve(io, http_handler=metrics.http_handler("/internal/metrics")) as live:
        node = await start_node(live.url)
        await node.connect("a", mode)
        for i in range(10):
            assert await node.emit_with_ack("a", "echo", {"n": i}) == [{"n": i}]
        await node.emit("a", "echo", b"\x00\x01\x02")  # a binary attachment: two packets in
        assert await node.emit_with_ack("a", "echo", "sync") == ["sync"]
        async with httpx.AsyncClient() as http:
            text = (await http.get(live.url + "/internal/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    first = "websocket" if mode == "websocket" else "polling"
    assert samples[("socketeer_handshakes_total", (("transport", first),))] == 1
    connected = sum(
        samples[("socketeer_connected_sockets", (("namespace", "/"), ("transport", t)))]
        for t in ("polling", "websocket")
    )
    assert connected == 1
    assert samples[("socketeer_handler_seconds_count", (("event", "echo"),))] == 12
    # CONNECT, 11 text events and the binary event's text and attachment
    assert samples[("socketeer_packets_received_total", ())] >= 14
    assert samples[("socketeer_bytes_received_total", ())] >= 10 * len('3["echo",{"n":0}]')
