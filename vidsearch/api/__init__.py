"""The HTTP API.

`create_app` is imported on first use: `vidsearch api-key ...` imports the key store without the whole
application (FastAPI, the searcher and the media modules)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidsearch.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from vidsearch.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
