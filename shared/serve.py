"""Run a service's ASGI app under uvicorn with Andre's logging (used by each ``__main__``)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from shared.logs import configure_logging
from shared.settings import AndreSettings


def serve(app: FastAPI, settings: AndreSettings) -> None:
    configure_logging(settings.service_name, settings.log_level, settings.secret_values())
    uvicorn.run(
        app,
        host=settings.bind_host,
        port=settings.port,
        log_config=None,
        proxy_headers=False,  # client IPs come from our own trusted-proxy logic, not uvicorn's
        server_header=False,
        date_header=True,
        timeout_graceful_shutdown=5,
    )
