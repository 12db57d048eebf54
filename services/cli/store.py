"""The CLI's Redis connection: the ``andre-admin`` ACL user, synchronous, bounded in time."""

from __future__ import annotations

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.cli.errors import CliError
from services.cli.settings import CliSettings


def connect_admin(settings: CliSettings) -> Redis:
    """A client as the admin user; the caller closes it. Raises CliError without a password."""
    password = settings.redis_password.get_secret_value()
    if not password:
        raise CliError(
            f"no Redis password: set ANDRE_REDIS_PASSWORD (the {settings.redis_username} user's)",
            code=2,
        )
    return Redis.from_url(
        settings.redis_url,
        username=settings.redis_username or None,
        password=password,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_connect_timeout_s,
        client_name=settings.service_name,
        decode_responses=False,
        # An operator's command: say at once that Redis is down rather than retrying quietly.
        retry=Retry(NoBackoff(), 0),
    )


def server_time_ms(redis: Redis) -> int:
    seconds, micros = redis.time()
    return int(seconds) * 1000 + int(micros) // 1000
