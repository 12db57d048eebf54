"""Structured JSON logs on stdout, a redaction filter for secrets, and the audit helper."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

AUDIT_LOGGER = "andre.audit"
_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",
}


# A record's own attributes come first in its __dict__ (LogRecord.__init__ sets them), then the
# ``extra=`` fields: a line's fields are looked for past this many, in the order they were given.
_OWN_ATTRS = len(vars(logging.makeLogRecord({})))
_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode
_encode_ascii = json.JSONEncoder(default=str).encode


def _extras(record: logging.LogRecord) -> Iterator[tuple[str, Any]]:
    """The fields a log call passed with ``extra=``, in order."""
    for key, value in islice(record.__dict__.items(), _OWN_ATTRS, None):
        if key not in _RESERVED and not key.startswith("_"):
            yield key, value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, service, message and any extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._second: tuple[int, str] = (-1, "")  # the last second formatted, and its text

    def _timestamp(self, record: logging.LogRecord) -> str:
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": self.service,
            "msg": record.getMessage(),
        }
        payload.update(_extras(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exc"] = record.exc_text
        line = _encode(payload)
        if not line.isascii():
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:
                # A lone surrogate (from a JSON body's "\ud800") cannot be written as UTF-8: the
                # stream would drop the whole line, so escape it instead of losing an audit line.
                line = _encode_ascii(payload)
        return line


# Query parameters that carry credentials (OAuth callbacks, tokens): their values never reach a
# log line, e.g. through the access log's request line.
_SENSITIVE_QUERY = re.compile(
    r"([?&](?:code|state|token|access_token|refresh_token|id_token|password|passwd|secret|key)=)"
    r"[^&\s\"]*",
    re.IGNORECASE,
)


class RedactSecrets(logging.Filter):
    """Defence in depth: no configured secret value, and no credential-bearing query parameter,
    leaves the process through a log line."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Short values would redact ordinary words; real secrets are long.
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)
        # A text shorter than every secret holds none (most fields of a line: an action, an
        # address, an id): each line is checked without a search per secret per field.
        self._shortest = min(map(len, self._secrets), default=0)

    def _scrub(self, text: str) -> str:
        if self._secrets and len(text) >= self._shortest:
            for secret in self._secrets:
                if secret in text:
                    text = text.replace(secret, "[redacted]")
        if "=" not in text:  # every credential-bearing query parameter has one
            return text
        return _SENSITIVE_QUERY.sub(r"\1[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._scrub(record.getMessage())
        record.args = None
        for key, value in list(_extras(record)):
            if isinstance(value, str):
                setattr(record, key, self._scrub(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(service: str, level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Route every logger (uvicorn's included) to one JSON handler on stdout."""
    # What a record would collect and no line shows (the logging HOWTO's "Optimization"): the
    # caller's file and line (a walk up the stack per record), the thread and the process.
    logging._srcfile = None  # noqa: SLF001 - the documented switch for caller information
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True


_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


def audit(
    action: str,
    *,
    identity: str | None,
    client_ip: str | None,
    path: str,
    outcome: str,
    **details: Any,
) -> None:
    """One structured audit line per action or auth failure. Never pass a token here."""
    fields = {
        "action": action,
        "identity": identity,
        "client_ip": client_ip,
        "path": path,
        "outcome": outcome,
    }
    for key, value in details.items():
        # A detail named like a LogRecord attribute ("name", "msg", ...) would make logging raise
        # KeyError and turn the action into a 500: such a key is kept under "detail_<key>".
        fields[f"detail_{key}" if key in _RECORD_ATTRS else key] = value
    logging.getLogger(AUDIT_LOGGER).info("audit", extra=fields)
