from collections import Counter
from typing import Any

import socketeer
from socketeer.protocol.engineio_errors import EngineErrorCode
from socketeer.transports.ports import HttpRequest, HttpResponse

io = socketeer.Server()
events: Counter[str] = Counter()
refusals: Counter[str] = Counter()
disconnects: Counter[str] = Counter()


@io.engine.on_connection_error
def refused(request: HttpRequest, code: EngineErrorCode, message: str) -> None:
    refusals[message] += 1


@io.on("connection")
def connected(socket: socketeer.Socket, auth: Any) -> None:
    socket.on_any(lambda event, *args: events.update([event]))


@io.on("disconnect")
def disconnected(socket: socketeer.Socket, reason: str) -> None:
    disconnects[reason] += 1


@io.on("work")
def work(socket: socketeer.Socket, n: int) -> int:
    return n * 2


def metrics_text() -> str:
    """The Prometheus text format, written by hand."""
    lines = [f"socketeer_connected_clients {len(io.sockets.sockets)}"]
    lines += [f'socketeer_events_total{{event="{e}"}} {n}' for e, n in sorted(events.items())]
    lines += [f'socketeer_refusals_total{{message="{m}"}} {n}' for m, n in sorted(refusals.items())]
    lines += [f'socketeer_disconnects_total{{reason="{r}"}} {n}' for r, n in sorted(disconnects.items())]
    return "\n".join(lines) + "\n"


async def http_handler(request: HttpRequest) -> HttpResponse:
    # every request off the Socket.IO path reaches this handler on the standalone server
    if request.path == "/metrics":
        return HttpResponse(200, [("Content-Type", "text/plain; version=0.0.4")], metrics_text().encode())
    return HttpResponse(404, [("Content-Type", "text/plain")], b"not found")


if __name__ == "__main__":
    io.run("127.0.0.1", 3000, http_handler=http_handler)
