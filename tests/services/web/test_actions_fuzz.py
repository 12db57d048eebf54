from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.services.web.conftest import SignedIn
from tests.services.web.test_actions import POST_ROUTES, TRACKS, add, start_playing
from tests.support.redis_server import RedisServer

ODD_TEXT = ["", " ", "\x00", "\u202e", "\ud800", "x" * 3000, "np1", "airhorn", "../x", "é"]

texts = st.one_of(st.text(max_size=30), st.sampled_from(ODD_TEXT))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)


def _cases(ids: list[str], uris: list[str], count: int) -> list[tuple[str, object]]:
    fields = st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(ids) | json_values,
            "uri": st.sampled_from(uris) | json_values,
            "up": st.booleans() | json_values,
            "text": texts | json_values,
            "name": st.sampled_from(["siren", "airhorn"]) | json_values,
            "user": st.just("boss@example.com"),
        },
    )
    bodies = st.one_of(json_values, fields, fields)
    cases: list[tuple[str, object]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(POST_ROUTES), bodies)
    def collect(path: str, body: object) -> None:
        cases.append((path, body))

    collect()
    return cases


async def test_actions_any_json_body_never_500(
    signed_in: SignedIn, redis_clean: RedisServer
) -> None:
    redis = redis_clean.client("andre-web")
    try:
        await start_playing(redis)
    finally:
        await redis.aclose()
    ids = ["np1", await add(signed_in, 1), await add(signed_in, 2)]
    uris = [TRACKS[3].uri, f"https://open.spotify.com/track/{TRACKS[4].id}?si=x"]
    for path, body in _cases(ids, uris, 300):
        # NaN/Infinity as Python writes them, lone surrogates as "\ud800" escapes.
        raw = json.dumps(body, allow_nan=True)
        resp = await signed_in.client.post(
            path, content=raw, headers={"Content-Type": "application/json"}
        )
        assert resp.status_code < 500, (path, body, resp.text)
        assert resp.headers["content-type"].startswith("application/json"), (path, body)
        data = resp.json()
        if resp.status_code >= 400:
            assert set(data) == {"error"} and isinstance(data["error"], str), (path, body)
