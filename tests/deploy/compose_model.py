"""Load deploy/compose.yaml as Compose would see it: anchors merged, ``${VAR}`` interpolated."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"

# The settings compose.yaml requires (everything else has a default).
TEST_ENV = {
    "ANDRE_DOMAIN": "andre.example.test",
    "ANDRE_ACME_EMAIL": "ops@example.test",
    "ANDRE_OIDC_CLIENT_ID": "andre-test-client",
    "ANDRE_ALLOWED_EMAIL_DOMAINS": "example.test",
}

_VAR = re.compile(
    r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` whose variable is unset: Compose refuses the file."""


def _interpolate_str(text: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return arg or ""
            return value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise MissingVariable(f"{name}: {arg}")
            return value
        return value or ""

    return _VAR.sub(sub, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate_str(node, env)
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    return node


def raw_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


def parse(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@cache
def _loaded() -> dict[str, Any]:
    return interpolate(parse(raw_text()), TEST_ENV)  # type: ignore[no-any-return]


def load(env: dict[str, str] | None = None) -> dict[str, Any]:
    """A fresh copy each call, so a test may mutate it."""
    import copy

    if env is None:
        return copy.deepcopy(_loaded())
    return interpolate(parse(raw_text()), env)  # type: ignore[no-any-return]
