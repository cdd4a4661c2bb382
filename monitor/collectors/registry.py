"""A registry of kinds read from `monitor/collector_kinds.py`: a name's module is imported on first use.

It is a mapping from name to the module's `KIND`, in the order of the names, and follows
the names as they are when read (a kind added to them is found at once).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Name → the `KIND` of the module `modules[name]` names."""

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._modules = modules

    def __getitem__(self, name: str) -> T:
        kind: T = importlib.import_module(self._modules[name]).KIND
        return kind

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._modules))

    def __len__(self) -> int:
        return len(self._modules)


__all__ = ["Registry"]
