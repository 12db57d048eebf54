"""Benchmark the api: GET /api/queue and POST /api/queue/vote against a bare Starlette endpoint.

Starts a real Redis (the project's ACL), the api and a bare Starlette app each under uvicorn with
one worker and the same settings, and drives them with wrk from a separate process. Then counts
Redis commands (INFO commandstats, as andre-admin) and client round trips per request for queues
of 5 and 500 songs. Run by ``make bench``; prints its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from _procs import stop, wait_ready  # noqa: E402

from tests.support.redis_server import RedisServer, free_port  # noqa: E402

MAIN_TOKEN = "bench-main-token-0123456789abcdef"
VOTERS = 150  # named tokens: each (voter, song) pair is one real, counted vote
QUEUE_LEN = 50
DURATION_S = int(os.environ.get("ANDRE_BENCH_DURATION_S", "5"))
CONNECTIONS = int(os.environ.get("ANDRE_BENCH_CONNECTIONS", "32"))
SAMPLE_REQUESTS = 200


def voter_token(n: int) -> str:
    return f"bench-voter-{n:04d}-0123456789abcdef"


# --- the served apps (run in child processes) ------------------------------------------------


def _uvicorn(app: Any, port: int) -> None:
    import uvicorn

    # Identical server settings for the api and the bare app: one worker, no access log.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        log_config=None,
        access_log=False,
        server_header=False,
        loop="uvloop",
        http="httptools",
        ws="none",
    )


def serve_api(port: int, count_round_trips: bool) -> None:
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from services.api.app import create_app
    from services.api.settings import ApiSettings
    from shared.logs import configure_logging

    settings = ApiSettings()
    configure_logging("api", "INFO", settings.secret_values())
    app = create_app(settings)
    if count_round_trips:
        from shared.redis_client import LeanCommands  # every pooled connection's send

        counter = {"n": 0}
        original = LeanCommands.send_packed_command

        async def counting(self: Any, command: Any, check_health: bool = True) -> None:
            first = command if isinstance(command, bytes | str) else (command or [b""])[0]
            first = first.encode() if isinstance(first, str) else bytes(first)
            if b"XREAD" not in first[:64]:
                counter["n"] += 1  # the event hub's tail (XREAD) is not a request's round trip
            await original(self, command, check_health)

        LeanCommands.send_packed_command = counting  # type: ignore[method-assign]

        async def round_trips(_: Request) -> JSONResponse:
            return JSONResponse(counter)

        app.add_route("/bench/round_trips", round_trips)
    _uvicorn(app, port)


def serve_bare(port: int, queue_json: str) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    payload = queue_json.encode()

    async def ok(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def queue(_: Request) -> Response:
        return Response(payload, media_type="application/json")

    async def echo(request: Request) -> JSONResponse:
        data = await request.json()
        return JSONResponse({"ok": True, "id": data.get("id")})

    app = Starlette(
        routes=[
            Route("/bare/ok", ok),
            Route("/bare/queue", queue),
            Route("/bare/vote", echo, methods=["POST"]),
        ]
    )
    _uvicorn(app, port)


# --- the driver ------------------------------------------------------------------------------

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _get_script(token: str | None) -> str:
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    return auth + _DONE


def _vote_script(ids: list[str], api: bool) -> str:
    tokens = ",".join(f'"{voter_token(n)}"' for n in range(VOTERS))
    id_list = ",".join(f'"{i}"' for i in ids)
    path = "/api/queue/vote" if api else "/bare/vote"
    return (
        f"local tokens = {{{tokens}}}\nlocal ids = {{{id_list}}}\n"
        + r"""
