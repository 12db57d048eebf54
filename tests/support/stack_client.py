"""Clients of a running local stack through Caddy: a bot with the API token, a signed-in person."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.stack import LocalStack

_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def https_client(stack: LocalStack, timeout_s: float = 10) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    return httpx.Client(
        base_url=stack.https, verify=context, timeout=timeout_s, follow_redirects=False
    )


def bot(stack: LocalStack, timeout_s: float = 10) -> httpx.Client:
    """The REST API as a bot: the stack's token on every request."""
    client = https_client(stack, timeout_s)
    client.headers["Authorization"] = f"Bearer {stack.secret('ANDRE_API_TOKEN')}"
    return client


@dataclass
class Person:
    """Someone signed in to the web UI with the dev login (loopback), holding the page's CSRF."""

    client: httpx.Client
    csrf: str
    origin: str

    def act(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.client.post(
            path,
            json=body or {},
            headers={"X-CSRF-Token": self.csrf, "Origin": self.origin},
        )

    def close(self) -> None:
        self.client.close()


def sign_in(stack: LocalStack, email: str, timeout_s: float = 10) -> Person:
    client = https_client(stack, timeout_s)
    form = client.get("/login/dev")
    match = _FORM_TOKEN.search(form.text)
    assert form.status_code == 200 and match, form.text[:300]
    done = client.post(
        "/login/dev",
        data={"email": email, "csrf_token": match.group(1)},
        headers={"Origin": stack.https},
    )
    assert done.status_code in (302, 303), done.text[:300]
    page = client.get("/")
    meta = _META_TOKEN.search(page.text)
    assert page.status_code == 200 and meta, page.text[:300]
    return Person(client=client, csrf=meta.group(1), origin=stack.https)
