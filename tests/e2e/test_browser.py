from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from shared.queue.delta import Snapshot, diff
from shared.queue.delta import apply as delta_apply
from shared.queue.queue import QueueRules, QueueView, add_item, clear_queue, remove_item
from shared.spotify.catalog import Track
from shared.spotify.demo import DemoCatalog
from tests.support.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
T = TypeVar("T")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TRACKS = DemoCatalog().tracks


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(timeout_s=90)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install-test`")
    # Sync API in plain (non-async) tests: no asyncio loop is running in this thread.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def signed_in_page(
    browser: Browser, stack: LocalStack, email: str, viewport: dict[str, int], errors: list[str]
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(
        ignore_https_errors=True, viewport=viewport, is_mobile=viewport is PHONE
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{email}: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"{email}: {msg.text}")
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda resp: (
            errors.append(f"{email}: {resp.status} {resp.url}") if resp.status >= 400 else None
        ),
    )
    page.goto(f"{stack.https}/login/dev")
    page.fill("input[name=email]", email)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{stack.https}/")
    expect(page.locator("#demo-banner")).to_be_visible()
    return context, page


def playing_uri(page: Page) -> str:
    now = page.evaluate(
        "fetch('/playing', {headers: {Accept: 'application/json'}}).then(r => r.json())"
    )
    return str(now.get("uri", ""))


def queue_items(page: Page) -> list[dict[str, object]]:
    queued = page.evaluate(
        "fetch('/queue', {headers: {Accept: 'application/json'}}).then(r => r.json())"
    )
    return list(queued["queue"])


def fresh_tracks(page: Page, start: int, count: int) -> list[int]:
    """Track indexes from ``start`` on that are neither playing nor queued (Bender plays some)."""
    taken = {playing_uri(page)}
    taken |= {str(item["uri"]) for item in queue_items(page)}
    return [n for n in range(start, len(TRACKS)) if TRACKS[n].uri not in taken][:count]


def add_song(page: Page, query: str, title: str) -> str:
    page.fill("#search-q", query)
    page.press("#search-q", "Enter")
    row = page.locator("#results li").filter(has_text=title).first
    expect(row).to_be_visible()
    button = row.get_by_role("button", name=f"Add {title}")
    button.click()
    expect(button).to_have_text("Added")
    page.click("#results-close")
    return title


def titles(page: Page) -> list[str]:
    return page.locator("#queue .row-title").all_inner_texts()


def test_browser_two_people_share_a_live_queue(stack: LocalStack, browser: Browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    alice_ctx, alice = signed_in_page(browser, stack, "alice@example.com", DESKTOP, errors)
    bob_ctx, bob = signed_in_page(browser, stack, "bob@example.com", PHONE, errors)
    try:
        # A marker that a reload would wipe: everything below must arrive live.
        for page in (alice, bob):
            page.evaluate("window.andreNoReload = true")
        # Bender fills the idle player, so something is playing before anyone adds.
        expect(bob.locator("#now-label")).to_have_text("Now playing")
        # Each adds songs (free text, a spotify: URI, an open.spotify.com link); the queue
        # takes them in fair rounds: everyone's first song, then everyone's second.
        # Four songs Bender is not playing: adding the playing song is a 409 by design.
        t = [TRACKS[n] for n in fresh_tracks(bob, 0, 4)]
        a1 = add_song(alice, f"{t[0].title} {t[0].artist}", t[0].title)
        expect(bob.locator("#queue .row-title")).to_have_text([a1])
        b1 = add_song(bob, t[1].uri, t[1].title)
        a2 = add_song(alice, f"https://open.spotify.com/track/{t[2].id}?si=x", t[2].title)
        b2 = add_song(bob, t[3].uri, t[3].title)
        expected = [a1, b1, a2, b2]
        expect(alice.locator("#queue .row-title")).to_have_text(expected)
        expect(bob.locator("#queue .row-title")).to_have_text(expected)
        # Demo artwork is a same-origin URL the page's CSP allows, and it really draws.
        alice.wait_for_function(
            "[...document.querySelectorAll('#queue img.row-art, #now-art')].every("
            "i => i.complete && i.naturalWidth > 0 && i.src.includes('/art/demo/'))",
            timeout=10_000,
        )

        # The progress bar moves on its own (interpolated between server updates).
        before = float(bob.locator("#progress").get_attribute("aria-valuenow") or 0)
        pos_before = bob.locator("#pos-time").inner_text()
        bob.wait_for_timeout(2500)
        assert bob.locator("#pos-time").inner_text() != pos_before
        assert float(bob.locator("#progress").get_attribute("aria-valuenow") or 0) >= before

        # Alice votes Bob's second song up: it moves one place, for both of them.
        alice.get_by_role("button", name=f"Vote up {b2}").click()
        expected = [a1, b1, b2, a2]
        expect(alice.locator("#queue .row-title")).to_have_text(expected)
        expect(bob.locator("#queue .row-title")).to_have_text(expected)
        expect(alice.get_by_role("button", name=f"Vote up {b2}")).to_be_disabled()

        # A comment with markup arrives as text, never as markup.
        evil = "<script>window.pwned = 1</script><b>bold?</b>"
        # On a phone the playing song's comments open on demand (issue 14).
        bob.click("#now-comments-toggle")
        bob.fill("#now-comment-text", evil)
        bob.press("#now-comment-text", "Enter")
        comment = alice.locator("#now-comments .comment-text")
        expect(comment).to_have_text(evil)
        assert alice.locator("#now-comments script, #now-comments b").count() == 0
        assert alice.evaluate("typeof window.pwned") == "undefined"

        # Bob opens the comments of a queued song and leaves one there too.
        bob.get_by_role("button", name=f"Comments on {a2}").click()
        box = bob.locator("#queue li").filter(has_text=a2).get_by_label(f"Comment on {a2}")
        box.fill("great pick")
        box.press("Enter")
        expect(
            alice.get_by_role("button", name=f"Comments on {a2}").locator(".count")
        ).to_have_text("1")

        assert alice.evaluate("window.andreNoReload") is True
        assert bob.evaluate("window.andreNoReload") is True
        alice.screenshot(path=str(ARTIFACTS / "app-desktop.png"), full_page=True)
        bob.screenshot(path=str(ARTIFACTS / "app-phone.png"))
        bob.locator("#queue-heading").scroll_into_view_if_needed()
        bob.screenshot(path=str(ARTIFACTS / "app-phone-queue.png"))
        bob.goto(f"{stack.https}/history/")
        expect(bob.locator("h1")).to_have_text("Recently played")
        bob.screenshot(path=str(ARTIFACTS / "history-phone.png"))
        assert errors == []
    finally:
        alice_ctx.close()
        bob_ctx.close()


def test_browser_listen_along_follows_now_playing_on_own_device(
    stack: LocalStack, browser: Browser
) -> None:
    errors: list[str] = []
    context, page = signed_in_page(browser, stack, "carol@example.com", DESKTOP, errors)
    calls: list[tuple[str, str, str]] = []
    no_device = {"value": False}

    def spotify(route: Route) -> None:
        request = route.request
        calls.append((request.method, request.url, request.post_data or ""))
        if no_device["value"]:
            body = {"error": {"status": 404, "message": "No device", "reason": "NO_ACTIVE_DEVICE"}}
            route.fulfill(status=404, json=body)
        else:
            route.fulfill(status=204, body="")

    try:
        # The demo stack has no Spotify app: stand in for the user's token and their device.
        page.route(
            "**/spotify/token",
            lambda route: route.fulfill(json={"access_token": "user-token", "expires_in": 3600}),
        )
        page.route("https://api.spotify.com/**", spotify)
        expect(page.locator("#now-label")).to_have_text("Now playing")
        now_uri = playing_uri(page)

        page.click("#listen-btn")
        expect(page.locator("#listen-btn")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#listen-status")).to_contain_text("Listening along")
        method, url, body = calls[0]
        assert (method, url) == ("PUT", "https://api.spotify.com/v1/me/player/play")
        sent = json.loads(body)
        assert sent["uris"] == [now_uri] and sent["position_ms"] > 0

        page.click("#pause-btn")
        expect(page.locator("#resume-btn")).to_be_visible()
        page.wait_for_timeout(500)
        assert ("PUT", "https://api.spotify.com/v1/me/player/pause") in [c[:2] for c in calls]

        # No active device: a clear message instead of silence.
        no_device["value"] = True
        page.click("#resume-btn")
        expect(page.locator("#listen-status")).to_contain_text(
            "No active Spotify device", timeout=15_000
        )
        page.screenshot(path=str(ARTIFACTS / "listen-along-no-device.png"))
        assert [e for e in errors if "404" not in e] == []
    finally:
        context.close()


def test_browser_api_reference_loads_with_a_pasted_token_and_tries_a_route(
    stack: LocalStack, browser: Browser
) -> None:
    errors: list[str] = []
    # On a phone: the page is used there too, and long answers must wrap, not widen it.
    context, page = signed_in_page(browser, stack, "dana@example.com", PHONE, errors)
    try:
        page.goto(f"{stack.https}/api-reference/")
        page.fill("#ref-token", stack.secret("ANDRE_API_TOKEN"))
        page.click("#ref-form button[type=submit]")
        queue_op = page.locator(".ref-op").filter(has_text="GET /api/queue").first
        expect(queue_op).to_be_visible()
        expect(page.locator(".ref-op").filter(has_text="POST /api/queue/add")).to_contain_text(
            "Scope: control"
        )
        # The field is emptied once read: the token is not left on screen.
        expect(page.locator("#ref-token")).to_have_value("")
        queue_op.get_by_role("button", name="Send GET /api/queue").click()
        expect(queue_op.locator(".ref-out")).to_contain_text("200")
        expect(queue_op.locator(".ref-out")).to_contain_text('"queue"')
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert stack.secret("ANDRE_API_TOKEN") not in page.content()
        assert errors == []
    finally:
        context.close()


def test_browser_applies_queue_deltas_exactly_as_the_server_computes_them(
    stack: LocalStack, browser: Browser
) -> None:
    # live.js's applyDelta on 300 random pairs of views must give what shared.queue.delta.apply
    # gives (the new view exactly), and refuse a delta made from another version.
    rng = random.Random(7)

    def view() -> Snapshot:
        ids = rng.sample(range(40), rng.randrange(0, 30))
        items = [
            (str(i), json.dumps({"id": str(i), "votes": rng.randrange(3)}, separators=(",", ":")))
            for i in ids
        ]
        preview = rng.choice([None, '{"id":"p1"}', '{"id":"p2"}'])
        return Snapshot.of(QueueView.of(items, preview))

    cases = []
    for _ in range(300):
        old, new = view(), view()
        payload = diff(old, new)
        if payload is not None:
            cases.append({"old": json.loads(old.json), "delta": json.loads(payload)})
    errors: list[str] = []
    context, page = signed_in_page(browser, stack, "delta@example.com", DESKTOP, errors)
    try:
        results = page.evaluate(
            """async (cases) => {
                const { applyDelta } = await import("/static/js/live.js");
                const out = cases.map((c) => applyDelta(c.old, c.delta));
                const stale = applyDelta({ ...cases[0].old, version: "0" }, cases[0].delta);
                return { out, stale };
            }""",
            cases,
        )
    finally:
        context.close()
    assert len(cases) > 250
    expected = [delta_apply(case["old"], case["delta"]) for case in cases]
    assert results["out"] == expected
    assert results["stale"] is None
    assert not errors, errors


def _in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end in a thread of its own (Playwright's sync API holds this one's
    event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=120)


def _seed_long_queue(stack: LocalStack, songs: int, mine: str) -> list[str]:
    """``songs`` songs by as many people, then one of ``mine`` (last in the fair order)."""

    async def seed() -> list[str]:
        redis = stack.redis()
        rules = QueueRules(max_len=5000)
        try:
            ids = []
            for n in range(songs):
                song = Track(
                    uri=f"spotify:track:{'long' + str(n).rjust(18, '0')}",
                    title=f"Long song {n}",
                    artist="Long Band",
                    duration_ms=200_000,
                )
                ids.append((await add_item(redis, song, f"long{n}@example.com", rules=rules)).id)
            song = Track(
                uri=f"spotify:track:{'mine'.rjust(22, '0')}",
                title="My late song",
                artist="Me",
                duration_ms=200_000,
            )
            ids.append((await add_item(redis, song, mine, rules=rules)).id)
            return ids
        finally:
            await redis.aclose()

    return _in_thread(seed())


def test_browser_long_queue_shows_a_window_and_updates_only_changed_rows(
    stack: LocalStack, browser: Browser
) -> None:
    email = "pager@example.com"
    ids = _seed_long_queue(stack, 500, email)
    errors: list[str] = []
    context, page = signed_in_page(browser, stack, email, DESKTOP, errors)
    try:
        rows = page.locator("#queue > li")
        expect(rows).to_have_count(50)
        expect(page.locator("#queue-more")).to_be_visible()
        expect(page.locator("#queue-mine")).to_contain_text("#")
        page.evaluate(
            "document.querySelectorAll('#queue > li').forEach((li) => { li.__kept = 1; })"
        )
        # Chromium reports every main-thread task over 50 ms: the update's render is one of them
        # if it is slow.
        page.evaluate(
            """() => {
                window.__longTasks = [];
                new PerformanceObserver((list) => {
                    for (const e of list.getEntries()) window.__longTasks.push(e.duration);
                }).observe({ type: "longtask" });
            }"""
        )
        # Time the update the vote brings: the page's own measure of setQueue (script) and from
        # its start to two frames later (style, layout and paint of the changed rows included).
        page.evaluate(
            """() => {
                window.__renders = [];
                new MutationObserver(() => {
                    const m = performance.getEntriesByName('andre:queue-render').pop();
                    if (!m) return;
                    requestAnimationFrame(() => setTimeout(() => {
                        const frame = performance.now() - m.startTime;
                        window.__renders.push({script: m.duration, frame});
                    }));
                }).observe(document.getElementById('queue'), {childList: true, subtree: true});
            }"""
        )
        # Someone else votes a song in the window up: it swaps with its neighbour.
        target = page.evaluate("document.querySelectorAll('#queue > li')[30].dataset.id")
        api = httpx.Client(verify=ssl.create_default_context(cafile=stack.ca_file), timeout=10)
        token = stack.secret("ANDRE_API_TOKEN")
        r = api.post(
            f"{stack.https}/api/queue/vote",
            json={"id": target, "up": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        page.wait_for_function(
            "(id) => document.querySelectorAll('#queue > li')[29].dataset.id === id", arg=target
        )
        rebuilt = page.evaluate(
            "[...document.querySelectorAll('#queue > li')].filter((li) => !li.__kept).length"
        )
        assert rebuilt <= 2, f"{rebuilt} rows were rebuilt for one vote"
        update_ms = page.evaluate(
            """() => new Promise((done) => requestAnimationFrame(() =>
                setTimeout(() => done(Math.max(0, ...window.__longTasks)), 0)))"""
        )
        shown = f"{update_ms:.1f} ms" if update_ms else "none over 50 ms"
        print(f"long queue: longest main-thread task around a vote's update: {shown}")
        assert update_ms < 250
        page.wait_for_function("window.__renders.length > 0")
        render = page.evaluate("window.__renders[0]")
        print(
            f"long queue (501 songs): a vote's update took {render['script']:.1f} ms of script, "
            f"{render['frame']:.1f} ms to the next painted frame"
        )
        assert render["script"] < 250 and render["frame"] < 250, render
        # The first song leaves (as when it starts playing): every row shown moves up a place and
        # its ETA changes, yet those are patched in place; only the row entering the window is new.
        page.evaluate(
            "document.querySelectorAll('#queue > li').forEach((li) => { li.__kept = 1; })"
        )
        first = page.evaluate("document.querySelector('#queue > li').dataset.id")
        _in_thread(_remove(stack, first))
        page.wait_for_function(
            "(id) => document.querySelector('#queue > li').dataset.id !== id", arg=first
        )
        expect(rows).to_have_count(50)
        fresh = page.evaluate(
            "[...document.querySelectorAll('#queue > li')].filter((li) => !li.__kept).length"
        )
        assert fresh == 1, f"{fresh} rows were rebuilt when the first song left"
        assert page.locator("#queue > li .row-pos").first.inner_text() == "1"
        # Showing more renders the next page; time it.
        took_ms = page.evaluate(
            """() => new Promise((done) => {
                const t0 = performance.now();
                document.getElementById('queue-more').click();
                const later = () => done(performance.now() - t0);
                requestAnimationFrame(() => setTimeout(later));
            })"""
        )
        expect(rows).to_have_count(100)
        print(f"long queue: showing 50 more rows took {took_ms:.1f} ms")
        assert took_ms < 250
        page.click("#queue-mine")
        expect(page.locator(f'#queue > li[data-id="{ids[-1]}"]')).to_be_visible()
        expect(page.locator("#queue-mine")).to_be_hidden()
        # The long list and its buttons pass the same accessibility check as the other pages.
        response = Axe().run(page).response
        serious = [
            (v["id"], [n["target"] for n in v["nodes"]][:3])
            for v in response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], serious
        api.close()
    finally:
        context.close()
        _in_thread(_clear(stack))
    assert not errors, errors


async def _remove(stack: LocalStack, item_id: str) -> None:
    redis = stack.redis()
    try:
        await remove_item(redis, item_id)
    finally:
        await redis.aclose()


async def _clear(stack: LocalStack) -> None:
    redis = stack.redis()
    try:
        await clear_queue(redis)
    finally:
        await redis.aclose()
