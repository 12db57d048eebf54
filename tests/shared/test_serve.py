from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from services.api.app import create_app
from shared.serve import Server, bind_proxy_socket, listen_sockets, uvicorn_config
from tests.services.api.conftest import AUTH, build_settings
from tests.support.redis_server import RedisServer, free_port


def test_bind_proxy_socket_owner_only_and_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "run" / "api.sock"
    sock = bind_proxy_socket(path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    finally:
        sock.close()
    bind_proxy_socket(path).close()  # a stale socket of a previous run is replaced
    plain = tmp_path / "file"
    plain.write_text("keep me")
    with pytest.raises(RuntimeError):
        bind_proxy_socket(plain)
    assert plain.read_text() == "keep me"


async def test_serve_forwarded_for_believed_on_proxy_socket_only(
    redis_clean: RedisServer, tmp_path: Path
) -> None:
    path = tmp_path / "api.sock"
    settings = build_settings(
        redis_clean,
        api_bad_token_max=2,
        trusted_proxies=[],  # as in the local stack: no TCP peer is believed
        proxy_socket=path,
        port=free_port(),
    )
    config = uvicorn_config(create_app(settings), settings)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=listen_sockets(config, settings)))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.02)
        bad = {"Authorization": "Bearer wrong"}
        # Straight to the port: a new X-Forwarded-For per request changes nothing.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}") as direct:
            statuses = []
            for n in range(3):
                headers = {**bad, "X-Forwarded-For": f"10.0.0.{n}"}
                statuses.append((await direct.get("/api/queue", headers=headers)).status_code)
        assert statuses == [403, 403, 429]
        # Through the proxy's socket: each forwarded client has its own count.
        transport = httpx.AsyncHTTPTransport(uds=str(path))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as proxied:
            for n in range(3):
                headers = {**bad, "X-Forwarded-For": f"198.51.100.{n}"}
                assert (await proxied.get("/api/queue", headers=headers)).status_code == 403
    finally:
        server.should_exit = True
        await task


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
