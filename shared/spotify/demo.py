"""Built-in demo catalog: invented artists and albums with Spotify's metadata shape, no audio.

Used when no Spotify credentials are configured, so a fresh checkout runs end to end. Ids are
derived from the names (stable across restarts and processes); artwork is a generated SVG served
by the web service at a short content-addressed URL (``/art/demo/<key>.svg``, see ``demo_art``),
never inlined: an inline data URI made every queue read and event ~1.5 KB longer per song.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from shared.spotify.catalog import PAGE_SIZE, Skipped, Track, TrackList, clamp_limit
from shared.spotify.errors import SpotifyNotFound
from shared.spotify.uris import is_spotify_id, parse_ref

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def demo_id(kind: str, name: str) -> str:
    """A stable 22-character base62 id for a demo object."""
    n = int.from_bytes(hashlib.sha256(f"andre-demo:{kind}:{name}".encode()).digest(), "big")
    chars = []
    for _ in range(22):
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    return "".join(chars)


def _hue(seed: str) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:2], "big") % 360


def _initials(name: str) -> str:
    words = [w for w in name.replace("&", " ").split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


# Where the web service serves demo artwork, relative to the public origin (same origin as the
# pages and /api/*): items carry this path, never an inline image.
ART_PREFIX = "/art/demo/"
ART_SIZES = (64, 640)
_ART_KEY_LEN = 20  # hex digits of the SVG's sha256: content-addressed, so cacheable for ever


def artwork_svg(name: str, size: int) -> bytes:
    """A square gradient with the name's initials: no script, no external reference."""
    hue = _hue(name)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        'viewBox="0 0 64 64"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="hsl({hue},65%,55%)"/>'
        f'<stop offset="1" stop-color="hsl({(hue + 70) % 360},60%,30%)"/></linearGradient></defs>'
        '<rect width="64" height="64" fill="url(#g)"/>'
        '<text x="32" y="41" font-family="sans-serif" font-size="24" font-weight="bold" '
        f'text-anchor="middle" fill="#fff">{_initials(name)}</text></svg>'
    )
    return svg.encode()


def art_key(svg: bytes) -> str:
    return hashlib.sha256(svg).hexdigest()[:_ART_KEY_LEN]


def artwork(name: str, size: int) -> str:
    """The relative URL of a demo artwork (served by the web service from ``demo_art``)."""
    return f"{ART_PREFIX}{art_key(artwork_svg(name, size))}.svg"


@cache
def _art_table() -> dict[str, bytes]:
    names = [album.title for album in _ALBUMS] + [_SHOW]
    table: dict[str, bytes] = {}
    for name in names:
        for size in ART_SIZES:
            svg = artwork_svg(name, size)
            table[art_key(svg)] = svg
    return table


def demo_art(key: str) -> bytes | None:
    """The SVG behind ``/art/demo/<key>.svg``; None for a key no demo item uses."""
    return _art_table().get(key)


def _duration_ms(seed: str, low_s: int, high_s: int) -> int:
    n = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big")
    return (low_s + n % (high_s - low_s)) * 1000


@dataclass(frozen=True)
class _Album:
    title: str
    artists: tuple[str, ...]
    tracks: tuple[tuple[str, tuple[str, ...]], ...]  # (title, featured artists)


def _album(title: str, artist: str, *tracks: str | tuple[str, tuple[str, ...]]) -> _Album:
    rows = tuple(t if isinstance(t, tuple) else (t, ()) for t in tracks)
    return _Album(title=title, artists=(artist,), tracks=rows)


# Invented names only: no real catalogue is reproduced here.
_ALBUMS: tuple[_Album, ...] = (
    _album(
        "Paper Moons",
        "The Velvet Lanterns",
        "Paper Moons",
        "Streetlight Sonata",
        "Kettle Drum Heart",
        "Slow Parade",
        "Ninth Floor Window",
    ),
    _album(
        "Night Ferry",
        "The Velvet Lanterns",
        "Night Ferry",
        "Harbour Lights",
        ("Fog Signal", ("Lila Moreau",)),
        "Last Crossing",
    ),
    _album(
        "Saltwater Letters",
        "Mira Okafor",
        "Saltwater Letters",
        "Tin Roof Rain",
        "Borrowed Sunday",
        "Lantern Festival",
        "Driftwood",
    ),
    _album("Tidal Hours", "Mira Okafor", "Tidal Hours", "Undertow", "Glass Bottle Blue"),
    _album(
        "Signal Fires",
        "Copper Atlas",
        "Signal Fires",
        "Northern Grid",
        "Magnetic North",
        ("Cartographer", ("Lila Moreau",)),
        "Range Finder",
    ),
    _album(
        "Low Orbit",
        "Juniper & The Static",
        "Low Orbit",
        "Satellite Radio Love",
        "Gravity Assist",
        "Moon Pool",
        "Re-entry",
    ),
    _album(
        "Basement Tapes Vol. 2",
        "Dr. Fennel",
        "Groove Theory",
        "Boiler Room Boogie",
        ("Fuse Box Funk", ("Static Bloom",)),
        "Cassette Deck",
    ),
    _album(
        "Afterglow District",
        "Neon Harbor",
        "Afterglow District",
        "Chrome Coast",
        "Midnight Arcade",
        "Pastel Highway",
        "Vaporline",
    ),
    _album("Quiet Rooms", "Lila Moreau", "Quiet Rooms", "Linen", "Window Seat", "Small Hours"),
    _album(
        "Polaroid Summer",
        "Static Bloom",
        "Polaroid Summer",
        "Skate Park Sunset",
        "Fizz",
        "Rewind Button",
    ),
)

