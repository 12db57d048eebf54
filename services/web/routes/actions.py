"""Browser JSON actions: session + CSRF + same origin; identity from the session only."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
