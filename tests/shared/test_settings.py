import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.api.settings import ApiSettings
from services.player.settings import PlayerSettings
from services.web.settings import WebSettings
from shared.logs import JsonFormatter, RedactSecrets, audit
from shared.settings import describe_errors, is_placeholder

ROOT = Path(__file__).resolve().parents[2]
GOOD = "k9Vq2mXr8TzLw4NpB7cYs1Hd"


def _prod(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "_env_file": None,
        "env": "prod",
        "redis_password": GOOD + "r",
        "api_token": GOOD + "a",
        "secret_key": GOOD + "s",
    }
    base.update(kw)
    return base


@pytest.mark.parametrize("value", ["", "changeme", "your-api-token", "<token>", "xxxxxxxx"])
def test_settings_prod_placeholder_token_refused(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ApiSettings(**_prod(api_token=value))  # type: ignore[arg-type]
    message = describe_errors(exc.value)
    assert "ANDRE_API_TOKEN" in message
    assert "placeholder" in message


def test_settings_dev_empty_token_allowed() -> None:
    settings = ApiSettings(_env_file=None, env="dev", api_token="")
    assert settings.api_token.get_secret_value() == ""


def test_settings_each_service_requires_its_own_secrets() -> None:
    with pytest.raises(ValidationError, match="ANDRE_SECRET_KEY"):
        WebSettings(**_prod(secret_key="changeme"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="ANDRE_REDIS_PASSWORD"):
        PlayerSettings(**_prod(redis_password=""))  # type: ignore[arg-type]
    assert ApiSettings(**_prod()).env == "prod"  # type: ignore[arg-type]


def test_is_placeholder_real_secret_accepted() -> None:
    assert not is_placeholder(GOOD)
    assert is_placeholder("   ")


def test_settings_secret_redacted_in_repr_and_dump() -> None:
    settings = ApiSettings(**_prod())  # type: ignore[arg-type]
    assert GOOD not in repr(settings)
    assert GOOD not in str(settings.model_dump())
    assert GOOD not in settings.model_dump_json()


def test_settings_secret_redacted_in_validation_error() -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    with pytest.raises(ValidationError) as exc:
        ApiSettings(_env_file=None, api_token={"token": secret}, port=secret)  # type: ignore[arg-type]
    assert secret not in str(exc.value)
    assert secret not in describe_errors(exc.value)
    assert "ANDRE_PORT" in describe_errors(exc.value)


def test_settings_comma_list_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANDRE_TRUSTED_PROXIES", "10.0.0.2, 10.0.0.3")
    assert ApiSettings(_env_file=None).trusted_proxies == ["10.0.0.2", "10.0.0.3"]


def test_service_start_prod_placeholder_exits_with_one_clear_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDRE_")}
    env.update({"ANDRE_ENV": "prod", "ANDRE_API_TOKEN": "changeme", "ANDRE_REDIS_PASSWORD": GOOD})
    proc = subprocess.run(
        [sys.executable, "-m", "services.api"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "ANDRE_API_TOKEN" in lines[0]
    assert "Traceback" not in proc.stderr
    assert GOOD not in proc.stderr + proc.stdout


def _capture(secrets: list[str]) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    handler.addFilter(RedactSecrets(secrets))
    logger = logging.getLogger(f"andre.test.{len(secrets)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_logs_secret_value_redacted_in_message_extra_and_traceback() -> None:
    secret = GOOD + "-log"
    logger, stream = _capture([secret])
    logger.info("token is %s", secret, extra={"header": f"Bearer {secret}"})
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        logger.exception("boom")
    out = stream.getvalue()
    assert secret not in out
    assert out.count("[redacted]") >= 3
    first = json.loads(out.splitlines()[0])
    assert first["service"] == "test" and first["level"] == "info"


def test_audit_line_has_fields_and_no_token(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="andre.audit"):
        audit(
            "queue.skip",
            identity="bot@api",
            client_ip="10.1.2.3",
            path="/api/queue/skip",
            outcome="ok",
        )
    record = caplog.records[-1]
    assert record.action == "queue.skip"  # type: ignore[attr-defined]
    assert record.identity == "bot@api"  # type: ignore[attr-defined]
    assert record.outcome == "ok"  # type: ignore[attr-defined]


def test_logs_lone_surrogate_in_extra_escaped_not_dropped() -> None:
    stream = io.BytesIO()
    handler = logging.StreamHandler(io.TextIOWrapper(stream, encoding="utf-8", write_through=True))
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("andre.test.surrogate")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info("audit", extra={"item_id": "\ud800x", "who": "zoë"})
    line = json.loads(stream.getvalue().decode("utf-8"))
    assert line["item_id"] == "\ud800x" and line["who"] == "zoë"
