"""Prometheus metrics of a :class:`~socketeer.Server` (extra ``socketeer[prometheus]``).

::

    metrics = Metrics(io)
    await io.serve("0.0.0.0", 8000, http_handler=metrics.http_handler())     # GET /metrics
    app = ASGIApp(io, other_asgi_app=metrics.asgi_app())                      # or mount it yourself

What the server does is counted where it happens (:class:`Counters`); the gauges (connected
clients, rooms) are computed when Prometheus scrapes. Per message, that is one ``list.append`` of its
size, added up into the totals every second and at each scrape; handler latency, two clock reads for
one event handler call in ten (the ``handler_latency`` option). A server without metrics pays nothing
per message: only the connections of a counting engine count (their class is swapped).

The metrics (all prefixed ``socketeer_``) are listed in :data:`METRICS`.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, make_asgi_app
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..integrations.standalone import HttpHandler
from ..protocol.engineio_errors import EngineErrorCode
from ..server.server import ParentNamespace, Server
from ..transports.counters import Counters
from ..transports.engine_server import ConnectionHandler, EngineConnection, EngineHandler
from ..transports.ports import HttpRequest, HttpResponse

__all__ = ["DEFAULT_BUCKETS", "METRICS", "Metrics"]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Handler latency buckets, in seconds."""

METRICS: dict[str, str] = {
    "socketeer_connected_sockets": "Sockets connected now, by namespace and transport.",
    "socketeer_engine_connections": "Engine.IO sessions open now, by transport.",
    "socketeer_rooms": "Rooms now, by namespace (the room of each socket's own id not counted).",
    "socketeer_handshakes_total": "Engine.IO sessions opened, by transport of the handshake.",
    "socketeer_refusals_total": "Requests and CONNECTs refused, by reason.",
    "socketeer_packets_received_total": "Engine.IO message packets received (each binary attachment is one).",
    "socketeer_bytes_received_total": "Bytes of the message packets received.",
    "socketeer_packets_sent_total": "Engine.IO packets sent (heartbeats included; each attachment is one).",
    "socketeer_bytes_sent_total": "Bytes of the packets sent.",
    "socketeer_handler_seconds": "Run time of event handlers (to the end of the task for async ones), by "
    "event; one call in handler_latency is timed.",
    "socketeer_handler_exceptions_total": "Event handlers that raised, by event.",
    "socketeer_acks_timed_out_total": "Acknowledgements the server waited for in vain.",
    "socketeer_volatile_dropped_total": "Volatile messages dropped because the transport could not take them.",
    "socketeer_send_buffer_closes_total": "Connections closed because their send buffer went over the limit.",
    "socketeer_send_buffer_drops_total": "Messages dropped over the send buffer limit (policy 'drop').",
    "socketeer_disconnects_total": "Sockets disconnected, by namespace and Socket.IO disconnect reason.",
    "socketeer_engine_closes_total": "Engine.IO sessions closed, by reason.",
}
"""Every metric name and its help text."""


class _HandlerTimes:
    """The handler observer: latency histograms and exception counts by event, as plain numbers."""

    __slots__ = ("bounds", "countdown", "every", "exceptions", "histograms")

    def __init__(self, bounds: Sequence[float], every: int) -> None:
        self.bounds = tuple(bounds)
        self.every = every
        self.countdown = 1 if every > 0 else -1  # the first call is timed
        self.histograms: dict[str, list[float]] = {}  # event -> [count per bucket..., +Inf, sum]
        self.exceptions: Counter[str] = Counter()

    @property
    def timed(self) -> bool:
        return self.every > 0

    def finished(self, event: str, start: float, *, failed: bool) -> None:
        if failed:
            self.exceptions[event] += 1
        if not start:
            return
        elapsed = perf_counter() - start
        histogram = self.histograms.get(event)
        if histogram is None:
            histogram = self.histograms[event] = [0.0] * (len(self.bounds) + 2)
        histogram[bisect_left(self.bounds, elapsed)] += 1
        histogram[-1] += elapsed


FOLD_INTERVAL = 1.0
"""Seconds between two additions of the logged message sizes into the totals (:meth:`Counters.fold`),
while sessions are open: what the logs hold in between is one list entry per message."""


