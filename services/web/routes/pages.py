"""HTML pages of the app (the app page, history); their data comes from the JSON actions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from services.web.auth.deps import PageUserDep, SessionUser
from services.web.routes.deps import CatalogDep
from services.web.state import RedisDep, web_state
from services.web.templating import STATIC_DIR, templates
from shared.queue.airhorns import AIRHORN_NAMES, get_free_airhorns

router = APIRouter()

# Button labels for the sounds the page synthesises (static/js/horns.js).
_HORN_LABELS = {"sadtrombone": "Sad trombone", "rimshot": "Rimshot", "foghorn": "Foghorn"}


def _context(request: Request, user: SessionUser, page: str) -> dict[str, Any]:
    return {
        "user": user,
        "csrf_token": user.csrf_token,
        "page": page,
        "bender_email": web_state(request.app).settings.bender_email,
    }


@router.get("/", response_class=HTMLResponse)
async def app_page(
    request: Request, user: PageUserDep, catalog: CatalogDep, redis: RedisDep
) -> HTMLResponse:
    """The app: now playing, the queue, search, airhorns and listen-along."""
    context = _context(request, user, "app")
    context["free_horns"] = await get_free_airhorns(redis, user.email)
    context["free_jams"] = web_state(request.app).settings.airhorn_free_jams
    horns = [(name, _HORN_LABELS.get(name, name.capitalize())) for name in AIRHORN_NAMES]
    context.update(demo=catalog.is_demo, airhorns=horns)
    return templates.TemplateResponse(request, "app.html", context)


@router.get("/history/", response_class=HTMLResponse)
async def history_page(request: Request, user: PageUserDep) -> HTMLResponse:
    """Recently played songs (the JSON is at GET /history)."""
    return templates.TemplateResponse(request, "history.html", _context(request, user, "history"))


@router.get("/api-reference/", response_class=HTMLResponse)
async def api_reference_page(request: Request, user: PageUserDep) -> HTMLResponse:
    """The REST API's reference, drawn in the browser from /api/openapi.json with a pasted token."""
    return templates.TemplateResponse(
        request, "api_reference.html", _context(request, user, "api-reference")
    )


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    """Browsers ask for this on every page that names no icon (the sign-in pages)."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")
