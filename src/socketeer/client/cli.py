"""``socketeer connect URL``: an interactive terminal client.

Type one command per line:

- ``emit EVENT [ARG ...] [--ack]``: each ARG is a JSON value (``{"x": 1}``, ``[1, 2]``, ``"text"``,
  ``3``); a bare word is sent as a string. With ``--ack`` the acknowledgement is awaited and printed.
- ``disconnect`` / ``quit``: leave (end of input does the same); ``help``.

Every event received is printed as ``<- EVENT ARGS`` (JSON, binary shown as ``<N bytes>``), as are the
connection events and the reconnection attempts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from typing import Any, TextIO

from ..exceptions import AckTimeout, BufferFull, ConnectionRefused, NotConnected
from .client import AsyncClient

__all__ = ["parse_command", "run_connect"]

_TRANSPORTS = {"polling": ("polling",), "websocket": ("websocket",), "upgrade": ("polling", "websocket")}
_HELP = "commands: emit EVENT [JSON ...] [--ack] | disconnect | quit | help"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socketeer connect", description="Interactive Socket.IO client.")
    parser.add_argument("url", help="server URL, e.g. http://localhost:3000")
    parser.add_argument("--namespace", "-n", default=None, help="namespace (default: from the URL, or /)")
    parser.add_argument("--auth", default=None, help="auth payload as a JSON object")
    parser.add_argument("--transport", choices=sorted(_TRANSPORTS), default="upgrade")
    parser.add_argument("--path", default="/socket.io/")
    parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    parser.add_argument("--ack-timeout", type=float, default=10.0, help="seconds to wait for an --ack")
    parser.add_argument(
        "--no-reconnect", action="store_true", help="do not reconnect when the connection drops"
    )
    return parser


def _show(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return f"<{len(obj)} bytes>"
        if isinstance(obj, tuple):
            return list(obj)
        return repr(obj)

    return json.dumps(value, default=default, ensure_ascii=False)


def parse_command(line: str) -> tuple[str, str | None, list[Any], bool]:
    """Split a command line into ``(command, event, args, ack)``; raises ``ValueError`` when malformed."""
    line = line.strip()
    command, _, rest = line.partition(" ")
    command = command.lower()
    if command != "emit":
        return command, None, [], False
    rest = rest.strip()
    ack = False
    if rest == "--ack" or rest.endswith(" --ack"):
        ack = True
        rest = rest[: -len("--ack")].rstrip()
    event, _, rest = rest.partition(" ")
    if not event:
        raise ValueError("usage: emit EVENT [JSON ...] [--ack]")
    decoder = json.JSONDecoder()
    args: list[Any] = []
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        if rest[pos].isspace():
            pos += 1
            continue
        try:
            value, end = decoder.raw_decode(rest, pos)
        except json.JSONDecodeError:
            end = pos
            while end < len(rest) and not rest[end].isspace():
                end += 1
            value = rest[pos:end]
        args.append(value)
        pos = end
    return "emit", event, args, ack


def _start_reader(stdin: TextIO, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    def read() -> None:
        try:
            for line in stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        finally:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except RuntimeError:  # the loop is closed already
                pass

    threading.Thread(target=read, name="socketeer-stdin", daemon=True).start()


async def _session(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    auth = json.loads(args.auth) if args.auth else None
    if auth is not None and not isinstance(auth, dict):
        say("error: --auth must be a JSON object")
        return 2
    headers = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep:
            say(f"error: bad --header {item!r}, expected NAME:VALUE")
            return 2
        headers[name.strip()] = value.strip()
    client = AsyncClient(
        args.url,
        namespace=args.namespace,
        path=args.path,
        transports=_TRANSPORTS[args.transport],
        headers=headers,
        auth=auth,
        reconnection=not args.no_reconnect,
    )
    client.on("connect", lambda: say(f"connected {client.id} ({client.transport})"))
    client.on("disconnect", lambda reason: say(f"disconnected: {reason}"))

    def on_connect_error(error: BaseException) -> None:
        if isinstance(error, ConnectionRefused):
            say(f"connect_error: {error.message} {_show(error.data)}")
        else:
            say(f"connect_error: {error}")

    client.on("connect_error", on_connect_error)
    client.on_any(lambda event, *event_args: say(f"<- {event} {_show(list(event_args))}"))
    client.io.on("reconnect_attempt", lambda attempt: say(f"reconnect attempt {attempt}"))
    client.io.on("reconnect", lambda attempt: say(f"reconnected after {attempt} attempt(s)"))
    client.io.on("reconnect_failed", lambda: say("reconnect failed"))

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    _start_reader(stdin, loop, queue)
    status = 0
    try:
        await client.connect()
    except ConnectionRefused:
        await client.close()
        return 1
    except NotConnected as exc:
        say(f"could not connect: {exc}")
        await client.close()
        return 1
    say(_HELP)
    finished = loop.create_task(client.wait())
    try:
        while True:
            getter = loop.create_task(queue.get())
            done, _ = await asyncio.wait({getter, finished}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                say("connection closed")
                status = 1
                break
            line = getter.result()
            if line is None:
                break
            if not line.strip():
                continue
            try:
                command, event, event_args, ack = parse_command(line)
            except ValueError as exc:
                say(str(exc))
                continue
            if command in ("quit", "exit", "disconnect"):
                break
            if command == "help":
                say(_HELP)
            elif command == "emit":
                assert event is not None
                try:
                    if ack:
                        result = await client.emit_with_ack(event, *event_args, timeout=args.ack_timeout)
                        say(f"ack {event}: {_show(result)}")
                    else:
                        client.emit(event, *event_args)
                        say(f"-> {event} {_show(event_args)}")
                except (AckTimeout, NotConnected, BufferFull, ValueError) as exc:
                    say(f"error: {type(exc).__name__}: {exc}")
            else:
                say(f"unknown command {command!r}; {_HELP}")
    finally:
        finished.cancel()
        await client.close()
    return status


def run_connect(argv: list[str], *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the interactive client; returns the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        return asyncio.run(_session(args, stdin or sys.stdin, stdout or sys.stdout))
    except KeyboardInterrupt:
        return 130
    except json.JSONDecodeError as exc:
        (stdout or sys.stdout).write(f"error: --auth is not valid JSON: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_connect(sys.argv[1:]))
