import asyncio
import json
import signal
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from services.api.app import create_app
from shared.serve import uvicorn_config
from tests.services.api.conftest import AUTH, BOT_TOKEN, TOKEN, build_settings, running
from tests.support.outage import redis_stopped, timed
from tests.support.redis_server import RedisServer, free_port

UNAVAILABLE = "The queue store is unavailable; try again in a few seconds"


@pytest.fixture()
async def client(own_redis: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(build_settings(own_redis)), AUTH) as c:
        yield c


def _assert_unavailable(resp: httpx.Response, took_s: float) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.json() == {"error": UNAVAILABLE}
    assert resp.headers["retry-after"] == "2"
    assert took_s < 2.0


async def test_api_redis_hung_every_route_503_within_2s_then_recovers(
    own_redis: RedisServer, client: httpx.AsyncClient
) -> None:
    added = await client.post(
        "/api/queue/add", json={"uri": "spotify:track:6N12TI1PH4NRpe0Bw4bw8z"}
    )
    assert added.status_code == 201
    item_id = added.json()["id"]
    vote, bot = {"id": item_id, "up": True}, {"Authorization": f"Bearer {BOT_TOKEN}"}
    calls = {
        "health": lambda: client.get("/api/health"),
        "queue": lambda: client.get("/api/queue"),
        "queue (query string)": lambda: client.get("/api/queue?x=1"),
        "queue (a page)": lambda: client.get("/api/queue?offset=0&limit=10"),
        "playing": lambda: client.get("/api/playing"),
        "history": lambda: client.get("/api/history"),
        "vote": lambda: client.post("/api/queue/vote", json=vote, headers=bot),
        "add": lambda: client.post(
            "/api/queue/add", json={"uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC"}
        ),
        "events": lambda: client.get("/api/events"),
    }
    with redis_stopped(own_redis):
        for name, call in calls.items():
            resp, took = await timed(call)
            if name == "health":
                assert resp.status_code == 503 and took < 2.0, name
                assert resp.json()["status"] == "error"
            else:
                _assert_unavailable(resp, took)
    # Back by itself: no restart of the app, nothing half-written by the failed calls.
    health = await client.get("/api/health")
    assert health.status_code == 200
    queue = await client.get("/api/queue")
    assert queue.status_code == 200
    assert [i["id"] for i in queue.json()["queue"]] == [item_id]
    assert queue.json()["queue"][0]["votes"] == 0
    voted = await client.post("/api/queue/vote", json=vote, headers=bot)
    assert voted.status_code == 200, voted.text


async def test_api_redis_down_answers_503_at_once(
    own_redis: RedisServer, client: httpx.AsyncClient
) -> None:
    own_redis.halt(signal.SIGKILL)
    resp, took = await timed(lambda: client.get("/api/queue"))
    _assert_unavailable(resp, took)
    assert took < 0.5  # refused: no waiting at all
    own_redis.launch()
    assert (await client.get("/api/queue")).status_code == 200


async def _http(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: str
) -> tuple[int, bytes]:
    writer.write(request.encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(ln.split(":")[1]) for ln in lines if ln.lower().startswith("content-length:"))
    body = await asyncio.wait_for(reader.readexactly(length), 5)
    return status, body


class _Exploding:
    async def get_json(self) -> str:
        raise RuntimeError("a bug in the queue view")


async def test_api_unexpected_error_keeps_keepalive_connection(own_redis: RedisServer) -> None:
    # Served as in production (shared.serve): an unexpected 500 must not close the connection,
    # or the proxy's next request on it (a POST Caddy cannot retry) becomes a bodyless 502.
    settings = build_settings(own_redis, port=free_port(), bind_host="127.0.0.1")
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(250):
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started
        app.state.api.reader = _Exploding()
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.port)
        auth = f"Authorization: Bearer {TOKEN}\r\nHost: api\r\n"
        status, body = await _http(reader, writer, f"GET /api/queue HTTP/1.1\r\n{auth}\r\n")
        assert status == 500 and json.loads(body) == {"error": "Internal error"}
        payload = json.dumps({"uri": "spotify:track:6N12TI1PH4NRpe0Bw4bw8z"})
        post = (
            f"POST /api/queue/add HTTP/1.1\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n{payload}"
        )
        status, body = await _http(reader, writer, post)
        assert status == 201, body
        writer.close()
    finally:
        server.should_exit = True
        await task
