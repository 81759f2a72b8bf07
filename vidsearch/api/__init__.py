"""The HTTP API."""

from vidsearch.api.app import create_app

__all__ = ["create_app"]
