"""What an API token may do: ``read`` < ``control`` < ``admin``, each including the ones before.

``read`` (queue, playing, history, search, events: dashboards, office screens), ``control`` (add,
vote, jam, remove one's own, skip and pause under the room's moderation rules) and ``admin``
(clear, remove anyone's song, the house speaker's devices and transfer). A token's scope comes
from the settings (``ANDRE_API_READ_TOKENS``, ``ANDRE_API_ADMIN_TOKENS``, else ``control``).

Every route declares the scope it needs once, in its ``openapi_extra`` (``needs(...)``), which
also shows it in the OpenAPI document; ``RouteScopes`` reads those declarations when the app is
built and refuses a route that has none, so a new route cannot be reachable without a decision.
``BearerAuth`` checks the scope right after the token, before any route runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, get_args

from fastapi.routing import APIRoute
from pydantic import BaseModel

ScopeName = Literal["read", "control", "admin"]
SCOPES: tuple[ScopeName, ...] = get_args(ScopeName)
SCOPE_KEY = "x-andre-scope"  # the OpenAPI extension each operation carries


def needs(scope: ScopeName, body: type[BaseModel] | None = None) -> dict[str, Any]:
    """``openapi_extra`` of a route: the scope it needs, and its JSON request body if any."""
    extra: dict[str, Any] = {SCOPE_KEY: scope}
    if body is not None:
        schema = body.model_json_schema()
        extra["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    return extra


def allows(has: ScopeName, needed: ScopeName) -> bool:
    return SCOPES.index(has) >= SCOPES.index(needed)


class RouteScopes:
    """The scope each guarded route needs, by method and path (HEAD as GET)."""

    def __init__(self, routes: Iterable[APIRoute]) -> None:
        self._needed: dict[tuple[str, str], ScopeName] = {}
        for route in routes:
            scope = (route.openapi_extra or {}).get(SCOPE_KEY)
            if scope not in SCOPES:
                raise ValueError(
                    f"{route.path}: declare the scope it needs (openapi_extra=needs(...)), "
                    f"one of {', '.join(SCOPES)}"
                )
            if route.param_convertors:
                # Looked up by exact path: a path parameter would leave the route unchecked.
                raise ValueError(f"{route.path}: path parameters are not supported by RouteScopes")
            for method in route.methods or ():
                self._needed[(method, route.path)] = scope
                if method == "GET":
                    self._needed[("HEAD", route.path)] = scope

    def needed(self, method: str, path: str) -> ScopeName | None:
        """None for a method the path does not have (the router answers 405)."""
        return self._needed.get((method, path))
