"""The official Admin UI bundle (``@socket.io/admin-ui/ui/dist``) in headless Chromium, against socketeer.

Our server serves the bundle itself (same origin), the UI logs in through its own connection form with
basic authentication, and its socket list must show the application's clients, one connected before
the login and one after. Chromium reaches nothing but loopback (``--host-resolver-rules``): the Google
fonts and icon stylesheets the bundle links fail at once, and the UI must work without them. Chromium
is driven over the DevTools Protocol, as in ``tests/demo/test_demo_browser.py``.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cdp_browser import DEADLINE, Page, launch
from socketeer import Server
from socketeer.admin import instrument
from socketeer.client import AsyncClient
from socketeer.transports.ports import HttpRequest, HttpResponse

ROOT = Path(__file__).resolve().parents[2]
UI_DIST = ROOT / "tests" / "node" / "node_modules" / "@socket.io" / "admin-ui" / "ui" / "dist"
SCREENSHOT = Path(tempfile.gettempdir()) / "socketeer-admin-ui.png"
# bcryptjs.hashSync("admin", 4)
PASSWORD_HASH = "$2a$04$8JH90xZOxQebd8ISTSoHLeRjhYH/o8z9YArzJxot92P3WxzJUgiVy"


@pytest.fixture
async def browser() -> AsyncIterator[Callable[[str], Awaitable[Page]]]:
    # loopback only: the bundle's fonts.googleapis.com and cdn.jsdelivr.net links fail at once
    async with launch("MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", window=(1280, 800)) as open_page:

        async def open_ui(url: str) -> Page:
            return await open_page(url, "admin UI")

        yield open_ui


def ui_files(prefix: str) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
    """Serve the UI bundle below ``prefix`` (``index.html`` for the prefix itself); 404 elsewhere."""
    root = UI_DIST.resolve()

    async def handler(request: HttpRequest) -> HttpResponse:
        if request.method != "GET" or not request.path.startswith(prefix):
            return HttpResponse(404, [("Content-Type", "text/plain")], b"not found")
        relative = request.path[len(prefix) :] or "index.html"
        file = (root / relative).resolve()
        if not file.is_relative_to(root) or not file.is_file():
            return HttpResponse(404, [("Content-Type", "text/plain")], b"not found")
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        body = await asyncio.to_thread(file.read_bytes)
        return HttpResponse(200, [("Content-Type", content_type)], body)

    return handler


async def test_admin_ui_lists_connected_clients(browser: Callable[[str], Awaitable[Page]]) -> None:
    import bcrypt  # noqa: F401  (the dev extra installs it)

    assert (UI_DIST / "index.html").is_file(), f"{UI_DIST} is missing: run npm ci --prefix tests/node"
    io = Server()

    @io.on("connection")
    def on_connection(socket: Any) -> None:
        socket.join("lobby")

    instrument(io, auth={"type": "basic", "username": "admin", "password": PASSWORD_HASH}, stats_interval=0.5)
    srv = await io.serve("127.0.0.1", 0, http_handler=ui_files("/ui/"))
    url = f"http://127.0.0.1:{srv.port}"
    early = AsyncClient(url, reconnection=False)
    late = AsyncClient(url, reconnection=False, transports=("websocket",))
    try:
        await asyncio.wait_for(early.connect(), DEADLINE)
        page = await browser(f"{url}/ui/")

        # the connection form: no saved settings yet, so the UI asks for them
        await page.wait_for(
            "document.querySelector('.v-dialog input[type=password]') !== null", "the login form"
        )
        await page.eval(
            f"""(() => {{
              const set = (input, value) => {{ input.value = value; input.dispatchEvent(new Event('input')); }};
              const texts = document.querySelectorAll('.v-dialog input[type=text]');
              set(texts[0], {json.dumps(url)});
              set(texts[1], 'admin');
              set(document.querySelector('.v-dialog input[type=password]'), 'admin');
            }})()"""
        )
        await page.wait_for(
            "!document.querySelector('.v-dialog button[type=submit]').disabled", "submit enabled"
        )
        await page.eval("document.querySelector('.v-dialog button[type=submit]').click()")
        await page.wait_for("localStorage.getItem('session_id')", "the session id from the server")
        assert await page.eval("localStorage.getItem('server_url')") == url

        # the dashboard gets server_stats: our server shows up among the servers
        await page.eval("location.hash = '#/servers/'")
        await page.wait_for(
            "document.body.innerText.includes(" + json.dumps(str(os.getpid())) + ")", "the pid"
        )

        # the socket list shows the client connected before the login, then one connecting live
        await page.eval("location.hash = '#/sockets/'")
        rows = "Array.from(document.querySelectorAll('tbody tr'), r => r.innerText).join('\\n')"
        await page.wait_for(f"{rows}.includes({json.dumps(early.id)})", "the early client in the socket list")
        await asyncio.wait_for(late.connect(), DEADLINE)
        await page.wait_for(f"{rows}.includes({json.dumps(late.id)})", "the late client in the socket list")
        text = await page.eval(rows)
        assert "127.0.0.1" in text and "WebSocket" in text

        # the rooms view knows the lobby both clients joined
        await page.eval("location.hash = '#/rooms/'")
        await page.wait_for("document.body.innerText.includes('lobby')", "the lobby room")

        await page.eval("location.hash = '#/sockets/'")
        await page.wait_for(f"{rows}.includes({json.dumps(late.id)})", "the socket list again")
        await page.wait_for(
            "!Array.from(document.querySelectorAll('*')).some(e => /-(enter|leave)(-active|-to)?$/.test("
            "Array.from(e.classList).join(' ')))",
            "the page transition to end",
        )
        await page.screenshot(SCREENSHOT)
        assert SCREENSHOT.stat().st_size > 10_000

        # the row's disconnect button sends _disconnect: the client is gone, and so is its row
        late_id = late.id
        await page.eval(
            f"Array.from(document.querySelectorAll('tbody tr')).find(r => r.innerText.includes({json.dumps(late_id)}))"
            ".querySelector('button').click()"
        )
        await asyncio.wait_for(late.wait(), DEADLINE)
        assert not late.connected and early.connected
        # the click also reaches the row, which opens the socket's page: it shows the disconnection
        await page.wait_for(
            f"location.hash.endsWith({json.dumps('/sockets/' + late_id)})"
            " && document.body.innerText.includes('DISCONNECTED')",
            "the socket's page to show it disconnected",
        )
        await page.eval("location.hash = '#/sockets/'")
        await page.wait_for(
            f"{rows}.includes({json.dumps(early.id)}) && !{rows}.includes({json.dumps(late_id)})",
            "the late client to leave the list",
        )
    finally:
        await early.close()
        await late.close()
        await io.close()
