from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from services.web.limits import WebLimits
from shared import keys
from shared.spotify.demo import DemoCatalog
from tests.services.web.conftest import PUBLIC_URL, SignedIn
from tests.support.redis_server import RedisServer

SignIn = Callable[[str], Awaitable[SignedIn]]
TRACKS = DemoCatalog().tracks


@pytest.fixture
async def redis_web(redis_clean: RedisServer) -> AsyncIterator[Redis]:
    client = redis_clean.client("andre-web")
    yield client
    await client.aclose()


async def add(who: SignedIn, index: int) -> str:
    resp = await who.client.post("/queue/add", json={"uri": TRACKS[index].uri})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def queue_ids(who: SignedIn) -> list[str]:
    resp = await who.client.get("/queue")
    assert resp.status_code == 200
    return [item["id"] for item in resp.json()["queue"]]


async def start_playing(redis: Redis, index: int = 0, user: str = "carol@example.com") -> None:
    track = TRACKS[index]
    item = {
        "id": "np1",
        "uri": track.uri,
        "title": track.title,
        "artist": track.artist,
        "duration_ms": track.duration_ms,
        "user": user,
        "added_at": time.time(),
    }
    now_ms = int(time.time() * 1000)
    record = {"item": item, "started_at": now_ms / 1000, "pos_ms": 0, "anchor_ms": now_ms}
    await redis.set(keys.NOW_PLAYING, json.dumps({**record, "paused": False}))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/queue"),
        ("GET", "/playing"),
        ("GET", "/search?q=a"),
        ("GET", "/history"),
        ("GET", "/events"),
        ("POST", "/queue/add"),
        ("POST", "/queue/vote"),
        ("POST", "/queue/skip"),
        ("POST", "/airhorn"),
        ("POST", "/bender/filter"),
    ],
)
async def test_actions_without_session_return_401_json(web_client, method, path) -> None:
    resp = await web_client.request(method, path, json={}, headers={"Origin": PUBLIC_URL})
    assert resp.status_code == 401
    assert resp.json() == {"error": "Not signed in"}


