"""One registry per seam: a name maps to a factory, and a dotted path ("pkg.mod:Class" or
"pkg.mod.Class") loads a plugin without registering it first."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from vidsearch.errors import ConfigError

if TYPE_CHECKING:
    from vidsearch.config import Settings

T = TypeVar("T")
Factory = Callable[["Settings"], T]


class Registry(Generic[T]):
    """Maps names to factories that build a component from the settings."""

    def __init__(self, seam: str) -> None:
        self.seam = seam
        self._factories: dict[str, Factory[T]] = {}

    def register(self, name: str) -> Callable[[Factory[T]], Factory[T]]:
        def decorator(factory: Factory[T]) -> Factory[T]:
            if name in self._factories:
                raise ConfigError(f"{self.seam} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._factories)

    def resolve(self, name: str) -> Factory[T]:
        if name in self._factories:
            return self._factories[name]
        if "." in name or ":" in name:
            return _import_dotted(name, self.seam)
        known = ", ".join(self.names()) or "none"
        raise ConfigError(f"unknown {self.seam} {name!r}; known: {known}, or a dotted class path")

    def create(self, name: str, settings: Settings) -> T:
        return self.resolve(name)(settings)


def _import_dotted(path: str, seam: str) -> Callable[..., T]:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        obj = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load {seam} {path!r}: {exc}") from exc
    if not callable(obj):
        raise ConfigError(f"{seam} {path!r} is not callable")
    return obj
