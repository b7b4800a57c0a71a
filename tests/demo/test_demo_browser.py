"""The demo chat end to end: ``python -m socketeer demo`` in a subprocess, two headless Chromium pages
chatting through it with the official browser client, driven over the Chrome DevTools Protocol.

The CDN is made unreachable on purpose (``--host-resolver-rules``), so the page must fall back to the
copy of ``socket.io.min.js`` the demo serves. Chromium is required: CI installs it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets

ROOT = Path(__file__).resolve().parents[2]
CLIENT_JS = ROOT / "tests" / "node" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
SCREENSHOT = Path(tempfile.gettempdir()) / "socketeer-demo.png"
POLL_INTERVAL = 0.05
DEADLINE = 15.0


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "Chromium is required for the demo browser test: apt-get install chromium (or set CHROMIUM)"
        )
    return path


class CdpError(Exception):
    pass


class Cdp:
    """A minimal Chrome DevTools Protocol client over the browser's WebSocket (flat sessions)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.logs: dict[str, list[str]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                future = self.pending.pop(message.get("id", -1), None)
                if future is not None and not future.done():
                    future.set_result(message)
                elif message.get("method") in ("Runtime.consoleAPICalled", "Runtime.exceptionThrown"):
                    self.logs.setdefault(message.get("sessionId", ""), []).append(
                        json.dumps(message["params"])[:400]
                    )
        except websockets.ConnectionClosed:
            pass
        for future in self.pending.values():
            if not future.done():
                future.set_exception(CdpError("DevTools connection closed"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send(json.dumps(message))
        reply = await asyncio.wait_for(future, DEADLINE)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply["result"]

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


class Page:
    def __init__(self, cdp: Cdp, session: str, name: str) -> None:
        self.cdp = cdp
        self.session = session
        self.name = name

    async def eval(self, expression: str) -> Any:
        result = await self.cdp.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{self.name}: {expression!r} threw {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, what: str, timeout: float = DEADLINE) -> Any:
        """Poll ``expression`` until it is truthy; fail with the last value and the page's console."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: Any = None
        while True:
            try:
                last = await self.eval(expression)
            except CdpError as exc:  # still navigating, or not rendered yet
                last = str(exc)
            else:
                if last:
                    return last
            if loop.time() > deadline:
                logs = "\n".join(self.cdp.logs.get(self.session, [])[-10:])
                pytest.fail(
                    f"{self.name}: timed out waiting for {what}; last value {last!r}\nconsole:\n{logs}"
                )
            await asyncio.sleep(POLL_INTERVAL)

    async def fill_and_submit(self, input_id: str, form_id: str, value: str) -> None:
        await self.eval(
            f"(() => {{ const i = document.getElementById({json.dumps(input_id)}); i.value = {json.dumps(value)};"
            f" i.dispatchEvent(new Event('input', {{bubbles: true}}));"
            f" document.getElementById({json.dumps(form_id)}).requestSubmit(); }})()"
        )

    async def texts(self, selector: str) -> list[str]:
        value = await self.eval(
            f"Array.from(document.querySelectorAll({json.dumps(selector)}), e => e.textContent)"
        )
        return list(value)

    async def screenshot(self, path: Path) -> None:
        await self.cdp.send("Page.bringToFront", session=self.session)
        result = await self.cdp.send("Page.captureScreenshot", {"format": "png"}, self.session)
        path.write_bytes(base64.b64decode(result["data"]))


async def _read_line(stream: asyncio.StreamReader, timeout: float) -> str:
    line = await asyncio.wait_for(stream.readline(), timeout)
    if not line:
        raise AssertionError("the process ended before printing its ready line")
    return line.decode().strip()


async def _stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> int:
    if proc.returncode is None:
        proc.send_signal(sig)
    try:
        return await asyncio.wait_for(proc.wait(), 10)
    except asyncio.TimeoutError:
        proc.kill()
        return await proc.wait()


@pytest.fixture
async def demo_url() -> AsyncIterator[str]:
    assert CLIENT_JS.is_file(), f"{CLIENT_JS} is missing: run npm ci --prefix tests/node"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socketeer",
        "demo",
        "--port",
        "0",
        "--client-js",
        str(CLIENT_JS),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await _read_line(proc.stdout, DEADLINE)
        assert line.startswith("socketeer listening on http://127.0.0.1:"), line
        yield line.rsplit(" ", 1)[1] + "/"
    finally:
        code = await _stop(proc)
    assert code == 0, f"the demo server exited with {code} on SIGTERM"


@pytest.fixture
async def browser() -> AsyncIterator[Callable[[str, str], Awaitable[Page]]]:
    executable = _chromium()
    with tempfile.TemporaryDirectory(prefix="socketeer-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            executable,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--disable-extensions",
            # no CDN here, ever: the page must use the demo server's own copy of the client
            "--host-resolver-rules=MAP cdn.socket.io ~NOTFOUND",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1100,720",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        cdp: Cdp | None = None
        try:
            port_file = Path(profile, "DevToolsActivePort")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DEADLINE
            while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
                if proc.returncode is not None or loop.time() > deadline:
                    pytest.fail(f"Chromium did not start (exit code {proc.returncode})")
                await asyncio.sleep(POLL_INTERVAL)
            port, path = port_file.read_text().splitlines()[:2]
            ws = await websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None, ping_interval=None)
            cdp = Cdp(ws)

            async def open_page(url: str, name: str) -> Page:
                assert cdp is not None
                # a window each, so neither page is a background tab (those are throttled and never paint)
                target = await cdp.send("Target.createTarget", {"url": "about:blank", "newWindow": True})
                attached = await cdp.send(
                    "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
                )
                page = Page(cdp, attached["sessionId"], name)
                await cdp.send("Runtime.enable", session=page.session)
                await cdp.send("Page.enable", session=page.session)
                await cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": True}, page.session)
                await cdp.send(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": 1100, "height": 720, "deviceScaleFactor": 1, "mobile": False},
                    page.session,
                )
                await cdp.send("Page.navigate", {"url": url}, page.session)
                return page

            yield open_page
        finally:
            if cdp is not None:
                await cdp.close()
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


CONNECTED = "window.socketeerDemo && socketeerDemo.socket.connected && socketeerDemo.clientSource"


async def test_two_pages_chat_through_the_demo(
    demo_url: str, browser: Callable[[str, str], Awaitable[Page]]
) -> None:
    alice = await browser(demo_url, "alice")
    bob = await browser(demo_url, "bob")

    # the CDN is unreachable: both pages run the official client served by the demo
    assert await alice.wait_for(CONNECTED, "alice to connect", timeout=10) == "local"
    assert await bob.wait_for(CONNECTED, "bob to connect", timeout=10) == "local"

    await alice.fill_and_submit("nick", "nick-form", "alice")
    await bob.fill_and_submit("nick", "nick-form", "bob")
    users = "Array.from(document.querySelectorAll('#users .user .link'), e => e.textContent).sort().join(',')"
    await alice.wait_for(f"{users} === 'alice (you),bob'", "alice to see both nicknames")
    await bob.wait_for(f"{users} === 'alice,bob (you)'", "bob to see both nicknames")

    # both join a new room
    await alice.fill_and_submit("room-name", "room-form", "test room")
    await bob.fill_and_submit("room-name", "room-form", "test room")
    for page in (alice, bob):
        await page.wait_for(
            "document.getElementById('room-title').textContent === '# test room'", "the room title"
        )
        await page.wait_for(
            "Array.from(document.querySelectorAll('#users .room'), e => e.textContent).join() === "
            "'#test room,#test room'",
            "both users in the room",
        )
        await page.wait_for(
            "document.querySelector('#rooms .current .link')?.textContent === '# test room'",
            "the current room",
        )

    # live online count, and both on WebSocket after the upgrade
    for page in (alice, bob):
        await page.wait_for("document.getElementById('online').textContent === '2 online'", "2 online")
        await page.wait_for(
            "document.getElementById('transport').textContent === 'transport: websocket'", "upgrade"
        )
        await page.wait_for(
            "Array.from(document.querySelectorAll('#users .badge'), e => e.textContent).join() === "
            "'websocket,websocket'",
            "everyone's transport to show websocket",
        )

    # alice types: bob sees the indicator
    await alice.eval(
        "(() => { const i = document.getElementById('text'); i.value = 'hel';"
        " i.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    await bob.wait_for(
        "document.getElementById('typing').textContent === 'alice is typing…'", "typing indicator"
    )

    # alice sends (markup must stay text); bob gets it once, alice sees her own copy
    text = "hello <b>bob</b> & co"
    await alice.fill_and_submit("text", "send-form", text)
    await bob.wait_for(
        "document.querySelectorAll('#messages .message.theirs').length === 1", "bob to receive the message"
    )
    assert await bob.texts("#messages .message.theirs .text") == [text]
    assert await bob.texts("#messages .message.theirs .who") == ["alice"]
    assert await bob.eval("document.querySelectorAll('#messages b').length") == 0
    assert await alice.texts("#messages .message.mine .text") == [text]
    assert await alice.texts("#messages .message.theirs") == []
    await bob.wait_for(
        "document.getElementById('typing').textContent === ''", "the typing indicator to clear"
    )

    # bob answers privately: click alice in the list, send
    await bob.eval(
        "Array.from(document.querySelectorAll('#users .user .link')).find(b => b.textContent === 'alice').click()"
    )
    await bob.wait_for("!document.getElementById('pm-target').hidden", "private-message mode")
    await bob.fill_and_submit("text", "send-form", "just for you")
    await alice.wait_for(
        "document.querySelector('#messages .message.theirs.private .text')?.textContent === 'just for you'",
        "alice to receive the private message",
    )
    assert await bob.texts("#messages .message.mine.private .text") == ["just for you"]

    await alice.screenshot(SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 10_000

    # bob leaves: the count drops live
    await bob.cdp.send("Page.close", session=bob.session)
    await alice.wait_for(
        "document.getElementById('online').textContent === '1 online'", "1 online after bob left"
    )
