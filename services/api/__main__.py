"""``python -m services.api``: serve the REST API."""

from services.api.app import create_app
from services.api.settings import ApiSettings
from shared.serve import serve
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(ApiSettings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
