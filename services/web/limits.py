"""The web's rate limits, built once from settings (``ANDRE_<BUCKET>_MAX`` per ``_WINDOW_S``).

The bucket names are the Redis key names (``rate:<bucket>:<subject>``); the numbers live only in
``services.web.settings``.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.web.settings import WebSettings
from shared.ratelimit import Limit


def _limit(settings: WebSettings, bucket: str) -> Limit:
    max_hits: int = getattr(settings, f"{bucket}_max")
    window_s: int = getattr(settings, f"{bucket}_window_s")
    return Limit(bucket, max_hits=max_hits, window_s=window_s)


@dataclass(frozen=True)
class WebLimits:
    # Per person, browser actions. Every change is broadcast to every open page (a queue_update
    # carries the whole queue): far above what a person clicks, far below a script flooding
    # everyone's event streams.
    add: Limit
    airhorn: Limit
    comment: Limit
    search: Limit  # each search may cost Spotify requests on the shared app quota
    action: Limit
    filter: Limit  # each Filter writes a 7-day key (Redis is noeviction)
    # Sign-in. Each OIDC start stores a flow record in Redis (noeviction): generous, because a
    # whole office may share one address.
    login_start_ip: Limit
    sign_in_email: Limit
    # Failed guest sign-ins, per client IP and per e-mail (a botnet still meets the e-mail limit).
    guest_login_ip: Limit
    guest_login_email: Limit
    spotify_connect: Limit

    @classmethod
    def from_settings(cls, settings: WebSettings) -> WebLimits:
        return cls(
            add=_limit(settings, "web_add"),
            airhorn=_limit(settings, "web_airhorn"),
            comment=_limit(settings, "web_comment"),
            search=_limit(settings, "web_search"),
            action=_limit(settings, "web_action"),
            filter=_limit(settings, "web_filter"),
            login_start_ip=_limit(settings, "login_start_ip"),
            sign_in_email=_limit(settings, "sign_in_email"),
            guest_login_ip=_limit(settings, "guest_login_ip"),
            guest_login_email=_limit(settings, "guest_login_email"),
            spotify_connect=_limit(settings, "spotify_connect"),
        )
