"""Parse what people paste (Spotify URIs and open.spotify.com links) into a typed reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["track", "episode"]
CollectionKind = Literal["album", "playlist"]

_ID = r"[0-9A-Za-z]{22}"
_URI_RE = re.compile(rf"spotify:(track|episode):({_ID})")
# open.spotify.com/track/ID, optionally with a locale segment (/intl-de/) and a query (?si=...).
_URL_RE = re.compile(
    rf"https://open\.spotify\.com/(?:intl-[A-Za-z-]{{2,10}}/)?(track|episode)/({_ID})"
    r"/?(?:[?#][^\s]*)?"
)
_COLLECTION_URI_RE = re.compile(rf"spotify:(album|playlist):({_ID})")
_COLLECTION_URL_RE = re.compile(
    rf"https://open\.spotify\.com/(?:intl-[A-Za-z-]{{2,10}}/)?(album|playlist)/({_ID})"
    r"/?(?:[?#][^\s]*)?"
)
_MAX_LEN = 300  # longer input is never a reference; refuse before running any regex on it
# For schemas (OpenAPI): what parse_ref accepts, surrounding whitespace aside.
REF_PATTERN = rf"^(?:{_URI_RE.pattern}|{_URL_RE.pattern})$"


@dataclass(frozen=True, slots=True)
class SpotifyRef:
    kind: Kind
    id: str

    @property
    def uri(self) -> str:
        return f"spotify:{self.kind}:{self.id}"


def _kind_and_id(text: str, uri_re: re.Pattern[str], url_re: re.Pattern[str]) -> tuple[str, str]:
    """(kind, id) of a ``spotify:<kind>:<id>`` URI or open.spotify.com link; ("", "") if neither."""
    if not isinstance(text, str) or len(text) > _MAX_LEN:
        return "", ""
    value = text.strip()
    match = uri_re.fullmatch(value) or url_re.fullmatch(value)
    return ("", "") if match is None else (match.group(1), match.group(2))


def parse_ref(text: str) -> SpotifyRef | None:
    """A track or episode reference, or None when ``text`` is neither."""
    kind, ref_id = _kind_and_id(text, _URI_RE, _URL_RE)
    if not kind:
        return None
    return SpotifyRef(kind="track" if kind == "track" else "episode", id=ref_id)


@dataclass(frozen=True, slots=True)
class CollectionRef:
    """An album or playlist: adding one queues its tracks (``shared.adding``)."""

    kind: CollectionKind
    id: str

    @property
    def uri(self) -> str:
        return f"spotify:{self.kind}:{self.id}"


def parse_collection(text: str) -> CollectionRef | None:
    """An album or playlist reference, or None when ``text`` is neither."""
    kind, ref_id = _kind_and_id(text, _COLLECTION_URI_RE, _COLLECTION_URL_RE)
    if not kind:
        return None
    return CollectionRef(kind="album" if kind == "album" else "playlist", id=ref_id)


def is_spotify_id(value: str) -> bool:
    """A bare 22-character base62 Spotify id (artist, album, track...)."""
    return bool(re.fullmatch(_ID, value))
