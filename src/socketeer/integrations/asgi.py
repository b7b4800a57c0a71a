"""``ASGIApp``: the Socket.IO server as an ASGI application (uvicorn, hypercorn, granian, ...).

Requests on the Engine.IO path go to the engine through the two ports of :mod:`socketeer.transports.ports`:
HTTP requests become :class:`HttpRequest` and are answered with the engine's :class:`HttpResponse`;
WebSockets are checked, accepted and offered to the engine as a :class:`WebSocketPort`. Everything else
goes to the wrapped ASGI application (or gets a 404). Lifespan events run the startup and shutdown hooks,
are passed on to the wrapped application, and close the Socket.IO server at shutdown.

Per WebSocket connection, the task the ASGI server runs us in reads messages, and sends the replies
that handling one causes right after handling it; a broadcast's deliveries to the other connections
leave at the next event-loop iteration, from one callback for all: no task per message, nor per
connection. ``WebSocketPort.write`` only queues, and a ``send`` that has to wait (a
slow peer) is resumed when it can go on, so the engine never waits for a slow peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import mimetypes
import os
import types
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from ..protocol.wire import WireMessage
from ..transports.cors import origin_allowed
from ..transports.engine_server import EngineHost
from ..transports.ports import NO_RECEIVER, HttpRequest, HttpResponse, WebSocketReceiver

__all__ = ["ASGIApp", "Receive", "Scope", "Send", "origin_allowed"]

logger = logging.getLogger("socketeer.asgi")

# ASGI types, as starlette/types.py spells them (no starlette import at run time).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApplication = Callable[[Scope, Receive, Send], Awaitable[None]]
LifespanHook = Callable[[], Any]
"""A startup or shutdown hook: a plain function or a coroutine function, called with no arguments."""

StaticFiles = Mapping[str, "str | os.PathLike[str]"]

_BODY_MARGIN = 64 * 1024
_NOT_FOUND = HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")
_FORBIDDEN = HttpResponse(403, [("Content-Type", "text/plain")], b"Forbidden")
_TOO_LARGE = HttpResponse(413, [("Content-Type", "text/plain")], b"Payload Too Large")


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        previous = headers.get(name)
        if previous is None:
            headers[name] = value
        else:
            headers[name] = f"{previous}{'; ' if name == 'cookie' else ', '}{value}"
    return headers


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _request(scope: Scope, body: bytes = b"") -> HttpRequest:
    query_string = scope.get("query_string", b"").decode("latin-1")
    client = scope.get("client")
    scheme = scope.get("scheme", "http")
    return HttpRequest(
        method=scope.get("method", "GET"),
        path=_route_path(scope),
        query=dict(parse_qsl(query_string, keep_blank_values=True)),
        headers=_headers(scope),
        body=body,
        remote_address=(str(client[0]), int(client[1])) if client else None,
        query_string=query_string,
        scheme="https" if scheme in ("https", "wss") else "http",
    )


def _raw_headers(response: HttpResponse, with_length: bool) -> list[tuple[bytes, bytes]]:
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    if with_length and all(name != b"content-length" for name, _ in headers):
        headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    return headers


async def _send_response(send: Send, response: HttpResponse) -> None:
    bodiless = response.status in (204, 304) or response.status < 200
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": _raw_headers(response, not bodiless),
        }
    )
    await send({"type": "http.response.body", "body": b"" if bodiless else response.body})


class _BodyTooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                if int(value) > limit:
                    raise _BodyTooLarge
            except ValueError:
                pass
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.disconnect":
            raise _Disconnected
        if kind != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                # a streamed body over the limit: read (and drop) a bounded amount more, so that a client
                # still sending gets the 413 rather than a reset connection
                if size > 2 * limit or not message.get("more_body", False):
                    raise _BodyTooLarge
                chunks = []
                continue
            chunks.append(chunk)
        if not message.get("more_body", False):
            if size > limit:
                raise _BodyTooLarge
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


_BACKLOG_BYTES = 64 * 1024  # queued for the ASGI server beyond this, the peer is not keeping up

_SEND = "websocket.send"
_Coroutine = types.CoroutineType


class _Sends:
    """The WebSockets of one :class:`ASGIApp` with something to send, sent together.

    While a received message is dispatched (:attr:`dispatching`), writes only queue. Then the reader
    that dispatched it sends its own connection's share (the echo, the ack) from its own task, and the
    other connections' (a broadcast's deliveries) go out at the next event-loop iteration, by one
    callback for all: measured under uvicorn and hypercorn, that costs less per delivery than sending
    them from the reader at once. Writes from anywhere else (a timer, a task of the application) are
    sent by that callback too. No task is created or woken per message.
    """

    __slots__ = ("dispatching", "last_event", "last_message", "pending")

    def __init__(self) -> None:
        self.pending: list[_ASGIWebSocket] = []
        self.dispatching = False
        # the ASGI event of the last message sent: a broadcast is decoded once, its event shared by all
        self.last_message: WireMessage | None = None
        self.last_event: Message = {}

    def schedule(self) -> None:
        asyncio.get_running_loop().call_soon(self.run)

    def dispatched(self, port: _ASGIWebSocket) -> None:
        """A message received on ``port`` was dispatched: send what it caused."""
        self.dispatching = False
        pending = self.pending
        if not pending:
            return
        if len(pending) == 1 and pending[0] is port:  # only the reader's own (an echo, an ack)
            self.pending = []
            port.scheduled = False
            port.pump()
            return
        port.pump()
        self.schedule()

    def run(self) -> None:
        pending = self.pending
        if pending:
            self.pending = []
            for port in pending:
                port.scheduled = False
                try:
                    port.pump()
                except Exception:  # not expected: never leave the other connections unsent
                    logger.exception("error while sending on a WebSocket")

    def event_of(self, message: WireMessage) -> Message:
        event = {"type": _SEND, "text": message.text.decode("utf-8")}  # type: ignore[union-attr]
        self.last_message = message
        self.last_event = event
        return event


class _ASGIWebSocket:
    """The :class:`WebSocketPort` of one accepted ASGI WebSocket.

    ``write``/``send_text``/``close`` queue, and the port's :class:`_Sends` has :meth:`pump` send what
    is queued, in order. ``pump`` starts each ``send`` of the ASGI server without awaiting it: one the
    server completes at once (uvicorn, hypercorn, unless the peer is slow) is followed by the next; one
    that must wait for something (granian's always do) is resumed by a callback when that is done, and
    nothing more is sent on this WebSocket meanwhile. The close goes last, in a task of its own (the
    servers' close waits with timeouts that need a task).
    """

    __slots__ = (
        "_close_task",
        "_closing",
        "_inflight",
        "_queue",
        "_queued",
        "_send",
        "_sends",
        "_shut",
        "_waiting",
        "receiver",
        "scheduled",
    )

    def __init__(self, send: Send, sends: _Sends) -> None:
        self._send = send
        self._sends = sends
        self.receiver: WebSocketReceiver = NO_RECEIVER
        self._queue: deque[WireMessage | str | bytes] = deque()
        self._queued = 0
        self._closing: int | None = None
        self._shut = False  # closing or dead: writes are dropped
        self.scheduled = False  # in the _Sends' list
        self._inflight: Any = None  # a send the server has not completed: the iterator to resume
        self._waiting: Any = None  # what that send waits for (a future)
        self._close_task: asyncio.Future[None] | None = None

    # -- WebSocketPort -------------------------------------------------------------------------

    def write(self, message: WireMessage) -> None:
        if self._shut:
            return
        self._queue.append(message)
        self._queued += message.nbytes
        if not self.scheduled and self._inflight is None:
            self._add()

    def send_text(self, text: str) -> None:
        if self._shut:
            return
        self._queue.append(text)
        self._queued += len(text)
        if not self.scheduled and self._inflight is None:
            self._add()

    def flush(self) -> None:
        """Nothing to do: every message is a ``send`` of its own, made as soon as it can be."""

    def close(self, code: int = 1000) -> None:
        if self._closing is not None:
            return
        self._closing = code
        self._shut = True
        self.receiver = NO_RECEIVER
        if not self.scheduled and self._inflight is None:
            self._add()

    def buffered_amount(self) -> int:
        return self._queued

    def backlogged(self) -> bool:
        return self._queued > _BACKLOG_BYTES

    # -- sending -------------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._closing is not None

    def _add(self) -> None:
        self.scheduled = True
        sends = self._sends
        pending = sends.pending
        pending.append(self)
        if len(pending) == 1 and not sends.dispatching:  # else the dispatching reader sends it
            sends.schedule()

    def pump(self) -> None:
        """Send what is queued, then the close if one was asked, until a send has to wait."""
        if self._inflight is not None or self._close_task is not None:
            return
        queue = self._queue
        send = self._send
        sends = self._sends
        while queue:
            item = queue.popleft()
            if type(item) is WireMessage:
                binaries = item.binaries
                if binaries:  # the text, then each binary as a message of its own
                    queue.extendleft(reversed(binaries))
                    if item.text is None:
                        continue
                    self._queued -= len(item.text)
                else:
                    self._queued -= item.nbytes
                event = sends.last_event if item is sends.last_message else sends.event_of(item)
            elif type(item) is str:
                self._queued -= len(item)
                event = {"type": _SEND, "text": item}
            else:
                self._queued -= len(item)  # type: ignore[arg-type]
                event = {"type": _SEND, "bytes": item}
            try:
                awaitable = send(event)  # (granian's send may raise at once: the peer is gone)
                if type(awaitable) is _Coroutine:
                    waiting = awaitable.send(None)
                    iterator: Any = awaitable
                else:
                    iterator = awaitable.__await__()
                    waiting = next(iterator)
            except StopIteration:
                continue  # sent
            except Exception as exc:
                self._failed(exc)
                return
            self._wait(iterator, waiting)
            return
        if self._closing is not None:
            self._close_task = asyncio.ensure_future(self._send_close(self._closing))

    def _wait(self, iterator: Any, waiting: Any) -> None:
        self._inflight = iterator
        self._waiting = waiting
        if waiting is None:  # a bare yield: go on at the next event-loop iteration
            asyncio.get_running_loop().call_soon(self._resume, None)
        else:
            waiting.add_done_callback(self._resume)

    def _resume(self, _: object) -> None:
        iterator = self._inflight
        try:
            waiting = iterator.send(None) if type(iterator) is _Coroutine else next(iterator)
        except StopIteration:
            self._inflight = self._waiting = None
            self.pump()
            return
        except (Exception, asyncio.CancelledError) as exc:  # also a cancelled send: the peer is gone
            self._inflight = self._waiting = None
            self._failed(exc)
            return
        self._wait(iterator, waiting)

    def _failed(self, exc: BaseException) -> None:
        # the peer went away while we wrote: the reader sees the disconnect
        logger.debug("WebSocket send failed: %r", exc)
        self._shut = True
        self._queue.clear()
        self._queued = 0

    async def _send_close(self, code: int) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code})
        except Exception as exc:
            logger.debug("WebSocket close failed: %r", exc)
        finally:
            self._shut = True
            self._queue.clear()
            self._queued = 0

    def disconnected(self, reason: str) -> None:
        """The peer is gone (or broke a limit): tell the receiver once."""
        receiver = self.receiver
        self.receiver = NO_RECEIVER
        self._shut = True
        receiver.on_ws_close(reason)

    async def finish(self) -> None:
        """The reader is done: send what is queued and the close if we close, else drop what is queued."""
        if self._closing is None:
            self._queue.clear()
            self._queued = 0
            waiting = self._waiting
            if waiting is not None:  # a send waiting for the peer that left: cancelled, as a task would be
                with contextlib.suppress(Exception):
                    waiting.cancel()
            return
        self.pump()
        if self._close_task is None:  # a send still waits: the close goes without it
            waiting, self._waiting, self._inflight = self._waiting, None, None
            if waiting is not None:
                with contextlib.suppress(Exception):
                    waiting.remove_done_callback(self._resume)
            self._close_task = asyncio.ensure_future(self._send_close(self._closing))
        await asyncio.gather(self._close_task, return_exceptions=True)


class ASGIApp:
    """Serve a :class:`~socketeer.Server` (or an :class:`~socketeer.EngineIOServer`) from any ASGI server, optionally in front of another ASGI app.

    ::

        io = socketeer.Server()
        app = socketeer.ASGIApp(io, starlette_app)   # uvicorn module:app

    ``static_files`` maps URL paths to files (``{"/": "index.html"}``) or to directories, served below that
    path (``{"/static/": "public"}``, where ``index.html`` answers for a directory); they are served on GET
    and HEAD before ``other_asgi_app`` is asked.
    ``on_startup`` and ``on_shutdown`` run on the ASGI lifespan events; at shutdown the Socket.IO server
    is closed (``await io.close()``) after ``on_shutdown`` and before ``other_asgi_app`` shuts down.
    """

    def __init__(
        self,
        io: EngineHost,
        other_asgi_app: ASGIApplication | None = None,
        *,
        static_files: StaticFiles | None = None,
        on_startup: LifespanHook | None = None,
        on_shutdown: LifespanHook | None = None,
    ) -> None:
        self.io = io
        self.engine = io.engine
        self.other_asgi_app = other_asgi_app
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        path = io.engine_config.path
        self._paths = frozenset({path, path.rstrip("/") or "/"})
        self._body_limit = io.engine_config.max_http_buffer_size + _BODY_MARGIN
        self._sends = _Sends()
        self._static_files: dict[str, Path] = {}
        self._static_dirs: dict[str, Path] = {}
        for key, value in (static_files or {}).items():
            location = Path(value)
            if location.is_dir():
                self._static_dirs[key if key.endswith("/") else key + "/"] = location.resolve()
            else:
                self._static_files[key] = location

    def is_engine_path(self, path: str) -> bool:
        return path in self._paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if self.is_engine_path(_route_path(scope)):
                if not self.io.started:  # an ASGI server that runs no lifespan
                    await self.io.start()
                await self._engine_http(scope, receive, send)
                return
            if (self._static_files or self._static_dirs) and await self._static(scope, send):
                return
        elif kind == "websocket":
            if self.is_engine_path(_route_path(scope)):
                if not self.io.started:
                    await self.io.start()
                await self._engine_websocket(scope, receive, send)
                return
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == "http":
            await _send_response(send, _NOT_FOUND)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    # -- HTTP ----------------------------------------------------------------------------------

    async def _engine_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(scope, receive, self._body_limit)
        except _BodyTooLarge:
            await _send_response(send, _TOO_LARGE)
            return
        except _Disconnected:
            return
        request = _request(scope, body)
        if request.method != "GET":
            response = await self._handle(request)
        else:
            # a long poll: if the client goes away first, cancelling the request closes the session
            handling = asyncio.ensure_future(self._handle(request))
            watching = asyncio.ensure_future(_until_disconnect(receive))
            try:
                await asyncio.wait((handling, watching), return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                handling.cancel()
                watching.cancel()
                await asyncio.gather(handling, watching, return_exceptions=True)
                raise
            watching.cancel()
            if not handling.done():
                handling.cancel()
            await asyncio.gather(handling, watching, return_exceptions=True)
            if handling.cancelled():
                return
            response = handling.result()
        await _send_response(send, response)

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self.engine.handle_request(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("error while handling %s %s", request.method, request.path)
            return HttpResponse(500, [("Content-Type", "text/plain")], b"Internal Server Error")

    async def _static(self, scope: Scope, send: Send) -> bool:
        method = scope.get("method", "GET")
        path = _route_path(scope)
        if method not in ("GET", "HEAD") or (
            path not in self._static_files and not any(path.startswith(p) for p in self._static_dirs)
        ):
            return False
        found = await asyncio.to_thread(self._load_static, path)  # file system calls: off the loop
        if found is None:
            return False
        name, content = found
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        headers = [("Content-Type", content_type), ("Content-Length", str(len(content)))]
        await _send_response(send, HttpResponse(200, headers, b"" if method == "HEAD" else content))
        return True

    def _load_static(self, path: str) -> tuple[str, bytes] | None:
        file = self._static_file(path)
        if file is None:
            return None
        try:
            return file.name, file.read_bytes()
        except OSError:
            return None

    def _static_file(self, path: str) -> Path | None:
        exact = self._static_files.get(path)
        if exact is not None:
            return exact
        best = ""
        for prefix in self._static_dirs:
            if path.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        if not best:
            return None
        root = self._static_dirs[best]
        target = (root / path[len(best) :]).resolve()
        if not target.is_relative_to(root):
            return None
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None

    # -- WebSocket -----------------------------------------------------------------------------

    async def _engine_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        request = _request(scope)
        refusal: HttpResponse | None
        if not origin_allowed(request.headers, self.engine.config.cors):
            refusal = _FORBIDDEN
        else:
            try:
                refusal = await self.engine.allow_websocket(request)
            except Exception:
                logger.exception("error while checking a WebSocket request on %s", request.path)
                refusal = _FORBIDDEN
        if refusal is not None:
            await self._refuse(scope, send, refusal)
            return
        extra = self.engine.websocket_headers(request)
        if extra:
            await send(
                {
                    "type": "websocket.accept",
                    "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in extra],
                }
            )
        else:
            await send({"type": "websocket.accept"})
        sends = self._sends
        port = _ASGIWebSocket(send, sends)
        reason = "transport close"
        try:
            sends.dispatching = True
            try:
                self.engine.accept_websocket(request, port)
            finally:
                sends.dispatched(port)
            limit = self.engine.config.max_http_buffer_size
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    # what the message causes is sent after it (sends.dispatched), not while handling it
                    sends.dispatching = True
                    try:
                        text = message.get("text")
                        if text is not None:
                            if len(text) > limit:
                                reason = self._too_big(port)
                            else:
                                port.receiver.on_ws_text(text)
                        else:
                            data: bytes = message.get("bytes") or b""
                            if len(data) > limit:
                                reason = self._too_big(port)
                            else:
                                port.receiver.on_ws_binary(data)
                    finally:
                        sends.dispatched(port)
                elif kind == "websocket.disconnect":
                    break
        except Exception:
            logger.exception("error on the WebSocket of %s", request.path)
            reason = "transport error"
            port.close(1011)
        finally:
            port.disconnected(reason)
            await port.finish()

    @staticmethod
    def _too_big(port: _ASGIWebSocket) -> str:
        receiver = port.receiver
        port.close(1009)
        receiver.on_ws_close("transport error")
        return "transport error"

    @staticmethod
    async def _refuse(scope: Scope, send: Send, response: HttpResponse) -> None:
        extensions = scope.get("extensions") or {}
        if "websocket.http.response" in extensions:
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status,
                    "headers": _raw_headers(response, True),
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": 1008})

    # -- lifespan ------------------------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        inner = _InnerLifespan(self.other_asgi_app, scope) if self.other_asgi_app is not None else None
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                try:
                    await self.io.start()
                    failure = None
                except Exception as exc:
                    logger.exception("error while starting the Socket.IO server's adapters")
                    failure = f"starting the Socket.IO server failed: {exc!r}"
                if failure is None:
                    failure = await inner.startup() if inner is not None else None
                if failure is None:
                    failure = await _run_hook(self.on_startup, "startup")
                if failure is not None:
                    await send({"type": "lifespan.startup.failed", "message": failure})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                failure = await _run_hook(self.on_shutdown, "shutdown")
                try:
                    await self.io.close()
                except Exception as exc:
                    logger.exception("error while closing the Socket.IO server")
                    failure = failure or f"closing the Socket.IO server failed: {exc!r}"
                if inner is not None:
                    failure = await inner.shutdown() or failure
                if failure is not None:
                    await send({"type": "lifespan.shutdown.failed", "message": failure})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return


async def _run_hook(hook: LifespanHook | None, stage: str) -> str | None:
    if hook is None:
        return None
    try:
        result = hook()
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        logger.exception("error in the %s hook", stage)
        return f"{stage} hook failed: {exc!r}"
    return None


class _InnerLifespan:
    """Runs the wrapped application's lifespan in a task of its own, one event at a time.

    An application that raises before answering the startup event does not support lifespan (as
    the ASGI spec reads); it is then left out, and its error logged at debug level.
    """

    def __init__(self, app: ASGIApplication, scope: Scope) -> None:
        self._app = app
        self._scope = scope
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._supported = True

    async def _receive(self) -> Message:
        return await self._inbox.get()

    async def _send(self, message: Message) -> None:
        await self._outbox.put(message)

    async def _exchange(self, message: Message, expected: str) -> str | None:
        task = self._task
        assert task is not None
        self._inbox.put_nowait(message)
        answer = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait((answer, task), return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            reply = answer.result()
            if reply["type"] == f"{expected}.complete":
                return None
            return str(reply.get("message", "")) or f"{expected} failed"
        answer.cancel()
        exc = task.exception() if not task.cancelled() else None
        if expected == "lifespan.startup":
            self._supported = False
            if exc is not None:
                logger.debug("the wrapped application does not support lifespan: %r", exc)
            return None
        if exc is not None:
            logger.error("error in the wrapped application's lifespan", exc_info=exc)
            return f"{expected} failed: {exc!r}"
        return None

    async def startup(self) -> str | None:
        self._task = asyncio.ensure_future(self._app(self._scope, self._receive, self._send))
        return await self._exchange({"type": "lifespan.startup"}, "lifespan.startup")

    async def shutdown(self) -> str | None:
        task = self._task
        if task is None or not self._supported or task.done():
            return None
        failure = await self._exchange({"type": "lifespan.shutdown"}, "lifespan.shutdown")
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
        except Exception:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return failure
