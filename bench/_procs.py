"""The benchmarks' child processes: wait until one answers 200 over HTTP, stop one."""

from __future__ import annotations

import subprocess
import time

import httpx


def wait_ready(url: str, timeout_s: float = 20.0) -> None:
    """Poll ``url`` until it answers 200 (the service is up and its dependencies too)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; always reaped."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
