"""One thread for all of a process's model compute: llama-cpp, and every torch model (MiniLM, the
answer reader, a cross-encoder), whichever stage runs it. In the one-Space suite the three stages
share the process, so they share this thread too (see `ModelThread` for why it matters)."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


class ModelThread:
    """One long-lived thread that does all of a model's compute, whoever asks for it.

    llama.cpp's CPU backend splits every op over OpenMP threads, and libgomp gives each thread
    that calls it a pool of its own. Once a process holds more such threads than cores, libgomp
    stops spinning between ops and sleeps instead, and decoding runs at half speed (2 cores:
    ~105 tok/s from one caller, ~55 tok/s once a second caller has used the model; prompts ~30 %
    slower). Gradio and the fallback chain call from a different thread for every request, so
    each call is handed to this one thread instead. Calls run one at a time, in order; a call
    made on the thread itself runs at once.
    """

    def __init__(self, name: str = "model"):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._ident: int | None = None

    def _mark(self) -> None:
        self._ident = threading.get_ident()

    def on_it(self) -> bool:
        return self._ident == threading.get_ident()

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` on the model thread, waiting for its result (inline when already there)."""
        if self.on_it():
            return fn()
        return self._executor.submit(lambda: (self._mark(), fn())[1]).result()

    def iterate(self, make: Callable[[], Iterator[T]]) -> Iterator[T]:
        """The items of `make()`, produced on the model thread. Closing this iterator stops the
        producer after its current item and closes `make()`'s iterator there."""
        if self.on_it():
            yield from make()
            return
        # Small: the producer keeps at most two items ahead, so a consumer that stops early
        # (the answer gate) wastes little compute; puts give up once the consumer has gone.
        out: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    pass
            return False

        def produce() -> None:
            self._mark()
            it = None
            try:
                it = make()
                for item in it:
                    if not put(item):
                        break
                put(_END)
            except BaseException as exc:  # handed to the consumer
                put(exc)
            finally:
                if it is not None and hasattr(it, "close"):
                    it.close()

        self._executor.submit(produce)
        try:
            while True:
                item = out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()


_compute: ModelThread | None = None
_compute_lock = threading.Lock()


def compute_thread() -> ModelThread:
    """The process's one thread for model compute, shared by llama-cpp and every torch model:
    torch brings the libgomp that llama.cpp then uses too, so their callers count against the
    same cores (see ModelThread)."""
    global _compute
    with _compute_lock:
        if _compute is None:
            _compute = ModelThread("compute")
        return _compute
