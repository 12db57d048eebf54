from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
import respx
from redis.asyncio import Redis

from shared import keys
from shared.spotify.errors import (
    SpotifyNotConfigured,
    SpotifyNotConnected,
    SpotifyRateLimited,
    SpotifyUpstreamError,
)
from shared.spotify.tokens import TokenSet, UserTokenStore
from tests.shared.spotify import fakes
from tests.shared.spotify.conftest import FakeClock
from tests.shared.spotify.fakes import TOKEN_URL

EMAIL = "Dj@Example.com"
ACCESS = "BQD-access-token-value-0123456789abcdef"
REFRESH = "AQD-refresh-token-value-0123456789abcdef"


def _tokens(clock: FakeClock, expires_in_s: float = 3600) -> TokenSet:
    return TokenSet(
        access_token=ACCESS,
        refresh_token=REFRESH,
        expires_at=clock.now + expires_in_s,
        scope="streaming user-read-playback-state",
    )


async def test_token_store_save_encrypts_and_round_trips(
    store: UserTokenStore, redis_api: Redis, clock: FakeClock
) -> None:
    tokens = _tokens(clock)
    await store.save(EMAIL, tokens)
    raw = await redis_api.get(keys.user_tokens(EMAIL))
    assert raw is not None
    for secret in (ACCESS, REFRESH):
        assert secret not in raw
        assert base64.b64encode(secret.encode()).decode() not in raw
    assert set(json.loads(raw)) == {"v", "nonce", "ct"}
    assert await store.load(EMAIL) == tokens
    assert await store.load(EMAIL.lower()) == tokens


async def test_token_store_same_tokens_saved_twice_differ_at_rest(
    store: UserTokenStore, redis_api: Redis, clock: FakeClock
) -> None:
    await store.save(EMAIL, _tokens(clock))
    first = await redis_api.get(keys.user_tokens(EMAIL))
    await store.save(EMAIL, _tokens(clock))
    assert await redis_api.get(keys.user_tokens(EMAIL)) != first


async def test_token_store_value_copied_to_other_user_does_not_decrypt(
    store: UserTokenStore, redis_api: Redis, clock: FakeClock
) -> None:
    await store.save(EMAIL, _tokens(clock))
    raw = await redis_api.get(keys.user_tokens(EMAIL))
    await redis_api.set(keys.user_tokens("mallory@example.com"), raw)
    assert await store.load("mallory@example.com") is None


async def test_token_store_other_secret_key_cannot_read(
    store: UserTokenStore, redis_api: Redis, clock: FakeClock
) -> None:
    await store.save(EMAIL, _tokens(clock))
    other = UserTokenStore(redis_api, "a-completely-different-secret-key-value")
    assert await other.load(EMAIL) is None


@pytest.mark.parametrize("raw", ["not json", "{}", '{"v": 1, "nonce": "AAAA", "ct": "AAAA"}'])
async def test_token_store_corrupt_record_loads_as_none(
    store: UserTokenStore, redis_api: Redis, raw: str
) -> None:
    await redis_api.set(keys.user_tokens(EMAIL), raw)
    assert await store.load(EMAIL) is None


async def test_token_store_delete_removes_tokens(store: UserTokenStore, clock: FakeClock) -> None:
    await store.save(EMAIL, _tokens(clock))
    await store.delete(EMAIL)
    assert await store.load(EMAIL) is None


async def test_token_store_empty_secret_key_raises_not_configured(redis_api: Redis) -> None:
    store = UserTokenStore(redis_api, "")
    with pytest.raises(SpotifyNotConfigured):
        await store.save(EMAIL, TokenSet(access_token="a", expires_at=0))


def test_token_set_repr_hides_token_values(clock: FakeClock) -> None:
    text = repr(_tokens(clock)) + str(_tokens(clock))
    assert ACCESS not in text and REFRESH not in text
    assert "scope" in text


async def test_access_token_fresh_token_returned_without_http(
    store: UserTokenStore, clock: FakeClock, http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    await store.save(EMAIL, _tokens(clock, expires_in_s=61 + 5))
    assert await store.access_token(EMAIL, http, fakes.settings()) == ACCESS
    assert len(spotify.calls) == 0


async def test_access_token_near_expiry_refreshes_and_keeps_refresh_token(
    store: UserTokenStore, clock: FakeClock, http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    await store.save(EMAIL, _tokens(clock, expires_in_s=59))
    route = spotify.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "new-access", "expires_in": 3600})
    )
    assert await store.access_token(EMAIL, http, fakes.settings()) == "new-access"
    body = route.calls[0].request.content.decode()
    assert "grant_type=refresh_token" in body and f"refresh_token={REFRESH}" in body
    assert route.calls[0].request.headers["Authorization"].startswith("Basic ")
    saved = await store.load(EMAIL)
    assert saved is not None
    assert saved.access_token == "new-access" and saved.refresh_token == REFRESH
    assert saved.expires_at == clock.now + 3600
    assert saved.scope == "streaming user-read-playback-state"


