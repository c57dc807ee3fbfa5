"""Is the Hugging Face Hub there? Asked once, quickly, so an offline start does not wait on retries."""

from __future__ import annotations

import os


def offline() -> bool:
    """HF_HUB_OFFLINE is set (to 1, true, yes or on)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(repo_id: str, timeout: float = 3.0) -> bool:
    """True when the Hub answers for `repo_id` within `timeout` seconds. A local folder, or
    HF_HUB_OFFLINE, is never looked up."""
    if offline() or os.path.isdir(repo_id):
        return False
    try:
        from huggingface_hub import model_info

        model_info(repo_id, timeout=timeout)
        return True
    except Exception:  # no network, no such repo, a gated one: all mean "not from the Hub"
        return False
