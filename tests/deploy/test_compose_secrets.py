from pathlib import Path

import pytest
from pydantic import SecretStr

from services.api.settings import ApiSettings
from services.player.settings import PlayerSettings
from services.web.settings import WebSettings
from shared.settings import AndreSettings
from tests.deploy.compose_model import load

SETTINGS: dict[str, type[AndreSettings]] = {
    "api": ApiSettings,
    "web": WebSettings,
    "player": PlayerSettings,
}


def mount_like_compose(service: str, tmp_path: Path) -> dict[str, str]:
    """Lay out /run/secrets as compose would for the service; returns target -> value."""
    values = {}
    for item in load()["services"][service]["secrets"]:
        target = Path(item["target"]).name
        value = f"{item['source']}-value-for-{service}-0123456789"
        (tmp_path / target).write_text(value + "\n")
        values[target] = value
    return values


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_compose_secrets_reach_service_settings(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = load()
    for name in list(__import__("os").environ):
        if name.startswith("ANDRE_"):
            monkeypatch.delenv(name)
    for name, value in compose["services"][service]["environment"].items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.chdir(tmp_path)  # no stray .env
    files = mount_like_compose(service, tmp_path)
    settings = SETTINGS[service](_secrets_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.env == "prod"
    for target, value in files.items():
        field = target.removeprefix("andre_")
        got = getattr(settings, field)
        assert isinstance(got, SecretStr) and got.get_secret_value() == value, target
    # Every secret the service requires in prod comes from a mounted file.
    for required in SETTINGS[service].required_secrets:
        if isinstance(getattr(settings, required), SecretStr):
            assert f"andre_{required}" in files, required
