"""Spotify Connect for the house account (``ANDRE_SPOTIFY_EMAIL``): devices, transfer, status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.api.body import json_body
from services.api.deps import ConnectDep, IdentityDep, SettingsDep, caller_ip
from services.api.errors import ApiError, error_docs
from services.api.routes import PREFIX
from services.api.routes.queue import Ok, ok
from services.api.scopes import needs
from shared.audit import audited
from shared.bodies import TransferBody

router = APIRouter(
    prefix=f"{PREFIX}/spotify",
    tags=["spotify"],
    responses=error_docs(
        {404: "Spotify refused the request (unknown device)", 502: "Spotify upstream error"}
    ),
)


def _house_account(email: str) -> str:
    if not email:
        raise ApiError(503, "ANDRE_SPOTIFY_EMAIL not configured")
    return email


@router.get("/devices", response_model=dict[str, Any], openapi_extra=needs("admin"))
async def list_devices(settings: SettingsDep, connect: ConnectDep) -> JSONResponse:
    """The house account's Spotify Connect devices (Spotify's JSON)."""
    return JSONResponse(await connect.devices(_house_account(settings.spotify_email)))


@router.post("/transfer", response_model=Ok, openapi_extra=needs("admin", TransferBody))
async def transfer_playback(
    request: Request,
    identity: IdentityDep,
    settings: SettingsDep,
    connect: ConnectDep,
    body: Annotated[TransferBody, json_body(TransferBody)],
) -> Response:
    """Move the house account's playback to ``device_id`` (and start it unless play=false)."""
    email = _house_account(settings.spotify_email)
    device_id, play = body.device_id, body.play
    with audited(
        request,
        identity.email,
        "spotify.transfer",
        client_ip=caller_ip(request),
        device_id=device_id,
        play=play,
    ):
        await connect.transfer(email, device_id, play)
    return ok()


@router.get("/status", response_model=dict[str, Any] | None, openapi_extra=needs("read"))
async def show_status(settings: SettingsDep, connect: ConnectDep) -> JSONResponse:
    """The house account's playback state (Spotify's JSON), or null when nothing is active."""
    return JSONResponse(await connect.status(_house_account(settings.spotify_email)))
