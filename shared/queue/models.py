"""Shapes of queue items, now playing and history (DESIGN §4.3), shared by every service."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, Field


class Song(Protocol):
    """What the queue needs of a playable thing; the catalog's ``Track`` (and ``Item``) are one."""

    @property
    def uri(self) -> str: ...  # spotify:track:... or spotify:episode:...
    @property
    def title(self) -> str: ...
    @property
    def artist(self) -> str: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def img(self) -> str: ...
    @property
    def big_img(self) -> str: ...


def song_fields(song: Song) -> dict[str, Any]:
    """The song's part of an item record: the one song-to-record mapping."""
    return {
        "uri": song.uri,
        "title": song.title,
        "artist": song.artist,
        "duration_ms": int(song.duration_ms),
        "img": song.img,
        "big_img": song.big_img,
    }


def is_music_track(uri: str) -> bool:
    """A track, not a podcast episode: only tracks feed Bender's filter."""
    return not uri.startswith("spotify:episode:")


class Comment(BaseModel):
    user: str
    text: str
    time: float  # unix seconds


class Item(BaseModel):
    """One song in the queue (or the Bender preview, or the playing song)."""

    id: str
    uri: str  # spotify:track:... or spotify:episode:...
    title: str
    artist: str
    duration_ms: int
    img: str = ""
    big_img: str = ""
    user: str  # e-mail of whoever added it; the Bender user for auto-fill
    votes: int = 0
    jams: list[str] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)
    auto: bool = False
    added_at: float  # unix seconds


class QueueView(BaseModel):
    queue: list[Item]
    preview: Item | None = None


class NowPlaying(Item):
    """The playing song; ``{}`` on the wire when idle."""

    pos_ms: int
    paused: bool
    started_at: float  # unix seconds when the song started (wall clock)
    server_time: float  # unix seconds when this view was computed


class Play(Item):
    ended_at: float


class SearchResult(BaseModel):
    uri: str
    title: str
    artist: str
    album: str
    duration_ms: int
    img: str = ""
