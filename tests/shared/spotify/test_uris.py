from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.spotify.uris import REF_PATTERN, SpotifyRef, is_spotify_id, parse_ref

TRACK_ID = "4uLU6hMCjMI75M1A2tKUQC"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"spotify:track:{TRACK_ID}", SpotifyRef("track", TRACK_ID)),
        (f"  spotify:episode:{TRACK_ID}\n", SpotifyRef("episode", TRACK_ID)),
        (f"https://open.spotify.com/track/{TRACK_ID}", SpotifyRef("track", TRACK_ID)),
        (f"https://open.spotify.com/track/{TRACK_ID}?si=abc123", SpotifyRef("track", TRACK_ID)),
        (f"https://open.spotify.com/intl-de/track/{TRACK_ID}", SpotifyRef("track", TRACK_ID)),
        (f"https://open.spotify.com/episode/{TRACK_ID}", SpotifyRef("episode", TRACK_ID)),
    ],
)
def test_parse_ref_valid_reference_returns_kind_and_id(text: str, expected: SpotifyRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "spotify:track:",
        "spotify:track:short",
        f"spotify:album:{TRACK_ID}",
        f"spotify:track:{TRACK_ID}x",
        f"spotify:track:{TRACK_ID[:-1]}!",
        f"http://open.spotify.com/track/{TRACK_ID}",
        f"https://open.spotify.com.evil.example/track/{TRACK_ID}",
        f"https://evil.example/?u=https://open.spotify.com/track/{TRACK_ID}",
        f"https://open.spotify.com/playlist/{TRACK_ID}",
        "x" * 10_000,
    ],
)
def test_parse_ref_invalid_reference_returns_none(text: str) -> None:
    assert parse_ref(text) is None


def test_spotify_ref_uri_round_trips_through_parse_ref() -> None:
    ref = SpotifyRef("episode", TRACK_ID)
    assert ref.uri == f"spotify:episode:{TRACK_ID}"
    assert parse_ref(ref.uri) == ref


def test_is_spotify_id_rejects_non_base62() -> None:
    assert is_spotify_id(TRACK_ID)
    assert not is_spotify_id(TRACK_ID[:-1] + "-")


@given(st.text(max_size=400))
def test_parse_ref_any_text_never_raises_and_round_trips(text: str) -> None:
    ref = parse_ref(text)
    if ref is not None:
        assert parse_ref(ref.uri) == ref


@given(st.sampled_from(["track", "episode"]), st.from_regex(r"[0-9A-Za-z]{22}", fullmatch=True))
def test_parse_ref_generated_uri_parses_back(kind: str, spotify_id: str) -> None:
    ref = parse_ref(f"spotify:{kind}:{spotify_id}")
    assert ref is not None and (ref.kind, ref.id) == (kind, spotify_id)


@given(
    st.one_of(
        st.text(max_size=60),
        st.from_regex(REF_PATTERN, fullmatch=True).filter(lambda t: len(t) <= 300),
    )
)
def test_ref_pattern_matches_exactly_what_parse_ref_accepts(text: str) -> None:
    stripped = text.strip()
    assert (re.fullmatch(REF_PATTERN, stripped) is not None) == (parse_ref(stripped) is not None)
