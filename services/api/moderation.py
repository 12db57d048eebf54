"""Who an API token is for the moderation rules (shared.queue.moderation).

The one place that decides it: a token with the admin scope (``ANDRE_API_ADMIN_TOKENS``) is a
moderation admin; every other token acts as a person (its own songs at once, anyone else's by
one vote). A token is never a guest.
"""

from __future__ import annotations

from services.api.auth import ApiIdentity
from services.api.settings import ApiSettings
from shared.queue.moderation import Actor


def api_actor(identity: ApiIdentity, settings: ApiSettings) -> Actor:
    return Actor(identity.email, is_admin=identity.scope == "admin")
