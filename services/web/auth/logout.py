"""``POST /logout/``: revoke the session (needs the session CSRF token and a same-origin Origin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web.auth.common import form_str, read_form
from services.web.auth.deps import (
    CSRF_HEADER,
    SessionStoreDep,
    WebSettingsDep,
    check_csrf,
    get_optional_user,
    request_ip,
)
from services.web.errors import NotSignedIn
from services.web.identity.sessions import clear_session_cookie, session_id_from
from services.web.templating import templates
from shared.logs import audit

router = APIRouter()


@router.post("/logout/")
async def logout(request: Request, settings: WebSettingsDep, store: SessionStoreDep) -> Response:
    """Sign out: the session is revoked server-side and the cookie cleared."""
    user = await get_optional_user(request)
    if user is None:
        raise NotSignedIn("Not signed in")
    supplied = request.headers.get(CSRF_HEADER, "")
    if not supplied:  # a plain HTML form posts the token as a field
        supplied = form_str(await read_form(request), "csrf_token")
    check_csrf(request, user, supplied)
    await store.revoke(session_id_from(request, settings))
    audit(
        "logout", identity=user.email, client_ip=request_ip(request), path="/logout/", outcome="ok"
    )
    response = templates.TemplateResponse(request, "auth/signed_out.html", {})
    clear_session_cookie(response, settings)
    return response
