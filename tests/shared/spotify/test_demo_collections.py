from __future__ import annotations

import pytest

from shared.spotify.demo import PLAYLIST_ID, DemoCatalog, demo_id
from shared.spotify.errors import SpotifyNotFound


async def test_demo_playlist_tracks_are_stable_and_skip_the_episode() -> None:
    first = await DemoCatalog().playlist_tracks(PLAYLIST_ID, 50)
    again = await DemoCatalog().playlist_tracks(demo_id("playlist", "Andre Office Mix"), 50)
    assert first == again
    assert len(first.tracks) == 20 and all(t.kind == "track" for t in first.tracks)
    assert [s.reason for s in first.skipped] == ["not a music track"]


async def test_demo_playlist_tracks_capped() -> None:
    found = await DemoCatalog().playlist_tracks(PLAYLIST_ID, 3)
    assert len(found.tracks) == 3 and found.skipped == ()


async def test_demo_playlist_unknown_raises_not_found() -> None:
    with pytest.raises(SpotifyNotFound):
        await DemoCatalog().playlist_tracks("0" * 22, 50)
