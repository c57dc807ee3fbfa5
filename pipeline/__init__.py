"""pipeline: composes the retrieve, rerank and generate Spaces through gradio_client.

from pipeline import RAGPipeline
answer = RAGPipeline().ask("What causes tides?")
"""

from .clients import StageClient, StageError
from .launcher import DEFAULT_PORTS, Service, Stack
from .rag import Answer, Passage, RAGPipeline

__all__ = ["Answer", "DEFAULT_PORTS", "RAGPipeline", "Service", "Passage", "Stack", "StageClient", "StageError"]
