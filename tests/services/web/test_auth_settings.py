from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.web.settings import WebSettings, origin_of
from shared.settings import describe_errors

GOOD = "k9Vq2mXr8TzLw4NpB7cYs1Hd"


def _prod(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "_env_file": None,
        "env": "prod",
        "public_url": "https://andre.example.com",
        "redis_password": GOOD + "r",
        "secret_key": GOOD + "s",
        "oidc_client_id": "1234-client.apps.example",
        "oidc_client_secret": GOOD + "o",
        "allowed_email_domains": "example.com",
    }
    base.update(kw)
    return base


def test_web_settings_prod_complete_accepted() -> None:
    settings = WebSettings(**_prod())  # type: ignore[arg-type]
    assert settings.session_cookie_name == "__Host-andre"
    assert settings.public_origin == "https://andre.example.com"
    assert settings.oidc_issuer == "https://accounts.google.com"


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("oidc_client_secret", "ANDRE_OIDC_CLIENT_SECRET"),
        ("oidc_client_id", "ANDRE_OIDC_CLIENT_ID"),
        ("secret_key", "ANDRE_SECRET_KEY"),
    ],
)
def test_web_settings_prod_missing_secret_refused(field: str, variable: str) -> None:
    with pytest.raises(ValidationError) as exc:
        WebSettings(**_prod(**{field: ""}))  # type: ignore[arg-type]
    message = describe_errors(exc.value)
    assert variable in message
    assert GOOD not in message


def test_web_settings_prod_empty_domains_refused() -> None:
    with pytest.raises(ValidationError, match="ANDRE_ALLOWED_EMAIL_DOMAINS"):
        WebSettings(**_prod(allowed_email_domains=""))  # type: ignore[arg-type]


def test_web_settings_prod_star_domains_allows_anyone() -> None:
    settings = WebSettings(**_prod(allowed_email_domains="*"))  # type: ignore[arg-type]
    assert settings.email_domain_allowed("anyone@anywhere.example")


def test_web_settings_prod_http_public_url_refused() -> None:
    with pytest.raises(ValidationError, match="ANDRE_PUBLIC_URL"):
        WebSettings(**_prod(public_url="http://andre.example.com"))  # type: ignore[arg-type]


def test_web_settings_domains_exact_and_case_insensitive() -> None:
    settings = WebSettings(**_prod(allowed_email_domains="Example.com, corp.example"))  # type: ignore[arg-type]
    assert settings.email_domain_allowed("a@EXAMPLE.com")
    assert settings.email_domain_allowed("b@corp.example")
    assert not settings.email_domain_allowed("c@sub.example.com")
    assert not settings.email_domain_allowed("d@notexample.com")
    assert not settings.email_domain_allowed("e@example.com.evil.example")


def test_web_settings_admin_emails_lowercased() -> None:
    settings = WebSettings(**_prod(admin_emails="Boss@Example.com ,ops@example.com"))  # type: ignore[arg-type]
    assert settings.is_admin("boss@example.com")
    assert settings.is_admin("OPS@example.com")
    assert not settings.is_admin("someone@example.com")


def test_web_settings_dev_cookie_name_and_open_domains() -> None:
    settings = WebSettings(_env_file=None, env="dev")  # type: ignore[call-arg]
    assert settings.session_cookie_name == "andre_session"
    assert settings.email_domain_allowed("anyone@anywhere.example")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Andre.Example.com/", "https://andre.example.com"),
        ("https://andre.example.com:443", "https://andre.example.com"),
        ("https://localhost:8443/x", "https://localhost:8443"),
        ("null", None),
        ("javascript:alert(1)", None),
        ("https://", None),
    ],
)
def test_origin_of_normalises(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("spotify_client_secret", "ANDRE_SPOTIFY_CLIENT_SECRET"),
        ("api_token", "ANDRE_API_TOKEN"),
    ],
)
def test_web_settings_prod_optional_secret_placeholder_refused(field: str, variable: str) -> None:
    with pytest.raises(ValidationError) as exc:
        WebSettings(**_prod(spotify_client_id="spotify-app", **{field: "changeme"}))  # type: ignore[arg-type]
    assert variable in describe_errors(exc.value)


def test_web_settings_prod_optional_secret_empty_accepted() -> None:
    settings = WebSettings(**_prod(spotify_client_secret=""))  # type: ignore[arg-type]
    assert not settings.spotify_configured


def test_web_settings_prod_short_secret_key_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        WebSettings(**_prod(secret_key="andre-k3y"))  # type: ignore[arg-type]
    assert "ANDRE_SECRET_KEY" in describe_errors(exc.value)
    assert "andre-k3y" not in describe_errors(exc.value)
