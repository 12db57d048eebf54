"""Errors every layer may raise and every service maps to HTTP (``shared.http_errors``)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every domain error; ``str(exc)`` is safe to show to the user."""


class RateLimited(DomainError):
    """Too many actions; ``retry_after_s`` goes into the Retry-After header (429)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @classmethod
    def after_ms(cls, what: str, ttl_ms: int) -> RateLimited:
        """Too many ``what`` until a window with ``ttl_ms`` left ends (Retry-After rounds up)."""
        retry = max(1, -(-int(ttl_ms) // 1000))
        return cls(f"Too many {what}; try again in {retry} s", retry)
