"""``RequestOnlyRoute``: the route class of an endpoint with nothing for FastAPI to solve.

FastAPI solves dependencies, reads the body and validates the result on every request of every
route. For ``GET /api/queue``, the route every bot and dashboard polls, that machinery was most
of the cost of a request that has no parameter, no body and returns JSON text read as is. With
this class the endpoint is called with the request alone. It is still the one route for its path:
declared on its router, documented in OpenAPI, behind ``BearerAuth`` and the app's middleware and
exception handlers like every other route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.routing import request_response


class RequestOnlyRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        d = self.dependant
        params = (d.path_params, d.query_params, d.header_params, d.cookie_params, d.body_params)
        extra = any(params) or d.dependencies or self.body_field is not None
        if extra or d.request_param_name is None:
            # A parameter or dependency here would be silently ignored: refuse at import.
            raise TypeError(f"{path}: a RequestOnlyRoute endpoint takes the request only")
        # Starlette's request/response wrapper (exceptions still reach the app's handlers):
        # FastAPI's also opens two exit stacks per request for dependencies, and there are none.
        self.app = request_response(self.endpoint)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint  # called as endpoint(request): __init__ checked it takes just that
