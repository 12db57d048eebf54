"""Spotify Connect for the house account (``ANDRE_SPOTIFY_EMAIL``): devices, transfer, status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.api.auth import IdentityDep
from services.api.body import (
    MAX_DEVICE_ID_LEN,
    TransferBody,
    documented,
    optional_bool,
    read_object,
    required_str,
)
from services.api.deps import ConnectDep, SettingsDep
from services.api.errors import ApiError, error_docs
from services.api.routes.queue import Ok, ok
from shared.audit import audited

router = APIRouter(
    prefix="/spotify",
    tags=["spotify"],
    responses=error_docs(
        {404: "Spotify refused the request (unknown device)", 502: "Spotify upstream error"}
    ),
)


def _house_account(email: str) -> str:
    if not email:
        raise ApiError(503, "ANDRE_SPOTIFY_EMAIL not configured")
    return email


@router.get("/devices", response_model=dict[str, Any])
async def list_devices(settings: SettingsDep, connect: ConnectDep) -> JSONResponse:
    """The house account's Spotify Connect devices (Spotify's JSON)."""
    return JSONResponse(await connect.devices(_house_account(settings.spotify_email)))


@router.post("/transfer", response_model=Ok, openapi_extra=documented(TransferBody))
async def transfer_playback(
    request: Request, identity: IdentityDep, settings: SettingsDep, connect: ConnectDep
) -> Response:
    """Move the house account's playback to ``device_id`` (and start it unless play=false)."""
    email = _house_account(settings.spotify_email)
    data = await read_object(request)
    device_id = required_str(data, "device_id", max_len=MAX_DEVICE_ID_LEN)
    play = optional_bool(data, "play", True)
    with audited(
        request,
        identity.email,
        "spotify.transfer",
        client_ip=request.state.client_ip,
        device_id=device_id,
        play=play,
    ):
        await connect.transfer(email, device_id, play)
    return ok()


@router.get("/status", response_model=dict[str, Any] | None)
async def show_status(settings: SettingsDep, connect: ConnectDep) -> JSONResponse:
    """The house account's playback state (Spotify's JSON), or null when nothing is active."""
    return JSONResponse(await connect.status(_house_account(settings.spotify_email)))
