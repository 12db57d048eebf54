"""Demo artwork by URL: ``GET /art/demo/<key>.svg``, public, cacheable, content-addressed.

Demo catalog items carry these short relative URLs instead of inline data URIs (see
``shared.spotify.demo``); Spotify's own artwork stays Spotify's URL. The key is a hash of the SVG,
so a URL never changes meaning: the answer is ``immutable`` for a year with a strong ETag (the
same hash), and a revalidation with ``If-None-Match`` gets a 304. The SVG is generated, holds no
script and no external reference, and is served under its own strict CSP (security.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web.errors import NotFound
from shared.spotify.demo import demo_art

router = APIRouter()

ART_CACHE_CONTROL = "public, max-age=31536000, immutable"


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match uses: ``W/`` prefixes do not matter."""
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


@router.get("/art/demo/{name}")
async def demo_artwork(name: str, request: Request) -> Response:
    """A demo catalog artwork; 404 for a key no demo item uses."""
    key = name.removesuffix(".svg")
    svg = demo_art(key) if name.endswith(".svg") else None
    if svg is None:
        raise NotFound("Unknown artwork")
    etag = f'"{key}"'
    headers = {"ETag": etag, "Cache-Control": ART_CACHE_CONTROL}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    return Response(svg, media_type="image/svg+xml", headers=headers)
