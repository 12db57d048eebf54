"""One-shot init step of compose: render Redis's ACL file from the Docker secrets, then exit.

Writes ``users.acl`` (SHA-256 hashes only) and ``healthcheck.pass`` (the password of the user that
may only PING, for Redis's own health check) into a volume Redis mounts read-only. Both are mode
0640 with group 1000, the group Redis runs as, so no capability is needed to read them. During a
password rotation a user keeps a second, previous password: lines ``user=password`` in the secret
``redis_passwords_previous`` (normally empty).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_acl  # noqa: E402

MODE = 0o640


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, MODE)  # the umask must not narrow it
    os.replace(tmp, path)


def _previous(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            user, sep, password = line.strip().partition("=")
            if sep and password and not user.startswith("#"):
                out[user.strip()] = password.strip()
    return out


def add_previous(text: str, previous: dict[str, str]) -> str:
    """Let each user in ``previous`` also log in with that password (Redis keeps both hashes)."""
    unknown = set(previous) - set(render_acl.USERS)
    if unknown:
        raise ValueError(f"previous password for unknown user: {', '.join(sorted(unknown))}")
    lines = []
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) > 3 and parts[0] == "user" and parts[1] in previous:
            extra = "#" + render_acl.password_hash(previous[parts[1]])
            hashes = [i for i, p in enumerate(parts) if p.startswith("#")]
            parts.insert(hashes[-1] + 1 if hashes else 3, extra)
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0] if args else "/var/lib/andre/redis-acl")
    secrets_dir = Path(args[1] if len(args) > 1 else "/run/secrets")
    passwords: dict[str, str] = {}
    for user in render_acl.USERS:
        f = secrets_dir / ("redis_password_" + user.replace("-", "_"))
        if f.is_file():
            passwords[user] = f.read_text(encoding="utf-8").strip()
    previous = _previous(secrets_dir / "redis_passwords_previous")
    try:
        text = add_previous(render_acl.render(passwords), previous)
    except ValueError as exc:
        print(
            f"init_acl: {exc} (expected files redis_password_<user> in {secrets_dir})",
            file=sys.stderr,
        )
        return 2
    _write(out_dir / "users.acl", text)
    _write(out_dir / "healthcheck.pass", passwords["healthcheck"] + "\n")
    print(f"init_acl: wrote {out_dir / 'users.acl'} for {len(passwords)} users")
    return 0


if __name__ == "__main__":
    sys.exit(main())
