"""Deploy the suite to Hugging Face Spaces: retrieve, rerank, generate and the chat pipeline.

    python -m pipeline deploy --owner NAME [--prefix rag-] [--private] [--dry-run]

Uses huggingface_hub only: `create_repo(repo_type="space", space_sdk="gradio")`,
`upload_folder`, `add_space_secret` and `add_space_variable`. Each Space folder under spaces/ is
uploaded as it is, with the contract package (`contract/rag_contract`: the documents table, chat
messages, Hub checks, settings readers) vendored beside its app.py, so each Space deploys alone;
the chat Space also gets the `pipeline` package. Secrets
(the retrieve Space's write token, HF_TOKEN) become Space secrets, never printed; the chat
Space's stage addresses become Space variables.
"""

from __future__ import annotations

import fnmatch
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from .launcher import ROOT, SPACES_DIR

STAGES = ("retrieve", "rerank", "generate")
ANSWER_MODEL = ROOT / "models" / "answer-reader"
CONTRACT = ROOT / "contract" / "rag_contract"
VENDORED = (CONTRACT, "rag_contract")  # one copy in the repo; each Space gets it beside its app.py
# Never uploaded: local state, caches, bytecode.
IGNORE = ["index", "index/*", "__pycache__/*", "**/__pycache__/*", "*.pyc", ".*", "**/.*"]


def ignored(folder: Path) -> list[str]:
    """What `upload_folder` leaves out of `folder`. The model card goes up on its own (`generated`):
    huggingface_hub checks a folder's README.md as the Space's card, whatever the path in the repo."""
    return IGNORE + (["README.md"] if folder == ANSWER_MODEL else [])


@dataclass
class SpacePlan:
    """One Space: where it goes, what is uploaded, and its settings."""

    name: str
    repo_id: str
    uploads: list[tuple[Path, str]]  # (local folder, path in the repo)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    variables: dict[str, str] = field(default_factory=dict)
    generated: dict[str, bytes] = field(default_factory=dict)  # path in the repo -> content, uploaded after the folders

    @property
    def url(self) -> str:
        return f"https://huggingface.co/spaces/{self.repo_id}"

    def files(self) -> list[tuple[Path, str]]:
        """Every (local file, path in the repo) this plan uploads, as upload_folder will."""
        out = []
        for folder, prefix in self.uploads:
            for path in sorted(folder.rglob("*")):
                rel = path.relative_to(folder).as_posix()
                if path.is_file() and not any(fnmatch.fnmatch(rel, pattern) for pattern in ignored(folder)):
                    out.append((path, f"{prefix}/{rel}" if prefix else rel))
        return out


def _retrieve_plan(repo_id: str, write_token: str, env: dict[str, str]) -> SpacePlan:
    """The retrieve Space: its folder and write token, and on Qdrant, its client and settings."""
    retrieve = SpacePlan(
        "retrieve", repo_id, [(SPACES_DIR / "retrieve", ""), VENDORED], secrets={"RETRIEVE_WRITE_TOKEN": write_token}
    )
    if env.get("RETRIEVE_BACKEND", "").strip().lower() == "qdrant":
        # The Space then needs qdrant-client, which its own requirements leave out (optional).
        pin = next(
            line.strip()
            for line in (ROOT / "requirements-scale.txt").read_text().splitlines()
            if line.startswith("qdrant-client")
        )
        retrieve.generated["requirements.txt"] = (SPACES_DIR / "retrieve" / "requirements.txt").read_bytes().rstrip(
            b"\n"
        ) + f"\n{pin}\n".encode()
        retrieve.variables.update(
            {"RETRIEVE_BACKEND": "qdrant", **{k: env[k] for k in ("QDRANT_URL", "QDRANT_COLLECTION") if env.get(k)}}
        )
        if env.get("QDRANT_API_KEY"):
            retrieve.secrets["QDRANT_API_KEY"] = env["QDRANT_API_KEY"]
    return retrieve


def plan(owner: str, *, prefix: str = "rag-", env: dict[str, str] | None = None) -> list[SpacePlan]:
    """The four Spaces for `owner`, with the secrets and variables each needs.

    Without RETRIEVE_WRITE_TOKEN in `env`, a new token is made: the retrieve Space requires it
    and the chat Space holds it, so uploads work from the chat page.
    """
    env = dict(os.environ if env is None else env)
    if not owner or "/" in owner:
        raise ValueError(f"--owner must be a user or organisation name such as 'alice', not {owner!r}.")
    repo = {name: f"{owner}/{prefix}{name}" for name in (*STAGES, "chat")}
    write_token = env.get("RETRIEVE_WRITE_TOKEN") or secrets.token_urlsafe(32)
    hf_token = {"HF_TOKEN": env["HF_TOKEN"]} if env.get("HF_TOKEN") else {}
    retrieve = _retrieve_plan(repo["retrieve"], write_token, env)
    card = {"models/answer-reader/README.md": (ANSWER_MODEL / "README.md").read_bytes()}
    plans = [
        retrieve,
        # The answer cross-encoder ships once in the repo; each Space that reads it gets a copy.
        SpacePlan(
            "rerank",
            repo["rerank"],
            [(SPACES_DIR / "rerank", ""), VENDORED, (ANSWER_MODEL, "models/answer-reader")],
            generated=card,
        ),
        SpacePlan(
            "generate",
            repo["generate"],
            [(SPACES_DIR / "generate", ""), VENDORED, (ANSWER_MODEL, "models/answer-reader")],
            secrets=dict(hf_token),
            generated=dict(card),
        ),
        SpacePlan(
            "chat",
            repo["chat"],
            [(SPACES_DIR / "chat", ""), VENDORED, (ROOT / "pipeline", "pipeline")],
            secrets={"RETRIEVE_WRITE_TOKEN": write_token, **hf_token},
            variables={f"PIPELINE_{stage.upper()}_URL": repo[stage] for stage in STAGES},
        ),
    ]
    return plans


