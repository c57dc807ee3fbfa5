"""llama.cpp on CPUs where its native code crashes (issue 23): the decision, and a probe that
survives a real segfault in its child.

The decision is tested on AMX and non-AMX flag sets, whatever CPU runs the tests. The crash is
real: the probe's child dereferences NULL (`ctypes.string_at(0)`) when RAG_GENERATE_PROBE_FAULT
asks it to, as llama.cpp's AMX repack does on the first multi-token batch.
"""

from __future__ import annotations

import pytest
from gradio_client import Client
from rag_contract.machine import cpu_flags
from rag_generate.native import (
    FAULT_ENV,
    LlamaParams,
    choose_params,
    describe_exit,
    probe,
    safe_params,
    settle,
)

from tests.tiny_models import make_gguf

# Flag sets copied from /proc/cpuinfo of the two kinds of machine this project has run on.
XEON_AMX = frozenset(
    "fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8".split()
)
EPYC = frozenset("fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx512vbmi".split())
OLD_XEON = frozenset("fpu sse2 avx avx2 fma f16c".split())


@pytest.mark.parametrize(
    "flags, repack",
    [(XEON_AMX, False), (EPYC, True), (OLD_XEON, True), (frozenset(), True), (frozenset({"amx_tile"}), False)],
)
def test_auto_turns_weight_repacking_off_exactly_on_amx_cpus(flags, repack):
    params = choose_params(flags, "auto")
    assert params.extra_buffers is repack
    assert ("this CPU has AMX" in params.why) is (not repack)
    if not repack:
        assert "20824" in params.why  # the reason names the upstream bug


def test_the_setting_overrides_the_cpu_and_a_bad_value_says_what_is_allowed():
    assert choose_params(XEON_AMX, "on").extra_buffers is True
    assert choose_params(EPYC, "off").extra_buffers is False
    assert choose_params(EPYC, "").extra_buffers is True  # empty means auto
    with pytest.raises(ValueError, match="auto, on or off"):
        choose_params(EPYC, "maybe")


def test_the_safe_settings_turn_repacking_off_and_there_is_nothing_safer_after_them():
    safe = safe_params(LlamaParams(True, "x"))
    assert safe is not None and safe.extra_buffers is False and "GENERATE_LLAMA_EXTRA_BUFFERS=off" in safe.why
    assert safe_params(safe) is None


def test_cpu_flags_reads_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 amx_tile amx_int8\n\nprocessor\t: 1\nflags\t\t: fpu avx2 amx_tile amx_int8\n"
    )
    assert cpu_flags(str(info)) == {"fpu", "avx2", "amx_tile", "amx_int8"}
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()
    assert choose_params(cpu_flags(str(info))).extra_buffers is False


def test_exit_codes_read_as_words():
    assert "SIGSEGV" in describe_exit(-11) and "segmentation fault" in describe_exit(-11)
    assert describe_exit(3) == "exit code 3"


def test_the_launcher_says_why_a_space_died_and_what_to_set():
    from pipeline.launcher import explain_exit

    msg = explain_exit("generate", -11)
    assert "SIGSEGV" in msg and "GENERATE_LLAMA_EXTRA_BUFFERS=off" in msg and "20824" in msg
    assert "GENERATE_LLAMA_EXTRA_BUFFERS" not in explain_exit("retrieve", -11)
    assert "memory" in explain_exit("retrieve", -9)
    assert "Python error" in explain_exit("rerank", 1)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    return make_gguf(tmp_path_factory.mktemp("native") / "tiny.gguf")


def test_the_probe_decodes_a_real_model_and_caches_the_verdict(tiny_gguf, tmp_path):
    params = LlamaParams(True, "test")
    first = probe(tiny_gguf, params, cache_dir=str(tmp_path), flags=EPYC)
    assert first.ok and not first.cached and "200-token batch" in first.detail
    again = probe(tiny_gguf, params, cache_dir=str(tmp_path), flags=EPYC)
    assert again.ok and again.cached
    # Another CPU is another verdict: nothing cached for it yet.
    assert not probe(tiny_gguf, params, cache_dir=str(tmp_path), flags=XEON_AMX).cached