class _HandshakeCounter:
    """Wraps the engine's handler: counts each new session, then hands it on unchanged."""

    __slots__ = ("inner", "metrics")

    def __init__(self, inner: EngineHandler, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def on_connection(self, connection: EngineConnection) -> ConnectionHandler:
        metrics = self.metrics
        metrics.counters.handshakes[connection.transport] += 1
        metrics._fold_later()
        return self.inner.on_connection(connection)


class Metrics(Collector):
    """Counts what ``io`` does and exposes it to Prometheus.

    ``registry`` is where the metrics are registered: a new :class:`CollectorRegistry` by default
    (``metrics.registry``), or pass ``prometheus_client.REGISTRY`` to serve them with the process's
    other metrics. ``handler_latency=n`` times one event handler call in ``n`` (1: every call; 0: none)
    into the ``socketeer_handler_seconds`` histogram, whose ``buckets`` are bounds in seconds; handler
    exceptions are all counted. Create it before the server serves: sessions opened earlier are not
    counted.
    """

    def __init__(
        self,
        io: Server,
        *,
        registry: CollectorRegistry | None = None,
        handler_latency: int = 10,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        if io.engine.counters is not None:
            raise RuntimeError("this server already has metrics")
        self.io = io
        self.counters = Counters()
        if handler_latency < 0:
            raise ValueError("handler_latency must be 0 (off) or positive")
        self._handlers = _HandlerTimes(sorted(buckets), int(handler_latency))
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        engine = io.engine
        engine.count(self.counters)
        engine.handler = _HandshakeCounter(engine.handler, self)
        io.add_closer(self._close)
        engine.on_connection_error(self._refused)
        io.handler_observer = self._handlers
        self._fold_later()  # installed on a server that already serves: the sessions open now count
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def _fold_later(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving yet: started by the first handshake
        if self._timer is not None and self._timer_loop is loop:
            return
        self._timer_loop = loop  # a server closed and served again runs on another loop
        self._timer = loop.call_later(FOLD_INTERVAL, self._fold)

    def _fold(self) -> None:
        self._timer = None
        self.counters.fold()
        if self.io.engine.connections:  # idle: the timer stops, the next handshake starts it again
            self._fold_later()

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.counters.fold()

    def _refused(self, request: HttpRequest, code: EngineErrorCode, message: str) -> None:
        self.counters.refusals[code.name.lower()] += 1

    # -- exposition ----------------------------------------------------------------------------

    def http_handler(self, path: str = "/metrics", fallback: HttpHandler | None = None) -> HttpHandler:
        """An ``http_handler`` for the standalone server: ``GET path`` answers the metrics in the
        Prometheus text format; other requests go to ``fallback`` (another handler) or get a 404."""

        async def handle(request: HttpRequest) -> HttpResponse:
            if request.path == path:
                if request.method not in ("GET", "HEAD"):
                    return HttpResponse(405, [("Allow", "GET, HEAD")], b"")
                # the text format Prometheus asks for (OpenMetrics or 0.0.4), as prometheus_client's own server
                encoder, content_type = choose_encoder(request.headers.get("accept", ""))
                return HttpResponse(200, [("Content-Type", content_type)], encoder(self.registry))
            if fallback is not None:
                return await fallback(request)
            return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")

        return handle

    def asgi_app(self) -> Any:
        """An ASGI app that answers the metrics (``prometheus_client.make_asgi_app``): mount it where
        you like, or pass it to :class:`~socketeer.ASGIApp` as ``other_asgi_app``."""
        return make_asgi_app(self.registry)

    def exposition(self) -> bytes:
        """The metrics now, in the Prometheus text format."""
        return generate_latest(self.registry)

    # -- Collector -----------------------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        counters = self.counters
        counters.fold()
        io = self.io
        by_transport: Counter[tuple[str, str]] = Counter()
        rooms = GaugeMetricFamily("socketeer_rooms", METRICS["socketeer_rooms"], labels=["namespace"])
        for nsp in list(io.namespaces.values()):
            if isinstance(nsp, ParentNamespace):
                continue
            for socket in list(nsp.sockets.values()):
                by_transport[(nsp.name, socket.transport)] += 1
            try:
                count = len(nsp.adapter.rooms()) - len(nsp.sockets)
            except NotImplementedError:  # an adapter that does not keep rooms locally
                continue
            rooms.add_metric([nsp.name], max(count, 0))
        sockets = GaugeMetricFamily(
            "socketeer_connected_sockets",
            METRICS["socketeer_connected_sockets"],
            labels=["namespace", "transport"],
        )
        for nsp_name in {name for name, _ in by_transport} | {n for n in io.namespaces}:
            for transport in ("polling", "websocket"):
                sockets.add_metric([nsp_name, transport], by_transport.get((nsp_name, transport), 0))
        yield sockets
        engines: Counter[str] = Counter()
        for conn in list(io.engine.connections.values()):
            if not conn.closed:
                engines[conn.transport] += 1
        yield _gauge(
            "socketeer_engine_connections",
            ["transport"],
            {(t,): engines.get(t, 0) for t in ("polling", "websocket")},
        )
        yield rooms
        yield _counter(
            "socketeer_handshakes_total", ["transport"], {(k,): v for k, v in counters.handshakes.items()}
        )
        yield _counter(
            "socketeer_refusals_total", ["reason"], {(k,): v for k, v in counters.refusals.items()}
        )
        yield _counter("socketeer_packets_received_total", [], {(): counters.packets_in})
        yield _counter("socketeer_bytes_received_total", [], {(): counters.bytes_in})
        yield _counter("socketeer_packets_sent_total", [], {(): counters.packets_out})
        yield _counter("socketeer_bytes_sent_total", [], {(): counters.bytes_out})
        handlers = self._handlers
        if handlers.timed:
            histogram = HistogramMetricFamily(
                "socketeer_handler_seconds", METRICS["socketeer_handler_seconds"], labels=["event"]
            )
            for event, values in list(handlers.histograms.items()):
                cumulative = 0.0
                buckets = []
                for bound, hits in zip((*handlers.bounds, float("inf")), values[:-1], strict=True):
                    cumulative += hits
                    buckets.append((_le(bound), cumulative))
                histogram.add_metric([event], buckets, values[-1])
            yield histogram
        yield _counter(
            "socketeer_handler_exceptions_total", ["event"], {(k,): v for k, v in handlers.exceptions.items()}
        )
        yield _counter("socketeer_acks_timed_out_total", [], {(): counters.acks_timed_out})
        yield _counter("socketeer_volatile_dropped_total", [], {(): counters.volatile_drops})
        yield _counter("socketeer_send_buffer_closes_total", [], {(): counters.send_buffer_closes})
        yield _counter("socketeer_send_buffer_drops_total", [], {(): counters.send_buffer_drops})
        yield _counter("socketeer_disconnects_total", ["namespace", "reason"], dict(counters.disconnects))
        yield _counter(
            "socketeer_engine_closes_total", ["reason"], {(k,): v for k, v in counters.engine_closes.items()}
        )


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def _counter(name: str, labels: list[str], values: dict[Any, float]) -> CounterMetricFamily:
    family = CounterMetricFamily(name.removesuffix("_total"), METRICS[name], labels=labels)
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, labels: list[str], values: dict[Any, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, METRICS[name], labels=labels)
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family
