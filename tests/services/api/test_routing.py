from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Query, Request, Response

from services.api.routing import RequestOnlyRoute


async def _endpoint(request: Request) -> Response:
    return Response(request.url.path, media_type="text/plain")


async def test_request_only_route_calls_endpoint_with_the_request() -> None:
    app = FastAPI()
    app.router.add_api_route(
        "/x", _endpoint, methods=["GET"], route_class_override=RequestOnlyRoute
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/x?ignored=1")
    assert r.status_code == 200 and r.text == "/x"
    assert "/x" in app.openapi()["paths"]


async def _dep() -> int:
    return 1


async def _with_query(request: Request, q: Annotated[str, Query()]) -> Response:
    return Response(q)


async def _with_dep(request: Request, n: Annotated[int, Depends(_dep)]) -> Response:
    return Response(str(n))


async def _without_request() -> Response:
    return Response("x")


@pytest.mark.parametrize("endpoint", [_with_query, _with_dep, _without_request])
def test_request_only_route_refuses_other_parameters(endpoint: object) -> None:
    app = FastAPI()
    with pytest.raises(TypeError):
        app.router.add_api_route(
            "/x",
            endpoint,
            methods=["GET"],
            route_class_override=RequestOnlyRoute,  # type: ignore[arg-type]
        )
