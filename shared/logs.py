"""Structured JSON logs on stdout, a redaction filter for secrets, and the audit helper."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

AUDIT_LOGGER = "andre.audit"
_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, service, message and any extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": self.service,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exc"] = record.exc_text
        line = json.dumps(payload, default=str, ensure_ascii=False)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (from a JSON body's "\ud800") cannot be written as UTF-8: the
            # stream would drop the whole line, so escape it instead of losing an audit line.
            line = json.dumps(payload, default=str)
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
        for key, value in list(vars(record).items()):
            if key not in _RESERVED and isinstance(value, str):
                setattr(record, key, self._scrub(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(service: str, level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Route every logger (uvicorn's included) to one JSON handler on stdout."""
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
