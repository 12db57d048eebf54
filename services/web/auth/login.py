"""``GET /login/`` starts OIDC (state, nonce, PKCE); ``GET /auth/callback`` finishes it."""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from services.web.auth.common import is_loopback_client
from services.web.auth.deps import (
    OIDCDep,
    SessionStoreDep,
    WebSettingsDep,
    get_optional_user,
    request_ip,
)
from services.web.auth.flows import new_state, save_flow, take_flow
from services.web.errors import TooManyRequests, error_response
from services.web.identity.csrf import (
    binding_digest,
    ensure_presession,
    presession_value,
    set_presession_cookie,
    tokens_equal,
)
from services.web.identity.oidc import OIDCError, new_code_verifier
from services.web.identity.sessions import sign_in
from services.web.state import LimitsDep, RedisDep
from services.web.templating import templates
from shared.clientip import rate_subject
from shared.logs import audit
from shared.queue.errors import RateLimited
from shared.ratelimit import hit

router = APIRouter()
FLOW_KIND = "oidc"


def _refused(request: Request, exc: OIDCError, identity: str | None = None) -> Response:
    audit(
        "login_failed",
        identity=identity,
        client_ip=request_ip(request),
        path=request.url.path,
        outcome="refused",
        method="oidc",
        reason=exc.reason,
    )
    return error_response(request, exc.status_code, str(exc), html=True)


@router.get("/login/")
async def start_login(
    request: Request,
    settings: WebSettingsDep,
    redis: RedisDep,
    oidc: OIDCDep,
    limits: LimitsDep,
) -> Response:
    """Send the browser to the identity provider (or to the app if already signed in)."""
    if await get_optional_user(request) is not None:
        return RedirectResponse("/", status_code=302)
    if "signed_out" in request.query_params:
        # After sign-out, going straight to the provider would sign the user right back in.
        return templates.TemplateResponse(request, "auth/signed_out.html", {})
    if not settings.oidc_configured:
        if settings.is_dev and is_loopback_client(request, settings):
            return RedirectResponse("/login/dev", status_code=302)
        return templates.TemplateResponse(
            request, "auth/login_unavailable.html", {}, status_code=503
        )
    try:
        await hit(redis, limits.login_start_ip, rate_subject(request_ip(request)))
    except RateLimited as exc:
        raise TooManyRequests(str(exc), exc.retry_after_s, html=True) from exc
    try:
        meta = await oidc.metadata()
    except OIDCError as exc:
        return _refused(request, exc)
    presession, is_new = ensure_presession(request, settings)
    state, nonce = new_state(), secrets.token_urlsafe(32)
    verifier = new_code_verifier()
    await save_flow(
        redis,
        settings,
        state,
        {
            "kind": FLOW_KIND,
            "nonce": nonce,
            "verifier": verifier,
            "binding": binding_digest(settings, presession),
            "created_at": time.time(),
        },
    )
    url = oidc.authorization_url(meta, state=state, nonce=nonce, code_verifier=verifier)
    response = RedirectResponse(url, status_code=302)
    if is_new:
        set_presession_cookie(response, settings, presession)
    return response


@router.get("/auth/callback")
async def finish_login(
    request: Request,
    settings: WebSettingsDep,
    redis: RedisDep,
    oidc: OIDCDep,
    store: SessionStoreDep,
) -> Response:
    """Check the provider's answer and start a session; every failure is refused and audited."""
    params = request.query_params
    flow = await take_flow(redis, params.get("state", ""), FLOW_KIND)
    if flow is None:
        return _refused(
            request,
            OIDCError(
                "This sign-in link expired or was already used; start again",
                "bad_state",
                status_code=400,
            ),
        )
    # The flow must come back to the browser that started it (no login CSRF via a forwarded URL).
    if not tokens_equal(
        binding_digest(settings, presession_value(request, settings)), str(flow.get("binding", ""))
    ):
        return _refused(
            request, OIDCError("Start sign-in again from this browser", "binding", status_code=400)
        )
    if params.get("error"):
        return _refused(request, OIDCError("The provider did not sign you in", "provider_error"))
    code = params.get("code", "")
    if not code or len(code) > 2048:
        return _refused(request, OIDCError("Missing sign-in code", "no_code", status_code=400))
    try:
        meta = await oidc.metadata()
        id_token = await oidc.exchange_code(meta, code, str(flow["verifier"]))
        identity = await oidc.verify_id_token(meta, id_token, str(flow["nonce"]))
    except OIDCError as exc:
        return _refused(request, exc)
    if not settings.email_domain_allowed(identity.email):
        return _refused(
            request,
            OIDCError("This e-mail domain is not allowed to sign in", "domain"),
            identity=identity.email,
        )
    return await sign_in(
        request,
        store,
        email=identity.email,
        name=identity.name,
        is_admin=settings.is_admin(identity.email),
        client_ip=request_ip(request),
        path="/auth/callback",
        method="oidc",
    )
