"""Every Redis key Andre uses, in one place, all under the ``andre:`` prefix."""

from __future__ import annotations

PREFIX = "andre:"

# Queue state
QUEUE = PREFIX + "queue"  # ZSET item id -> position score (lower plays first)
QUEUE_SEQ = PREFIX + "queue:seq"  # STRING counter for item ids and score spacing
NOW_PLAYING = PREFIX + "now_playing"  # STRING JSON of the playing item and clock
PAUSED = PREFIX + "paused"  # STRING flag
SKIP = PREFIX + "skip"  # STRING flag consumed by the player

# Events and history
EVENTS = PREFIX + "events"  # STREAM of events, bounded
HISTORY = PREFIX + "history"  # LIST of finished plays (JSON), newest first, bounded

# Player
PLAYER_LEADER = PREFIX + "player:leader"  # STRING lock holder id, TTL
PLAYER_HEARTBEAT = PREFIX + "player:heartbeat"  # STRING timestamp, TTL

# Spotify
SPOTIFY_APP_TOKEN = PREFIX + "spotify:app_token"  # STRING client-credentials token, TTL
SPOTIFY_RATE_LIMITED = PREFIX + "spotify:rate_limited"  # STRING flag, TTL = Retry-After


def item(item_id: str) -> str:
    """HASH/JSON record of one queue item."""
    return f"{PREFIX}item:{item_id}"


def item_votes(item_id: str) -> str:
    """SET of users who voted on an item."""
    return f"{PREFIX}item:{item_id}:votes"


def user_tokens(email: str) -> str:
    """Encrypted Spotify OAuth tokens of one user."""
    return f"{PREFIX}spotify:user:{email.lower()}"


def session(session_id_digest: str) -> str:
    """Server-side web session, keyed by a digest of the cookie id."""
    return f"{PREFIX}session:{session_id_digest}"


def rate(bucket: str, subject: str) -> str:
    """Counter for a rate-limit bucket (per user, per client IP, ...)."""
    return f"{PREFIX}rate:{bucket}:{subject}"
