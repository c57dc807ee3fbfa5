"""The fallback chain: try each backend in order and record why each earlier one was skipped.

Like Haystack's FallbackChatGenerator, the chain moves on when a backend cannot load,
raises, or stalls longer than the timeout, and the result lists every attempt.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from .backends import Backend, BackendUnavailable

# backend -> the text pieces of its answer (any iterable; it is handed back in the result)
Runner = Callable[[Backend], Iterable[str]]
_DONE = object()
_MADE = object()  # the runner has returned: its output can be announced before the first piece


@dataclass
class Attempt:
    backend: str
    outcome: str  # answered, unavailable, error, timeout
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ChainResult:
    backend: str = ""
    label: str = ""
    text: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    ttft_s: float | None = None
    total_s: float = 0.0
    output: object = None  # what the runner returned for the backend that answered

    def skipped(self) -> str:
        return "; ".join(f"{a.backend} {a.outcome}: {a.detail}" for a in self.attempts if a.outcome != "answered")


class AllBackendsFailed(RuntimeError):
    def __init__(self, attempts: list[Attempt]):
        self.attempts = attempts
        super().__init__(
            "No backend could answer. " + "; ".join(f"{a.backend}: {a.outcome} ({a.detail})" for a in attempts)
        )


class FallbackChain:
    """Streams from the first backend that works.

    Usage:
        chain = FallbackChain([llama, api, extractive], timeout_s=60)
        for event, value in chain.stream(lambda backend: backend.stream(messages, sampling)):
            ...  # ("started", what run returned) as soon as it returned, ("delta", text),
                 # ("reset", None) when a backend failed mid-answer, ("done", ChainResult)

    Args:
        backends: tried in order.
        timeout_s: the longest wait for the first token, or between two tokens.
    """

    def __init__(self, backends: Sequence[Backend], *, timeout_s: float = 60):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, but got {timeout_s}")
        self.backends = list(backends)
        self.timeout_s = timeout_s

    def stream(self, run: Runner, *, user_errors: tuple[type[Exception], ...] = ()) -> Iterator[tuple[str, object]]:
        """Yield events. Exceptions of `user_errors` stop the chain and propagate: they are the
        caller's input problem, and no other backend would fix them."""
        result = ChainResult()
        start = time.perf_counter()
        for backend in self.backends:
            t0 = time.perf_counter()
            try:
                backend.warm_up()
            except BackendUnavailable as exc:
                result.attempts.append(Attempt(backend.name, "unavailable", str(exc), time.perf_counter() - t0))
                continue
            pieces: list[str] = []
            outcome, detail = "answered", ""
            first = None
            made: list = []  # what run(backend) returned, once the producer thread has made it

            def make(backend=backend, made=made):
                made.append(run(backend))
                return iter(made[0])

            try:
                for piece in self._with_timeout(make):
                    if piece is _MADE:
                        yield "started", made[0]
                        continue
                    if first is None:
                        first = time.perf_counter() - start
                    pieces.append(piece)
                    yield "delta", piece
            except user_errors:
                raise
            except TimeoutError as exc:
                outcome, detail = "timeout", str(exc)
            except BackendUnavailable as exc:
                outcome, detail = "unavailable", str(exc)
            except Exception as exc:
                outcome, detail = "error", f"{type(exc).__name__}: {exc}"
            result.attempts.append(Attempt(backend.name, outcome, detail, time.perf_counter() - t0))
            if outcome == "answered":
                result.backend, result.label = backend.name, getattr(backend, "label", backend.name)
                result.text, result.ttft_s = "".join(pieces), first
                result.output = made[0] if made else None
                result.total_s = time.perf_counter() - start
                yield "done", result
                return
            if pieces:
                yield "reset", None
        raise AllBackendsFailed(result.attempts)

    def _with_timeout(self, make: Callable[[], Iterator[str]]) -> Iterator[str]:
        """Run the backend's generator in a thread, so a stalled backend can be abandoned."""
        q: queue.Queue = queue.Queue()
        cancelled = threading.Event()

        def produce():
            gen = None
            try:
                gen = make()
                q.put(_MADE)
                for piece in gen:
                    if cancelled.is_set():
                        break
                    q.put(piece)
                q.put(_DONE)
            except BaseException as exc:  # handed to the consumer
                q.put(exc)
            finally:
                if gen is not None and hasattr(gen, "close"):
                    gen.close()  # stops llama-cpp and frees its lock

        threading.Thread(target=produce, daemon=True).start()
        try:
            while True:
                try:
                    item = q.get(timeout=self.timeout_s)
                except queue.Empty:
                    raise TimeoutError(f"no output for {self.timeout_s:g} s (GENERATE_TIMEOUT_S)") from None
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()