# The demo playlist: the first two tracks of every album, and an episode, which a playlist add
# skips as the real catalog does.
PLAYLIST_NAME = "Andre Office Mix"
PLAYLIST_ID = demo_id("playlist", PLAYLIST_NAME)

_SHOW = "Office Hours with Andre"
_EPISODES = (
    "Episode 12: How to Run a Fair Queue",
    "Episode 13: The Airhorn Question",
)


def _build() -> tuple[list[Track], list[Track], dict[str, list[str]]]:
    tracks: list[Track] = []
    albums_by_artist: dict[str, list[str]] = {}
    for album in _ALBUMS:
        album_id = demo_id("album", album.title)
        img, big_img = artwork(album.title, ART_SIZES[0]), artwork(album.title, ART_SIZES[1])
        for primary in album.artists:
            albums_by_artist.setdefault(demo_id("artist", primary), []).append(album_id)
        for title, featured in album.tracks:
            names = album.artists + featured
            tracks.append(
                Track(
                    uri=f"spotify:track:{demo_id('track', f'{album.title}/{title}')}",
                    title=title,
                    artist=", ".join(names),
                    album=album.title,
                    album_id=album_id,
                    artist_ids=tuple(demo_id("artist", n) for n in names),
                    artist_names=names,
                    duration_ms=_duration_ms(f"{album.title}/{title}", 120, 360),
                    img=img,
                    big_img=big_img,
                )
            )
    show_id = demo_id("show", _SHOW)
    episodes = [
        Track(
            uri=f"spotify:episode:{demo_id('episode', title)}",
            title=title,
            artist=_SHOW,
            album=_SHOW,
            album_id=show_id,
            duration_ms=_duration_ms(title, 20 * 60, 45 * 60),
            img=artwork(_SHOW, ART_SIZES[0]),
            big_img=artwork(_SHOW, ART_SIZES[1]),
            kind="episode",
        )
        for title in _EPISODES
    ]
    return tracks, episodes, albums_by_artist


class DemoCatalog:
    """The ``Catalog`` interface over a fixed in-memory catalog; behaves like the real client."""

    is_demo: bool = True

    def __init__(self) -> None:
        self._tracks, self._episodes, self._albums_by_artist = _build()
        self._by_uri = {t.uri: t for t in [*self._tracks, *self._episodes]}
        firsts: list[Track] = []
        for album in _ALBUMS:
            firsts.extend([t for t in self._tracks if t.album == album.title][:2])
        self._playlist: list[Track] = [*firsts[:4], self._episodes[0], *firsts[4:]]

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    @property
    def episodes(self) -> list[Track]:
        return list(self._episodes)

    async def lookup(self, uri: str) -> Track:
        ref = parse_ref(uri)
        track = self._by_uri.get(ref.uri) if ref else None
        if track is None:
            raise SpotifyNotFound("Unknown Spotify track or episode")
        return track

    async def search(self, query: str, limit: int = PAGE_SIZE) -> list[Track]:
        terms = query.casefold().split()
        if not terms:
            return []
        found = [
            t
            for t in self._tracks
            if all(term in f"{t.title} {t.artist} {t.album}".casefold() for term in terms)
        ]
        return found[: clamp_limit(limit)]

    async def artist_albums(self, artist_id: str, limit: int = PAGE_SIZE) -> list[str]:
        if not is_spotify_id(artist_id) or artist_id not in self._albums_by_artist:
            raise SpotifyNotFound("Unknown Spotify artist")
        return self._albums_by_artist[artist_id][: clamp_limit(limit)]

    async def album_tracks(self, album_id: str) -> list[Track]:
        found = [t for t in self._tracks if t.album_id == album_id]
        if not found:
            raise SpotifyNotFound("Unknown Spotify album")
        return found

    async def playlist_tracks(self, playlist_id: str, limit: int) -> TrackList:
        if playlist_id != PLAYLIST_ID:
            raise SpotifyNotFound("Unknown Spotify playlist")
        tracks: list[Track] = []
        skipped: list[Skipped] = []
        for entry in self._playlist:
            if len(tracks) >= max(1, int(limit)):
                break
            if entry.kind == "track":
                tracks.append(entry)
            else:
                skipped.append(
                    Skipped(uri=entry.uri, title=entry.title, reason="not a music track")
                )
        return TrackList(tracks=tuple(tracks), skipped=tuple(skipped))

    async def artist_tracks(self, artist_name: str, limit: int = PAGE_SIZE) -> list[Track]:
        name = artist_name.strip().casefold()
        if not name:
            return []
        found = [t for t in self._tracks if name in (n.casefold() for n in t.artist_names)]
        return found[: clamp_limit(limit)]
