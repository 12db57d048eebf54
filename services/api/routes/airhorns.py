"""Airhorns over the API: blast one at the playing song, list the names and the recent blasts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.api.body import json_body
from services.api.deps import IdentityDep, RedisDep, RulesDep, caller_ip
from services.api.errors import error_docs
from services.api.routes import PREFIX
from services.api.scopes import needs
from shared.audit import audited
from shared.bodies import AirhornBody
from shared.queue import airhorns

router = APIRouter(prefix=PREFIX, tags=["airhorns"])


@router.post(
    "/airhorn",
    openapi_extra=needs("control", AirhornBody),
    responses=error_docs(
        {
            400: "Unknown airhorn (GET /api/airhorns lists the names)",
            409: "Nothing is playing",
            429: "Too many airhorns from this identity in the window (Retry-After)",
        }
    ),
)
async def blast_airhorn(
    body: Annotated[AirhornBody, json_body(AirhornBody)],
    request: Request,
    redis: RedisDep,
    identity: IdentityDep,
    rules: RulesDep,
) -> JSONResponse:
    """Blast a named airhorn at the playing song as the token's identity (the room's cap per
    identity and window applies)."""
    name = airhorns.check_name(body.name)
    with audited(
        request, identity.email, "airhorn", client_ip=caller_ip(request), horn=name, free=False
    ):
        await airhorns.blast_airhorn(redis, identity.email, name, rules=rules)
    return JSONResponse({"ok": True})


@router.get("/airhorns", openapi_extra=needs("read"))
async def list_airhorns(redis: RedisDep) -> dict[str, Any]:
    """The airhorn names, and the recent blasts, newest first."""
    recent = list(reversed(await airhorns.recent_airhorns(redis)))
    return {"names": list(airhorns.AIRHORN_NAMES), "recent": recent}
