"""The engine's Engine.IO v3 sessions in process: whatever a v3 client posts, the answer is "ok" or an
Engine.IO "Bad request", and a refused payload closes the session."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_server import EchoHandler, request

from socketeer.engine.config import EngineConfig
from socketeer.transports.engine_server import EngineServer

v3_bodies = st.binary(max_size=80) | st.lists(
    st.tuples(st.integers(0, 12), st.text(max_size=12)), min_size=1, max_size=4
).map(lambda parts: "".join(f"{n}:{t}" for n, t in parts).encode())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=v3_bodies, binary=st.booleans())
def test_any_post_is_ok_or_a_bad_request(body: bytes, binary: bool) -> None:
    async def run() -> None:
        engine = EngineServer(EngineConfig(allow_eio3=True), EchoHandler())
        opened = await engine.handle_request(request(EIO="3", b64="1"))
        sid = json.loads(opened.body.split(b":", 1)[1][1:])["sid"]
        headers = {"content-type": "application/octet-stream"} if binary else {}
        answer = await engine.handle_request(request("POST", body, headers, EIO="3", sid=sid))
        if answer.status == 200:
            assert answer.body == b"ok"
        else:
            assert answer.status == 400 and json.loads(answer.body)["code"] == 3
            assert sid not in engine.connections or engine.connections[sid].closed
        engine.close_all()

    asyncio.run(run())
