"""The HTTP meaning of domain and Spotify errors and of bad bodies: one table for every service."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError

from shared.queue import errors as qerr
from shared.spotify import errors as serr

# Looked up along the exception's MRO, so a subclass inherits its parent's status.
DOMAIN_STATUS: dict[type[Exception], int] = {
    qerr.ItemNotFound: 404,
    qerr.WrongKeyType: 503,  # damage in the store, not the client's doing: before DamagedRecord
    qerr.AlreadyVoted: 409,
    qerr.OwnSongUpvote: 409,
    qerr.NothingPlaying: 409,
    qerr.QueueFull: 409,
    qerr.NoFreeAirhorns: 409,
    qerr.DamagedRecord: 409,
    qerr.NotAllowed: 403,
    qerr.AlreadyQueued: 409,
    qerr.SongPlaying: 409,
    qerr.InvalidInput: 400,
    qerr.RateLimited: 429,
    qerr.DomainError: 400,
    serr.SpotifyNotFound: 404,
    serr.SpotifyRateLimited: 429,
    serr.SpotifyUpstreamError: 502,
    serr.SpotifyNotConfigured: 503,
    serr.SpotifyNotConnected: 503,
    serr.SpotifyNoActiveDevice: 503,
    serr.SpotifyError: 502,
}


def domain_status(exc: Exception) -> int:
    """The status for a domain or Spotify error; 500 for anything the table does not know."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 500


def retry_after_header(exc: Exception) -> dict[str, str]:
    """``Retry-After`` for rate-limit errors, else nothing."""
    retry = getattr(exc, "retry_after_s", None)
    if isinstance(exc, qerr.RateLimited | serr.SpotifyRateLimited) and retry is not None:
        return {"Retry-After": str(max(1, int(retry)))}
    return {}


def describe_validation(exc: RequestValidationError) -> str:
    """Name the first bad field in the house format; never echo the input (FastAPI's 422 does)."""
    for err in exc.errors():
        loc = [
            str(part)
            for part in err.get("loc", ())
            if part not in ("body", "query", "path", "header")
        ]
        field = ".".join(loc)
        if err.get("type") == "missing" and field:
            return f"Missing required field: {field}"
        if err.get("type") in ("json_invalid", "model_attributes_type", "dict_type"):
            return "Body must be a JSON object"
        if field:
            return f"Invalid field: {field}"
    return "Invalid request"
