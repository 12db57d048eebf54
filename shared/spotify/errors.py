"""Spotify errors; ``str(exc)`` is safe to show and never carries a token or secret."""

from __future__ import annotations


class SpotifyError(Exception):
    """Base of every Spotify error."""


class SpotifyNotFound(SpotifyError):
    """Bad or unknown track / episode / album / artist id (400 or 404)."""


class SpotifyRateLimited(SpotifyError):
    """Spotify answered 429 (or the shared flag is still set); retry after ``retry_after_s``."""

    def __init__(self, retry_after_s: int, message: str = "Spotify rate limit reached") -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class SpotifyUpstreamError(SpotifyError):
    """Spotify failed (5xx, transport error, unexpected answer) after bounded retries (502)."""


class SpotifyNotConfigured(SpotifyError):
    """No Spotify app credentials or no house account configured (503)."""


class SpotifyNotConnected(SpotifyError):
    """The user has not linked Spotify, or the link was revoked (503)."""


class SpotifyNoActiveDevice(SpotifyError):
    """Spotify Connect has no active device to play on (503)."""
