"""rag_retrieve: the Retrieve Space's logic. app.py builds the UI on top of it."""

from .documents import Chunk, Document, IngestError, load_file, load_paths
from .index import Hit, HybridIndex, IndexMismatchError
from .retriever import IngestReport, Retriever

__all__ = [
    "Chunk",
    "Document",
    "Hit",
    "HybridIndex",
    "IndexMismatchError",
    "IngestError",
    "IngestReport",
    "Retriever",
    "load_file",
    "load_paths",
]
