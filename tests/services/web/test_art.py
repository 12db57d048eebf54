"""Demo artwork by URL (routes/art.py): cacheable, ETag and 304, 404, strict headers."""

from __future__ import annotations

import httpx
import pytest

from services.web.security import CSP
from shared.spotify.demo import DemoCatalog
from tests.services.web.conftest import SignedIn

DEMO = DemoCatalog()
URL = DEMO.tracks[0].img
BIG_URL = DEMO.tracks[0].big_img


async def test_art_served_as_svg_with_strong_etag_and_long_cache(
    web_client: httpx.AsyncClient,
) -> None:
    resp = await web_client.get(URL)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/svg+xml"
    assert resp.content.startswith(b"<svg ") and b'width="64"' in resp.content
    etag = resp.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert etag.strip('"') in URL  # content-addressed: the URL names the content
    cache = resp.headers["cache-control"]
    assert "public" in cache and "immutable" in cache and "max-age=31536000" in cache
    assert "no-store" not in cache
    # The same for everyone: no cookie is read, so caches need not key on it.
    assert "cookie" not in resp.headers.get("vary", "").lower()
    big = await web_client.get(BIG_URL)
    assert big.status_code == 200 and b'width="640"' in big.content
    assert big.headers["etag"] != etag


async def test_art_has_strict_csp_and_safe_headers(web_client: httpx.AsyncClient) -> None:
    resp = await web_client.get(URL)
    csp = resp.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'")
    assert "script-src" not in csp and "'self'" not in csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cross-origin-resource-policy"] == "same-origin"
    assert not any(h.lower().startswith("access-control-") for h in resp.headers)
    assert "set-cookie" not in resp.headers


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"other", {etag}', "*"],
)
async def test_art_revalidation_is_304(web_client: httpx.AsyncClient, if_none_match: str) -> None:
    etag = (await web_client.get(URL)).headers["etag"]
    resp = await web_client.get(URL, headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert resp.status_code == 304
    assert resp.content == b""
    assert resp.headers["etag"] == etag
    assert "immutable" in resp.headers["cache-control"]


async def test_art_stale_etag_gets_the_body(web_client: httpx.AsyncClient) -> None:
    resp = await web_client.get(URL, headers={"If-None-Match": '"0123456789abcdef0123"'})
    assert resp.status_code == 200 and resp.content.startswith(b"<svg ")


@pytest.mark.parametrize(
    "path",
    [
        "/art/demo/0123456789abcdef0123.svg",  # well-formed, unknown
        URL.removesuffix(".svg"),  # no extension
        URL.removesuffix(".svg") + ".png",
        "/art/demo/" + "a" * 500 + ".svg",
        "/art/demo/%2e%2e%2fstatic%2fapp.css",
        "/art/other/x.svg",
    ],
)
async def test_art_unknown_key_is_404_not_cached(web_client: httpx.AsyncClient, path: str) -> None:
    resp = await web_client.get(path, headers={"Accept": "application/json"})
    assert resp.status_code == 404
    assert resp.headers["cache-control"] == "no-store"
    assert "etag" not in resp.headers


async def test_art_served_to_signed_in_browser_the_same(signed_in: SignedIn) -> None:
    resp = await signed_in.client.get(URL)
    assert resp.status_code == 200 and "public" in resp.headers["cache-control"]
    assert "set-cookie" not in resp.headers


async def test_pages_keep_no_store_and_same_origin_images(web_client: httpx.AsyncClient) -> None:
    resp = await web_client.get("/login/dev")
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["content-security-policy"] == CSP
    img_src = next(d for d in CSP.split(";") if d.strip().startswith("img-src")).split()
    # Demo artwork is same-origin now: no data: images, Spotify's CDN still allowed.
    assert "'self'" in img_src and "data:" not in img_src and "https://i.scdn.co" in img_src