async def test_add_without_csrf_header_returns_403(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post(
        "/queue/add", json={"uri": TRACKS[0].uri}, headers={"X-CSRF-Token": ""}
    )
    assert resp.status_code == 403
    assert await queue_ids(signed_in) == []


async def test_add_from_foreign_origin_returns_403(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post(
        "/queue/add", json={"uri": TRACKS[0].uri}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status_code == 403
    assert "access-control-allow-origin" not in resp.headers
    assert await queue_ids(signed_in) == []


async def test_add_with_spoofed_email_is_credited_to_session_user(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post(
        "/queue/add",
        json={"uri": TRACKS[0].uri, "email": "boss@example.com", "user": "boss@example.com"},
    )
    assert resp.status_code == 201
    queue = (await signed_in.client.get("/queue")).json()["queue"]
    assert [item["user"] for item in queue] == ["alice@example.com"]


async def test_comment_with_spoofed_user_is_credited_to_session_user(
    signed_in: SignedIn,
) -> None:
    item_id = await add(signed_in, 0)
    resp = await signed_in.client.post(
        "/queue/comment",
        json={"id": item_id, "text": "<script>alert(1)</script>", "user": "boss@example.com"},
    )
    assert resp.status_code == 200
    comments = (await signed_in.client.get("/queue")).json()["queue"][0]["comments"]
    assert [(c["user"], c["text"]) for c in comments] == [
        ("alice@example.com", "<script>alert(1)</script>")
    ]


async def test_add_open_spotify_link_queues_the_track(signed_in: SignedIn) -> None:
    track = TRACKS[3]
    link = f"https://open.spotify.com/track/{track.id}?si=abc"
    resp = await signed_in.client.post("/queue/add", json={"uri": link})
    assert resp.status_code == 201
    queue = (await signed_in.client.get("/queue")).json()["queue"]
    assert [item["uri"] for item in queue] == [track.uri]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/queue/add", {"uri": "not a uri"}),
        ("/queue/add", {"uri": 42}),
        ("/queue/add", {}),
        ("/queue/add", ["spotify:track:x"]),
        ("/queue/vote", {"id": "1", "up": "true"}),
        ("/queue/vote", {"id": "1", "up": 1}),
        ("/queue/vote", {"id": 1.5, "up": True}),
        ("/queue/comment", {"id": "1"}),
        ("/queue/comment", {"id": "1", "text": ["x"]}),
        ("/airhorn", {"name": "kazoo"}),
        ("/airhorn", {"name": None}),
        ("/bender/queue", {"uri": "spotify:album:123"}),
    ],
)
async def test_action_with_bad_body_returns_400_error(signed_in: SignedIn, path, body) -> None:
    resp = await signed_in.client.post(path, json=body)
    assert resp.status_code == 400, resp.text
    assert set(resp.json()) == {"error"}


async def test_add_with_non_json_body_returns_400(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post(
        "/queue/add", content=b"uri=spotify", headers={"Content-Type": "text/plain"}
    )
    assert resp.status_code == 400
    assert set(resp.json()) == {"error"}


async def test_vote_on_unknown_id_returns_404(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post("/queue/vote", json={"id": "nope", "up": True})
    assert resp.status_code == 404
    assert "error" in resp.json()


async def test_vote_up_moves_song_one_place(sign_in: SignIn) -> None:
    alice, bob = await sign_in("alice@example.com"), await sign_in("bob@example.com")
    first = await add(alice, 0)
    second = await add(bob, 1)
    resp = await alice.client.post("/queue/vote", json={"id": second, "up": True})
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    assert await queue_ids(alice) == [second, first]
    again = await alice.client.post("/queue/vote", json={"id": second, "up": True})
    assert again.status_code == 409


async def test_jam_toggles_and_reports_state(signed_in: SignedIn) -> None:
    item_id = await add(signed_in, 0)
    on = await signed_in.client.post("/queue/jam", json={"id": item_id})
    off = await signed_in.client.post("/queue/jam", json={"id": item_id})
    assert (on.json()["jammed"], off.json()["jammed"]) == (True, False)


async def test_remove_writes_audit_line(signed_in: SignedIn, caplog) -> None:
    item_id = await add(signed_in, 0)
    caplog.clear()  # the add's own audit line is not this test's
    with caplog.at_level(logging.INFO, logger="andre.audit"):
        resp = await signed_in.client.post("/queue/remove", json={"id": item_id})
    assert resp.status_code == 200
    assert await queue_ids(signed_in) == []
    lines = [r for r in caplog.records if r.name == "andre.audit"]
    assert [(r.action, r.identity, r.outcome) for r in lines] == [  # type: ignore[attr-defined]
        ("remove", "alice@example.com", "ok")
    ]


async def test_vote_and_jam_write_audit_lines_with_the_same_fields_as_add(
    signed_in: SignedIn, caplog
) -> None:
    item_id = await add(signed_in, 0)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="andre.audit"):
        await signed_in.client.post("/queue/jam", json={"id": item_id})
        refused = await signed_in.client.post("/queue/vote", json={"id": item_id, "up": True})
    assert refused.status_code == 409  # one's own song takes no upvote
    lines = [r for r in caplog.records if r.name == "andre.audit"]
    assert [(r.action, r.outcome, getattr(r, "reason", None)) for r in lines] == [  # type: ignore[attr-defined]
        ("jam", "ok", None),
        ("vote", "refused", "OwnSongUpvote"),
    ]
    for line in lines:
        assert line.identity == "alice@example.com"  # type: ignore[attr-defined]
        assert line.path in {"/queue/jam", "/queue/vote"} and line.client_ip  # type: ignore[attr-defined]


async def test_add_writes_audit_line_with_uri(signed_in: SignedIn, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="andre.audit"):
        await add(signed_in, 2)
    lines = [r for r in caplog.records if r.name == "andre.audit"]
    assert [(r.action, r.uri) for r in lines] == [("add", TRACKS[2].uri)]  # type: ignore[attr-defined]


async def test_add_past_hourly_limit_returns_429_with_retry_after(
    web_limits: WebLimits, signed_in: SignedIn, redis_web: Redis
) -> None:
    await redis_web.set(web_limits.add.key(signed_in.email), 50, ex=3600)
    resp = await signed_in.client.post("/queue/add", json={"uri": TRACKS[0].uri})
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["retry-after"]) <= 3600
    assert await queue_ids(signed_in) == []


async def test_comment_past_hourly_limit_returns_429(
    web_limits: WebLimits, signed_in: SignedIn, redis_web: Redis
) -> None:
    item_id = await add(signed_in, 0)
    await redis_web.set(web_limits.comment.key(signed_in.email), 30, ex=3600)
    resp = await signed_in.client.post("/queue/comment", json={"id": item_id, "text": "hi"})
    assert resp.status_code == 429
    assert "retry-after" in resp.headers


async def test_airhorn_past_hourly_limit_returns_429(
    web_limits: WebLimits, signed_in: SignedIn, redis_web: Redis
) -> None:
    await start_playing(redis_web)
    await redis_web.set(web_limits.airhorn.key(signed_in.email), 20, ex=3600)
    resp = await signed_in.client.post("/airhorn", json={"name": "airhorn"})
    assert resp.status_code == 429
    assert "retry-after" in resp.headers


async def test_airhorn_while_playing_appends_event(signed_in: SignedIn, redis_web: Redis) -> None:
    await start_playing(redis_web)
    resp = await signed_in.client.post("/airhorn", json={"name": "siren", "user": "x@y.z"})
    assert resp.status_code == 200
    events = await redis_web.xrange(keys.EVENTS)
    horns = [json.loads(f["data"]) for _, f in events if f["type"] == "airhorn"]
    assert horns == [{"name": "siren", "user": "alice@example.com"}]


async def test_airhorn_when_idle_returns_409(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post("/airhorn", json={"name": "airhorn"})
    assert resp.status_code == 409


async def test_skip_when_idle_returns_409(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post("/queue/skip")
    assert resp.status_code == 409


async def test_pause_then_resume_flips_now_playing(signed_in: SignedIn, redis_web: Redis) -> None:
    await start_playing(redis_web)
    assert (await signed_in.client.post("/queue/pause")).status_code == 200
    paused = (await signed_in.client.get("/playing")).json()
    assert (await signed_in.client.post("/queue/resume")).status_code == 200
    resumed = (await signed_in.client.get("/playing")).json()
    assert (paused["paused"], resumed["paused"]) == (True, False)
    assert resumed["server_time"] > 0 and resumed["uri"] == TRACKS[0].uri


async def test_playing_when_idle_returns_empty_object(signed_in: SignedIn) -> None:
    resp = await signed_in.client.get("/playing")
    assert resp.status_code == 200 and resp.json() == {}


async def test_search_free_text_returns_results_shape(signed_in: SignedIn) -> None:
    word = TRACKS[0].title.split()[0]
    resp = await signed_in.client.get("/search", params={"q": word})
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert results and set(results[0]) == {"uri", "title", "artist", "album", "duration_ms", "img"}


async def test_search_spotify_uri_returns_that_track(signed_in: SignedIn) -> None:
    resp = await signed_in.client.get("/search", params={"q": f" {TRACKS[5].uri} "})
    assert [r["uri"] for r in resp.json()["results"]] == [TRACKS[5].uri]


@pytest.mark.parametrize("query", ["", "   ", "x" * 201])
async def test_search_with_bad_query_returns_400(signed_in: SignedIn, query: str) -> None:
    resp = await signed_in.client.get("/search", params={"q": query})
    assert resp.status_code == 400
    assert set(resp.json()) == {"error"}


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "100000"])
async def test_history_with_bad_limit_returns_400(signed_in: SignedIn, limit: str) -> None:
    resp = await signed_in.client.get("/history", params={"limit": limit})
    assert resp.status_code == 400


async def test_history_returns_plays_newest_first(signed_in: SignedIn, redis_web: Redis) -> None:
    for n in range(3):
        track = TRACKS[n]
        play = {
            "id": str(n),
            "uri": track.uri,
            "title": track.title,
            "artist": track.artist,
            "duration_ms": track.duration_ms,
            "user": "carol@example.com",
            "added_at": 1.0,
            "ended_at": 100.0 + n,
        }
        await redis_web.lpush(keys.HISTORY, json.dumps(play))
    resp = await signed_in.client.get("/history", params={"limit": 2})
    assert [p["id"] for p in resp.json()["plays"]] == ["2", "1"]


async def test_bender_filter_drops_the_preview(signed_in: SignedIn, redis_web: Redis) -> None:
    track = TRACKS[7]
    preview = {
        "id": "preview",
        "uri": track.uri,
        "title": track.title,
        "artist": track.artist,
        "duration_ms": track.duration_ms,
        "user": "bender@andre",
        "auto": True,
        "added_at": 1.0,
    }
    await redis_web.set(keys.PREVIEW, json.dumps(preview))
    resp = await signed_in.client.post("/bender/filter", json={"uri": track.uri})
    assert resp.status_code == 200
    assert (await signed_in.client.get("/queue")).json()["preview"] is None
    assert await redis_web.exists(keys.filtered(track.uri))


async def test_bender_queue_adds_preview_as_session_user(
    signed_in: SignedIn, redis_web: Redis
) -> None:
    track = TRACKS[8]
    preview = {
        "id": "preview",
        "uri": track.uri,
        "title": track.title,
        "artist": track.artist,
        "duration_ms": track.duration_ms,
        "user": "bender@andre",
        "auto": True,
        "added_at": 1.0,
    }
    await redis_web.set(keys.PREVIEW, json.dumps(preview))
    resp = await signed_in.client.post(
        "/bender/queue", json={"uri": track.uri, "email": "boss@example.com"}
    )
    assert resp.status_code == 200, resp.text
    view = (await signed_in.client.get("/queue")).json()
    assert [(i["uri"], i["user"]) for i in view["queue"]] == [(track.uri, "alice@example.com")]
    stale = await signed_in.client.post("/bender/queue", json={"uri": track.uri})
    assert stale.status_code == 409


async def test_add_refused_by_limit_writes_refused_audit_line(
    web_limits: WebLimits, signed_in: SignedIn, redis_web: Redis, caplog
) -> None:
    await redis_web.set(web_limits.add.key(signed_in.email), 50, ex=3600)
    with caplog.at_level(logging.INFO, logger="andre.audit"):
        resp = await signed_in.client.post("/queue/add", json={"uri": TRACKS[0].uri})
    assert resp.status_code == 429
    lines = [r for r in caplog.records if r.name == "andre.audit"]
    assert [(r.action, r.outcome, r.reason) for r in lines] == [  # type: ignore[attr-defined]
        ("add", "refused", "RateLimited")
    ]


async def test_skip_own_song_sets_flag_and_audits(
    signed_in: SignedIn, redis_web: Redis, caplog
) -> None:
    await start_playing(redis_web, user="alice@example.com")
    with caplog.at_level(logging.INFO, logger="andre.audit"):
        resp = await signed_in.client.post("/queue/skip", json={"email": "boss@example.com"})
    assert resp.status_code == 200
    assert resp.json() == {"ok": True, "done": True, "how": "own", "votes": 0, "needed": 0}
    assert await redis_web.exists(keys.SKIP)
    lines = [r for r in caplog.records if r.name == "andre.audit"]
    assert [(r.action, r.identity, r.how) for r in lines] == [  # type: ignore[attr-defined]
        ("skip", "alice@example.com", "own")
    ]


async def test_skip_others_song_counts_a_vote_until_threshold(
    sign_in: SignIn, redis_web: Redis
) -> None:
    await start_playing(redis_web, user="carol@example.com")
    people = [await sign_in(f"p{n}@example.com") for n in range(3)]
    first = await people[0].client.post("/queue/skip")
    assert first.json() == {"ok": True, "done": False, "how": "voted", "votes": 1, "needed": 3}
    again = await people[0].client.post("/queue/skip")
    assert again.json()["how"] == "already"
    await people[1].client.post("/queue/skip")
    assert not await redis_web.exists(keys.SKIP)
    last = await people[2].client.post("/queue/skip")
    assert last.json()["done"] is True and last.json()["how"] == "vote"
    assert await redis_web.exists(keys.SKIP)
    log = (await people[0].client.get("/activity")).json()["actions"]
    assert log[0]["kind"] == "skip" and log[0]["how"] == "vote"


async def test_remove_others_song_by_one_person_keeps_it(sign_in: SignIn) -> None:
    bob = await sign_in("bob@example.com")
    item_id = await add(bob, 0)
    alice = await sign_in("alice@example.com")
    resp = await alice.client.post("/queue/remove", json={"id": item_id})
    assert resp.status_code == 200 and resp.json()["done"] is False
    assert await queue_ids(alice) == [item_id]


async def test_clear_by_non_admin_returns_403(signed_in: SignedIn) -> None:
    await add(signed_in, 0)
    resp = await signed_in.client.post("/queue/clear")
    assert resp.status_code == 403
    assert resp.json() == {"error": "Only admins can clear the queue"}
    assert len(await queue_ids(signed_in)) == 1


async def test_free_airhorn_spends_a_credit_and_reports_the_rest(
    signed_in: SignedIn, redis_web: Redis
) -> None:
    await start_playing(redis_web)
    await redis_web.set(keys.free_horns(signed_in.email), 2)
    resp = await signed_in.client.post("/airhorn/free")
    assert resp.status_code == 200
    assert resp.json() == {"ok": True, "free_left": 1}


async def test_free_airhorn_without_credit_is_refused(
    signed_in: SignedIn, redis_web: Redis
) -> None:
    await start_playing(redis_web)
    resp = await signed_in.client.post("/airhorn/free")
    assert 400 <= resp.status_code < 500
    assert set(resp.json()) == {"error"}


async def test_search_past_hourly_limit_returns_429(
    web_limits: WebLimits, signed_in: SignedIn, redis_web: Redis
) -> None:
    await redis_web.set(web_limits.search.key(signed_in.email), 600, ex=3600)
    resp = await signed_in.client.get("/search", params={"q": "lantern"})
    assert resp.status_code == 429
    assert "retry-after" in resp.headers


POST_ROUTES = [
    "/queue/add",
    "/queue/vote",
    "/queue/jam",
    "/queue/remove",
    "/queue/comment",
    "/queue/skip",
    "/queue/pause",
    "/queue/resume",
    "/airhorn",
    "/airhorn/free",
    "/bender/queue",
    "/bender/filter",
]
ODD_BODIES = [
    b"null",
    b"[]",
    b'"text"',
    b"12",
    b"{",
    b'{"id": {"$gt": ""}, "uri": ["a"], "up": null, "text": 5, "name": {}}',
    b'{"id": "' + b"9" * 5000 + b'", "uri": "spotify:track:' + b"A" * 5000 + b'"}',
    b'{"id": "../../etc", "text": "\\u0000\\u202e", "name": "airhorn\\n"}',
]


@pytest.mark.parametrize("path", POST_ROUTES)
async def test_action_with_odd_bodies_never_returns_500(signed_in: SignedIn, path: str) -> None:
    for body in ODD_BODIES:
        resp = await signed_in.client.post(
            path, content=body, headers={"Content-Type": "application/json"}
        )
        assert resp.status_code < 500, (body, resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith("application/json")


async def test_bender_filter_past_hourly_limit_returns_429(
    web_limits: WebLimits, signed_in: SignedIn, redis_web: Redis
) -> None:
    limit = web_limits.filter
    await redis_web.set(limit.key(signed_in.email), limit.max_hits, ex=limit.window_s)
    resp = await signed_in.client.post("/bender/filter", json={"uri": TRACKS[3].uri})
    assert resp.status_code == 429
    assert "retry-after" in resp.headers
    assert not await redis_web.exists(keys.filtered(TRACKS[3].uri))


async def test_bender_filter_not_the_preview_appends_no_event(
    signed_in: SignedIn, redis_web: Redis
) -> None:
    before = await redis_web.xlen(keys.EVENTS)
    resp = await signed_in.client.post("/bender/filter", json={"uri": TRACKS[4].uri})
    assert resp.status_code == 200
    assert await redis_web.xlen(keys.EVENTS) == before
    assert await redis_web.llen(keys.PLAYER_WAKE) == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/queue/vote", {"id": "1", "up": False}),
        ("/queue/jam", {"id": "1"}),
        ("/queue/remove", {"id": "1"}),
        ("/queue/skip", {}),
        ("/queue/pause", {}),
        ("/queue/resume", {}),
    ],
)
async def test_action_past_per_minute_limit_returns_429_and_changes_nothing(
    web_limits: WebLimits, signed_in: SignedIn, redis_web: Redis, path: str, body: dict[str, object]
) -> None:
    await start_playing(redis_web)
    item_id = await add(signed_in, 1)
    assert item_id == "1"
    limit = web_limits.action
    await redis_web.set(limit.key(signed_in.email), limit.max_hits, ex=limit.window_s)
    events = await redis_web.xlen(keys.EVENTS)
    resp = await signed_in.client.post(path, json=body)
    assert resp.status_code == 429
    assert "retry-after" in resp.headers
    assert await redis_web.xlen(keys.EVENTS) == events


async def test_remove_with_huge_id_audits_a_bounded_line(signed_in: SignedIn, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="andre.audit"):
        resp = await signed_in.client.post("/queue/remove", json={"id": "9" * 10_000})
    assert resp.status_code == 404
    [line] = [r for r in caplog.records if r.name == "andre.audit"]
    assert len(line.item_id) <= 128  # type: ignore[attr-defined]


async def test_airhorn_writes_audit_line_with_horn_name(signed_in: SignedIn, caplog) -> None:
    await add(signed_in, 0)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="andre.audit"):
        resp = await signed_in.client.post("/airhorn", json={"name": "airhorn"})
    assert resp.status_code in (200, 409), resp.text  # 409 only when nothing plays yet
    lines = [r for r in caplog.records if r.name == "andre.audit"]
    assert [(r.action, r.horn) for r in lines] == [("airhorn", "airhorn")]  # type: ignore[attr-defined]


