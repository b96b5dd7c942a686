"""HTTP API and web pages of the leaderboard (FastAPI)."""

from geoarena.leaderboard.api.app import create_app

__all__ = ["create_app"]
