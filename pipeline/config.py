"""Every setting of the pipeline and its chat server, read from the environment in one place.

The README's table lists these beside each Space's own. The Spaces' settings are theirs
(rag_*/config.py); a one-Space suite reads both.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag_contract.settings import EnvReader

# name: (default, description)
ENV = {
    "PIPELINE_RETRIEVE_URL": ("http://127.0.0.1:7861/", "the retrieve stage: a URL or a Space id"),
    "PIPELINE_RERANK_URL": ("http://127.0.0.1:7862/", "the rerank stage: a URL or a Space id"),
    "PIPELINE_GENERATE_URL": ("http://127.0.0.1:7863/", "the generate stage: a URL or a Space id"),
    "PIPELINE_API_KEY": ("", "when set, the OpenAI-compatible /v1 routes need Authorization: Bearer <key>"),
    "RETRIEVE_WRITE_TOKEN": ("", "the retrieve stage's write token; the chat page's uploads use it"),
    "HF_TOKEN": ("", "for private stage Spaces"),
    "GRADIO_SERVER_NAME": ("0.0.0.0", "the address the chat server listens on (a Space's app.py)"),
    "GRADIO_SERVER_PORT": ("7860", "its port"),
}

_env = EnvReader(ENV)


@dataclass(frozen=True)
class Settings:
    retrieve_url: str
    rerank_url: str
    generate_url: str
    api_key: str
    write_token: str
    hf_token: str
    server_name: str
    server_port: int

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            retrieve_url=_env.str("PIPELINE_RETRIEVE_URL"),
            rerank_url=_env.str("PIPELINE_RERANK_URL"),
            generate_url=_env.str("PIPELINE_GENERATE_URL"),
            api_key=_env.str("PIPELINE_API_KEY"),
            write_token=_env.str("RETRIEVE_WRITE_TOKEN"),
            hf_token=_env.str("HF_TOKEN"),
            server_name=_env.str("GRADIO_SERVER_NAME"),
            server_port=_env.int("GRADIO_SERVER_PORT"),
        )

    def url(self, stage: str) -> str:
        return {"retrieve": self.retrieve_url, "rerank": self.rerank_url, "generate": self.generate_url}[stage]
