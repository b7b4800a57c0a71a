"""A small HTTP/1.1 client on asyncio streams, enough for Engine.IO long-polling.

One :class:`HttpConnection` keeps one keep-alive TCP (or TLS) connection and runs one request at a time;
responses are parsed with ``httptools``. The polling transport uses two: one for the long GET, one for POSTs.

No request is ever sent twice. Engine.IO long-polling requests are not idempotent: the server dequeues the
packets it writes into a GET's answer and handles a POST's packets as soon as they arrive, so re-sending
either after a lost answer would lose or duplicate packets. A kept-alive connection is replaced by a new
one only when it is seen closed *before* the request is written; once written, any failure (the
connection closing before or during the answer) raises :class:`ConnectionError`, which the transport
turns into a ``transport error``, as the official client does.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from dataclasses import dataclass, field

import httptools

__all__ = ["HttpConnection", "HttpResult", "open_stream"]


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _ResponseCollector:
    """httptools callbacks: collects one response."""

    __slots__ = ("body", "complete", "headers", "keep_alive", "parser")

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = True
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        if self.parser is not None:
            self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


async def open_stream(
    host: str, port: int, ssl: _ssl.SSLContext | None, timeout: float | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP (TLS when ``ssl`` is given) connection."""
    return await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ssl, server_hostname=host if ssl is not None else None),
        timeout,
    )


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; :meth:`request` opens a new one when the server closed it."""

    def __init__(self, host: str, port: int, *, ssl: _ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def host_header(self) -> str:
        default = 443 if self.ssl is not None else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None = None,
        *,
        timeout: float | None = None,
    ) -> HttpResult:
        """Send one request and read its whole response (the connection is reused when possible).

        Raises :class:`ConnectionError` when the connection fails after the request was written (it is
        not retried: the server may have acted on it).
        """
        if self._writer is not None and self._seen_closed():
            self.close()  # closed while idle: the request was not written, a new connection is safe
        if self._writer is None:
            self._reader, self._writer = await open_stream(self.host, self.port, self.ssl, timeout)
        reader, writer = self._reader, self._writer
        assert reader is not None
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        collector = _ResponseCollector()
        parser = httptools.HttpResponseParser(collector)
        collector.parser = parser
        received = False
        try:
            writer.write(head + body if body else head)
            while not collector.complete:
                chunk = await reader.read(65536)
                if not chunk:
                    if not received:
                        raise ConnectionError("connection closed before any response byte")
                    parser.feed_data(b"")
                    if not collector.complete:
                        raise ConnectionError("connection closed before the end of the response")
                    break
                received = True
                parser.feed_data(chunk)
        except httptools.HttpParserError as exc:
            self.close()
            raise ConnectionError(f"invalid HTTP response: {exc}") from exc
        except BaseException:
            self.close()
            raise
        status = parser.get_status_code()
        if not collector.keep_alive:
            self.close()
        return HttpResult(status, collector.headers, b"".join(collector.body))

    def _seen_closed(self) -> bool:
        """Whether the idle connection is known to be closed by the peer (end of stream or an error)."""
        reader, writer = self._reader, self._writer
        return (
            reader is None
            or writer is None
            or writer.is_closing()
            or reader.at_eof()
            or reader.exception() is not None
        )

    def close(self) -> None:
        writer = self._writer
        self._reader = self._writer = None
        if writer is not None:
            writer.close()
