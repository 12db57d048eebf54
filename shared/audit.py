"""The one audit helper both services wrap their actions in: one line per action, done or refused,
with the same fields everywhere (``action``, ``identity``, ``client_ip``, ``path``, ``outcome``,
``reason`` when refused, and the action's details)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.requests import Request

from shared.logs import audit

AUDIT_TEXT_MAX = 128  # ids and names from a body can be any length; an audit line stays small


def _clip(value: Any) -> Any:
    return value[:AUDIT_TEXT_MAX] if isinstance(value, str) else value


@contextmanager
def audited(
    request: Request, identity: str, action: str, *, client_ip: str | None, **details: Any
) -> Iterator[dict[str, Any]]:
    """One audit line for the action in the block: ``ok``, or ``refused`` with the error's class
    name as ``reason``; the block may add details (e.g. how a moderation action was decided).
    Client-sent text is clipped. Never pass a secret as a detail."""
    extra = {key: _clip(value) for key, value in details.items()}
    path = request.scope["path"]  # as the auth layer's lines give it (no URL built for it)
    try:
        yield extra
    except Exception as exc:
        reason = type(exc).__name__
        audit(
            action,
            identity=identity,
            client_ip=client_ip,
            path=path,
            outcome="refused",
            reason=reason,
            **extra,
        )
        raise
    audit(action, identity=identity, client_ip=client_ip, path=path, outcome="ok", **extra)
