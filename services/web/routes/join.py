"""One-tap guest join: an admin issues an invite with a short-lived, single-use link + QR code.

The link is ``<public_url>/join#<token>``: the token travels in the fragment, which browsers
never send, so it reaches no server or proxy log; the join page's script moves it into the form,
and the POST signs the guest in (the invite's passphrase still works on ``/guest/``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web.auth.common import (
    form_str,
    read_signed_form,
    render_presession_form,
)
from services.web.auth.deps import (
    AdminPageUserDep,
    SessionStoreDep,
    WebSettingsDep,
    read_admin_form,
    request_ip,
)
from services.web.auth.guests import (
    _not_guest_address,
    _parse_guest,
    issue_guest,
    sign_in_guest,
)
from services.web.errors import TooManyRequests
from services.web.identity.emails import normalise_email
from services.web.identity.sessions import SessionUser
from services.web.qr import qr_svg
from services.web.state import LimitsDep, RedisDep, web_state
from services.web.templating import templates
from shared import keys
from shared.clientip import rate_subject
from shared.logs import audit
from shared.queue import records
from shared.queue.errors import RateLimited
from shared.ratelimit import give_back, hit

router = APIRouter()

PURPOSE = "guest-join"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _admin_page(
    request: Request, user: SessionUser, status_code: int = 200, **context: object
) -> Response:
    settings = web_state(request.app).settings
    return templates.TemplateResponse(
        request,
        "auth/join_admin.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "max_days": settings.guest_max_days,
            "ttl_min": settings.join_link_ttl_s // 60,
            **context,
        },
        status_code=status_code,
    )


@router.get("/admin/join")
async def join_form(request: Request, user: AdminPageUserDep) -> Response:
    """Admins: issue a guest invite with a one-tap join link and QR code."""
    return _admin_page(request, user)


@router.post("/admin/join")
async def issue_join_link(
    request: Request, user: AdminPageUserDep, redis: RedisDep, settings: WebSettingsDep
) -> Response:
    """Admins: issue the invite (email, days) and its single-use join link."""
    form = await read_admin_form(request, user)
    email = normalise_email(form_str(form, "email", 254))
    try:
        days = int(form_str(form, "days", 4) or "1")
    except ValueError:
        days = 0
    if email is None or not 1 <= days <= settings.guest_max_days:
        return _admin_page(
            request, user, 400, error="Enter a valid e-mail address and a number of days."
        )
    refusal = await _not_guest_address(redis, settings, email)
    if refusal:
        return _admin_page(request, user, 400, error=refusal)
    passphrase, guest = await issue_guest(redis, email, days, by=user.email)
    token = secrets.token_urlsafe(24)
    record = json.dumps({"email": email, "by": user.email})
    await redis.set(keys.join_link(_digest(token)), record, ex=settings.join_link_ttl_s)
    audit(
        "guest_issue",
        identity=user.email,
        client_ip=request_ip(request),
        path="/admin/join",
        outcome="ok",
        guest=email,
        method="join_link",
    )
    link = f"{settings.public_url.rstrip('/')}/join#{token}"
    return _admin_page(
        request,
        user,
        201,
        issued=guest,
        passphrase=passphrase,
        link=link,
        qr=qr_svg(link, f"QR code of the join link for {email}"),
    )


@router.get("/join")
async def join_page(request: Request, settings: WebSettingsDep) -> Response:
    """The page a join QR code opens: one button signs the guest in."""
    return render_presession_form(request, settings, "auth/join.html", PURPOSE, {})


@router.post("/join")
async def join_sign_in(
    request: Request,
    settings: WebSettingsDep,
    redis: RedisDep,
    store: SessionStoreDep,
    limits: LimitsDep,
) -> Response:
    """Sign a guest in with a join link's token (single use)."""
    form = await read_signed_form(request, settings, PURPOSE)
    ip = request_ip(request)
    limit, subject = limits.guest_login_ip, rate_subject(ip)
    try:
        await hit(redis, limit, subject)  # counted before the check, given back on success
    except RateLimited as exc:
        raise TooManyRequests(str(exc), exc.retry_after_s, html=True) from exc
    token = form_str(form, "token", 128)
    raw = await redis.getdel(keys.join_link(_digest(token))) if token else None
    email = None
    if raw:
        try:
            email = normalise_email(str(json.loads(raw).get("email", "")))
        except (ValueError, AttributeError):
            records.report_damaged("join link", _digest(token)[:12], "not a JSON object")
    stored = await records.execute(redis, "HGET", keys.GUESTS, email, raw=True) if email else None
    guest = _parse_guest(email, stored) if email else None
    if guest is None or guest.expires_at <= time.time():
        audit(
            "login_failed",
            identity=email,
            client_ip=ip,
            path="/join",
            outcome="refused",
            method="join_link",
        )
        return render_presession_form(
            request,
            settings,
            "auth/join.html",
            PURPOSE,
            {"error": "This join link expired or was already used. Ask for a new one."},
            status_code=400,
        )
    await give_back(redis, limit, subject)
    return await sign_in_guest(
        request, store, guest, client_ip=ip, path="/join", method="join_link"
    )
