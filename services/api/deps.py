"""Dependencies of the api routes: each reads the lifespan's ``ApiState`` (services.api.state).

Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, which costs more
than the whole Redis round trip of a queue read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from services.api.auth import ApiIdentity, identity_of, request_ip
from services.api.settings import ApiSettings
from services.api.state import ApiState, api_state
from shared.queue.queue import QueueRules
from shared.spotify.catalog import Catalog
from shared.spotify.connect import SpotifyConnect


def caller_ip(request: Request) -> str:
    """The client's address for audit lines and per-client limits."""
    return request_ip(request, api_state(request).settings.trusted_proxies)


async def get_state(request: Request) -> ApiState:
    return api_state(request)


async def get_identity(request: Request) -> ApiIdentity:
    """Who the request's token is, as ``BearerAuth`` found it (no second check here)."""
    return identity_of(request.scope)


async def get_settings(request: Request) -> ApiSettings:
    return api_state(request).settings


async def get_redis(request: Request) -> Redis:
    return api_state(request).redis


async def get_rules(request: Request) -> QueueRules:
    return api_state(request).rules


async def get_catalog(request: Request) -> Catalog:
    return api_state(request).catalog


async def get_connect(request: Request) -> SpotifyConnect:
    return api_state(request).connect


StateDep = Annotated[ApiState, Depends(get_state)]
IdentityDep = Annotated[ApiIdentity, Depends(get_identity)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
RulesDep = Annotated[QueueRules, Depends(get_rules)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ConnectDep = Annotated[SpotifyConnect, Depends(get_connect)]