def plan_one_space(owner: str, *, prefix: str = "rag-", env: dict[str, str] | None = None) -> list[SpacePlan]:
    """The one-Space suite (spaces/suite) for `owner`: the chat page and every stage in one process.

    Its folder, each stage's package, the contract package, the answer model and `pipeline`, with
    the retrieve write token (made when RETRIEVE_WRITE_TOKEN is unset) and HF_TOKEN as secrets."""
    env = dict(os.environ if env is None else env)
    if not owner or "/" in owner:
        raise ValueError(f"--owner must be a user or organisation name such as 'alice', not {owner!r}.")
    write_token = env.get("RETRIEVE_WRITE_TOKEN") or secrets.token_urlsafe(32)
    retrieve = _retrieve_plan(f"{owner}/{prefix}suite", write_token, env)  # its secrets, variables and Qdrant pin
    uploads = [(SPACES_DIR / "suite", ""), *((SPACES_DIR / s / f"rag_{s}", f"rag_{s}") for s in STAGES)]
    uploads += [VENDORED, (ANSWER_MODEL, "models/answer-reader"), (ROOT / "pipeline", "pipeline")]
    generated = {"models/answer-reader/README.md": (ANSWER_MODEL / "README.md").read_bytes()}
    if "requirements.txt" in retrieve.generated:  # qdrant-client, as the retrieve Space would get it
        pin = retrieve.generated["requirements.txt"].decode().rstrip("\n").rsplit("\n", 1)[-1]
        generated["requirements.txt"] = (SPACES_DIR / "suite" / "requirements.txt").read_bytes().rstrip(
            b"\n"
        ) + f"\n{pin}\n".encode()
    hf_token = {"HF_TOKEN": env["HF_TOKEN"]} if env.get("HF_TOKEN") else {}
    return [
        SpacePlan(
            "suite",
            retrieve.repo_id,
            uploads,
            secrets={**retrieve.secrets, **hf_token},
            variables=retrieve.variables,
            generated=generated,
        )
    ]


# What each way of deploying needs from Hugging Face (Hub docs, checked 2026-12; see docs/architecture.md).
HOSTING = {
    "four": (
        "Hosting: four Gradio Spaces on CPU basic hardware (2 vCPU, 16 GB each). Since 2026-07-21 only PRO, Team "
        "and Enterprise accounts can create Gradio Spaces on CPU hardware, so a free account cannot host them; "
        "`--one-space` needs one such Space instead of four."
    ),
    "one": (
        "Hosting: one Gradio Space on CPU basic hardware (2 vCPU, 16 GB; the suite measured about 1.2 GB resident, "
        "BENCHMARKS.md). It needs a PRO, Team or Enterprise account: since 2026-07-21 free accounts cannot create "
        "Gradio Spaces on CPU hardware. A free account can host at most 2 ZeroGPU Spaces, but the suite does not "
        "run there: ZeroGPU expects at least one @spaces.GPU function, and the suite computes on CPU only "
        "(docs/architecture.md, 'ZeroGPU')."
    ),
}


def describe(plans: list[SpacePlan], *, private: bool) -> str:
    """What `deploy` would do, file by file; secret values are never shown."""
    lines = []
    for p in plans:
        lines.append(f"create or update Space {p.repo_id} (sdk gradio, {'private' if private else 'public'})")
        for local, remote in p.files():
            lines.append(f"  upload {remote}  ({local.relative_to(ROOT)}, {local.stat().st_size:,} bytes)")
        for remote, content in p.generated.items():
            lines.append(
                f"  upload {remote} on its own, after the folders ({len(content):,} bytes: the model card, or a file the settings change)"
            )
        for key in p.secrets:
            lines.append(f"  secret {key} = (hidden)")
        for key, value in p.variables.items():
            lines.append(f"  variable {key} = {value}")
    return "\n".join(lines)


def deploy(plans: list[SpacePlan], *, private: bool = False, api=None, log=print) -> list[str]:
    """Create or update every Space, upload its folder, set its secrets and variables; returns their URLs."""
    from huggingface_hub import HfApi

    api = api or HfApi()
    urls = []
    for p in plans:
        log(f"{p.repo_id}: creating (or reusing) the Space")
        api.create_repo(p.repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        for folder, prefix in p.uploads:
            log(f"{p.repo_id}: uploading {folder.relative_to(ROOT)}/")
            api.upload_folder(
                repo_id=p.repo_id,
                repo_type="space",
                folder_path=str(folder),
                path_in_repo=prefix or None,
                ignore_patterns=ignored(folder),
                commit_message=f"Deploy {p.name} from the RAG microservice suite",
            )
        for remote, content in p.generated.items():
            log(f"{p.repo_id}: uploading {remote} (generated)")
            api.upload_file(
                path_or_fileobj=content,
                path_in_repo=remote,
                repo_id=p.repo_id,
                repo_type="space",
                commit_message=f"Deploy {p.name}: {remote}",
            )
        for key, value in p.secrets.items():
            log(f"{p.repo_id}: setting secret {key}")
            api.add_space_secret(p.repo_id, key, value)
        for key, value in p.variables.items():
            log(f"{p.repo_id}: setting variable {key}={value}")
            api.add_space_variable(p.repo_id, key, value)
        urls.append(p.url)
    return urls
