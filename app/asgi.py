"""ASGI entry point: `uvicorn app.asgi:create --factory`."""

from litestar import Litestar

from app.factory import create_app
from app.logs import configure_logging
from app.settings import load_settings


def create() -> Litestar:
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
