from __future__ import annotations

from fastapi import FastAPI

from tests.services.api.conftest import AUTH, running

FOREIGN = {"Origin": "https://evil.example"}


async def test_api_foreign_origin_gets_no_cors_headers(api_app: FastAPI) -> None:
    async with running(api_app) as client:
        responses = [
            await client.get("/api/queue", headers={**FOREIGN, **AUTH}),
            await client.get("/api/playing", headers={**FOREIGN, **AUTH}),
            await client.options(
                "/api/queue/skip",
                headers={
                    **FOREIGN,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization",
                },
            ),
        ]
    for resp in responses:
        assert not any(h.lower().startswith("access-control-") for h in resp.headers)
