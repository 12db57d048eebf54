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
    assert stack.stragglers == []  # the runner exits only after every child has


def test_stack_env_token_overrides_generated_secret() -> None:
    token = "env-supplied-token-0123456789abcdef"
    stack = LocalStack.start(extra_env={"ANDRE_API_TOKEN": token})
    try:
        # The generated file keeps its own value; the running services use the environment's.
        assert stack.secret("ANDRE_API_TOKEN") != token
        assert not any(token in line for line in stack.lines), "a token reached the logs"
        # The stack says which token is in force (the README sends bots to the file otherwise).
        said = [line for line in stack.lines if "API token in force" in line]
        assert said and "from the environment" in said[0]
        assert stack.secret("ANDRE_API_TOKEN") not in "\n".join(stack.lines)
        api_proc = next(p for p in stack.descendants if "services.api" in " ".join(p.cmdline()))
        assert api_proc.environ()["ANDRE_API_TOKEN"] == token
    finally:
        assert stack.stop(signal.SIGINT) == 0


def test_stack_logs_carry_no_credentials() -> None:
    token = "env-token-that-must-never-be-logged-42"
    stack = LocalStack.start(extra_env={"ANDRE_API_TOKEN": token})
    secrets = {
        "token": token,
        "code": "oauth-code-must-not-be-logged",
        "state": "oauth-state-must-not-be-logged",
        "cookie": "session-cookie-must-not-be-logged",
    }
    try:
        ctx = ssl.create_default_context(cafile=str(stack.ca_file))
        with httpx.Client(verify=ctx, timeout=10) as client:
            ok = client.get(
                f"{stack.https}/api/queue", headers={"Authorization": f"Bearer {token}"}
            )
            assert ok.status_code == 200
            wrong = client.get(f"{stack.https}/api/queue", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 403
            query = f"code={secrets['code']}&state={secrets['state']}"
            client.get(f"{stack.https}/auth/callback?{query}")
            client.get(f"{stack.https}/spotify/callback?{query}")
            client.get(
                f"{stack.https}/health", headers={"Cookie": f"andre_session={secrets['cookie']}"}
            )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
            "/spotify/callback" in ln for ln in stack.lines
        ):
            time.sleep(0.1)
    finally:
        assert stack.stop() == 0
    logged = "\n".join(stack.lines)
    assert "/auth/callback" in logged and "/spotify/callback" in logged  # the requests were logged
    for name, value in secrets.items():
        assert value not in logged, f"the {name} reached a log line"
