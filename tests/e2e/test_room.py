from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    TRACKS,
    signed_in_page,
)
from tests.support.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]

ADMIN = "root@example.com"
# One paid horn a minute makes the 429 reachable; one jam earns a free horn.
ROOM_ENV = {
    "ANDRE_AIRHORN_MAX_PER_WINDOW": "1",
    "ANDRE_AIRHORN_FREE_JAMS": "1",
    "ANDRE_ADMIN_EMAILS": ADMIN,
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    stack = LocalStack.start(extra_env=ROOM_ENV, timeout_s=90)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class People:
    """Signed-in pages that accept every confirm() and close their contexts at the end."""

    def __init__(self, browser: Browser, stack: LocalStack) -> None:
        self.browser = browser
        self.stack = stack
        self.errors: list[str] = []
        self.contexts: list[BrowserContext] = []

    def page(self, email: str, viewport: dict[str, int] = DESKTOP) -> Page:
        context, page = signed_in_page(self.browser, self.stack, email, viewport, self.errors)
        self.contexts.append(context)
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def people(chromium: Browser, stack: LocalStack) -> Iterator[People]:
    crowd = People(chromium, stack)
    try:
        yield crowd
    finally:
        crowd.close()


def playing_uri(page: Page) -> str:
    now = page.evaluate(
        "fetch('/playing', {headers: {Accept: 'application/json'}}).then(r => r.json())"
    )
    return str(now.get("uri", ""))


def fresh_tracks(page: Page, start: int, count: int) -> list[int]:
    """Track indexes from ``start`` on that are neither playing nor queued (Bender plays some)."""
    taken = {playing_uri(page)}
    queued = page.evaluate(
        "fetch('/queue', {headers: {Accept: 'application/json'}}).then(r => r.json())"
    )
    taken |= {item["uri"] for item in queued["queue"]}
    return [n for n in range(start, len(TRACKS)) if TRACKS[n].uri not in taken][:count]


def add_track(page: Page, n: int) -> str:
    """Add TRACKS[n] by its URI (generous waits: the machine's cores are shared)."""
    title = TRACKS[n].title
    page.fill("#search-q", TRACKS[n].uri)
    page.press("#search-q", "Enter")
    button = page.locator("#results li").get_by_role("button", name=f"Add {title}")
    expect(button).to_be_visible(timeout=15_000)
    button.click()
    expect(button).to_have_text("Added", timeout=15_000)
    page.click("#results-close")
    return title


def expected_errors(errors: list[str], *allowed: str) -> list[str]:
    """The page errors left once the HTTP refusals the test provoked on purpose are removed."""
    return [e for e in errors if not any(a in e for a in allowed)]


def test_room_airhorn_success_and_each_refusal_message(people: People) -> None:
    alice = people.page("horn-alice@example.com")
    bob = people.page("horn-bob@example.com")
    expect(alice.locator("#now-label")).to_have_text("Now playing")
    free = alice.locator("#horn-free")
    expect(free).to_be_disabled()

    alice.locator("[data-horn=siren]").click()
    expect(bob.locator("#toast")).to_contain_text("horn-alice blew the siren!")
    alice.locator("[data-horn=airhorn]").click()
    expect(alice.locator("#toast")).to_contain_text("Airhorn cooling down")
    expect(alice.locator("#toast")).to_contain_text(re.compile(r"Try again in \d+ s"))

    # Bob jams Alice's song: her free-horn count goes up live, without a reload.
    (n,) = fresh_tracks(alice, 20, 1)
    title = add_track(alice, n)
    bob.get_by_role("button", name=f"Jam {title}").click()
    expect(alice.locator("#free-count")).to_have_text("1")
    expect(free).to_be_enabled()
    free.click()
    expect(alice.locator("#free-count")).to_have_text("0")
    expect(free).to_be_disabled()
    expect(bob.locator("#toast")).to_contain_text("horn-alice blew the airhorn!")

    # A second tab still showing a credit (or a stale page) gets the real 409 message.
    alice.evaluate("document.getElementById('horn-free').disabled = false")
    free.click()
    expect(alice.locator("#toast")).to_contain_text("No free airhorns left")
    expect(free).to_be_disabled()
    assert expected_errors(people.errors, "429 ", "409 ") == []


def test_room_vote_to_skip_from_three_browsers_reaches_threshold(people: People) -> None:
    voters = [people.page(f"skip-{n}@example.com") for n in range(3)]
    first = voters[0]
    expect(first.locator("#now-label")).to_have_text("Now playing")
    playing = first.locator("#now-title").inner_text()
    expect(first.locator("#skip-btn")).to_have_text("Vote to skip")
    first.click("#skip-btn")
    expect(first.locator("#toast")).to_contain_text("Your vote to skip counts: 1 of 3")
    expect(voters[2].locator("#toast")).to_contain_text("skip-0 voted to skip")
    voters[1].click("#skip-btn")
    expect(voters[1].locator("#toast")).to_contain_text("2 of 3")
    expect(voters[0].locator("#now-title")).to_have_text(playing)
    voters[2].click("#skip-btn")
    for page in voters:
        expect(page.locator("#now-title")).not_to_have_text(playing, timeout=20_000)
    expect(voters[0].locator("#toast")).to_contain_text("skipped by a vote of")
    voters[0].goto(f"{people.stack.https}/history/")
    expect(voters[0].locator("#room-log")).to_contain_text(f'"{playing}"')
    assert people.errors == []


def test_room_duplicate_add_upvotes_and_playing_song_is_refused(people: People) -> None:
    alice = people.page("dup-alice@example.com")
    bob = people.page("dup-bob@example.com")
    track = TRACKS[fresh_tracks(alice, 25, 1)[0]]
    add_track(alice, TRACKS.index(track))
    bob.fill("#search-q", track.uri)
    bob.press("#search-q", "Enter")
    bob.get_by_role("button", name=f"Add {track.title}").click()
    expect(bob.locator("#toast")).to_contain_text("already queued: your add counts as an upvote")
    row = alice.locator("#queue li").filter(has_text=track.title)
    expect(row).to_have_count(1)
    expect(row.locator(".vote-count")).to_have_text("1")

    bob.click("#results-close")
    playing = bob.evaluate(
        "fetch('/playing', {headers: {Accept: 'application/json'}}).then(r => r.json())"
    )
    assert playing.get("uri")
    bob.fill("#search-q", playing["uri"])
    bob.press("#search-q", "Enter")
    bob.get_by_role("button", name=f"Add {playing['title']}").click()
    expect(bob.locator("#toast")).to_contain_text("That song is playing right now")
    assert expected_errors(people.errors, "409 ") == []


def test_room_admin_clears_queue_after_confirming(people: People) -> None:
    admin = people.page(ADMIN)
    bob = people.page("clear-bob@example.com")
    (n,) = fresh_tracks(bob, 30, 1)
    add_track(bob, n)
    admin.click("#clear-btn")
    expect(bob.locator("#queue-empty")).to_be_visible()
    expect(bob.locator("#toast")).to_contain_text("root cleared the queue")
    assert bob.locator("#clear-btn").count() == 0
    assert people.errors == []


def test_room_phone_first_screen_shows_search_queue_and_name(people: People) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    phone = people.page("phone-pat@example.com", PHONE)
    desktop = people.page("desk-dana@example.com", DESKTOP)
    for n in fresh_tracks(desktop, 35, 3):
        add_track(desktop, n)
    expect(phone.locator("#queue .row")).to_have_count(3)
    phone.evaluate("window.scrollTo(0, 0)")
    for selector in ("#search-q", "#queue .row >> nth=0", ".who", "#now-title"):
        box = phone.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], selector
    expect(phone.get_by_text("Add a song")).to_be_in_viewport()
    expect(phone.locator(".who")).to_have_text("phone-pat")
    phone.screenshot(path=str(ARTIFACTS / "room-phone.png"))
    desktop.screenshot(path=str(ARTIFACTS / "room-desktop.png"))
    # Desktop keeps the two columns: the queue panel sits to the right of now playing.
    now_box = desktop.locator(".now").bounding_box()
    queue_box = desktop.locator(".queue-panel").bounding_box()
    assert now_box and queue_box and queue_box["x"] > now_box["x"] + now_box["width"] - 1
    assert people.errors == []
