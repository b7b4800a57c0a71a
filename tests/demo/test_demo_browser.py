"""The demo chat end to end: ``python -m socketeer demo`` in a subprocess, two headless Chromium pages
chatting through it with the official browser client, driven over the Chrome DevTools Protocol.

The CDN is made unreachable on purpose (``--host-resolver-rules``), so the page must fall back to the
copy of ``socket.io.min.js`` the demo serves. Chromium is required: CI installs it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from cdp_browser import DEADLINE, OpenPage, Page, launch

ROOT = Path(__file__).resolve().parents[2]
CLIENT_JS = ROOT / "tests" / "node" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
SCREENSHOT = Path(tempfile.gettempdir()) / "socketeer-demo.png"


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
async def browser() -> AsyncIterator[OpenPage]:
    # no CDN here, ever: the page must use the demo server's own copy of the client
    async with launch("MAP cdn.socket.io ~NOTFOUND") as open_page:
        yield open_page


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
