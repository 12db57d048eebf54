import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError
from redis.retry import Retry

from deploy import make_secrets
from tests.deploy.compose_model import DEPLOY, load
from tests.support.redis_server import free_port

sys.path.insert(0, str(DEPLOY / "redis"))
import init_acl  # noqa: E402


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    make_secrets.create(directory)
    return directory


def connect(port: int, user: str, password: str) -> redis.Redis:
    # No retries: a refused password must fail at once, not after redis-py's backoff.
    return redis.Redis(port=port, username=user, password=password, retry=Retry(NoBackoff(), 0))


def run_redis(acl: Path, workdir: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", str(DEPLOY / "redis" / "redis.conf"),
         "--port", str(port), "--bind", "127.0.0.1", "--aclfile", str(acl),
         "--dir", str(workdir), "--daemonize", "no", "--logfile", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "redis did not start"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_make_secrets_creates_every_compose_secret_private(secrets_dir: Path) -> None:
    declared = {Path(s["file"]).name for s in load()["secrets"].values()}
    assert {p.name for p in secrets_dir.iterdir()} == declared
    # The directory keeps other host users out; the files must be readable by the containers'
    # uid 1000 whatever the operator's uid is (bind mounts keep owner and mode).
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    for path in secrets_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert len((secrets_dir / "api_token").read_text().strip()) >= 32
    assert (secrets_dir / "api_tokens").read_text() == ""


def test_make_secrets_existing_file_never_overwritten(secrets_dir: Path) -> None:
    (secrets_dir / "api_token").write_text("kept")
    assert make_secrets.create(secrets_dir) == []
    assert (secrets_dir / "api_token").read_text() == "kept"


def test_make_secrets_rerun_repairs_modes_of_hand_written_files(secrets_dir: Path) -> None:
    (secrets_dir / "oidc_client_secret").chmod(0o600)  # printf under umask 077
    secrets_dir.chmod(0o755)
    make_secrets.create(secrets_dir)
    assert stat.S_IMODE((secrets_dir / "oidc_client_secret").stat().st_mode) == 0o644
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700


def test_init_acl_writes_hashes_group_readable(secrets_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "acl"
    out.mkdir()
    assert init_acl.main([str(out), str(secrets_dir)]) == 0
    acl = (out / "users.acl").read_text()
    for f in secrets_dir.glob("redis_password_*"):
        assert f.read_text().strip() not in acl, "a plaintext password reached the ACL file"
    assert "user default off" in acl
    for name in ("users.acl", "healthcheck.pass"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o640
    hc = (secrets_dir / "redis_password_healthcheck").read_text().strip()
    assert (out / "healthcheck.pass").read_text().strip() == hc


def test_init_acl_missing_password_refused(secrets_dir: Path, tmp_path: Path) -> None:
    (secrets_dir / "redis_password_andre_web").unlink()
    assert init_acl.main([str(tmp_path), str(secrets_dir)]) == 2
    assert not (tmp_path / "users.acl").exists()


def test_init_acl_previous_password_accepted_during_rotation(
    secrets_dir: Path, tmp_path: Path
) -> None:
    old = (secrets_dir / "redis_password_andre_api").read_text().strip()
    new = "rotated-" + old[::-1]
    (secrets_dir / "redis_password_andre_api").write_text(new + "\n")
    (secrets_dir / "redis_passwords_previous").write_text(f"andre-api={old}\n")
    out = tmp_path / "acl"
    out.mkdir()
    assert init_acl.main([str(out), str(secrets_dir)]) == 0
    for port in run_redis(out / "users.acl", tmp_path):
        for password in (old, new):
            client = connect(port, "andre-api", password)
            assert client.ping()
            client.close()
        client = connect(port, "andre-web", old)
        with pytest.raises(AuthenticationError):
            client.ping()
        client.close()
        hc = (out / "healthcheck.pass").read_text().strip()
        client = connect(port, "healthcheck", hc)
        assert client.ping()
        client.close()
        # Rotation done: the previous password is dropped and the admin reloads the file.
        (secrets_dir / "redis_passwords_previous").write_text("")
        assert init_acl.main([str(out), str(secrets_dir)]) == 0
        admin_pw = (secrets_dir / "redis_password_andre_admin").read_text().strip()
        admin = connect(port, "andre-admin", admin_pw)
        assert admin.execute_command("ACL", "LOAD")
        admin.close()
        client = connect(port, "andre-api", old)
        with pytest.raises(AuthenticationError):
            client.ping()
        client.close()


def test_init_acl_previous_for_unknown_user_refused(secrets_dir: Path, tmp_path: Path) -> None:
    (secrets_dir / "redis_passwords_previous").write_text("root=x\n")
    assert init_acl.main([str(tmp_path), str(secrets_dir)]) == 2
