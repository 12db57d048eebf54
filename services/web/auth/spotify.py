"""Linking the signed-in user's own Spotify (PKCE, server-side state) and handing out its token."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import RedirectResponse, Response

from services.web.auth.deps import (
    ActionUserDep,
    PageUserDep,
    ReadUserDep,
    TokenStoreDep,
    WebSettingsDep,
    request_ip,
)
from services.web.auth.flows import new_state, save_flow, take_flow
from services.web.errors import TooManyRequests, error_response
from services.web.identity.csrf import tokens_equal
from services.web.state import HttpDep, LimitsDep, RedisDep
from shared.http_errors import domain_status
from shared.logs import audit
from shared.queue.errors import RateLimited
from shared.ratelimit import hit
from shared.spotify import oauth
from shared.spotify.errors import SpotifyError, SpotifyNotConnected

router = APIRouter()
FLOW_KIND = "spotify"
DEMO_MESSAGE = "Spotify is not configured on this server (demo mode): nothing to link"
NOT_LINKED = "Spotify not linked"


@router.get("/spotify/connect")
async def connect_spotify(
    request: Request,
    user: PageUserDep,
    settings: WebSettingsDep,
    redis: RedisDep,
    limits: LimitsDep,
) -> Response:
    """Send the browser to Spotify to link the signed-in user's own account."""
    if not settings.spotify_configured:
        return error_response(request, 503, DEMO_MESSAGE, html=True)
    try:
        await hit(redis, limits.spotify_connect, user.email)
    except RateLimited as exc:
        raise TooManyRequests(str(exc), exc.retry_after_s, html=True) from exc
    state = new_state()
    verifier = oauth.new_code_verifier()
    await save_flow(
        redis,
        settings,
        state,
        {"kind": FLOW_KIND, "email": user.email, "verifier": verifier, "created_at": time.time()},
    )
    url = oauth.authorize_url(settings, state, oauth.code_challenge(verifier))
    return RedirectResponse(url, status_code=302)


@router.get("/spotify/callback")
async def finish_spotify_link(
    request: Request,
    user: PageUserDep,
    settings: WebSettingsDep,
    redis: RedisDep,
    http: HttpDep,
    tokens: TokenStoreDep,
) -> Response:
    """Store the user's Spotify tokens (encrypted) and go back to the app."""
    if not settings.spotify_configured:
        return error_response(request, 503, DEMO_MESSAGE, html=True)
    params = request.query_params
    flow = await take_flow(redis, params.get("state", ""), FLOW_KIND)
    ip = request_ip(request)
    # The state must have been issued to this very user: no linking someone else's account.
    if flow is None or not tokens_equal(str(flow.get("email", "")), user.email):
        audit(
            "spotify_link",
            identity=user.email,
            client_ip=ip,
            path="/spotify/callback",
            outcome="refused",
            reason="bad_state",
        )
        return error_response(
            request, 400, "This Spotify link expired or was already used; start again", html=True
        )
    code = params.get("code", "")
    if params.get("error") or not code or len(code) > 2048:
        audit(
            "spotify_link",
            identity=user.email,
            client_ip=ip,
            path="/spotify/callback",
            outcome="refused",
            reason="provider_error",
        )
        return error_response(request, 400, "Spotify did not link your account", html=True)
    try:
        token_set = await oauth.exchange_code(http, settings, code, str(flow["verifier"]))
        await tokens.save(user.email, token_set)
    except SpotifyError as exc:
        audit(
            "spotify_link",
            identity=user.email,
            client_ip=ip,
            path="/spotify/callback",
            outcome="failed",
            reason=type(exc).__name__,
        )
        return error_response(request, domain_status(exc), str(exc), html=True)
    audit("spotify_link", identity=user.email, client_ip=ip, path="/spotify/callback", outcome="ok")
    return RedirectResponse("/", status_code=303)


@router.get("/spotify/token")
async def get_spotify_token(
    user: ReadUserDep, settings: WebSettingsDep, http: HttpDep, tokens: TokenStoreDep
) -> JSONResponse:
    """The signed-in user's own short-lived Spotify access token, for in-browser playback."""
    if not settings.spotify_configured:
        return JSONResponse({"error": DEMO_MESSAGE}, status_code=503)
    if await tokens.load(user.email) is None:
        return JSONResponse({"error": NOT_LINKED}, status_code=404)
    try:
        current = await tokens.current(user.email, http, settings)
    except SpotifyNotConnected:
        return JSONResponse({"error": NOT_LINKED}, status_code=409)
    expires_in = max(0, int(current.expires_at - time.time()))
    return JSONResponse({"access_token": current.access_token, "expires_in": expires_in})


@router.post("/spotify/disconnect")
async def disconnect_spotify(
    request: Request, user: ActionUserDep, tokens: TokenStoreDep
) -> JSONResponse:
    """Forget the signed-in user's Spotify tokens."""
    await tokens.delete(user.email)
    audit(
        "spotify_unlink",
        identity=user.email,
        client_ip=request_ip(request),
        path="/spotify/disconnect",
        outcome="ok",
    )
    return JSONResponse({"ok": True})
