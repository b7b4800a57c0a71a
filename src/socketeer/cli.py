"""The ``socketeer`` command: ``serve`` an application, run the ``demo`` chat, or ``connect`` as a client."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .integrations.standalone import StandaloneServer
    from .server.server import Server

__all__ = ["load_app", "load_server", "main", "ready_printer"]


class TargetError(Exception):
    """``module:attr`` does not name a :class:`socketeer.Server`."""


def load_server(target: str) -> Server:
    """Import ``module:attr`` and return the :class:`~socketeer.Server` it names.

    ``attr`` may be a dotted path and may name a zero-argument factory that returns the server.
    The current directory is importable, as with ``python -m``.
    """
    from .server.server import Server

    obj = _import_target(target, "")
    if not isinstance(obj, Server) and callable(obj):
        try:
            inspect.signature(obj).bind()
        except TypeError:
            raise TargetError(
                f"{target!r} is not a socketeer.Server nor a zero-argument factory of one"
            ) from None
        except ValueError:  # no signature (a builtin): just try it
            pass
        obj = obj()
    if not isinstance(obj, Server):
        raise TargetError(f"{target!r} is {type(obj).__name__}, not a socketeer.Server (or a factory of one)")
    return obj


def load_app(target: str) -> Any:
    """Import ``module:attr`` and return the ASGI application it names (``socketeer serve --app``)."""
    obj = _import_target(target, " for --app")
    if not callable(obj):
        raise TargetError(f"--app {target!r} is {type(obj).__name__}, not an ASGI application")
    return obj


def _import_target(target: str, what: str) -> Any:
    """The object that ``module:attr`` names (``attr`` may be dotted); the current directory is
    importable. ``what`` completes the message of a malformed target (``" for --app"``)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"expected 'module:attribute'{what}, got {target!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"cannot import module {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def ready_printer(host: str, *extra: str) -> Callable[[StandaloneServer], None]:
    """The ``on_ready`` callback that prints ``socketeer listening on http://HOST:PORT`` (and ``extra``
    lines, formatted with ``url``).

    The line is printed on the next event-loop iteration, once ``run()`` has also installed its SIGINT
    and SIGTERM handlers: whoever waits for the line may stop the server at once and get a clean exit.
    """

    def on_ready(server: StandaloneServer) -> None:
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if server.ssl is not None else "http"
        url = f"{scheme}://{shown}:{server.port}"
        text = "\n".join([f"socketeer listening on {url}", *(line.format(url=url) for line in extra)])
        asyncio.get_running_loop().call_soon(lambda: print(text, flush=True))

    return on_ready


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of workers {text!r}") from None
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"workers out of range: {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="socketeer",
        description="Socket.IO server and client for asyncio, wire-compatible with socket.io 4.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser("serve", help="run a socketeer.Server with the standalone server")
    serve.add_argument("target", metavar="module:attr", help="the Server object (or a zero-argument factory)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8000, help="port to listen on; 0 picks one (default: 8000)"
    )
    serve.add_argument(
        "--app",
        metavar="module:attr",
        help="also serve this ASGI application (FastAPI, Starlette...) on the same port: Socket.IO keeps "
        "the standalone server's path, every other request goes to the application through uvicorn's "
        "HTTP (needs socketeer[uvicorn])",
    )
    serve.add_argument("--no-uvloop", action="store_true", help="use the default asyncio event loop")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="run N processes on the port (SO_REUSEPORT), one cluster; polling needs no sticky sessions",
    )
    serve.add_argument("--worker-dir", help=argparse.SUPPRESS)
    serve.add_argument("--certfile", metavar="PEM", help="serve HTTPS with this certificate (chain)")
    serve.add_argument("--keyfile", metavar="PEM", help="the certificate's private key (if not in --certfile)")
    serve.add_argument(
        "--webtransport",
        action="store_true",
        help="also serve WebTransport over HTTP/3 on UDP, same port (needs --certfile or --dev-cert)",
    )
    serve.add_argument(
        "--dev-cert",
        metavar="DIR",
        help="make a short-lived self-signed certificate in DIR and use it (development only); "
        "prints its SHA-256 for serverCertificateHashes",
    )

    demo = sub.add_parser("demo", help="serve the demo chat page and its server")
    demo.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    demo.add_argument(
        "--port", type=_port, default=8000, help="port to listen on; 0 picks one (default: 8000)"
    )
    demo.add_argument(
        "--client-js", metavar="PATH", help="local socket.io.min.js, used when the CDN cannot be reached"
    )
    demo.add_argument("--no-uvloop", action="store_true", help="use the default asyncio event loop")

    sub.add_parser("connect", help="connect to a Socket.IO server as a client", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "connect":
        # everything after "connect" belongs to the client's own parser
        try:
            client_cli = importlib.import_module("socketeer.client.cli")
        except ImportError as exc:
            print(f"socketeer connect: the client is not available ({exc})", file=sys.stderr)
            return 2
        return int(client_cli.run_connect(args_list[1:]))

    args = _parser().parse_args(args_list)

    if args.command == "serve":
        host: str = args.host
        tls = args.certfile or args.dev_cert or args.webtransport
        if tls and (args.workers > 1 or args.worker_dir is not None):
            print("socketeer serve: TLS and --webtransport run with one worker", file=sys.stderr)
            return 2
        if args.webtransport and not (args.certfile or args.dev_cert):
            print("socketeer serve: --webtransport needs --certfile or --dev-cert", file=sys.stderr)
            return 2
        app: Any = None
        if args.app is not None:
            if importlib.util.find_spec("uvicorn") is None:
                print(
                    "socketeer serve: --app needs uvicorn, which serves the application's HTTP: "
                    "pip install 'socketeer[uvicorn]'",
                    file=sys.stderr,
                )
                return 2
            try:
                app = load_app(args.app)  # here, once, rather than in every worker
            except TargetError as exc:
                print(f"socketeer serve: {exc}", file=sys.stderr)
                return 2
        if args.workers > 1 and args.worker_dir is None:
            from .integrations.workers import run_workers

            try:
                load_server(args.target)  # fail here, once, rather than in every worker
            except TargetError as exc:
                print(f"socketeer serve: {exc}", file=sys.stderr)
                return 2
            shown = f"[{host}]" if ":" in host else host
            return run_workers(
                args.target,
                host,
                args.port,
                args.workers,
                use_uvloop=not args.no_uvloop,
                on_ready=lambda port: print(
                    f"socketeer listening on http://{shown}:{port} ({args.workers} workers)", flush=True
                ),
                app=args.app,
            )
        try:
            io = load_server(args.target)
        except TargetError as exc:
            print(f"socketeer serve: {exc}", file=sys.stderr)
            return 2
        if args.worker_dir is not None:
            from .integrations.workers import run_worker

            run_worker(io, host, args.port, args.worker_dir, use_uvloop=not args.no_uvloop, app=app)
            return 0
        certfile: str | None = args.certfile
        keyfile: str | None = args.keyfile
        extra: list[str] = []
        if args.dev_cert:
            try:
                from .integrations.devcert import development_certificate
            except ImportError as exc:
                print(f"socketeer serve: --dev-cert needs socketeer[webtransport] ({exc})", file=sys.stderr)
                return 2
            cert = development_certificate(args.dev_cert)
            certfile, keyfile = cert.certfile, cert.keyfile
            extra.append(f"development certificate {certfile}, valid until {cert.not_after:%Y-%m-%d %H:%M} UTC")
            hashes = cert.hash_js().replace("{", "{{").replace("}", "}}")
            extra.append(f"serverCertificateHashes: [{hashes}]")
        if args.webtransport:
            extra.append("WebTransport (HTTP/3) on UDP, same port: {url}")
        options: dict[str, Any] = {}
        if app is not None:
            options["app"] = app
            extra.append(f"the other requests: {args.app}")
        try:
            io.run(
                host,
                args.port,
                use_uvloop=not args.no_uvloop,
                on_ready=ready_printer(host, *extra),
                certfile=certfile,
                keyfile=keyfile,
                webtransport=args.webtransport,
                **options,
            )
        except ImportError as exc:
            if args.app is not None and "uvicorn" in str(exc):
                print(f"socketeer serve: {exc}", file=sys.stderr)
            else:
                print(f"socketeer serve: --webtransport needs socketeer[webtransport] ({exc})", file=sys.stderr)
            return 2
        except RuntimeError as exc:  # the application's lifespan startup failed
            if args.app is None:
                raise
            print(f"socketeer serve: {exc}", file=sys.stderr)
            return 3
        return 0

    if args.command == "demo":
        from .demo.app import run_demo

        return run_demo(args.host, args.port, args.client_js, use_uvloop=not args.no_uvloop)

    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover - argparse guards it
