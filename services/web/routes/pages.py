"""HTML pages of the app (the app page, history)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
