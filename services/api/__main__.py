"""``python -m services.api``: serve the REST API."""

import sys

from services.api.app import create_app
from services.api.settings import ApiSettings
from shared.serve import serve
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(ApiSettings)
    try:
        app = create_app(settings)
    except ValueError as exc:  # a malformed ANDRE_API_TOKENS: one clear line, never the token
        print(f"andre: invalid settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    serve(app, settings)


if __name__ == "__main__":
    main()
