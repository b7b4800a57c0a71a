"""The demo chat: nicknames, rooms, private messages, typing indicators, who is online and on which
transport. ``socketeer demo`` serves it; open http://127.0.0.1:8000/ in two browser tabs.

The page uses the official browser client (``socket.io.min.js``) from the public CDN and falls back to
a copy served by this server at ``/socket.io.min.js`` when the CDN cannot be reached.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..server.server import Server
from ..server.socket import Socket
from ..transports.ports import HttpRequest, HttpResponse

__all__ = ["ChatState", "StaticSite", "create_app", "find_client_js", "run_demo"]

HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]

STATIC_DIR = Path(__file__).with_name("static")
CLIENT_JS_ROUTE = "/socket.io.min.js"
CLIENT_JS_RELATIVE = Path("node_modules", "socket.io-client", "dist", "socket.io.min.js")

LOBBY = "lobby"
MAX_NICK = 24
MAX_ROOM = 32
MAX_TEXT = 1000
_ROOM_NAME = re.compile(r"[\w][\w .-]*")
_SPACES = re.compile(r"\s+")

# what the page may load: itself, the CDN client, and WebSocket/polling back to this server
_CSP = (
    "default-src 'self'; script-src 'self' https://cdn.socket.io; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


# -- static files -------------------------------------------------------------------------------


def find_client_js(explicit: str | None = None, search_from: Iterable[Path] | None = None) -> Path | None:
    """The local ``socket.io.min.js``: ``explicit`` when given (it must exist), otherwise the first
    ``node_modules/socket.io-client/dist/socket.io.min.js`` under the current directory, its
    ``tests/node`` folder, or the source checkout this package runs from."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {explicit}")
        return path.resolve()
    if search_from is None:
        checkout = Path(__file__).resolve().parents[3]  # src/socketeer/demo/app.py -> repository root
        search_from = (Path.cwd(), Path.cwd() / "tests" / "node", checkout / "tests" / "node")
    for base in search_from:
        candidate = base / CLIENT_JS_RELATIVE
        if candidate.is_file():
            return candidate.resolve()
    return None


@dataclass(frozen=True, slots=True)
class _Asset:
    content_type: str
    body: bytes


