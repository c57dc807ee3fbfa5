"""Generation speed of SmolLM2-360M's shape through the Generate Space's own code path.

    python benchmarks/generation_speed.py [--json] [--rounds 3]

Writes (once, cached in .cache/bench/) a GGUF with SmolLM2-360M-Instruct's exact shape and
random weights, Q8_0: 32 layers, hidden 960, 15 heads, 5 KV heads, FFN 2560, vocab 49152.
Compute and memory traffic match the real model. Reports:
  prompt_tok_s            prompt evaluation through LlamaCppBackend.stream (no cached prefix)
  decode_tok_s            generation speed after the first token
  mem_read_gb_s           measured memory read bandwidth (multi-threaded sum over 2 GiB)
  decode_roof_tok_s       bandwidth / model bytes: decoding reads every weight once per token
  first_token_s/answer_default   the model's first token in GenerateAPI.answer with 5 sources of
                          ~250 tokens and the default settings (system prompt KV state cached)
  first_text_s/answer_default    the first text a person sees: the judged answer (4 tokens at most)
  first_token_s/answer_no_prefix_cache   the first token with the prefix cache defeated
  overhead_ratio          Space path / raw llama-cpp create_completion on the same prompt
  first_token_s/sources_<n>   first token by source budget (the context-size trade-off)
  repack_<on|off>/<model>  prompt and decode speed with llama.cpp's weight repacking on and off
                          (GENERATE_LLAMA_EXTRA_BUFFERS), each in a fresh process, so a crash
                          (the AMX path, llama.cpp issue 20824) is reported, not fatal
  decode_tok_s/model_thread, /second_caller, second_caller_ratio
                          raw decode from the thread that owns the model and from another one,
                          in a fresh process: why the Space runs all compute on one thread
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from _common import ROOT, Report, median
from rag_contract.machine import cpu_flags  # noqa: E402
from rag_generate.api import GenerateAPI  # noqa: E402
from rag_generate.backends import Sampling
from rag_generate.config import Settings  # noqa: E402
from rag_generate.llama import LlamaCppBackend  # noqa: E402
from rag_generate.native import AMX_FLAGS  # noqa: E402

from tests.tiny_models import make_gguf  # noqa: E402

PASSAGE = (
    "Ocean tides are the periodic rise and fall of sea level caused by the combined gravitational forces of the moon and the sun "
    "and by the rotation of the Earth. Spring tides occur when the sun and moon align, neap tides when they are at right angles. "
)


def model_file() -> str:
    path = ROOT / ".cache" / "bench" / "smollm2-360m-shape-q8_0-tied.gguf"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        print("writing the SmolLM2-360M-shaped GGUF (once) ...", file=sys.stderr)
        make_gguf(
            tmp, layers=32, hidden=960, heads=15, kv_heads=5, ffn=2560, vocab=49152, qtype="Q8_0", tie_embeddings=True
        )
        os.replace(tmp, path)
    return str(path)


def read_bandwidth_gb_s() -> float:
    import torch

    buf = torch.ones(2**29, dtype=torch.float32)  # 2 GiB
    buf.sum()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        buf.sum()
        times.append(time.perf_counter() - t)
    return buf.numel() * 4 / median(times) / 1e9


def sources(n: int, tokens_each: int, count) -> list[dict]:
    out = []
    for i in range(n):
        text = ""
        while count(text) < tokens_each:
            text += PASSAGE
        out.append({"id": f"s{i}", "text": text, "source": f"doc{i}.md"})
    return out


def thread_probe(path: str, rounds: int) -> tuple[float, float]:
    """Decode speed from the thread that first used the model, and from a second thread.

    llama.cpp and torch share one libgomp; each thread that calls into it gets its own
    OpenMP team, and on 2 cores two teams slow each other down.
    """
    import queue
    import threading

    from llama_cpp import Llama
    from rag_contract.machine import cpu_flags
    from rag_generate.native import choose_params, model_params

    # As the Space loads it: weight repacking off where the CPU has AMX (llama.cpp issue 20824).
    with model_params(choose_params(cpu_flags())):
        llm = Llama(model_path=path, n_ctx=2048, n_threads=os.cpu_count() or 2, verbose=False)
    tokens = llm.tokenize(PASSAGE.encode())[:48]
    n_vocab = llm.n_vocab()

    def decode(n: int = 48) -> float:
        llm.reset()
        llm.eval(tokens)
        t = time.perf_counter()
        for _ in range(n):
            # without logits_all, llama-cpp-python keeps no scores: read the last row from the context
            last = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))
            llm.eval([int(last.argmax())])
        return n / (time.perf_counter() - t)

    jobs: queue.Queue = queue.Queue()
    results: queue.Queue = queue.Queue()

    def owner() -> None:
        while (job := jobs.get()) is not None:
            results.put(job())

    thread = threading.Thread(target=owner)
    thread.start()
    on_owner = []
    for _ in range(rounds):
        jobs.put(decode)
        on_owner.append(results.get())
    elsewhere = [decode() for _ in range(rounds)]  # the main thread, while the owner lives
    jobs.put(None)
    thread.join()
    llm.close()  # before interpreter exit, or llama.cpp's teardown aborts the process
    return median(on_owner), median(elsewhere)


def repack_probe(path: str, on_off: str, rounds: int) -> dict:
    """Prompt and decode speed of raw llama-cpp with weight repacking on or off (child process)."""
    from llama_cpp import Llama
    from rag_generate.native import LlamaParams, model_params

    with model_params(LlamaParams(on_off == "on", "benchmark")):
        llm = Llama(model_path=path, n_ctx=1024, n_batch=512, n_threads=os.cpu_count() or 2, verbose=False)
    prompt = llm.tokenize((PASSAGE * 6).encode())[:400]
    n_vocab = llm.n_vocab()
    pe, dec = [], []
    for _ in range(rounds):
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        pe.append(len(prompt) / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(32):
            last = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))
            llm.eval([int(last.argmax())])
        dec.append(32 / (time.perf_counter() - t))
    llm.close()
    return {"prompt_tok_s": median(pe), "decode_tok_s": median(dec), "prompt_tokens": len(prompt)}


def packaged_variants(cache_dir: str) -> dict[str, str]:
    """The packaged SmolLM2-135M as the Space serves it (Q8_0) and as Q4_0, which llama.cpp
    repacks on AVX2/AVX-512 CPUs (CPU_REPACK), so repacking matters most there."""
    from rag_generate.modelfiles import packaged_model_path, requantized

    src = packaged_model_path()
    if not src:
        return {}
    cache = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "rag_generate")
    return {"135m_q8_0": requantized(src, cache, ftype="q8_0"), "135m_q4_0": requantized(src, cache, ftype="q4_0")}


def repack_rows(report: Report, models: dict[str, str], rounds: int) -> None:
    from rag_generate.native import describe_exit

    for name, path in models.items():
        for on_off in ("on", "off"):
            done = subprocess.run(
                [sys.executable, __file__, "--repack-probe", path, on_off, "--rounds", str(rounds)],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                report.add(
                    f"repack_{on_off}/{name}", float("nan"), "tok/s", f"crashed: {describe_exit(done.returncode)}"
                )
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            report.add(
                f"repack_{on_off}/{name}/prompt_tok_s", r["prompt_tok_s"], "tok/s", f"{r['prompt_tokens']}-token batch"
            )
            report.add(f"repack_{on_off}/{name}/decode_tok_s", r["decode_tok_s"], "tok/s", "32 greedy steps")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--thread-probe", metavar="GGUF", help=argparse.SUPPRESS)
    ap.add_argument("--repack-probe", nargs=2, metavar=("GGUF", "ON_OFF"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.thread_probe:
        print(json.dumps(thread_probe(args.thread_probe, args.rounds)))
        return 0
    if args.repack_probe:
        print(json.dumps(repack_probe(*args.repack_probe, args.rounds)))
        return 0
    report = Report("Generation speed (SmolLM2-360M shape, Q8_0, random weights)", args.json)
    path = model_file()
    model_bytes = os.path.getsize(path)
    settings = Settings.from_env()
    # ask_model: the model is timed on every answer, also where the reader settles the verdict
    settings = Settings(**{**settings.__dict__, "model_path": path, "hf_token": "", "ask_model": "always"})
    api = GenerateAPI(settings)
    llama: LlamaCppBackend = api.llama
    llama.warm_up()
    llm = llama.llm
    report.add("model_mb", model_bytes / 1e6, "MB", f"n_ctx={llama.n_ctx}, threads={llama.n_threads}")
    native = llama.native
    flags = " ".join(sorted(AMX_FLAGS & cpu_flags())) or "none"
    report.add(
        "settings_in_use",
        0,
        "-",
        f"weight repacking {'on' if native.params.extra_buffers else 'off'}: {native.params.why} (AMX flags: {flags}; probe: {native.summary()})",
    )
    repack_rows(report, {"360m_shape_q8_0": path, **packaged_variants(settings.cache_dir)}, args.rounds)

    # -- prompt eval and decode through the backend -------------------------------------
    prompt_msgs = [{"role": "system", "content": "You are a benchmark."}, {"role": "user", "content": PASSAGE * 4}]
    n_prompt = llama.count_messages(prompt_msgs)
    pe, dec, space_total, raw_total = [], [], [], []
    decode_tokens = 64
    tokens = llama._tokens(llama._render(prompt_msgs))
    for _ in range(args.rounds):
        llm.reset()  # no reuse of an earlier prompt's KV
        t = time.perf_counter()
        first, n = None, 0
        for _piece in llama.stream(prompt_msgs, Sampling(max_tokens=decode_tokens, temperature=0)):
            n += 1
            if first is None:
                first = time.perf_counter() - t
        total = time.perf_counter() - t
        pe.append(n_prompt / first)
        dec.append((n - 1) / (total - first))
        space_total.append(total)
        llm.reset()
        t = time.perf_counter()
        # on the backend's model thread, as the Space runs it (see ModelThread)
        llama.model_thread.call(
            lambda: list(llm.create_completion(tokens, max_tokens=decode_tokens, temperature=0, stream=True))
        )
        raw_total.append(time.perf_counter() - t)
    bw = read_bandwidth_gb_s()
    report.add("prompt_tok_s", median(pe), "tok/s", f"{n_prompt}-token prompt, no cached prefix")
    report.add("decode_tok_s", median(dec), "tok/s", f"{decode_tokens} tokens")
    report.add("mem_read_gb_s", bw, "GB/s", "torch sum over 2 GiB")
    report.add("decode_roof_tok_s", bw * 1e9 / model_bytes, "tok/s", "bandwidth / model bytes")
    report.add("decode_fraction_of_roof", median(dec) / (bw * 1e9 / model_bytes), "ratio", "target >= 0.85")
    report.add(
        "overhead_ratio",
        median(space_total) / median(raw_total),
        "ratio",
        "Space stream / raw create_completion, same prompt; target <= 1.05",
    )

    # -- TTFT of the default grounded answer ---------------------------------------------
    docs = sources(5, 250, llama.count)

    def ttft(defeat_prefix: bool) -> tuple[float, float]:
        """(the model's first token, the first text a person sees), seconds from the call.

        /answer sends the sources at once and the text only once the model has finished and its
        answer has been judged against them, so the two differ by the whole decode."""
        saved = llama._prefix_state
        if defeat_prefix:
            llama._prefix_state = None
        with llama._generate_lock:
            llm.reset()  # forget the previous request's KV, as after a request with another prompt
        t = time.perf_counter()
        info: dict = {}
        for _text, info in api.answer("What causes spring tides?", docs, [], 4, 0.0, 0.95, 40):
            pass
        shown = time.perf_counter() - t
        llama._prefix_state = saved
        return info["timings"]["first_token_s"], shown

    warm = [ttft(False) for _ in range(args.rounds)]
    cold = [ttft(True) for _ in range(args.rounds)]
    budget_note = f"5 sources x ~250 tokens, source budget {settings.source_tokens}"
    report.add("first_token_s/answer_default", median([w[0] for w in warm]), "s", f"{budget_note}; target <= 3")
    report.add("first_text_s/answer_default", median([w[1] for w in warm]), "s", "the judged answer, 4 tokens at most")
    report.add(
        "first_token_s/answer_no_prefix_cache",
        median([c[0] for c in cold]),
        "s",
        "system prompt re-evaluated every time",
    )
    report.add("prefix_cache_gain_s", median([c[0] for c in cold]) - median([w[0] for w in warm]), "s")

    # -- the context-size trade-off ------------------------------------------------------
    for budget in (256, 512, 1024, 1536):
        api.settings = Settings(**{**settings.__dict__, "source_tokens": budget})
        report.add(
            f"first_token_s/sources_{budget}",
            median([ttft(False)[0] for _ in range(args.rounds)]),
            "s",
            f"source budget {budget} tokens",
        )
    api.settings = settings

    # -- why all compute runs on one thread ----------------------------------------------
    # In a fresh process: this one has already called OpenMP (llama.cpp, torch) from
    # several threads, which is the very effect being measured.
    probe = subprocess.run(
        [sys.executable, __file__, "--thread-probe", path, "--rounds", str(args.rounds)], capture_output=True, text=True
    )
    if probe.returncode != 0:  # reported, not fatal: the rows above still print
        report.add(
            "thread_probe", float(probe.returncode), "exit", f"the probe's process failed: {probe.stderr[-200:]!r}"
        )
    else:
        one, second = json.loads(probe.stdout.strip().splitlines()[-1])
        report.add(
            "decode_tok_s/model_thread",
            one,
            "tok/s",
            "raw eval loop, every call from the thread that first used the model",
        )
        report.add(
            "decode_tok_s/second_caller", second, "tok/s", "the same loop from another thread while that one lives"
        )
        report.add("second_caller_ratio", second / one, "ratio", "why every call goes to one thread")
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
