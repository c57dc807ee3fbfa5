"""rag_rerank: the Rerank Space's logic. app.py builds the UI on top of it."""

from rag_contract.table import TableError, to_table

from .reranker import Reranker, RerankResult
from .scorers import CrossEncoderScorer, InputOrderScorer, NotACrossEncoderError, load_scorer

__all__ = [
    "CrossEncoderScorer",
    "InputOrderScorer",
    "NotACrossEncoderError",
    "RerankResult",
    "Reranker",
    "TableError",
    "load_scorer",
    "to_table",
]
