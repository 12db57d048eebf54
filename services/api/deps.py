"""Dependencies of the api routes (lifespan-owned objects) and the per-action audit line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request

from services.api.auth import ApiIdentity
from services.api.settings import ApiSettings
from shared.events import EventHub
from shared.logs import audit
from shared.queue.queue import QueueReader, QueueRules
from shared.spotify.catalog import Catalog
from shared.spotify.connect import SpotifyConnect

# Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, which costs more
# than the whole Redis round trip of a queue read. Redis itself comes from shared.asgi.RedisDep.


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_rules(request: Request) -> QueueRules:
    return request.app.state.rules  # type: ignore[no-any-return]


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog  # type: ignore[no-any-return]


async def get_connect(request: Request) -> SpotifyConnect:
    return request.app.state.connect  # type: ignore[no-any-return]


async def get_queue_reader(request: Request) -> QueueReader:
    return request.app.state.queue_reader  # type: ignore[no-any-return]


async def get_hub(request: Request) -> EventHub:
    return request.app.state.hub  # type: ignore[no-any-return]


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
RulesDep = Annotated[QueueRules, Depends(get_rules)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ConnectDep = Annotated[SpotifyConnect, Depends(get_connect)]
HubDep = Annotated[EventHub, Depends(get_hub)]
QueueReaderDep = Annotated[QueueReader, Depends(get_queue_reader)]


@contextmanager
def audited(
    request: Request, identity: ApiIdentity, action: str, **details: Any
) -> Iterator[dict[str, Any]]:
    """One audit line for the action in the block: ``ok`` or the error's class name."""
    extra = dict(details)
    ip: str | None = getattr(request.state, "client_ip", None)
    path = request.url.path
    try:
        yield extra
    except Exception as exc:
        outcome = type(exc).__name__
        audit(action, identity=identity.email, client_ip=ip, path=path, outcome=outcome, **extra)
        raise
    audit(action, identity=identity.email, client_ip=ip, path=path, outcome="ok", **extra)
