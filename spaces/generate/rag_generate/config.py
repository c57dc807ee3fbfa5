"""Every setting of the Generate Space, read from the environment in one place.

The README's table mirrors `ENV`. Gradio itself reads GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT. HF_TOKEN is read here and handed to the client only; it is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rag_contract.settings import EnvReader

# name: (default, description)
ENV = {
    "GENERATE_MODEL_REPO": (
        "HuggingFaceTB/SmolLM2-360M-Instruct-GGUF",
        "Hub repo of the GGUF (135M: HuggingFaceTB/SmolLM2-135M-Instruct-GGUF)",
    ),
    "GENERATE_MODEL_FILE": (
        "smollm2-360m-instruct-q8_0.gguf",
        "GGUF file in that repo (135M: smollm2-135m-instruct-q8_0.gguf)",
    ),
    "GENERATE_MODEL_PATH": ("", "a local GGUF file; overrides the repo and file"),
    "GENERATE_REQUANTIZE": (
        "q8_0",
        "format the packaged Q4_1 model is converted to once, for speed: q8_0, q4_0 or none",
    ),
    "GENERATE_CACHE_DIR": ("", "where requantised models are kept (empty: ~/.cache/rag_generate)"),
    "GENERATE_N_CTX": ("2048", "llama-cpp context window in tokens"),
    "GENERATE_LLAMA_EXTRA_BUFFERS": (
        "auto",
        "llama.cpp weight repacking: auto turns it off on CPUs with AMX, where it crashes "
        "(llama.cpp issue 20824); on or off force it. The settings are tried in a child process "
        "first",
    ),
    "GENERATE_THREADS": ("", "CPU threads for llama-cpp; empty uses every core"),
    "GENERATE_SOURCE_TOKENS": (
        "450",
        "most tokens of source sentences /answer puts in the prompt (latency vs. evidence)",
    ),
    "GENERATE_EVIDENCE_EMBEDDER": (
        "sentence-transformers/all-MiniLM-L6-v2",
        "embedding model that helps BM25 choose the answer sentence (Hub id or local folder; offline, the packaged copy); none turns it off",
    ),
    "GENERATE_ANSWER_READER": (
        "",
        "folder of the answer cross-encoder that chooses and grades the answer sentence (empty: models/answer-reader, "
        "shipped with the Space); none turns it off, and BM25 with the embedder choose",
    ),
    "GENERATE_READER_QUANTIZE": (
        "none",
        "'int8' runs the answer reader's Linear layers in dynamic int8 (faster on CPUs without AMX; "
        "none computes in bf16 on AMX, else fp32)",
    ),
    "GENERATE_ASK_MODEL": (
        "when_needed",
        "when /answer asks the model: when_needed asks it only when what it writes could change the "
        "verdict (else the answer reader's verdict stands, the same one, sooner); always asks it every time",
    ),
    "GENERATE_MAX_TOKENS": ("256", "default max_tokens of an answer"),
    "GENERATE_TIMEOUT_S": ("60", "a backend that gives no token for this long is skipped"),
    "GENERATE_QUEUE_SIZE": (
        "24",
        "most requests waiting for the model; past it a call is refused at once as busy (one answer "
        "takes ~2-3 s on 2 cores, so 24 wait at most about a minute)",
    ),
    "GENERATE_API_MODEL": ("HuggingFaceTB/SmolLM2-360M-Instruct", "model of the Inference API fallback"),
    "GENERATE_API_BASE_URL": ("", "an OpenAI-compatible server to use instead of the Hugging Face API"),
    "GENERATE_API_N_CTX": ("8192", "context window of the API model"),
    "HF_TOKEN": ("", "token for the Inference API (never logged)"),
}

_env = EnvReader(ENV)
ASK_MODEL = ("when_needed", "always")


@dataclass(frozen=True)
class Settings:
    model_repo: str
    model_file: str
    model_path: str
    requantize: str
    cache_dir: str
    n_ctx: int
    llama_extra_buffers: str
    threads: int | None
    source_tokens: int
    evidence_embedder: str
    answer_reader: str
    reader_quantize: str
    max_tokens: int
    timeout_s: float
    queue_size: int
    api_model: str
    api_base_url: str
    api_n_ctx: int
    hf_token: str = field(repr=False, default="")
    ask_model: str = "when_needed"  # or "always"
    # Tuned on the QA set's development half (BENCHMARKS.md), not deployment settings: the most
    # evidence sentences an /answer prompt holds, and llama-cpp's repeat penalty for answers.
    evidence_sentences: int = 10
    repeat_penalty: float = 1.1

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            model_repo=_env.str("GENERATE_MODEL_REPO"),
            model_file=_env.str("GENERATE_MODEL_FILE"),
            model_path=_env.str("GENERATE_MODEL_PATH"),
            requantize=_env.str("GENERATE_REQUANTIZE").lower(),
            cache_dir=_env.str("GENERATE_CACHE_DIR"),
            n_ctx=_env.int("GENERATE_N_CTX"),
            llama_extra_buffers=_env.str("GENERATE_LLAMA_EXTRA_BUFFERS").lower(),
            threads=_env.int("GENERATE_THREADS") if _env.str("GENERATE_THREADS") else None,
            source_tokens=_env.int("GENERATE_SOURCE_TOKENS"),
            evidence_embedder=_env.str("GENERATE_EVIDENCE_EMBEDDER"),
            answer_reader=_env.str("GENERATE_ANSWER_READER"),
            reader_quantize=_env.str("GENERATE_READER_QUANTIZE").lower(),
            max_tokens=_env.int("GENERATE_MAX_TOKENS"),
            timeout_s=_env.float("GENERATE_TIMEOUT_S"),
            queue_size=_env.int("GENERATE_QUEUE_SIZE"),
            api_model=_env.str("GENERATE_API_MODEL"),
            api_base_url=_env.str("GENERATE_API_BASE_URL"),
            api_n_ctx=_env.int("GENERATE_API_N_CTX"),
            hf_token=_env.str("HF_TOKEN"),
            ask_model=_ask_model(_env.str("GENERATE_ASK_MODEL").lower()),
        )


def _ask_model(value: str) -> str:
    if value not in ASK_MODEL:
        raise ValueError(f"GENERATE_ASK_MODEL must be one of {', '.join(ASK_MODEL)}, but got {value!r}")
    return value
