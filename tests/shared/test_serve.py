import asyncio
import time

import httpx
import pytest

from services.api.app import create_app
from shared.serve import Server, uvicorn_config
from tests.services.api.conftest import AUTH, build_settings
from tests.support.redis_server import RedisServer, free_port


async def test_server_shutdown_ends_open_event_streams_at_once(
    redis_clean: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = build_settings(redis_clean, port=free_port(), bind_host="127.0.0.1")
    server = Server(uvicorn_config(create_app(settings), settings))
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started
    url = f"http://127.0.0.1:{settings.port}/api/events"
    async with (
        httpx.AsyncClient(headers=AUTH, timeout=10) as client,
        client.stream("GET", url) as stream,
    ):
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        start = time.monotonic()
        server.should_exit = True
        rest = [line async for line in lines]  # ends cleanly, not cut
        await task
        took = time.monotonic() - start
    # uvicorn alone waits its whole graceful timeout (5 s) for the stream, then cancels it.
    assert took < 2.0, took
    assert "event: queue_update" in rest  # the snapshot came through before the end
    assert "Exception in ASGI application" not in caplog.text
