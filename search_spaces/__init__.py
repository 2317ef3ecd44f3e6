"""Declarations layer: Search spaces: one module per space, the module name is the --space name."""

from __future__ import annotations

import importlib
import pkgutil

from search_spaces._common import Space


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> Space:
    if name not in names():
        raise KeyError(f"unknown space {name!r}; choose one of: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}").SPACE
