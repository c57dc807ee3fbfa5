"""Command line: `python -m pipeline up` starts every Space locally."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .launcher import DEFAULT_PORTS, SPACES_DIR, Service, Stack


def available_spaces() -> list[str]:
    return [name for name in DEFAULT_PORTS if (SPACES_DIR / name / "app.py").exists()]


def cmd_up(args: argparse.Namespace) -> int:
    ports = {"retrieve": args.retrieve_port, "rerank": args.rerank_port, "generate": args.generate_port}
    services = [Service(name, ports[name]) for name in available_spaces()]
    stack = Stack(services)
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("Starting " + ", ".join(s.name for s in services) + " ...", flush=True)
    try:
        stack.start(timeout=args.timeout)
        print("\nReady:", flush=True)
        for name, url in stack.urls.items():
            print(f"  {name:<9} {url}", flush=True)
        print("\nCtrl-C stops everything.", flush=True)
        stopping.wait()
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("Stopping ...", flush=True)
        stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start every Space locally and print the URLs")
    up.add_argument("--retrieve-port", type=int, default=DEFAULT_PORTS["retrieve"])
    up.add_argument("--rerank-port", type=int, default=DEFAULT_PORTS["rerank"])
    up.add_argument("--generate-port", type=int, default=DEFAULT_PORTS["generate"])
    up.add_argument("--timeout", type=float, default=300, help="seconds to wait for each Space")
    up.set_defaults(func=cmd_up)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
