"""Per-process resources of the UI routes, created on first use and kept on ``app.state``.

The queue rules and the catalog are cheap, immutable and built from settings once. The event hub
tails the Redis stream in a background task, so it is started lazily by the first ``/events``
client and closed by ``close_ui_resources`` from the app's lifespan.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from shared.asgi import app_http, app_redis
from shared.events import EventHub
from shared.queue.queue import QueueRules
from shared.settings import AndreSettings
from shared.spotify.catalog import Catalog, create_catalog


def _settings(request: Request) -> AndreSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_rules(request: Request) -> QueueRules:
    rules: QueueRules | None = getattr(request.app.state, "queue_rules", None)
    if rules is None:
        rules = QueueRules.from_settings(_settings(request))
        request.app.state.queue_rules = rules
    return rules


def get_catalog(request: Request) -> Catalog:
    catalog: Catalog | None = getattr(request.app.state, "catalog", None)
    if catalog is None:
        catalog = create_catalog(_settings(request), app_redis(request), app_http(request))
        request.app.state.catalog = catalog
    return catalog


_hub_lock = asyncio.Lock()


async def get_hub(request: Request) -> EventHub:
    """The process's one EventHub, started by the first subscriber."""
    hub: EventHub | None = getattr(request.app.state, "event_hub", None)
    if hub is not None:
        return hub
    async with _hub_lock:
        hub = getattr(request.app.state, "event_hub", None)
        if hub is None:
            hub = EventHub(app_redis(request))
            await hub.start()
            request.app.state.event_hub = hub
    return hub


async def close_ui_resources(app: FastAPI) -> None:
    """Stop the event hub (if one was started); called from the lifespan at shutdown."""
    hub: EventHub | None = getattr(app.state, "event_hub", None)
    if hub is not None:
        app.state.event_hub = None
        await hub.stop()


RulesDep = Annotated[QueueRules, Depends(get_rules)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
HubDep = Annotated[EventHub, Depends(get_hub)]
