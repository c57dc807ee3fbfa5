"""Reads a Space's settings from the environment, each with the one default its config declares.

Usage (in a Space's config.py):
    ENV = {"RERANK_BATCH_SIZE": ("32", "pairs per forward pass"), ...}
    env = EnvReader(ENV)
    env.int("RERANK_BATCH_SIZE")   # 32, or the variable's value; a clear error when it is not a number
"""

from __future__ import annotations

import os
from typing import Mapping

_ON = ("on", "1", "true", "yes")
_OFF = ("off", "0", "false", "no")


class EnvReader:
    """The settings `declared` ({NAME: (default, description)}), read from `environ` (os.environ)."""

    def __init__(self, declared: Mapping[str, tuple[str, str]], environ: Mapping[str, str] | None = None):
        self.declared = declared
        self.environ = os.environ if environ is None else environ

    def str(self, name: str) -> str:
        """The value, stripped; the declared default when it is unset or empty (so `NAME=` in a
        Space's variables means the default, not an error). An undeclared name is a bug: KeyError."""
        default = self.declared[name][0]
        return self.environ.get(name, "").strip() or default.strip()

    def int(self, name: str, *, empty_is_none: bool = False) -> int | None:
        raw = self.str(name)
        if empty_is_none and not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, but got {raw!r}") from None

    def float(self, name: str) -> float:
        raw = self.str(name)
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number, but got {raw!r}") from None

    def switch(self, name: str) -> bool:
        raw = self.str(name).lower()
        if raw not in _ON + _OFF:
            raise ValueError(f"{name} must be on or off, but got {raw!r}")
        return raw in _ON