async def test_add_of_queued_song_upvotes_it_with_a_message(sign_in: SignIn) -> None:
    bob = await sign_in("bob@example.com")
    item_id = await add(bob, 0)
    alice = await sign_in("alice@example.com")
    resp = await alice.client.post("/queue/add", json={"uri": TRACKS[0].uri})
    assert resp.status_code == 200
    body = resp.json()
    assert body["id"] == item_id and body["outcome"] == "upvoted"
    assert "already queued" in body["message"]
    queue = (await alice.client.get("/queue")).json()["queue"]
    assert [(i["id"], i["votes"]) for i in queue] == [(item_id, 1)]


async def test_add_of_playing_song_returns_409_with_message(
    signed_in: SignedIn, redis_web: Redis
) -> None:
    await start_playing(redis_web, 0)
    resp = await signed_in.client.post("/queue/add", json={"uri": TRACKS[0].uri})
    assert resp.status_code == 409
    assert resp.json() == {"error": "That song is playing right now"}
    assert await queue_ids(signed_in) == []


async def test_list_queue_concurrent_reads_share_redis_reads_and_see_own_changes(
    signed_in: SignedIn, redis_clean: RedisServer
) -> None:
    # GET /queue goes through the process's QueueReader: fifty pages polling at once share a
    # couple of queue reads, and a read after one's own change shows it.
    added = (await signed_in.client.post("/queue/add", json={"uri": TRACKS[4].uri})).json()
    admin = redis_clean.client("andre-admin")

    async def scripts_run(requests: int) -> int:
        before = (await admin.info("commandstats"))["cmdstat_evalsha"]["calls"]
        pages = await asyncio.gather(*(signed_in.client.get("/queue") for _ in range(requests)))
        assert {p.status_code for p in pages} == {200} and len({p.text for p in pages}) == 1
        return int((await admin.info("commandstats"))["cmdstat_evalsha"]["calls"] - before)

    try:
        one = await scripts_run(1)  # one queue read, and whatever else a request runs
        fifty = await scripts_run(50)
    finally:
        await admin.aclose()
    assert one >= 1
    assert fifty <= 50 * (one - 1) + 3, (one, fifty)  # at most 3 queue reads, not 50
    assert (await signed_in.client.post("/queue/jam", json={"id": added["id"]})).status_code == 200
    item = (await signed_in.client.get("/queue")).json()["queue"][0]
    assert signed_in.email in item["jams"]
