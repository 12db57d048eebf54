import signal
import ssl
import time

import httpx
import pytest

from tests.support.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_stack_health_over_https_redirect_and_clean_stop() -> None:
    stack = LocalStack.start()
    try:
        assert stack.ca_file.is_file(), "Caddy's internal CA was not created"
        with httpx.Client(
            verify=ssl.create_default_context(cafile=str(stack.ca_file)), timeout=10
        ) as client:
            web = client.get(f"{stack.https}/health")
            api = client.get(f"{stack.https}/api/health")
        assert web.status_code == 200 and web.json() == {"status": "ok"}
        assert api.status_code == 200 and api.json() == {"status": "ok"}
        assert web.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "server" not in web.headers

        redirect = httpx.get(f"{stack.http}/somewhere?x=1", follow_redirects=False, timeout=10)
        assert redirect.status_code in (301, 308)
        assert redirect.headers["location"] == f"{stack.https}/somewhere?x=1"

        names = {p.name() for p in stack.descendants}
        assert {"redis-server", "caddy"} <= names
        assert sum(1 for p in stack.descendants if "python" in p.name()) >= 3
    finally:
        code = stack.stop(signal.SIGTERM)
    assert code == 0
    deadline = time.monotonic() + 5
    while stack.leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.leftovers() == []


def test_stack_env_token_overrides_generated_secret() -> None:
    token = "env-supplied-token-0123456789abcdef"
    stack = LocalStack.start(extra_env={"ANDRE_API_TOKEN": token})
    try:
        # The generated file keeps its own value; the running services use the environment's.
        assert stack.secret("ANDRE_API_TOKEN") != token
        assert not any(token in line for line in stack.lines), "a token reached the logs"
        api_proc = next(p for p in stack.descendants if "services.api" in " ".join(p.cmdline()))
        assert api_proc.environ()["ANDRE_API_TOKEN"] == token
    finally:
        assert stack.stop(signal.SIGINT) == 0
