from __future__ import annotations

from email.utils import formatdate
from time import time

import httpx
import pytest

from shared.spotify._http import (
    DEFAULT_RETRY_AFTER_S,
    MAX_RETRY_AFTER_S,
    error_reason,
    retry_after_s,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120),
        ("0", 1),
        ("2.5", 3),
        ("", DEFAULT_RETRY_AFTER_S),
        ("soon", DEFAULT_RETRY_AFTER_S),
        ("nan", DEFAULT_RETRY_AFTER_S),
        ("99999999", MAX_RETRY_AFTER_S),
    ],
)
def test_retry_after_s_header_value_parsed_and_bounded(header: str, expected: int) -> None:
    response = httpx.Response(429, headers={"Retry-After": header} if header else {})
    assert retry_after_s(response) == expected


def test_retry_after_s_http_date_converted_to_seconds() -> None:
    response = httpx.Response(429, headers={"Retry-After": formatdate(time() + 90, usegmt=True)})
    assert 85 <= retry_after_s(response) <= 91


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error": {"status": 404, "message": "x", "reason": "NO_ACTIVE_DEVICE"}},
            "HTTP 404: NO_ACTIVE_DEVICE",
        ),
        ({"error": "invalid_grant", "error_description": "revoked"}, "HTTP 404: invalid_grant"),
        ([1, 2], "HTTP 404"),
    ],
)
def test_error_reason_spotify_bodies_reduced_to_short_text(body: object, expected: str) -> None:
    assert error_reason(httpx.Response(404, json=body)) == expected


def test_error_reason_non_json_body_gives_status_only() -> None:
    assert error_reason(httpx.Response(502, text="<html>bad gateway</html>")) == "HTTP 502"
