"""``python -m services.player``: run the worker with its health endpoint."""

from services.player.app import create_app
from services.player.settings import PlayerSettings
from shared.serve import serve
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(PlayerSettings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
