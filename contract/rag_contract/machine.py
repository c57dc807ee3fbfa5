"""What this CPU can do, read once from /proc/cpuinfo: llama.cpp's settings (AMX) and the answer
cross-encoder's precision (bf16 where AMX multiplies it) both read it."""

from __future__ import annotations

from pathlib import Path


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo cannot be read, e.g. not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()
