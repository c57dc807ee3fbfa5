"""Command line.

python -m pipeline up [--chat-port 7860 ...]   start every Space and the chat UI locally
python -m pipeline ask "question" [--json]     answer from the command line
python -m pipeline deploy --owner NAME [--prefix rag-] [--private] [--dry-run] [--one-space]
                                               create or update the four Spaces on Hugging Face
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading

from .clients import StageError
from .config import Settings
from .launcher import DEFAULT_PORTS, SPACES_DIR, Service, Stack
from .rag import RAGPipeline, default_url

CHAT_PORT = 7860


def available_spaces() -> list[str]:
    return [name for name in DEFAULT_PORTS if (SPACES_DIR / name / "app.py").exists()]


def cmd_up(args: argparse.Namespace) -> int:
    ports = {"retrieve": args.retrieve_port, "rerank": args.rerank_port, "generate": args.generate_port}
    # Uploads from the chat page need the retrieve Space's write token: without one set, a
    # token is made for this session. It goes to the retrieve Space's environment and to the
    # chat server's memory, never into a page, a log or the terminal.
    given = Settings.from_env().write_token
    token = given or secrets.token_urlsafe(32)
    env = {"retrieve": {"RETRIEVE_WRITE_TOKEN": token}}
    stack = Stack([Service(name, ports[name], env=env.get(name, {})) for name in available_spaces()])
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    print("Starting " + ", ".join(s.name for s in stack.services) + " ...", flush=True)
    chat = None
    try:
        stack.start(timeout=args.timeout)
        urls = stack.urls
        if not args.no_chat:
            from .chat import BUNDLED_EXAMPLES, build_chat_app
            from .server import ChatServer, chat_server_app

            rag = RAGPipeline(retrieve=urls["retrieve"], rerank=urls["rerank"], generate=urls["generate"])
            # The examples are about the bundled corpus, so only when it is the one served.
            page = build_chat_app(
                rag, write_token=token, examples=None if os.environ.get("RETRIEVE_CORPUS") else BUNDLED_EXAMPLES
            )
            chat = ChatServer(chat_server_app(rag, page), port=args.chat_port).start()
            urls = {"chat": chat.url, "openai": f"{chat.url}v1", **urls}
        print("\nReady:", flush=True)
        for name, url in urls.items():
            print(f"  {name:<9} {url}", flush=True)
        if not given:
            print("\nUploads: on, from the chat page (a write token was made for this session).", flush=True)
        print("\nCtrl-C stops everything.", flush=True)
        stopping.wait()
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("Stopping ...", flush=True)
        try:
            stack.stop()  # the child Spaces first: they must never outlive us
        finally:
            if chat is not None:
                chat.stop()
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    rag = RAGPipeline(retrieve=args.retrieve, rerank=args.rerank, generate=args.generate, timeout=args.timeout)
    try:
        if args.json:
            answer = rag.ask(
                args.question, args.k_retrieve, args.k_rerank, max_tokens=args.max_tokens, temperature=args.temperature
            )
            print(json.dumps(answer.to_dict(), default=str))
            return 0
        answer = rag.ask(
            args.question, args.k_retrieve, args.k_rerank, max_tokens=args.max_tokens, temperature=args.temperature
        )
        print(answer.text)
    except (StageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n\nSources:")
    for s in answer.sources:
        print(f"  [{s.n}] {s.source or s.id}{' (cited)' if s.cited else ''}: {' '.join(s.text.split())[:100]}")
    t = answer.timings
    sure = f" (confidence {answer.confidence:.2f})" if answer.confidence is not None else ""
    print(f"\nVerdict: {answer.verdict or 'n/a'}{sure}")
    print(
        f"Backend: {answer.backend} ({answer.report.backend_label}) · reranker: "
        f"{answer.rerank_method} · evidence scored by: {answer.report.evidence_scorer or 'n/a'}"
    )
    print(
        f"Timings: retrieve {t['retrieve_s']:.2f}s, rerank {t['rerank_s']:.2f}s, generate "
        f"{t['generate_s']:.2f}s, answer shown at {t['ttft_s'] or 0:.2f}s, total {t['total_s']:.2f}s"
    )
    for note in answer.notes:
        print(f"Note: {note}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from .deploy import HOSTING, deploy, describe, plan, plan_one_space

    try:
        plans = (plan_one_space if args.one_space else plan)(args.owner, prefix=args.prefix)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(HOSTING["one" if args.one_space else "four"] + "\n")
    if args.dry_run:
        print(describe(plans, private=args.private))
        print("\nDry run: nothing was created or uploaded.")
        return 0
    try:
        urls = deploy(plans, private=args.private)
    except Exception as exc:  # huggingface_hub's errors say what the Hub refused and why
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("Check that HF_TOKEN (or `hf auth login`) has write access to the owner's Spaces.", file=sys.stderr)
        return 1
    print("\nDeployed:")
    for url in urls:
        print(f"  {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start every Space and the chat UI locally, print the URLs")
    up.add_argument("--retrieve-port", type=int, default=DEFAULT_PORTS["retrieve"])
    up.add_argument("--rerank-port", type=int, default=DEFAULT_PORTS["rerank"])
    up.add_argument("--generate-port", type=int, default=DEFAULT_PORTS["generate"])
    up.add_argument("--chat-port", type=int, default=CHAT_PORT)
    up.add_argument("--no-chat", action="store_true", help="start the Spaces only")
    up.add_argument("--timeout", type=float, default=300, help="seconds to wait for each Space")
    up.set_defaults(func=cmd_up)

    ask = sub.add_parser("ask", help="answer a question through the running Spaces")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print one JSON object: answer, sources, backend, timings")
    ask.add_argument("--retrieve", default=default_url("retrieve"), help="URL or Space id (env PIPELINE_RETRIEVE_URL)")
    ask.add_argument("--rerank", default=default_url("rerank"), help="URL or Space id (env PIPELINE_RERANK_URL)")
    ask.add_argument("--generate", default=default_url("generate"), help="URL or Space id (env PIPELINE_GENERATE_URL)")
    ask.add_argument("--k-retrieve", type=int, default=20)
    ask.add_argument("--k-rerank", type=int, default=5)
    ask.add_argument("--max-tokens", type=int, default=256)
    ask.add_argument(
        "--temperature", type=float, default=0.0, help="kept for compatibility: answers are decoded greedily"
    )
    ask.add_argument("--timeout", type=float, default=120, help="seconds each stage may take")
    ask.set_defaults(func=cmd_ask)
    dep = sub.add_parser(
        "deploy", help="create or update the retrieve, rerank, generate and chat Spaces on Hugging Face"
    )
    dep.add_argument("--owner", required=True, help="the user or organisation that owns the Spaces")
    dep.add_argument(
        "--prefix", default="rag-", help="Space names are <prefix>retrieve, <prefix>rerank, ... (default rag-)"
    )
    dep.add_argument("--private", action="store_true", help="create the Spaces private")
    dep.add_argument(
        "--one-space",
        action="store_true",
        help="deploy spaces/suite instead: the chat page and every stage in one Space (<prefix>suite)",
    )
    dep.add_argument(
        "--dry-run", action="store_true", help="print every repo, file, secret name and variable, and touch nothing"
    )
    dep.set_defaults(func=cmd_deploy)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
