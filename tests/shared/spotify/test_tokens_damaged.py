from __future__ import annotations

import logging

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.spotify.tokens import UserTokenStore

EMAIL = "Dj@Example.com"


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"[1]", b'{"v": 1, "nonce": 5}'])
async def test_token_store_damaged_record_none_reported_once(
    store: UserTokenStore, redis_api: Redis, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    await redis_api.set(keys.user_tokens(EMAIL), raw)
    for _ in range(3):
        assert await store.load(EMAIL) is None
    reports = [r.getMessage() for r in caplog.records if r.name == "shared.queue.records"]
    assert reports == [
        "damaged spotify tokens record dj@example.com skipped: unreadable or undecryptable"
    ]
