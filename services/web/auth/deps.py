"""Who is asking: ``PageUserDep`` (pages), ``ReadUserDep`` (GET JSON), ``ActionUserDep`` (POST).

``ActionUserDep`` also enforces CSRF: header ``X-CSRF-Token`` equal to the session's token and a
same-origin ``Origin`` header. Identity always comes from the session, never from a body.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from services.web.auth.common import form_str, read_form
from services.web.errors import Forbidden, LoginRequired, NotSignedIn, WebError
from services.web.identity.csrf import same_origin, tokens_equal
from services.web.identity.oidc import OIDCClient
from services.web.identity.sessions import (
    GUEST_ENDED_URL,
    SessionStore,
    SessionUser,
    ended_as_guest,
    session_id_from,
)
from services.web.settings import WebSettings
from services.web.state import web_state
from shared.clientip import client_ip
from shared.spotify.tokens import UserTokenStore

__all__ = [
    "ActionUserDep",
    "AdminPageUserDep",
    "OIDCDep",
    "PageUserDep",
    "ReadUserDep",
    "SessionStoreDep",
    "SessionUser",
    "TokenStoreDep",
    "WebSettingsDep",
    "get_optional_user",
    "request_ip",
]

CSRF_HEADER = "x-csrf-token"


# The dependencies are async on purpose: FastAPI runs a plain ``def`` one in a worker thread.
async def get_web_settings(request: Request) -> WebSettings:
    return web_state(request.app).settings


async def get_session_store(request: Request) -> SessionStore:
    return web_state(request.app).sessions


async def get_oidc(request: Request) -> OIDCClient:
    return web_state(request.app).oidc


async def get_token_store(request: Request) -> UserTokenStore:
    return web_state(request.app).user_tokens


WebSettingsDep = Annotated[WebSettings, Depends(get_web_settings)]
SessionStoreDep = Annotated[SessionStore, Depends(get_session_store)]
OIDCDep = Annotated[OIDCClient, Depends(get_oidc)]
TokenStoreDep = Annotated[UserTokenStore, Depends(get_token_store)]


def request_ip(request: Request) -> str:
    return client_ip(request, web_state(request.app).settings.trusted_proxies)


# The identity of a big-screen session an admin creates (services.web.routes.tv): read-only.
SCREEN_EMAIL = "screen@andre"


async def get_optional_user(request: Request) -> SessionUser | None:
    """The signed-in user, or None; looked up once per request."""
    if "andre_user" in request.scope:
        return request.scope["andre_user"]  # type: ignore[no-any-return]
    state = web_state(request.app)
    settings = state.settings
    session_id = session_id_from(request, settings)
    user = None
    if session_id:
        record = await state.sessions.load(session_id)
        if record is not None and not (
            record.is_guest
            or settings.is_dev
            or settings.email_domain_allowed(record.email)
            or record.email == SCREEN_EMAIL  # an admin made it (services.web.routes.tv)
        ):
            # A domain taken off ANDRE_ALLOWED_EMAIL_DOMAINS is out at its next request (prod:
            # every non-guest session there came through the same check at sign-in).
            record = None
        if record is not None:
            # Admin rights follow the current ANDRE_ADMIN_EMAILS, not the list at sign-in: an
            # admin taken off it loses them at the next request, not when the session ends.
            is_admin = record.is_admin and settings.is_admin(record.email) and not record.is_guest
            user = replace(record.user(), is_admin=is_admin)
    request.scope["andre_user"] = user
    return user


async def get_page_user(request: Request) -> SessionUser:
    user = await get_optional_user(request)
    if user is None:
        state = web_state(request.app)
        session_id = session_id_from(request, state.settings)
        if await ended_as_guest(state.redis, session_id):
            # Told why on the guest sign-in page, not dropped on a bare one.
            raise LoginRequired(GUEST_ENDED_URL)
        raise LoginRequired
    return user


async def get_admin_page_user(request: Request) -> SessionUser:
    user = await get_page_user(request)
    if not user.is_admin:
        raise Forbidden(
            "Only admins can do that. An admin is a signed-in account listed in ANDRE_ADMIN_EMAILS"
            " (comma list; in dev too): ask whoever runs Andre to add you, then sign in again.",
            html=True,
        )
    return user


async def get_read_user(request: Request) -> SessionUser:
    user = await get_optional_user(request)
    if user is None:
        raise NotSignedIn("Not signed in")
    return user


def check_csrf(request: Request, user: SessionUser, supplied: str) -> None:
    """Raise 403 unless the Origin is ours and the token is the session's (constant-time)."""
    if not same_origin(request, web_state(request.app).settings):
        raise Forbidden("Cross-origin request refused")
    if not tokens_equal(supplied, user.csrf_token):
        raise Forbidden("Missing or invalid CSRF token")


async def read_admin_form(request: Request, user: SessionUser) -> FormData:
    """An admin page's form post, refused with a 403 page unless it is same-origin and carries
    the session's CSRF token."""
    form = await read_form(request)
    try:
        check_csrf(request, user, form_str(form, "csrf_token"))
    except WebError as exc:
        raise Forbidden(exc.message, html=True) from exc
    return form


async def get_action_user(request: Request) -> SessionUser:
    user = await get_optional_user(request)
    if user is None:
        raise NotSignedIn("Not signed in")
    check_csrf(request, user, request.headers.get(CSRF_HEADER, ""))
    if user.email == SCREEN_EMAIL:
        raise Forbidden("This screen is read-only")
    return user


PageUserDep = Annotated[SessionUser, Depends(get_page_user)]
AdminPageUserDep = Annotated[SessionUser, Depends(get_admin_page_user)]
ReadUserDep = Annotated[SessionUser, Depends(get_read_user)]
ActionUserDep = Annotated[SessionUser, Depends(get_action_user)]
