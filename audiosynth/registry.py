"""Registries of named pieces (tasks, corpus sources, effects): one place that keeps each name
once and names the known ones when a lookup fails."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """``name -> piece`` of one ``kind`` (e.g. "task"); `add` refuses a name twice (``error``,
    with ``taken``: the message), `find` raises ``error`` naming the registered names."""

    def __init__(self, kind: str, error: type[Exception] = ValueError, taken: str = "{kind} {name!r} is already registered") -> None:
        super().__init__()
        self.kind, self.error, self.taken = kind, error, taken

    def add(self, name: str, piece: T) -> T:
        if name in self:
            raise self.error(self.taken.format(kind=self.kind, name=name))
        self[name] = piece
        return piece

    def find(self, name: str) -> T:
        try:
            return self[name]
        except KeyError:
            raise self.error(f"unknown {self.kind} {name!r} (registered: {', '.join(sorted(self))})") from None