class StaticSite:
    """The page's files, read once and served from a fixed route table: a path that is not in the table
    is a 404, so no request can reach any other file."""

    def __init__(self, client_js: Path | None) -> None:
        routes: dict[str, _Asset] = {}
        for file in sorted(STATIC_DIR.iterdir()):
            content_type = _CONTENT_TYPES.get(file.suffix)
            if file.is_file() and content_type is not None:
                routes["/" + file.name] = _Asset(content_type, file.read_bytes())
        routes["/"] = routes["/index.html"]
        if client_js is not None:
            routes[CLIENT_JS_ROUTE] = _Asset(_CONTENT_TYPES[".js"], client_js.read_bytes())
        self.routes = routes

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        asset = self.routes.get(request.path)
        if asset is None:
            return HttpResponse(404, [("Content-Type", "text/plain; charset=utf-8")], b"Not Found\n")
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"")
        headers = [
            ("Content-Type", asset.content_type),
            ("Content-Length", str(len(asset.body))),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if asset.content_type.startswith("text/html"):
            headers += [("Content-Security-Policy", _CSP), ("Referrer-Policy", "no-referrer")]
        return HttpResponse(200, headers, b"" if request.method == "HEAD" else asset.body)


# -- the chat -----------------------------------------------------------------------------------


def _clean(value: Any, limit: int) -> str | None:
    """``value`` as a one-line string of at most ``limit`` characters, or ``None`` when it is not text."""
    if not isinstance(value, str):
        return None
    text = _SPACES.sub(" ", value).strip()
    return text[:limit] if text else None


def _room_key(room: str) -> str:
    # chat rooms live in their own key space: a room named like a socket id must not receive its messages
    return "room:" + room


@dataclass(slots=True)
class User:
    id: str
    nick: str
    room: str
    transport: str

    def public(self) -> dict[str, str]:
        return {"id": self.id, "nick": self.nick, "room": self.room, "transport": self.transport}


class ChatState:
    """The demo's handlers and the little state they keep (users and rooms), attached to ``io``."""

    def __init__(self, io: Server) -> None:
        self.io = io
        self.users: dict[str, User] = {}
        self.rooms: set[str] = {LOBBY}
        io.on("connection", self.on_connection)
        io.on("disconnect", self.on_disconnect)
        io.on("nick", self.on_nick)
        io.on("join", self.on_join)
        io.on("chat", self.on_chat)
        io.on("private", self.on_private)
        io.on("typing", self.on_typing)
        io.on("transport", self.on_transport)

    # -- broadcasts to everyone --

    def _publish_users(self) -> None:
        self.io.emit("users", [user.public() for user in self.users.values()])

    def _publish_rooms(self) -> None:
        counts = {room: 0 for room in self.rooms}
        for user in self.users.values():
            counts[user.room] = counts.get(user.room, 0) + 1
        self.io.emit(
            "rooms", [{"name": name, "count": counts[name]} for name in sorted(counts, key=_room_order)]
        )

    def _publish_online(self) -> None:
        self.io.emit("online", len(self.users))

    def _drop_empty_rooms(self) -> None:
        used = {user.room for user in self.users.values()}
        self.rooms = {room for room in self.rooms if room == LOBBY or room in used}

    # -- handlers --

    def on_connection(self, socket: Socket) -> None:
        user = User(socket.id, f"guest-{socket.id[:4]}", LOBBY, socket.transport)
        self.users[socket.id] = user
        socket.join(_room_key(LOBBY))
        socket.emit("welcome", user.public())
        self._publish_online()
        self._publish_rooms()
        self._publish_users()

    def on_disconnect(self, socket: Socket, reason: str) -> None:
        user = self.users.pop(socket.id, None)
        if user is None:
            return
        self.io.to(_room_key(user.room)).emit("typing", {"id": user.id, "nick": user.nick, "typing": False})
        self._drop_empty_rooms()
        self._publish_online()
        self._publish_rooms()
        self._publish_users()

    def on_nick(self, socket: Socket, value: Any) -> dict[str, Any]:
        user = self.users.get(socket.id)
        nick = _clean(value, MAX_NICK)
        if user is None or nick is None:
            return {"ok": False, "error": "a nickname is 1 to 24 characters of text"}
        user.nick = nick
        self._publish_users()
        return {"ok": True, "nick": nick}

    def on_join(self, socket: Socket, value: Any) -> dict[str, Any]:
        user = self.users.get(socket.id)
        room = _clean(value, MAX_ROOM)
        if user is None or room is None or not _ROOM_NAME.fullmatch(room):
            return {"ok": False, "error": "a room name is letters, digits, spaces, '.', '_' or '-'"}
        if room != user.room:
            old = user.room
            socket.to(_room_key(old)).emit("typing", {"id": user.id, "nick": user.nick, "typing": False})
            socket.leave(_room_key(old))
            socket.join(_room_key(room))
            user.room = room
            self.rooms.add(room)
            self._drop_empty_rooms()
            self._publish_rooms()
            self._publish_users()
        return {"ok": True, "room": room}

    def on_chat(self, socket: Socket, value: Any) -> dict[str, Any]:
        user = self.users.get(socket.id)
        text = value.strip()[:MAX_TEXT] if isinstance(value, str) else ""
        if user is None or not text:
            return {"ok": False, "error": "empty message"}
        message = {"id": user.id, "nick": user.nick, "room": user.room, "text": text, "ts": _now_ms()}
        socket.to(_room_key(user.room)).emit("chat", message)  # the sender shows its own copy
        return {"ok": True, "ts": message["ts"]}

    def on_private(self, socket: Socket, to: Any, value: Any) -> dict[str, Any]:
        user = self.users.get(socket.id)
        target = self.users.get(to) if isinstance(to, str) else None
        text = value.strip()[:MAX_TEXT] if isinstance(value, str) else ""
        if user is None or target is None:
            return {"ok": False, "error": "no such user"}
        if not text:
            return {"ok": False, "error": "empty message"}
        message = {"id": user.id, "nick": user.nick, "to": target.id, "text": text, "ts": _now_ms()}
        self.io.to(target.id).emit("private", message)
        return {"ok": True, "ts": message["ts"], "to": target.id, "nick": target.nick}

    def on_typing(self, socket: Socket, value: Any) -> None:
        user = self.users.get(socket.id)
        if user is not None:
            typing = {"id": user.id, "nick": user.nick, "typing": bool(value)}
            socket.to(_room_key(user.room)).volatile.emit("typing", typing)

    def on_transport(self, socket: Socket, _reported: Any = None) -> None:
        # the client tells us it upgraded; what the server sees is the truth
        user = self.users.get(socket.id)
        if user is not None and user.transport != socket.transport:
            user.transport = socket.transport
            self._publish_users()


def _room_order(name: str) -> tuple[bool, str]:
    return (name != LOBBY, name.lower())


def _now_ms() -> int:
    return int(time.time() * 1000)


def create_app(client_js: str | Path | None = None, io: Server | None = None) -> tuple[Server, StaticSite]:
    """The demo's Socket.IO server and the HTTP handler that serves its page.

    ``client_js`` is the path of a local ``socket.io.min.js`` to serve at ``/socket.io.min.js``
    (the page's fallback when the CDN cannot be reached); ``None`` serves none.
    """
    io = io or Server()
    ChatState(io)
    return io, StaticSite(Path(client_js) if client_js is not None else None)


def run_demo(
    host: str = "127.0.0.1", port: int = 8000, client_js: str | None = None, *, use_uvloop: bool = True
) -> int:
    """Run the demo until SIGINT or SIGTERM (``socketeer demo``). Returns the process exit code."""
    from ..cli import ready_printer
    from ..integrations.standalone import run

    try:
        local = find_client_js(client_js)
    except FileNotFoundError as exc:
        print(f"socketeer demo: --client-js: {exc}", file=sys.stderr)
        return 2
    if local is None:
        print(
            "socketeer demo: no local socket.io.min.js found; the page needs https://cdn.socket.io.\n"
            "  For offline use: npm install socket.io-client@4 and pass\n"
            f"  --client-js {CLIENT_JS_RELATIVE}",
            file=sys.stderr,
        )
    io, site = create_app(local)
    ready = ready_printer(host, "demo chat: open {url}/ in two browser tabs")
    run(io, host, port, http_handler=site, use_uvloop=use_uvloop, on_ready=ready)
    return 0
