"""rag_generate: the Generate Space's logic. app.py builds the UI on top of it."""

from .backends import BackendUnavailable, ExtractiveBackend, InferenceAPIBackend, Sampling
from .chain import AllBackendsFailed, FallbackChain
from .llama import LlamaCppBackend
from .prompts import GROUNDED_SYSTEM_PROMPT, Source, build_messages, fit_sources, parse_citations

__all__ = [
    "AllBackendsFailed",
    "BackendUnavailable",
    "ExtractiveBackend",
    "FallbackChain",
    "GROUNDED_SYSTEM_PROMPT",
    "InferenceAPIBackend",
    "LlamaCppBackend",
    "Sampling",
    "Source",
    "build_messages",
    "fit_sources",
    "parse_citations",
]
