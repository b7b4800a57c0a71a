"""socketeer.metrics: the Prometheus endpoint scraped after real traffic over loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from socketeer import ConnectionRefused, Limits, Server, Socket
from socketeer.client import AsyncClient
from socketeer.exceptions import AckTimeout
from socketeer.metrics import METRICS, Metrics
from socketeer.testing import serve
from socketeer.testing.plugin import ClientFactory

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def make_io(**options: Any) -> Server:
    io = Server(**options)

    @io.on("echo")
    def echo(socket: Socket, data: Any) -> Any:
        return data

    @io.on("boom")
    def boom(socket: Socket) -> None:
        raise ValueError("boom")

    @io.on("later")
    async def later(socket: Socket, fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise RuntimeError("later")
        return "done"

    @io.on("join")
    def join(socket: Socket, room: str) -> bool:
        socket.join(room)
        return True

    private = io.of("/private")

    @private.use
    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("no")

    return io


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def test_standalone_endpoint_after_traffic(socketeer_client: ClientFactory) -> None:
    io = make_io()
    metrics = Metrics(io, handler_latency=1)
    async with serve(io, http_handler=metrics.http_handler()) as live:
        ws = await socketeer_client(live.url, transports=("websocket",))
        polling = await socketeer_client(live.url, transports=("polling",))
        sockets = {s.id: s for s in io.sockets.sockets.values()}
        for i in range(5):
            assert await ws.emit_with_ack("echo", "héllo" if i else "hello", timeout=5) in ("hello", "héllo")
        ws.emit("boom")
        assert await polling.emit_with_ack("later", False, timeout=5) == "done"
        polling.emit("later", True)
        assert await ws.emit_with_ack("join", "r1", timeout=5) and await ws.emit_with_ack(
            "join", "r2", timeout=5
        )
        assert await polling.emit_with_ack("join", "r1", timeout=5)
        with pytest.raises(AckTimeout):  # the client has no handler for it: no acknowledgement
            await sockets[ws.id].emit_with_ack("unanswered", timeout=0.05)
        refused = AsyncClient(live.url, namespace="/private", reconnection=False)
        with pytest.raises(ConnectionRefused):
            await refused.connect()
        await refused.close()
        unknown = AsyncClient(live.url, namespace="/nowhere", reconnection=False)
        with pytest.raises(ConnectionRefused):
            await unknown.connect()
        await unknown.close()
        async with httpx.AsyncClient() as http:
            bad = await http.get(live.url + "/socket.io/?EIO=4&transport=carrier-pigeon")
            assert bad.status_code == 400
            assert (await http.post(live.url + "/metrics")).status_code == 405
            assert (await http.get(live.url + "/elsewhere")).status_code == 404

        samples = await scrape(live.url)
        assert value(samples, "socketeer_connected_sockets", namespace="/", transport="websocket") == 1
        assert value(samples, "socketeer_connected_sockets", namespace="/", transport="polling") == 1
        assert value(samples, "socketeer_engine_connections", transport="websocket") == 1
        assert value(samples, "socketeer_rooms", namespace="/") == 2
        assert value(samples, "socketeer_handshakes_total", transport="websocket") >= 1
        assert value(samples, "socketeer_handshakes_total", transport="polling") >= 3
        assert value(samples, "socketeer_refusals_total", reason="unknown_transport") == 1
        assert value(samples, "socketeer_refusals_total", reason="middleware") == 1
        assert value(samples, "socketeer_refusals_total", reason="invalid_namespace") == 1
        assert value(samples, "socketeer_handler_seconds_count", event="echo") == 5
        assert value(samples, "socketeer_handler_seconds_count", event="later") == 2
        assert value(samples, "socketeer_handler_seconds_bucket", event="echo", le="+Inf") == 5
        assert 0 < value(samples, "socketeer_handler_seconds_sum", event="echo") < 1
        assert value(samples, "socketeer_handler_exceptions_total", event="boom") == 1
        assert value(samples, "socketeer_handler_exceptions_total", event="later") == 1
        assert value(samples, "socketeer_handler_exceptions_total", event="echo") == 0
        assert value(samples, "socketeer_acks_timed_out_total") == 1
        # 5 echo + boom + 2 later + 3 join + the CONNECTs of 4 clients, at least; héllo counts 2 bytes for é
        assert value(samples, "socketeer_packets_received_total") >= 15
        assert value(samples, "socketeer_bytes_received_total") > 5 * len('3["hello"]')
        assert value(samples, "socketeer_packets_sent_total") >= 14
        assert value(samples, "socketeer_bytes_sent_total") > value(samples, "socketeer_packets_sent_total")

        gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        io.on("disconnect", lambda socket, reason: gone.done() or gone.set_result(reason))
        await ws.disconnect()
        assert await asyncio.wait_for(gone, 5) == "client namespace disconnect"
        samples = await scrape(live.url)
        assert (
            value(samples, "socketeer_disconnects_total", namespace="/", reason="client namespace disconnect")
            == 1
        )
        assert value(samples, "socketeer_connected_sockets", namespace="/", transport="websocket") == 0
        assert {name for name, _ in samples} >= {
            n.removesuffix("_total") + ("_total" if n.endswith("_total") else "")
            for n in METRICS
            if n != "socketeer_handler_seconds"
        }


async def test_volatile_drops_and_send_buffer_closes_over_raw_polling() -> None:
    """A polling session with no GET waiting: a volatile emit is dropped; past the send buffer, closed."""
    io = make_io(limits=Limits(max_send_buffer=4096))
    metrics = Metrics(io)
    async with serve(io) as live, httpx.AsyncClient(base_url=live.url) as http:
        opened = await http.get("/socket.io/?EIO=4&transport=polling")
        sid = opened.text.split('"sid":"')[1].split('"')[0]
        assert (await http.post(f"/socket.io/?EIO=4&transport=polling&sid={sid}", content="40")).text == "ok"
        assert len(io.sockets.sockets) == 1  # the CONNECT reply waits in the outbox: no GET pending
        io.volatile.emit("tick", 1)
        assert metrics.counters.volatile_drops == 1
        io.emit("big", "x" * 5000)
        assert metrics.counters.send_buffer_closes == 1
        for _ in range(100):  # the close is scheduled on the next loop iteration
            if not io.sockets.sockets:
                break
            await asyncio.sleep(0)
        samples = parse(metrics.exposition().decode())
        assert value(samples, "socketeer_volatile_dropped_total") == 1
        assert value(samples, "socketeer_send_buffer_closes_total") == 1
        assert value(samples, "socketeer_engine_closes_total", reason="transport error") == 1
        assert value(samples, "socketeer_disconnects_total", namespace="/", reason="transport error") == 1


async def test_asgi_app_serves_the_same_registry() -> None:
    io = make_io()
    metrics = Metrics(io, handler_latency=0)
    async with serve(io, "asgi") as live, AsyncClient(live.url, reconnection=False) as client:
        assert await client.emit_with_ack("echo", 1, timeout=5) == 1
        client.emit("boom")
        assert await client.emit_with_ack("echo", 2, timeout=5) == 2
        transport = httpx.ASGITransport(app=metrics.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as http:
            response = await http.get("/")
        samples = parse(response.text)
        assert (
            value(samples, "socketeer_connected_sockets", namespace="/", transport=client.transport or "")
            == 1
        )
        assert value(samples, "socketeer_handler_exceptions_total", event="boom") == 1
        assert ("socketeer_handler_seconds_count", (("event", "echo"),)) not in samples  # latency off


def test_one_metrics_per_server_and_own_registries() -> None:
    io = Server()
    first = Metrics(io)
    with pytest.raises(RuntimeError):
        Metrics(io)
    other = Metrics(Server())
    assert first.registry is not other.registry
    with pytest.raises(ValueError):
        Metrics(Server(), handler_latency=-1)
