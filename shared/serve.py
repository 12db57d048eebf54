"""Run a service's ASGI app under uvicorn with Andre's logging (used by each ``__main__``)."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from shared.eventhub import end_all_streams
from shared.logs import configure_logging
from shared.settings import AndreSettings


def uvicorn_config(app: FastAPI, settings: AndreSettings) -> uvicorn.Config:
    """How every service is served (the tests serve an app the same way)."""
    return uvicorn.Config(
        app,
        host=settings.bind_host,
        port=settings.port,
        log_config=None,
        proxy_headers=False,  # client IPs come from our own trusted-proxy logic, not uvicorn's
        server_header=False,
        date_header=True,
        timeout_graceful_shutdown=5,
        # Longer than Caddy's idle keep-alive to us (30 s, deploy/caddy/andre.caddy): the proxy
        # always closes an idle connection first, so it never sends a request on one we close.
        timeout_keep_alive=75,
    )


class Server(uvicorn.Server):
    """uvicorn's server, ending the process's event streams as soon as shutdown begins."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # An open SSE response never finishes by itself: without this, every browser tab would
        # hold the graceful shutdown for its whole timeout and then be cancelled mid-stream.
        end_all_streams()
        await super().shutdown(sockets)


def bind_proxy_socket(path: Path) -> socket.socket:
    """The proxy's own Unix socket, owner-only (0600): a connection on it is the proxy, so its
    X-Forwarded-For is believed (shared.clientip), which no other local user can forge."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise RuntimeError(f"{path} exists and is not a socket; refusing to replace it")
        path.unlink()  # a stale socket of a previous run
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    return sock


def listen_sockets(config: uvicorn.Config, settings: AndreSettings) -> list[socket.socket]:
    """Where a service listens: its TCP port, plus the proxy socket when one is configured."""
    sockets = [config.bind_socket()]
    if settings.proxy_socket is not None:
        sockets.append(bind_proxy_socket(settings.proxy_socket))
    return sockets


def serve(app: FastAPI, settings: AndreSettings) -> None:
    configure_logging(settings.service_name, settings.log_level, settings.secret_values())
    config = uvicorn_config(app, settings)
    Server(config).run(sockets=listen_sockets(config, settings))
