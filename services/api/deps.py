"""Dependencies of the api routes (lifespan-owned objects) and the per-action audit line."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.api.settings import ApiSettings
from shared.events import EventHub
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