async def test_access_token_refresh_saves_rotated_refresh_token(
    store: UserTokenStore, clock: FakeClock, http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    await store.save(EMAIL, _tokens(clock, expires_in_s=-10))
    spotify.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            200, json={"access_token": "a2", "refresh_token": "r2", "expires_in": 3600}
        )
    )
    await store.access_token(EMAIL, http, fakes.settings())
    saved = await store.load(EMAIL)
    assert saved is not None and saved.refresh_token == "r2"


async def test_access_token_nothing_stored_raises_not_connected(
    store: UserTokenStore, http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    with pytest.raises(SpotifyNotConnected):
        await store.access_token(EMAIL, http, fakes.settings())
    assert len(spotify.calls) == 0


async def test_access_token_refresh_revoked_deletes_and_raises_not_connected(
    store: UserTokenStore, clock: FakeClock, http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    await store.save(EMAIL, _tokens(clock, expires_in_s=0))
    spotify.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "Refresh token revoked"}
        )
    )
    with pytest.raises(SpotifyNotConnected) as caught:
        await store.access_token(EMAIL, http, fakes.settings())
    assert REFRESH not in str(caught.value)
    assert await store.load(EMAIL) is None


async def test_refresh_refused_after_other_process_rotated_returns_stored_tokens(
    store: UserTokenStore, clock: FakeClock, http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    await store.save(EMAIL, _tokens(clock, expires_in_s=0))
    rotated = TokenSet(access_token="other", refresh_token="r-other", expires_at=clock.now + 3600)
    pending: list[asyncio.Task[None]] = []

    def other_process_wins(request: httpx.Request) -> httpx.Response:
        pending.append(asyncio.get_running_loop().create_task(store.save(EMAIL, rotated)))
        return httpx.Response(400, json={"error": "invalid_grant"})

    spotify.post(TOKEN_URL).mock(side_effect=other_process_wins)
    assert await store.access_token(EMAIL, http, fakes.settings()) == "other"
    assert await store.load(EMAIL) == rotated


async def test_access_token_refresh_5xx_retried_then_succeeds(
    store: UserTokenStore, clock: FakeClock, http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    await store.save(EMAIL, _tokens(clock, expires_in_s=0))
    route = spotify.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, json={"access_token": "a3", "expires_in": 3600}),
        ]
    )
    assert await store.access_token(EMAIL, http, fakes.settings()) == "a3"
    assert route.call_count == 2


async def test_access_token_refresh_5xx_exhausted_raises_upstream_and_keeps_tokens(
    store: UserTokenStore, clock: FakeClock, http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    await store.save(EMAIL, _tokens(clock, expires_in_s=0))
    spotify.post(TOKEN_URL).mock(return_value=httpx.Response(500))
    with pytest.raises(SpotifyUpstreamError):
        await store.access_token(EMAIL, http, fakes.settings())
    assert await store.load(EMAIL) is not None


async def test_access_token_refresh_429_raises_rate_limited(
    store: UserTokenStore, clock: FakeClock, http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    await store.save(EMAIL, _tokens(clock, expires_in_s=0))
    spotify.post(TOKEN_URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "9"}))
    with pytest.raises(SpotifyRateLimited) as caught:
        await store.access_token(EMAIL, http, fakes.settings())
    assert caught.value.retry_after_s == 9


async def test_refresh_failure_logs_carry_no_token(
    store: UserTokenStore,
    clock: FakeClock,
    http: httpx.AsyncClient,
    spotify: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await store.save(EMAIL, _tokens(clock, expires_in_s=0))
    spotify.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "invalid_grant"}))
    with caplog.at_level("DEBUG"), pytest.raises(SpotifyNotConnected):
        await store.access_token(EMAIL, http, fakes.settings())
    assert caplog.records
    logged = caplog.text + "".join(str(vars(record)) for record in caplog.records)
    for secret in (ACCESS, REFRESH, fakes.CLIENT_SECRET, fakes.SECRET_KEY):
        assert secret not in logged