def test_a_probe_child_that_segfaults_is_reported_and_the_safe_settings_are_tried(tiny_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "extra-buffers")  # dies only with repacking on, as on AMX
    report = settle(tiny_gguf, choose_params(EPYC), cache_dir=str(tmp_path), flags=EPYC)
    assert report.params is not None and report.params.extra_buffers is False
    assert [t.ok for t in report.tries] == [False, True]
    assert "SIGSEGV" in report.tries[0].detail
    assert report.as_dict()["fell_back"] is True and "crashed" in report.summary()
    # The crash is cached too: the next start does not crash a child again.
    monkeypatch.delenv(FAULT_ENV)
    again = settle(tiny_gguf, choose_params(EPYC), cache_dir=str(tmp_path), flags=EPYC)
    assert [t.cached for t in again.tries] == [True, True] and again.params.extra_buffers is False


def test_when_every_probe_crashes_there_are_no_settings(tiny_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "always")
    report = settle(tiny_gguf, choose_params(XEON_AMX), cache_dir=str(tmp_path), flags=XEON_AMX)
    assert report.params is None and len(report.tries) == 1  # AMX already chose the safe settings


# -- the Space survives a crashing probe, and says so -----------------------------------------------


def _space(start_space, tmp_path_factory, fault: str):
    root = tmp_path_factory.mktemp(f"native-{fault}")
    return start_space(
        "generate",
        GENERATE_MODEL_PATH=make_gguf(root / "tiny.gguf"),
        GENERATE_N_CTX="1024",
        GENERATE_CACHE_DIR=str(root / "cache"),
        GENERATE_LLAMA_EXTRA_BUFFERS="on",  # the first try repacks on any CPU, like auto on a non-AMX one
        HF_TOKEN="",
        **{FAULT_ENV: fault},
    )


SOURCES = ["Tides are caused by the gravitational pull of the moon and the sun on the oceans."]


def test_the_space_answers_with_the_safe_settings_after_a_crash_and_says_so(start_space, tmp_path_factory):
    server = _space(start_space, tmp_path_factory, "extra-buffers")
    client = Client(server.url, verbose=False)
    status = client.predict(api_name="/status")
    assert status["llama-cpp"] == "ready"
    native = status["llama_cpp_native"]
    assert native["extra_buffers"] is False and native["fell_back"] is True and "SIGSEGV" in native["probe"]
    _, info = client.predict("What causes tides?", SOURCES, [], 16, 0.0, 0.95, 40, api_name="/answer")
    assert info["backend"] == "llama-cpp"
    assert (
        info["llama_cpp_native"]["extra_buffers"] is False
        and "GENERATE_LLAMA_EXTRA_BUFFERS=off" in info["llama_cpp_native"]["why"]
    )
    assert "llama.cpp on this CPU:** weight repacking is off" in _page_config(server.url)  # the UI header says it too


def test_the_space_moves_on_to_the_next_backend_when_every_probe_crashes(start_space, tmp_path_factory):
    server = _space(start_space, tmp_path_factory, "always")
    client = Client(server.url, verbose=False)
    status = client.predict(api_name="/status")
    assert (
        status["llama-cpp"].startswith("unavailable: llama.cpp crashed in a test decode")
        and "SIGSEGV" in status["llama-cpp"]
    )
    assert "GENERATE_MODEL_PATH" in status["llama-cpp"]  # and what to do
    assert status["llama_cpp_native"]["extra_buffers"] is None
    text, info = client.predict("What causes tides?", SOURCES, [], 16, 0.0, 0.95, 40, api_name="/answer")
    assert info["backend"] == "extractive" and "moon" in text
    llama = next(a for a in info["attempts"] if a["backend"] == "llama-cpp")
    assert llama["outcome"] == "unavailable" and "SIGSEGV" in llama["detail"]
    assert "llama.cpp on this CPU:** llama-cpp is skipped" in _page_config(server.url)
    assert "llama.cpp probe with GENERATE_LLAMA_EXTRA_BUFFERS=on failed" in server.log()


def _page_config(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url + "config", timeout=10) as r:
        return r.read().decode()
