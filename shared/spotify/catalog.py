"""The catalog interface: tracks, search and auto-fill sources (`factory` picks one)."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

TrackKind = Literal["track", "episode"]

# Spotify caps a search page at 10 results (February 2026); callers may ask for more and get
# several pages, but never an unbounded number of requests for one call.
PAGE_SIZE = 10
MAX_SEARCH_LIMIT = 50
MAX_QUERY_LEN = 200


class Track(BaseModel):
    """One playable thing (a track or a podcast episode) with the metadata the queue shows."""

    model_config = ConfigDict(frozen=True)

    uri: str  # spotify:track:<id> or spotify:episode:<id>
    title: str
    artist: str  # every artist name joined by ", " (the show name for an episode)
    album: str = ""  # the show name for an episode
    album_id: str = ""
    artist_ids: tuple[str, ...] = ()
    artist_names: tuple[str, ...] = ()
    duration_ms: int
    img: str = ""  # smallest image
    big_img: str = ""  # largest image
    kind: TrackKind = "track"

    @property
    def id(self) -> str:
        """The bare Spotify id (the part after the last colon of the URI)."""
        return self.uri.rsplit(":", 1)[-1]


class Skipped(BaseModel):
    """An entry of a playlist that cannot be queued (an episode, a local file, a removed track)."""

    model_config = ConfigDict(frozen=True)

    uri: str = ""
    title: str = ""
    reason: str


class TrackList(BaseModel):
    """The playable tracks of a playlist, in order, and the entries that were skipped."""

    model_config = ConfigDict(frozen=True)

    tracks: tuple[Track, ...]
    skipped: tuple[Skipped, ...] = ()


class Catalog(Protocol):
    """What the queue, the search routes and Bender need from Spotify (or the demo catalog).

    Every method raises ``shared.spotify.errors`` exceptions: ``SpotifyNotFound`` for a bad or
    unknown id, ``SpotifyRateLimited`` at once on a 429, ``SpotifyUpstreamError`` after bounded
    retries.
    """

    @property
    def is_demo(self) -> bool: ...

    async def lookup(self, uri: str) -> Track:
        """A track or episode by URI (or open.spotify.com link)."""
        ...

    async def search(self, query: str, limit: int = PAGE_SIZE) -> list[Track]:
        """Tracks matching ``query``, in pages of 10 up to ``limit`` (at most 50)."""
        ...

    async def artist_albums(self, artist_id: str, limit: int = PAGE_SIZE) -> list[str]:
        """Ids of up to ``limit`` albums and singles by the artist."""
        ...

    async def album_tracks(self, album_id: str) -> list[Track]:
        """The album's tracks in order, with the album's name and images filled in."""
        ...

    async def playlist_tracks(self, playlist_id: str, limit: int) -> TrackList:
        """Up to ``limit`` playable tracks of the playlist in order; other entries are skipped."""
        ...

    async def artist_tracks(self, artist_name: str, limit: int = PAGE_SIZE) -> list[Track]:
        """Up to ``limit`` tracks credited to the artist (a search by artist name)."""
        ...


def clamp_limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_SEARCH_LIMIT))
