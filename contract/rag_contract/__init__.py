"""The contract between the stages, in one place: the documents table, chat messages, the Hub
and offline checks, the settings readers, and the answer cross-encoder that rerank and generate both read
(`answer_model`, imported on its own: it needs numpy, and torch when it loads).

One copy lives in the repo (`contract/rag_contract`); `python -m pipeline deploy` vendors it into
each Space folder beside the Space's own package, so every Space still deploys alone. Nothing here
imports a Space or Gradio; it has its own tests (tests/test_contract_pkg.py, tests/test_answer_model.py).
"""

from .hub import hub_reachable, offline
from .messages import message_text
from .settings import EnvReader
from .table import Table, TableError, clean, order_by_score, to_table

__all__ = [
    "EnvReader",
    "Table",
    "TableError",
    "clean",
    "hub_reachable",
    "message_text",
    "offline",
    "order_by_score",
    "to_table",
]
