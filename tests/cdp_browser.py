"""Headless Chromium driven over the Chrome DevTools Protocol, for the browser tests.

``async with launch(host_rules=...) as open_page`` starts Debian's Chromium with an empty profile and
yields ``open_page(url, name) -> Page``; each page gets a window of its own (background tabs are
throttled and never paint). Chromium is required: CI installs it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets

POLL_INTERVAL = 0.05
DEADLINE = 20.0

OpenPage = Callable[[str, str], Awaitable["Page"]]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is required for the browser tests: apt-get install chromium (or set CHROMIUM)")
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
                        json.dumps(message["params"])[:1500]
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


@contextlib.asynccontextmanager
async def launch(
    host_rules: str,
    window: tuple[int, int] = (1100, 720),
    *,
    quic: bool = False,
    extra_args: tuple[str, ...] = (),
) -> AsyncIterator[OpenPage]:
    """Start Chromium; ``host_rules`` keeps it off the network (e.g. ``MAP * ~NOTFOUND, EXCLUDE 127.0.0.1``).

    ``quic`` leaves QUIC on (WebTransport needs it); ``extra_args`` are more command-line flags.
    """
    executable = chromium_path()
    width, height = window
    with tempfile.TemporaryDirectory(prefix="socketeer-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            executable,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-quic" if quic else "--disable-quic",
            *extra_args,
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--disable-extensions",
            f"--host-resolver-rules={host_rules}",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
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
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
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
