"""Per-process resources of the UI routes, read from the lifespan's ``WebState``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.web.state import web_state
from shared.eventhub import EventHub
from shared.queue.queue import QueueReader, QueueRules
from shared.spotify.catalog import Catalog


# The dependencies are async on purpose: FastAPI runs a plain ``def`` one in a worker thread.
async def get_rules(request: Request) -> QueueRules:
    return web_state(request.app).rules


async def get_catalog(request: Request) -> Catalog:
    return web_state(request.app).catalog


async def get_hub(request: Request) -> EventHub:
    return web_state(request.app).hub


async def get_reader(request: Request) -> QueueReader:
    return web_state(request.app).reader


RulesDep = Annotated[QueueRules, Depends(get_rules)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
HubDep = Annotated[EventHub, Depends(get_hub)]
ReaderDep = Annotated[QueueReader, Depends(get_reader)]
