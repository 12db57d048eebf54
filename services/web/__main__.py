"""``python -m services.web``: serve the web UI."""

from services.web.app import create_app
from services.web.settings import WebSettings
from shared.serve import serve
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(WebSettings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
