import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_settings_doc_generated_file_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/settings_doc.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_settings_doc_lists_every_design_variable() -> None:
    text = (ROOT / "docs" / "settings.md").read_text()
    for name in (
        "ENV",
        "PUBLIC_URL",
        "REDIS_URL",
        "REDIS_USERNAME",
        "REDIS_PASSWORD",
        "API_TOKEN",
        "API_EMAIL",
        "API_TOKENS",
        "SPOTIFY_CLIENT_ID",
        "SPOTIFY_CLIENT_SECRET",
        "SPOTIFY_MARKET",
        "SPOTIFY_EMAIL",
        "OIDC_ISSUER",
        "OIDC_CLIENT_ID",
        "OIDC_CLIENT_SECRET",
        "ALLOWED_EMAIL_DOMAINS",
        "ADMIN_EMAILS",
        "SECRET_KEY",
        "PLAY_LOG_DIR",
        "BENDER_MAX_MINUTES",
    ):
        assert f"`ANDRE_{name}`" in text, name
