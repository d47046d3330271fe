"""The analysts' workspace: JSON API under /api and the server-rendered dashboard.

``create_app(settings, store)`` builds the FastAPI application; ``veille web`` serves it.
"""

from veille.web.app import create_app

__all__ = ["create_app"]