local threads_n = 1
local counter = 1
setup = function(thread) thread:set("tid", counter); counter = counter + 1 end
init = function(args) i = 0 end
request = function()
  local id = ids[(i % #ids) + 1]
  local t = (math.floor(i / #ids) * threads_n + (tid or 1) - 1) % #tokens + 1
  i = i + 1
  return wrk.format("POST", """
        + f'"{path}"'
        + r""", {["Authorization"] = "Bearer " .. tokens[t],
    ["Content-Type"] = "application/json"}, '{"id":"' .. id .. '","up":true}')
end
"""
        + _DONE
    )


def wrk(url: str, script: str, duration_s: int = DURATION_S) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
        path = fh.name
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration_s}s", "-s", path, url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(path)
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    data: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def seed(server: RedisServer, n: int) -> list[str]:
    from shared.queue import queue as domain
    from shared.spotify.catalog import Track

    redis = server.client("andre-api")
    try:
        await domain.clear_queue(redis)
        await redis.delete("andre:events")
        ids = []
        for k in range(n):
            ident = f"{k:022d}"
            track = Track(
                uri=f"spotify:track:{ident}",
                title=f"Benchmark Song {k}",
                artist="The Load Generators, DJ Redis",
                album="Throughput",
                duration_ms=180_000 + k,
                img=f"https://i.scdn.co/image/ab67616d00004851{ident[:24]}",
                big_img=f"https://i.scdn.co/image/ab67616d0000b273{ident[:24]}",
            )
            item = await domain.add_item(redis, track, f"seed{k % 7}@example.com")
            ids.append(item.id)
        return ids
    finally:
        await redis.aclose()


async def command_stats(server: RedisServer) -> dict[str, int]:
    admin = server.client("andre-admin")
    try:
        info = await admin.info("commandstats")
    finally:
        await admin.aclose()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}


_NOT_REQUEST = {"info", "xread", "xrevrange", "hello", "auth", "client|setname", "ping"}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {}
    for name, calls in after.items():
        d = calls - before.get(name, 0)
        if d and name not in _NOT_REQUEST:
            out[name] = d
    return out


async def _sample(
    server: RedisServer, client: httpx.AsyncClient, requests: list[tuple[str, str, Any, str]]
) -> tuple[float, dict[str, int], set[int]]:
    """Send ``(method, path, json, token)`` requests one by one; round trips and commands."""
    before = await command_stats(server)
    trips_before = (await client.get("/bench/round_trips")).json()["n"]
    statuses = set()
    for method, path, body, token in requests:
        r = await client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        statuses.add(r.status_code)
    trips = (await client.get("/bench/round_trips")).json()["n"] - trips_before
    return trips / len(requests), delta(before, await command_stats(server)), statuses


async def measure_commands(server: RedisServer, api_url: str) -> list[str]:
    lines = []
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        for size in (5, 500):
            ids = await seed(server, size)
            gets = [("GET", "/api/queue", None, MAIN_TOKEN)] * SAMPLE_REQUESTS
            votes = [
                ("POST", "/api/queue/vote", {"id": ids[k % size], "up": True},
                 voter_token(k // size))
                for k in range(SAMPLE_REQUESTS)
            ]  # fmt: skip
            await client.get("/api/queue", headers={"Authorization": f"Bearer {MAIN_TOKEN}"})
            for label, requests in (("GET /api/queue", gets), ("POST /api/queue/vote", votes)):
                trips, used, statuses = await _sample(server, client, requests)
                total = sum(used.values()) / len(requests)
                detail = ", ".join(
                    f"{name} {calls / len(requests):g}" for name, calls in sorted(used.items())
                )
                lines.append(
                    f"  {label:<22} queue={size:<4} round trips/req {trips:.2f}"
                    f"   commands/req {total:.2f} ({detail})   statuses {sorted(statuses)}"
                )
    return lines


def row(label: str, r: dict[str, Any]) -> str:
    return (
        f"  {label:<34} {r['rps']:>9.0f} req/s   p50 {r['p50_us'] / 1000:6.2f} ms"
        f"   p99 {r['p99_us'] / 1000:6.2f} ms   non-2xx {r['non2xx']}"
    )


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench_api: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    server = RedisServer.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ids = asyncio.run(seed(server, QUEUE_LEN))
        env = {
            **os.environ,
            "ANDRE_ENV": "dev",
            "ANDRE_REDIS_URL": server.url,
            "ANDRE_REDIS_USERNAME": "andre-api",
            "ANDRE_REDIS_PASSWORD": server.passwords["andre-api"],
            "ANDRE_API_TOKEN": MAIN_TOKEN,
            "ANDRE_API_TOKENS": ",".join(f"v{n}={voter_token(n)}" for n in range(VOTERS)),
            "ANDRE_API_BAD_TOKEN_MAX": "1000000",
        }
        api_port, bare_port, count_port = free_port(), free_port(), free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        bare_url = f"http://127.0.0.1:{bare_port}"
        count_url = f"http://127.0.0.1:{count_port}"
        procs.append(spawn(["--serve-api", str(api_port)], env))
        wait_ready(api_url + "/api/health")
        headers = {"Authorization": f"Bearer {MAIN_TOKEN}"}
        body = httpx.get(api_url + "/api/queue", headers=headers).text
        procs.append(spawn(["--serve-bare", str(bare_port), body], env))
        wait_ready(bare_url + "/bare/ok")

        print(
            f"api vs bare Starlette: uvicorn 1 worker (uvloop, httptools, no access log), "
            f"wrk -t1 -c{CONNECTIONS} -d{DURATION_S}s, {QUEUE_LEN}-song queue "
            f"({len(body)} bytes of JSON), {os.cpu_count()} CPUs shared by Redis, server and wrk"
        )
        wrk(api_url + "/api/queue", _get_script(MAIN_TOKEN), 1)  # warm-up
        wrk(bare_url + "/bare/ok", _get_script(None), 1)
        get_api = wrk(api_url + "/api/queue", _get_script(MAIN_TOKEN))
        get_routed = wrk(api_url + "/api/queue?via=fastapi", _get_script(MAIN_TOKEN))
        get_bare = wrk(bare_url + "/bare/ok", _get_script(None))
        get_bare_same = wrk(bare_url + "/bare/queue", _get_script(None))
        # Short enough that every vote is a first vote of its (voter, song) pair: counted, moved.
        vote_s = min(DURATION_S, 3)
        vote_api = wrk(api_url + "/api/queue/vote", _vote_script(ids, True), vote_s)
        vote_bare = wrk(bare_url + "/bare/vote", _vote_script(ids, False), vote_s)
        print(row("GET  /api/queue", get_api))
        print(row("GET  /api/queue?… (FastAPI route)", get_routed))
        print(row("GET  bare {'ok': true}", get_bare))
        print(row("GET  bare same queue bytes", get_bare_same))
        print(row("POST /api/queue/vote", vote_api))
        print(row("POST bare JSON echo", vote_bare))
        ratio_get = get_api["rps"] / get_bare["rps"]
        print(
            f"  ratio GET /api/queue / bare ok:          {ratio_get:6.1%}   (target >= 40%)"
            f"\n  ratio GET /api/queue?… (FastAPI route) / bare ok: "
            f"{get_routed['rps'] / get_bare['rps']:6.1%}"
            f"\n  ratio GET /api/queue / bare same bytes:  "
            f"{get_api['rps'] / get_bare_same['rps']:6.1%}"
            f"\n  ratio POST /api/queue/vote / bare echo:  "
            f"{vote_api['rps'] / vote_bare['rps']:6.1%}"
            f"   ({vote_api['requests'] - vote_api['non2xx']} counted votes,"
            f" {vote_api['non2xx']} refused repeats; {vote_s} s runs)"
        )
        for proc in procs:
            stop(proc)
        procs.clear()

        procs.append(spawn(["--serve-api", str(count_port), "--count-round-trips"], env))
        wait_ready(count_url + "/api/health")
        print(f"Redis per request ({SAMPLE_REQUESTS} sequential requests each; commands include")
        print("those run inside Lua; the event hub's XREAD tail is excluded):")
        for line in asyncio.run(measure_commands(server, count_url)):
            print(line)
        return 0
    finally:
        for proc in procs:
            stop(proc)
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-api", type=int)
    parser.add_argument("--count-round-trips", action="store_true")
    parser.add_argument("--serve-bare", nargs=2)
    args = parser.parse_args()
    if args.serve_api:
        serve_api(args.serve_api, args.count_round_trips)
    elif args.serve_bare:
        serve_bare(int(args.serve_bare[0]), args.serve_bare[1])
    else:
        sys.exit(main())
