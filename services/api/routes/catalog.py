"""Search the catalog (Spotify, or the demo catalog when no credentials are configured)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.api.deps import CatalogDep
from services.api.errors import ApiError, error_docs
from services.api.routes import PREFIX
from services.api.scopes import needs
from shared.queue.models import SearchResult
from shared.spotify.catalog import MAX_QUERY_LEN, MAX_SEARCH_LIMIT, PAGE_SIZE

router = APIRouter(prefix=PREFIX, tags=["search"])


class SearchResults(BaseModel):
    results: list[SearchResult]


@router.get(
    "/search",
    response_model=SearchResults,
    responses=error_docs({502: "Spotify upstream error"}),
    openapi_extra=needs("read"),
)
async def search_tracks(
    catalog: CatalogDep,
    q: Annotated[
        str,
        # Documented only: "" and blanks get "Missing required field: q" from the route.
        Query(max_length=MAX_QUERY_LEN, json_schema_extra={"minLength": 1, "pattern": r"\S"}),
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_LIMIT)] = PAGE_SIZE,
) -> SearchResults:
    """Tracks matching ``q``."""
    if not q.strip():
        raise ApiError(400, "Missing required field: q")
    tracks = await catalog.search(q.strip(), limit)
    return SearchResults(
        results=[
            SearchResult(
                uri=t.uri,
                title=t.title,
                artist=t.artist,
                album=t.album,
                duration_ms=t.duration_ms,
                img=t.img,
            )
            for t in tracks
        ]
    )
