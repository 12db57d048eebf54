"""The big-screen view (``/tv``): now playing, the next songs, live effects and a join QR code.

A TV runs unattended all day: the page keeps its session alive (a read every few minutes resets
the idle timeout) and its event stream reconnects by itself. An admin can turn a browser into a
read-only screen (``POST /admin/tv``): its session acts as ``screen@andre``, which every action
refuses, so a TV left in a meeting room cannot skip or clear anything.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from services.web.auth.deps import (
    SCREEN_EMAIL,
    AdminPageUserDep,
    PageUserDep,
    SessionStoreDep,
    read_admin_form,
    request_ip,
)
from services.web.identity.sessions import sign_in
from services.web.qr import qr_svg
from services.web.state import web_state
from services.web.templating import templates

router = APIRouter()

UP_NEXT = 5


@router.get("/tv", response_class=HTMLResponse)
async def tv_page(request: Request, user: PageUserDep) -> HTMLResponse:
    """Now playing large, the next five songs, live airhorns and jams, and the join QR code."""
    settings = web_state(request.app).settings
    url = settings.public_url.rstrip("/") + "/"
    return templates.TemplateResponse(
        request,
        "tv.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "page": "tv",
            "bender_email": settings.bender_email,
            "join_url": url,
            "join_qr": qr_svg(url, "QR code: open Andre to add songs", scale=5),
            "up_next": UP_NEXT,
        },
    )


@router.post("/admin/tv")
async def make_screen(request: Request, user: AdminPageUserDep, store: SessionStoreDep) -> Response:
    """Admins: sign this browser in as the read-only screen and open ``/tv``."""
    await read_admin_form(request, user)  # the post is checked; it carries no fields
    return await sign_in(
        request,
        store,
        email=SCREEN_EMAIL,
        name="Screen",
        client_ip=request_ip(request),
        path="/admin/tv",
        method="screen",
        by=user.email,
        to="/tv",
    )
