"""Short-lived, single-use OAuth flow records (state -> nonce, PKCE verifier, binding) in Redis."""

from __future__ import annotations

import json
import secrets
from typing import Any

from redis.asyncio import Redis

from services.web.identity.sessions import digest
from services.web.settings import WebSettings
from shared import keys
from shared.queue import records


def new_state() -> str:
    return secrets.token_urlsafe(32)


async def save_flow(redis: Redis, settings: WebSettings, state: str, data: dict[str, Any]) -> None:
    # Keyed by a digest: a Redis dump never holds a usable state value.
    await redis.set(keys.oauth_flow(digest(state)), json.dumps(data), ex=settings.oauth_flow_ttl_s)


async def take_flow(redis: Redis, state: str, kind: str) -> dict[str, Any] | None:
    """The flow for this state, deleted in the same step (a state works once), or None."""
    if not state or len(state) > 128:
        return None
    # Undecoded: a damaged value is a failed sign-in, not a 500.
    raw = await records.execute(redis, "GETDEL", keys.oauth_flow(digest(state)), raw=True)
    if raw is None:
        return None
    try:
        data = records.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("kind") != kind:
        return None
    return data
