"""Render users.acl from users.acl.in and per-user passwords (stdlib only: runs anywhere).

Usage: render_acl.py OUT --password USER=VALUE ... | --from-env (ANDRE_REDIS_PASSWORD_<USER>)
       | --secrets-dir DIR (files named redis_password_<user> with '-' as '_').
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("users.acl.in")
USERS = ("healthcheck", "andre-api", "andre-web", "andre-player", "andre-admin")

# What the three services may run. Deliberately no @dangerous command (FLUSH*, CONFIG, KEYS,
# DEBUG, SHUTDOWN, ...), no SCAN, no pub/sub: state changes go through Lua and MULTI/WATCH,
# events through a stream.
APP_COMMANDS = (
    "-@all +ping +echo +hello +client|setname +client|getname +time "
    "+get +set +getdel +getex +del +unlink +exists +expire +pexpire +expireat +ttl +pttl "
    "+persist +type +incr +incrby +decr +decrby +mget +mset +setnx +setex +psetex "
    "+hget +hset +hsetnx +hdel +hgetall +hmget +hincrby +hexists +hlen +hkeys +hvals "
    "+sadd +srem +sismember +smismember +smembers +scard +spop +srandmember "
    "+zadd +zrem +zrange +zrevrange +zrangebyscore +zrevrangebyscore +zrank +zrevrank "
    "+zscore +zmscore +zcard +zincrby +zremrangebyrank +zremrangebyscore +zcount +zpopmin "
    "+lpush +rpush +lpop +rpop +lrange +llen +ltrim +lrem +lindex +lset +lpos +linsert +blpop "
    "+xadd +xrange +xrevrange +xread +xlen +xtrim +xdel "
    "+multi +exec +discard +watch +unwatch "
    "+eval +evalsha +eval_ro +evalsha_ro +script|load +script|exists"
)

# What the disabled `default` user needs so that Redis can replay its own AOF at start-up: the
# writes that Lua scripts and MULTI blocks were recorded as (Redis rewrites some, e.g. EXPIRE into
# PEXPIREAT), wrapped in MULTI/EXEC. Never @dangerous; and `default` cannot authenticate at all.
REPLAY_COMMANDS = "-@all +multi +exec +@write -@dangerous"
COMMAND_SETS = {"app": APP_COMMANDS, "replay": REPLAY_COMMANDS}


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def render(passwords: dict[str, str], template: str | None = None) -> str:
    text = template if template is not None else TEMPLATE.read_text(encoding="utf-8")
    missing = [u for u in USERS if not passwords.get(u)]
    if missing:
        raise ValueError(f"missing Redis password for: {', '.join(missing)}")

    def sub(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "password":
            return "#" + password_hash(passwords[name])
        if kind == "commands" and name in COMMAND_SETS:
            return COMMAND_SETS[name]
        raise ValueError(f"unknown placeholder {match.group(0)}")

    # Redis ACL files allow no comments or blank lines: the template's are for people only.
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    rendered = re.sub(r"\{\{(password|commands):([a-z-]+)\}\}", sub, "\n".join(lines))
    return rendered + "\n"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _env_name(user: str) -> str:
    return "ANDRE_REDIS_PASSWORD_" + user.upper().replace("-", "_")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--password", action="append", default=[], metavar="USER=VALUE")
    parser.add_argument("--from-env", action="store_true")
    parser.add_argument("--secrets-dir", type=Path)
    args = parser.parse_args(argv)
    passwords: dict[str, str] = {}
    if args.from_env:
        passwords.update({u: os.environ.get(_env_name(u), "") for u in USERS})
    if args.secrets_dir:
        for u in USERS:
            f = args.secrets_dir / ("redis_password_" + u.replace("-", "_"))
            if f.is_file():
                passwords[u] = f.read_text(encoding="utf-8").strip()
    for pair in args.password:
        user, _, value = pair.partition("=")
        passwords[user] = value
    try:
        text = render(passwords)
    except ValueError as exc:
        print(f"render_acl: {exc}", file=sys.stderr)
        return 2
    write_private(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
