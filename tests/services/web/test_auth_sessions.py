from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.web.auth.deps import ActionUserDep, PageUserDep, ReadUserDep
from tests.services.web.conftest import PUBLIC_URL, SignedIn, make_client, same_origin


def _probe_routes(app: FastAPI) -> None:
    @app.get("/_probe/page")
    async def probe_page(user: PageUserDep) -> dict[str, str]:
        return {"email": user.email}

    @app.get("/_probe/read")
    async def probe_read(user: ReadUserDep) -> dict[str, str]:
        return {"email": user.email}

    @app.post("/_probe/act")
    async def probe_act(user: ActionUserDep) -> dict[str, str]:
        return {"email": user.email}


async def test_page_dep_no_session_redirects_to_login(
    web_app: FastAPI, web_client: httpx.AsyncClient
) -> None:
    _probe_routes(web_app)
    resp = await web_client.get("/_probe/page")
    assert resp.status_code == 302
    assert resp.headers["location"] == "/login/"


async def test_read_dep_no_session_401_json(
    web_app: FastAPI, web_client: httpx.AsyncClient
) -> None:
    _probe_routes(web_app)
    resp = await web_client.get("/_probe/read")
    assert resp.status_code == 401
    assert resp.json() == {"error": "Not signed in"}


async def test_action_dep_no_session_401_json(
    web_app: FastAPI, web_client: httpx.AsyncClient
) -> None:
    _probe_routes(web_app)
    resp = await web_client.post("/_probe/act", headers=same_origin())
    assert resp.status_code == 401
    assert "error" in resp.json()


async def test_action_dep_signed_in_with_csrf_ok(web_app: FastAPI, signed_in: SignedIn) -> None:
    _probe_routes(web_app)
    resp = await signed_in.client.post("/_probe/act")
    assert resp.status_code == 200
    assert resp.json() == {"email": "alice@example.com"}


async def test_action_dep_missing_csrf_403(web_app: FastAPI, signed_in: SignedIn) -> None:
    _probe_routes(web_app)
    async with signed_in.bare() as bare:
        resp = await bare.post("/_probe/act", headers=same_origin())
    assert resp.status_code == 403
    assert "error" in resp.json()


async def test_action_dep_wrong_csrf_403(web_app: FastAPI, signed_in: SignedIn) -> None:
    _probe_routes(web_app)
    resp = await signed_in.client.post("/_probe/act", headers={"X-CSRF-Token": "x" * 43})
    assert resp.status_code == 403


async def test_action_dep_foreign_origin_403(web_app: FastAPI, signed_in: SignedIn) -> None:
    _probe_routes(web_app)
    resp = await signed_in.client.post("/_probe/act", headers={"Origin": "https://evil.example"})
    assert resp.status_code == 403
    assert resp.json() == {"error": "Cross-origin request refused"}


async def test_action_dep_missing_origin_403(web_app: FastAPI, signed_in: SignedIn) -> None:
    _probe_routes(web_app)
    async with signed_in.bare() as bare:
        resp = await bare.post("/_probe/act", headers={"X-CSRF-Token": signed_in.csrf_token})
    assert resp.status_code == 403


async def test_action_dep_null_origin_403(web_app: FastAPI, signed_in: SignedIn) -> None:
    _probe_routes(web_app)
    resp = await signed_in.client.post("/_probe/act", headers={"Origin": "null"})
    assert resp.status_code == 403


async def test_read_dep_signed_in_returns_session_identity(
    web_app: FastAPI, signed_in: SignedIn
) -> None:
    _probe_routes(web_app)
    resp = await signed_in.client.get("/_probe/read")
    assert resp.json() == {"email": "alice@example.com"}


async def test_dev_login_non_loopback_404(web_app: FastAPI) -> None:
    async with make_client(web_app, client_ip="203.0.113.7") as client:
        assert (await client.get("/login/dev")).status_code == 404
        resp = await client.post("/login/dev", data={"email": "a@b.example"}, headers=same_origin())
        assert resp.status_code == 404


async def test_dev_login_forwarded_remote_client_404(web_client: httpx.AsyncClient) -> None:
    resp = await web_client.get("/login/dev", headers={"X-Forwarded-For": "198.51.100.9"})
    assert resp.status_code == 404


async def test_dev_login_missing_form_token_403(web_client: httpx.AsyncClient) -> None:
    await web_client.get("/login/dev")
    resp = await web_client.post(
        "/login/dev", data={"email": "mallory@example.com"}, headers=same_origin()
    )
    assert resp.status_code == 403
    assert "andre_session" not in resp.cookies


async def test_dev_login_sets_session_cookie_flags(web_client: httpx.AsyncClient) -> None:
    from tests.services.web.conftest import form_token

    page = await web_client.get("/login/dev")
    resp = await web_client.post(
        "/login/dev",
        data={"email": "Bob@Example.com", "csrf_token": form_token(page.text)},
        headers=same_origin(),
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == "/"
    cookie = [h for h in resp.headers.get_list("set-cookie") if h.startswith("andre_session=")][0]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "secure" in flags and "httponly" in flags
    assert "samesite=lax" in flags and "path=/" in flags
    assert not any(f.startswith("domain=") for f in flags)
    assert PUBLIC_URL.startswith("https://")


async def test_dev_login_forwarded_via_mapped_loopback_proxy_404(web_app: FastAPI) -> None:
    # A dual-stack listener sees the local proxy as ::ffff:127.0.0.1; the remote client behind it
    # must still be the one that counts.
    async with make_client(web_app, client_ip="::ffff:127.0.0.1") as client:
        resp = await client.get("/login/dev", headers={"X-Forwarded-For": "198.51.100.9"})
    assert resp.status_code == 404
