"""Create deploy/secrets/ for a fresh deployment: random values for what Andre generates itself,
empty files for the optional ones (fill in Spotify/OIDC by hand). Never overwrites a file.

Usage: python deploy/make_secrets.py [DIR]     (stdlib only)

Modes: the directory is 0700 and guards the files, which are 0644. Compose bind-mounts each secret
file into /run/secrets keeping its host owner and mode (it ignores uid/gid/mode for file secrets,
docker/compose#9648), and the services run as uid 1000: a 0600 file works only when the operator's
uid happens to be 1000. Re-run after writing a secret by hand: it puts both modes right again.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

GENERATED = (
    "redis_password_healthcheck",
    "redis_password_andre_api",
    "redis_password_andre_web",
    "redis_password_andre_player",
    "redis_password_andre_admin",
    "api_token",
    "secret_key",
)
# Created empty. Stay empty: extra named API tokens and previous Redis passwords (both only during a
# rotation), the Spotify client secret (the demo catalog runs without). Must be filled in by hand:
# the OIDC client secret (web refuses to start in prod while it is empty).
OPTIONAL = ("api_tokens", "redis_passwords_previous", "spotify_client_secret")
FILL_IN = ("oidc_client_secret",)


DIR_MODE = 0o700
FILE_MODE = 0o644


def create(directory: Path) -> list[str]:
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # Tighten the directory before any file in it becomes readable to the containers' uid.
    directory.chmod(DIR_MODE)
    created = []
    for name in GENERATED + OPTIONAL + FILL_IN:
        path = directory / name
        if path.exists():
            continue
        value = secrets.token_urlsafe(32) if name in GENERATED else ""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value + ("\n" if value else ""))
        created.append(name)
    for name in GENERATED + OPTIONAL + FILL_IN:
        (directory / name).chmod(FILE_MODE)  # also a file written by hand under umask 077
    return created


def main(argv: list[str]) -> int:
    directory = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("secrets")
    created = create(directory)
    for name in created:
        print(f"created {directory / name}")
    if not created:
        print(f"all secrets already exist in {directory}")
    for name in FILL_IN:
        if not (directory / name).read_text(encoding="utf-8").strip():
            print(f"fill in {directory / name} before `docker compose up` (see README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
