"""Container health check without curl: exit 0 when URL answers 200 within the timeout, else 1."""

from __future__ import annotations

import sys
import urllib.request


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:8000/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:  # noqa: S310 - loopback only
            return 0 if resp.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
