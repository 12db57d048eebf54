"""One clear line and a non-zero exit for every failure the CLI expects; never a traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator

import click
import httpx
import typer
from redis.exceptions import AuthenticationError, NoPermissionError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Exit codes: 1 the command failed (refused, bad input, server said no); 2 usage or settings
# (typer's and load_settings' own); 3 a dependency is unreachable (Redis, the API).
FAILED = 1
UNREACHABLE = 3


class CliError(Exception):
    """A failure to report as one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced, whatever produced it."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def say_error(message: str, secrets: Iterable[str] = ()) -> None:
    print(f"andre: {redact(message, secrets)}", file=sys.stderr)


def _is_tls(exc: BaseException) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


@contextlib.contextmanager
def reported(secrets: Iterable[str] = ()) -> Iterator[None]:
    """Turn the failures a command expects into one line on stderr and an exit status."""
    hidden = tuple(secrets)
    try:
        yield
    except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
        raise  # typer's own exits and usage errors (an inner ``reported`` already spoke)
    except CliError as exc:
        say_error(str(exc), hidden)
        raise typer.Exit(exc.code) from None
    except (AuthenticationError, NoPermissionError) as exc:
        say_error(f"Redis refused the admin user: {exc}", hidden)
        raise typer.Exit(FAILED) from None
    except (RedisConnectionError, RedisTimeoutError) as exc:
        say_error(f"Redis is unreachable: {exc}", hidden)
        raise typer.Exit(UNREACHABLE) from None
    except RedisError as exc:
        say_error(f"Redis error: {exc}", hidden)
        raise typer.Exit(FAILED) from None
    except httpx.TimeoutException:
        say_error("the API did not answer in time (ANDRE_API_TIMEOUT_S)", hidden)
        raise typer.Exit(UNREACHABLE) from None
    except httpx.HTTPError as exc:
        # httpx's messages name the URL, never the request headers (where the token is).
        hint = " (is ANDRE_API_CA or --ca the CA that signed it?)" if _is_tls(exc) else ""
        say_error(f"cannot reach the API: {exc}{hint}", hidden)
        raise typer.Exit(UNREACHABLE) from None
    except OSError as exc:
        say_error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), hidden)
        raise typer.Exit(FAILED) from None
    except Exception as exc:
        # A bug still ends in one line (with the secrets blanked), not a traceback on a screen.
        say_error(f"unexpected error ({type(exc).__name__}): {exc}", hidden)
        raise typer.Exit(FAILED) from None
