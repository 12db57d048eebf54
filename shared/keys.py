"""Every Redis key Andre uses, in one place, all under the ``andre:`` prefix. Values are JSON."""

from __future__ import annotations

PREFIX = "andre:"

# --- queue (shared/queue) -------------------------------------------------------------------
QUEUE = PREFIX + "queue"  # LIST of item ids in play order (exact order; votes swap neighbours)
QUEUE_OWNERS = PREFIX + "queue:owners"  # HASH item id -> lower-cased queuer (round-robin rule)
QUEUE_URIS = PREFIX + "queue:uris"  # HASH item id -> track URI (duplicate adds, issue 14)
QUEUE_SEQ = PREFIX + "queue:seq"  # STRING counter for new item ids
NOW_PLAYING = PREFIX + "now_playing"  # STRING JSON: item + clock fields (see shared.queue.models)
PAUSED = PREFIX + "paused"  # STRING flag, present while paused
SKIP = PREFIX + "skip"  # STRING flag: the player advances and deletes it
PLAYER_WAKE = PREFIX + "player:wake"  # LIST: any push wakes the player at once (BLPOP)
AIRHORNS = PREFIX + "airhorns"  # LIST of recent airhorn JSON records, bounded

# --- events (shared/queue/events) -----------------------------------------------------------
EVENTS = PREFIX + "events"  # STREAM, MAXLEN-bounded; fields: type, data (JSON)

# --- history and Bender (player) ------------------------------------------------------------
HISTORY = PREFIX + "history"  # LIST of finished plays (JSON), newest first, bounded
PREVIEW = PREFIX + "bender:preview"  # STRING JSON item: the next auto-fill suggestion
BENDER_CANDIDATES = PREFIX + "bender:candidates"  # LIST of candidate JSON {uri, title, ...}
BENDER_SEED = PREFIX + "bender:seed"  # STRING URI of the last human-queued track, TTL
BENDER_STREAK_START = PREFIX + "bender:streak_start"  # STRING unix ms (Redis TIME)

# --- player ---------------------------------------------------------------------------------
PLAYER_LEADER = PREFIX + "player:leader"  # STRING lock holder id, TTL
PLAYER_HEARTBEAT = PREFIX + "player:heartbeat"  # STRING timestamp, TTL

# --- Spotify (shared/spotify) ---------------------------------------------------------------
SPOTIFY_APP_TOKEN = PREFIX + "spotify:app_token"  # STRING client-credentials token, TTL
SPOTIFY_RATE_LIMITED = PREFIX + "spotify:rate_limited"  # STRING flag, TTL = Retry-After

# --- web ------------------------------------------------------------------------------------
GUESTS = PREFIX + "guests"  # HASH lower-cased e-mail -> JSON {hash (argon2), expires_at, by}


# Moderation (issue 14): skips, removals, clears and pauses, newest first, bounded.
ROOM_LOG = PREFIX + "room:log"  # LIST of JSON records {kind, by, how, title, ...}


def item_horn_awarded(item_id: str) -> str:
    """STRING flag, 1-day TTL: this item already earned its queuer a free airhorn credit."""
    return f"{PREFIX}item:{item_id}:horn"


def item(item_id: str) -> str:
    """STRING JSON record of one queue item (shared.queue.models.Item)."""
    return f"{PREFIX}item:{item_id}"


def item_votes(item_id: str) -> str:
    """SET of users who voted on an item."""
    return f"{PREFIX}item:{item_id}:votes"


def item_skip_votes(item_id: str) -> str:
    """SET of users who voted to skip the playing item (shared.queue.moderation), TTL."""
    return f"{PREFIX}item:{item_id}:skipvotes"


def item_remove_votes(item_id: str) -> str:
    """SET of users who voted to remove a queued item (shared.queue.moderation), TTL."""
    return f"{PREFIX}item:{item_id}:removevotes"


def join_link(token_digest: str) -> str:
    """STRING JSON {email, by}, TTL: a one-tap guest join link (services.web.routes.join)."""
    return f"{PREFIX}join:{token_digest}"


def filtered(uri: str) -> str:
    """STRING flag with a 7-day TTL: Bender must not suggest this track."""
    return f"{PREFIX}bender:filter:{uri}"


def free_horns(email: str) -> str:
    """STRING counter of a user's free airhorn credits."""
    return f"{PREFIX}airhorn:free:{email.lower()}"


def user_tokens(email: str) -> str:
    """Encrypted Spotify OAuth tokens of one user."""
    return f"{PREFIX}spotify:user:{email.lower()}"


def session(session_id_digest: str) -> str:
    """Server-side web session, keyed by a digest of the cookie id (never the id itself)."""
    return f"{PREFIX}session:{session_id_digest}"


def session_ended(session_id_digest: str) -> str:
    """STRING flag, 1-day TTL: this session was ended because its guest invite was revoked or
    expired, so the browser can be told why instead of landing on a bare sign-in page."""
    return f"{PREFIX}session_ended:{session_id_digest}"


def oauth_flow(state_digest: str) -> str:
    """Short-lived OIDC / Spotify-link flow data (state, nonce, PKCE verifier)."""
    return f"{PREFIX}oauth:{state_digest}"


def stream_leases(kind: str, subject: str) -> str:
    """ZSET lease id -> expiry (unix ms, Redis TIME) of one subject's open event streams, over
    every replica: ``kind`` is ``web`` (per user) or ``api`` (per token identity). TTL."""
    return f"{PREFIX}streams:{kind}:{subject}"


def rate(bucket: str, subject: str) -> str:
    """Counter for a rate-limit bucket (per user, per client IP, ...)."""
    return f"{PREFIX}rate:{bucket}:{subject}"


# The Redis type each fixed key and key family must have, as anchored Lua patterns (most specific
# first). Every Lua script checks its KEYS against this before it writes anything, so a key of the
# wrong type (a hand edit, a bad restore) refuses the change instead of half-applying it.
KEY_TYPES: tuple[tuple[str, str], ...] = (
    ("^andre:queue$", "list"),
    ("^andre:queue:owners$", "hash"),
    ("^andre:queue:uris$", "hash"),
    ("^andre:player:wake$", "list"),
    ("^andre:airhorns$", "list"),
    ("^andre:events$", "stream"),
    ("^andre:history$", "list"),
    ("^andre:bender:candidates$", "list"),
    ("^andre:guests$", "hash"),
    ("^andre:room:log$", "list"),
    ("^andre:item:[^:]+:votes$", "set"),
    ("^andre:item:[^:]+:skipvotes$", "set"),
    ("^andre:item:[^:]+:removevotes$", "set"),
    ("^andre:item:[^:]+:horn$", "string"),
    ("^andre:item:[^:]+$", "string"),
    ("^andre:queue:seq$", "string"),
    ("^andre:now_playing$", "string"),
    ("^andre:paused$", "string"),
    ("^andre:skip$", "string"),
    ("^andre:bender:", "string"),
    ("^andre:player:", "string"),
    ("^andre:airhorn:free:", "string"),
    ("^andre:rate:", "string"),
    ("^andre:streams:", "zset"),
    ("^andre:session_ended:", "string"),
)
