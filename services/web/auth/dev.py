"""Dev-only sign-in as any e-mail: ``ANDRE_ENV=dev`` and a loopback client, else 404."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web.auth.common import (
    form_str,
    is_loopback_client,
    read_signed_form,
    render_presession_form,
)
from services.web.auth.deps import SessionStoreDep, WebSettingsDep, request_ip
from services.web.errors import NotFound
from services.web.identity.emails import normalise_email
from services.web.identity.sessions import sign_in
from services.web.settings import WebSettings

router = APIRouter()
PURPOSE = "dev-login"


def _require_dev_loopback(request: Request, settings: WebSettings) -> None:
    # 404, not 403: outside dev on loopback the route does not exist.
    if not settings.is_dev or not is_loopback_client(request, settings):
        raise NotFound("Not found")


@router.get("/login/dev")
async def dev_login_form(request: Request, settings: WebSettingsDep) -> Response:
    """The dev sign-in form (e-mail only)."""
    _require_dev_loopback(request, settings)
    return render_presession_form(
        request, settings, "auth/dev_login.html", PURPOSE, {"admins": settings.admin_emails}
    )


@router.post("/login/dev")
async def dev_login(request: Request, settings: WebSettingsDep, store: SessionStoreDep) -> Response:
    """Sign in as the e-mail given; redirects to the app."""
    _require_dev_loopback(request, settings)
    form = await read_signed_form(request, settings, PURPOSE)
    email = normalise_email(form_str(form, "email"))
    if email is None:
        return render_presession_form(
            request,
            settings,
            "auth/dev_login.html",
            PURPOSE,
            {"error": "Enter a valid e-mail address.", "admins": settings.admin_emails},
            status_code=400,
        )
    return await sign_in(
        request,
        store,
        email=email,
        name=email.split("@", 1)[0],
        is_admin=settings.is_admin(email),
        counted=False,  # dev and loopback only: tests and benchmarks sign in freely
        client_ip=request_ip(request),
        path="/login/dev",
        method="dev",
    )
