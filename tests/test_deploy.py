"""`python -m pipeline deploy` against a stand-in Hub on 127.0.0.1: what it creates, uploads and
sets, that --dry-run touches nothing, and that no secret reaches the output."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SPACES
from tests.hub_stub import HubStub

HF_TOKEN = "hf_DEPLOYsecret0123456789"
WRITE_TOKEN = "write-DEPLOY-secret-42"


@pytest.fixture
def hub():
    h = HubStub()
    yield h
    h.close()


def deploy(hub: HubStub, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_OFFLINE": "0",
        "HF_TOKEN": HF_TOKEN,
        "RETRIEVE_WRITE_TOKEN": WRITE_TOKEN,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "deploy", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )


def tracked(folder) -> set[str]:
    """The files git tracks in a folder: what a fresh clone has, so what a deploy must upload."""
    out = subprocess.run(["git", "ls-files"], cwd=folder, capture_output=True, text=True, check=True).stdout.split()
    return {f for f in out if "__pycache__" not in f}


def test_dry_run_lists_every_file_and_touches_nothing(hub):
    out = deploy(hub, "--owner", "alice", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert hub.requests == []
    for name in ("retrieve", "rerank", "generate", "chat"):
        assert f"create or update Space alice/rag-{name} (sdk gradio, public)" in out.stdout
    for f in tracked(SPACES / "generate"):
        assert f"  upload {f}  (spaces/generate/{f}," in out.stdout
    assert (
        "  upload pipeline/rag.py  (pipeline/rag.py," in out.stdout
        and "secret RETRIEVE_WRITE_TOKEN = (hidden)" in out.stdout
    )
    assert "variable PIPELINE_GENERATE_URL = alice/rag-generate" in out.stdout
    assert HF_TOKEN not in out.stdout + out.stderr and WRITE_TOKEN not in out.stdout + out.stderr


def test_deploy_creates_uploads_and_configures_four_spaces(hub):
    out = deploy(hub, "--owner", "alice", "--prefix", "demo-", "--private")
    assert out.returncode == 0, out.stdout + out.stderr
    assert set(hub.repos) == {f"alice/demo-{n}" for n in ("retrieve", "rerank", "generate", "chat")}
    for repo_id, repo in hub.repos.items():
        assert repo["type"] == "space" and repo["sdk"] == "gradio" and repo["visibility"] == "private", repo_id
        assert f"https://huggingface.co/spaces/{repo_id}" in out.stdout
    model = {f"models/answer-reader/{f}" for f in tracked(ROOT / "models" / "answer-reader")}
    contract = {f"rag_contract/{f}" for f in tracked(ROOT / "contract" / "rag_contract")}
    assert "rag_contract/table.py" in contract
    assert "models/answer-reader/model.safetensors" in model
    for name in ("retrieve", "rerank", "generate"):
        files = hub.repos[f"alice/demo-{name}"]["files"]
        # The folder as is (nothing missing, no index or caches), the contract package beside it;
        # rerank and generate also get the answer model.
        assert set(files) == tracked(SPACES / name) | contract | (model if name != "retrieve" else set())
        assert files["app.py"] == (SPACES / name / "app.py").read_bytes()
    weights = hub.repos["alice/demo-generate"]["files"]["models/answer-reader/model.safetensors"]
    assert weights == (ROOT / "models" / "answer-reader" / "model.safetensors").read_bytes()
    chat = hub.repos["alice/demo-chat"]
    assert {
        "app.py",
        "README.md",
        "requirements.txt",
        "pipeline/__init__.py",
        "pipeline/chat.py",
        "pipeline/rag.py",
        "rag_contract/table.py",
    } <= set(chat["files"])
    # Secrets where they are needed, with the caller's values; variables point the chat at the stages.
    assert hub.repos["alice/demo-retrieve"]["secrets"] == {"RETRIEVE_WRITE_TOKEN": WRITE_TOKEN}
    assert hub.repos["alice/demo-generate"]["secrets"] == {"HF_TOKEN": HF_TOKEN}
    assert hub.repos["alice/demo-rerank"]["secrets"] == {}
    assert chat["secrets"] == {"RETRIEVE_WRITE_TOKEN": WRITE_TOKEN, "HF_TOKEN": HF_TOKEN}
    assert chat["variables"] == {
        f"PIPELINE_{s.upper()}_URL": f"alice/demo-{s}" for s in ("retrieve", "rerank", "generate")
    }
    assert hub.validated == [("space", [])] * 4  # each Space card's front matter was checked, and passed
    # Every call was authenticated (the stand-in answers 404 to any call it does not know, which fails the deploy);
    # no secret in what the command printed.
    assert all(r["auth"] == f"Bearer {HF_TOKEN}" for r in hub.requests)
    assert HF_TOKEN not in out.stdout + out.stderr and WRITE_TOKEN not in out.stdout + out.stderr


def test_every_space_card_has_valid_front_matter():
    for name in ("retrieve", "rerank", "generate", "chat", "suite"):
        card = (SPACES / name / "README.md").read_text()
        front = re.match(r"^---\n(.*?)\n---\n", card, re.S)
        assert front, name
        fields = dict(line.split(": ", 1) for line in front.group(1).splitlines())
        assert fields["sdk"] == "gradio" and fields["sdk_version"] == "6.31.0" and fields["app_file"] == "app.py", name
        assert fields["license"] and 0 < len(fields["short_description"]) <= 60, name


def test_a_bad_owner_is_refused_with_the_fix(hub):
    out = deploy(hub, "--owner", "alice/extra", "--dry-run")
    assert out.returncode == 2 and "--owner must be a user or organisation name" in out.stderr and hub.requests == []


def test_deploying_the_retrieve_space_on_qdrant(hub):
    key = "qdrant-KEY-secret-7"
    out = deploy(
        hub, "--owner", "alice", RETRIEVE_BACKEND="qdrant", QDRANT_URL="https://q.example:6333", QDRANT_API_KEY=key
    )
    assert out.returncode == 0, out.stdout + out.stderr
    retrieve = hub.repos["alice/rag-retrieve"]
    assert retrieve["variables"] == {"RETRIEVE_BACKEND": "qdrant", "QDRANT_URL": "https://q.example:6333"}
    assert retrieve["secrets"] == {"RETRIEVE_WRITE_TOKEN": WRITE_TOKEN, "QDRANT_API_KEY": key}
    # Its requirements gain qdrant-client, pinned as in requirements-scale.txt; the rest as in the folder.
    reqs = retrieve["files"]["requirements.txt"].decode()
    assert reqs.startswith((SPACES / "retrieve" / "requirements.txt").read_text().rstrip("\n")) and reqs.endswith(
        "\nqdrant-client==1.20.0\n"
    )
    assert key not in out.stdout + out.stderr


def test_one_space_deploys_the_suite_with_every_stage_beside_it(hub):
    out = deploy(hub, "--owner", "alice", "--one-space")
    assert out.returncode == 0, out.stdout + out.stderr
    assert set(hub.repos) == {"alice/rag-suite"}
    files = set(hub.repos["alice/rag-suite"]["files"])
    expected = tracked(SPACES / "suite") | {f"rag_contract/{f}" for f in tracked(ROOT / "contract" / "rag_contract")}
    for stage in ("retrieve", "rerank", "generate"):
        expected |= {f"rag_{stage}/{f}" for f in tracked(SPACES / stage / f"rag_{stage}")}
    expected |= {f"pipeline/{f}" for f in tracked(ROOT / "pipeline")}
    expected |= {f"models/answer-reader/{f}" for f in tracked(ROOT / "models" / "answer-reader")}
    assert files == expected
    assert hub.repos["alice/rag-suite"]["secrets"] == {"RETRIEVE_WRITE_TOKEN": WRITE_TOKEN, "HF_TOKEN": HF_TOKEN}
    # The output says what hardware and plan it needs, and what a free account can host.
    assert "one Gradio Space on CPU basic" in out.stdout and "PRO, Team or Enterprise" in out.stdout
    assert "at most 2 ZeroGPU Spaces" in out.stdout
    assert HF_TOKEN not in out.stdout + out.stderr and WRITE_TOKEN not in out.stdout + out.stderr


def test_the_suite_requires_what_every_stage_requires():
    suite = set((SPACES / "suite" / "requirements.txt").read_text().splitlines())
    for name in ("retrieve", "rerank", "generate", "chat"):
        missing = set((SPACES / name / "requirements.txt").read_text().splitlines()) - suite
        assert not missing, f"spaces/suite/requirements.txt lacks {name}'s {sorted(missing)}"
