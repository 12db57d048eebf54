from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from shared.spotify.demo import PLAYLIST_ID
from tests.e2e.test_browser import PHONE, browser, signed_in_page, stack
from tests.support.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(180)]
__all__ = ["browser", "stack"]  # the module-scoped fixtures this file shares


def test_browser_pasted_playlist_link_adds_its_tracks_on_a_phone(
    stack: LocalStack, browser: Browser
) -> None:
    errors: list[str] = []
    context, page = signed_in_page(browser, stack, "pat@example.com", PHONE, errors)
    try:
        page.fill("#search-q", f"https://open.spotify.com/playlist/{PLAYLIST_ID}?si=x")
        page.press("#search-q", "Enter")
        button = page.get_by_role("button", name="Add every track of this playlist to the queue")
        expect(button).to_have_text("Add this playlist's tracks")
        expect(button).to_be_in_viewport()
        button.click()
        expect(button).to_have_text(re.compile(r"Added \d+ tracks"))
        expect(page.locator("#toast")).to_contain_text("of the playlist")
        expect(page.locator("#queue .row")).not_to_have_count(0)
        assert errors == []
    finally:
        context.close()
