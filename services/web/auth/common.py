"""Helpers shared by the sign-in routes: form reading, e-mail checks, loopback, HTML pages."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from services.web.errors import BadRequest, Forbidden
from services.web.identity.csrf import (
    check_form_token,
    ensure_presession,
    form_token,
    same_origin,
    set_presession_cookie,
)
from services.web.settings import WebSettings
from services.web.templating import templates
from shared.clientip import client_ip

MAX_FORM_BYTES = 16 * 1024
DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also passes "²" and "①", which int() refuses


async def read_form(request: Request) -> FormData:
    """A small urlencoded/multipart form, refusing anything big or odd with a 400."""
    length = request.headers.get("content-length")
    if length is not None and (not DIGITS.fullmatch(length) or int(length) > MAX_FORM_BYTES):
        raise BadRequest("Form too large", html=True)
    try:
        return await request.form(max_files=0, max_fields=20)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the client's problem
        raise BadRequest("Malformed form", html=True) from exc


async def read_signed_form(request: Request, settings: WebSettings, purpose: str) -> FormData:
    """A sign-in form's fields, once its Origin is ours and its form token matches (403 else)."""
    form = await read_form(request)
    if not same_origin(request, settings) or not check_form_token(
        request, settings, purpose, form_str(form, "csrf_token")
    ):
        raise Forbidden(
            "The form expired or came from another site; reload and try again", html=True
        )
    return form


def form_str(form: FormData, name: str, max_len: int = 512) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value[:max_len]


def is_loopback_client(request: Request, settings: WebSettings) -> bool:
    """The real client (peer, or X-Forwarded-For via a trusted proxy) is this machine."""
    try:
        addr = ipaddress.ip_address(client_ip(request, settings.trusted_proxies))
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def render_presession_form(
    request: Request,
    settings: WebSettings,
    template: str,
    purpose: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A sign-in form with its pre-session CSRF token (and the cookie it is bound to)."""
    presession, is_new = ensure_presession(request, settings)
    response = templates.TemplateResponse(
        request,
        template,
        {**context, "form_token": form_token(settings, presession, purpose)},
        status_code=status_code,
        headers=headers,
    )
    if is_new:
        set_presession_cookie(response, settings, presession)
    return response
