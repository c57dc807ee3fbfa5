"""pipeline: composes the retrieve, rerank and generate Spaces through gradio_client.

from pipeline import RAGPipeline
answer = RAGPipeline().ask("What causes tides?")
"""

from .clients import StageClient, StageError
from .launcher import DEFAULT_PORTS, Service, Stack
from .rag import Answer, RAGPipeline, Source

__all__ = ["Answer", "DEFAULT_PORTS", "RAGPipeline", "Service", "Source", "Stack", "StageClient", "StageError"]
