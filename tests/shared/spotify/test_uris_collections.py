from __future__ import annotations

import pytest

from shared.spotify.uris import CollectionRef, parse_collection, parse_ref

ID = "4aawyAB9vmqN3uQ7FjRGTy"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"spotify:album:{ID}", "album"),
        (f" spotify:playlist:{ID} ", "playlist"),
        (f"https://open.spotify.com/album/{ID}?si=abc", "album"),
        (f"https://open.spotify.com/intl-de/playlist/{ID}", "playlist"),
    ],
)
def test_parse_collection_album_and_playlist_refs(text: str, kind: str) -> None:
    assert parse_collection(text) == CollectionRef(kind, ID)  # type: ignore[arg-type]
    assert parse_ref(text) is None


@pytest.mark.parametrize(
    "text",
    [f"spotify:track:{ID}", f"spotify:artist:{ID}", "spotify:album:short", "x" * 400, ""],
)
def test_parse_collection_other_text_is_none(text: str) -> None:
    assert parse_collection(text) is None


def test_collection_ref_uri() -> None:
    assert CollectionRef("album", ID).uri == f"spotify:album:{ID}"
