"""Spotify-shaped JSON for respx routes, and settings with a configured Spotify app."""

from __future__ import annotations

import string
from typing import Any

from shared.settings import AndreSettings

CLIENT_ID = "test-client-id-0123456789"
CLIENT_SECRET = "test-client-secret-abcdefghijklmnop"
SECRET_KEY = "test-secret-key-for-encrypting-user-tokens-0123456789"
API = "https://api.spotify.com/v1"
TOKEN_URL = "https://accounts.spotify.com/api/token"


def settings(**overrides: Any) -> AndreSettings:
    values: dict[str, Any] = {
        "spotify_client_id": CLIENT_ID,
        "spotify_client_secret": CLIENT_SECRET,
        "spotify_market": "DE",
        "secret_key": SECRET_KEY,
        "public_url": "https://andre.example.com",
        "_env_file": None,
    }
    values.update(overrides)
    return AndreSettings(**values)


def sid(n: int, prefix: str = "t") -> str:
    """A valid 22-character base62 id, distinct per (prefix, n)."""
    alphabet = string.digits + string.ascii_letters
    body = f"{prefix}{n}x".ljust(22, "0")[:22]
    assert all(c in alphabet for c in body)
    return body


def images(name: str) -> list[dict[str, Any]]:
    return [
        {"url": f"https://i.scdn.co/image/{name}-640", "width": 640, "height": 640},
        {"url": f"https://i.scdn.co/image/{name}-64", "width": 64, "height": 64},
        {"url": f"https://i.scdn.co/image/{name}-300", "width": 300, "height": 300},
    ]


def artist(n: int, name: str | None = None) -> dict[str, Any]:
    return {
        "id": sid(n, "a"),
        "name": name or f"Artist {n}",
        "uri": f"spotify:artist:{sid(n, 'a')}",
    }


def album(n: int, name: str | None = None) -> dict[str, Any]:
    return {"id": sid(n, "b"), "name": name or f"Album {n}", "images": images(f"album{n}")}


def track(
    n: int, *, artists: list[dict[str, Any]] | None = None, with_album: bool = True
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": sid(n),
        "uri": f"spotify:track:{sid(n)}",
        "name": f"Track {n}",
        "duration_ms": 180_000 + n,
        "artists": artists or [artist(1)],
        "is_local": False,
    }
    if with_album:
        obj["album"] = album(1)
    return obj


def token_body(token: str = "app-token-1", expires_in: int = 3600) -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}


def search_page(start: int, count: int, total: int) -> dict[str, Any]:
    end = start + count
    return {
        "tracks": {
            "items": [track(i) for i in range(start, end)],
            "offset": start,
            "limit": 10,
            "total": total,
            "next": f"{API}/search?offset={end}" if end < total else None,
        }
    }
