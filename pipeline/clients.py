"""One client per stage: gradio_client underneath, with a timeout, one retry on connection
errors, and errors that name the stage, its URL and what to do."""

from __future__ import annotations

import json
import re
import time
from typing import Any, Callable, Iterator

import httpx

TRANSPORTS = ("gradio_client", "rest")


class StageError(RuntimeError):
    """A stage failed. The message names the stage, its URL and what to do."""

    def __init__(self, stage: str, url: str, problem: str, hint: str = ""):
        self.stage, self.url, self.problem = stage, url, problem
        hint = hint or f"Check that the {stage} Space is running at {url} (`python -m pipeline up` starts all of them)."
        super().__init__(f"The {stage} stage at {url} failed: {problem}. {hint}")


_CONNECTION_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, ConnectionError)
try:  # gradio_client 2 ships its own httpx fork
    import httpx2

    _CONNECTION_ERRORS += (httpx2.ConnectError, httpx2.RemoteProtocolError, httpx2.ReadError)
except ImportError:
    pass


def _is_connection_error(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, _CONNECTION_ERRORS):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _is_busy(exc: BaseException) -> bool:
    """The Space refused the call at once because its queue is full (gradio's QueueError, HTTP 503)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if type(exc).__name__ == "QueueError" or "Queue is full" in str(exc) or "HTTP 503" in str(exc):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class StageClient:
    """A gradio_client connection to one Space, made lazily and reused.

    Args:
        stage: the stage name, for messages (retrieve, rerank, generate).
        src: a URL or a Hugging Face Space id.
        hf_token: for private Spaces.
        timeout: seconds a call may take before it fails.
        retries: extra attempts after a connection error, with backoff.
        transport: "gradio_client" (the default), or "rest" for Gradio's documented REST
            route (/gradio_api/call/<api_name>), which skips the client's 50 ms polling.
    """

    def __init__(
        self,
        stage: str,
        src: str,
        *,
        hf_token: str | None = None,
        timeout: float = 120,
        retries: int = 1,
        backoff_s: float = 0.5,
        transport: str = "gradio_client",
    ):
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, but got {transport!r}")
        self.stage, self.src, self.hf_token, self.timeout, self.retries, self.backoff_s = (
            stage,
            src,
            hf_token,
            timeout,
            retries,
            backoff_s,
        )
        self.transport = transport
        self._client = None
        self._http: httpx.Client | None = None

    def _timed_out(self, api_name: str) -> StageError:
        return StageError(
            self.stage,
            self.url,
            f"{api_name} gave no answer within {self.timeout:g} s",
            "The Space may be overloaded or stuck; raise the timeout or restart it.",
        )

    def _busy(self, api_name: str) -> StageError:
        return StageError(
            self.stage,
            self.url,
            f"the Space is busy: its queue is full, so {api_name} was refused",
            "Try again in a few seconds: the Space refuses new calls at once rather than let them wait past their timeout.",
        )

    @property
    def url(self) -> str:
        return self._client.src if self._client is not None else self.src

    def _connect(self):
        if self._client is None:
            from gradio_client import Client

            try:
                self._client = Client(
                    self.src,
                    token=self.hf_token,
                    verbose=False,
                    httpx_kwargs={"timeout": self.timeout},
                    analytics_enabled=False,
                )
            except Exception as exc:
                raise StageError(self.stage, self.src, f"cannot connect ({type(exc).__name__}: {exc})") from exc
        return self._client

    def _base_url(self) -> str:
        if re.match(r"https?://", self.src):
            return self.src.rstrip("/") + "/"
        # A Space id: Hugging Face serves owner/name at https://owner-name.hf.space
        return "https://" + re.sub(r"[^a-z0-9-]", "-", self.src.lower().replace("/", "-")) + ".hf.space/"

    def _rest(self) -> httpx.Client:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.hf_token}"} if self.hf_token else {}
            self._http = httpx.Client(
                base_url=self._base_url(), headers=headers, timeout=self.timeout
            )  # one pooled connection, reused
        return self._http

    def _rest_events(self, api_name: str, args: tuple) -> Iterator[Any]:
        """POST the inputs, then read the SSE stream of outputs (Gradio's REST API)."""
        name = api_name.lstrip("/")
        r = self._rest().post(f"gradio_api/call/{name}", json={"data": list(args)})
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
        event_id = r.json()["event_id"]
        event = None
        with self._rest().stream("GET", f"gradio_api/call/{name}/{event_id}") as resp:
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:].strip() or "null")
                    if event == "error":
                        raise RuntimeError(
                            data if data else "the Space raised an error (its message is hidden; see its logs)"
                        )
                    if event in ("generating", "complete") and isinstance(data, list):
                        yield data[0] if len(data) == 1 else tuple(data)

    def _attempts(self):
        for attempt in range(self.retries + 1):
            if attempt:  # back off before a retry, never after the last attempt
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            yield attempt

    def call(self, api_name: str, *args: Any) -> Any:
        """Call an endpoint and return its final output."""
        last: BaseException | None = None
        for attempt in self._attempts():
            try:
                if self.transport == "rest":
                    final = None
                    for final in self._rest_events(api_name, args):
                        pass
                    return final
                job = self._connect().submit(*args, api_name=api_name)
                return job.result(timeout=self.timeout)
            except StageError:
                raise
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise self._timed_out(api_name) from exc
            except Exception as exc:
                last = exc
                if _is_busy(exc):
                    raise self._busy(api_name) from exc
                if not _is_connection_error(exc):
                    raise StageError(
                        self.stage,
                        self.url,
                        f"{api_name} returned an error: {exc}",
                        "See the message above; it comes from the Space itself.",
                    ) from exc
                self._client, self._http = None, None  # reconnect on the retry
        raise StageError(self.stage, self.url, f"connection lost ({type(last).__name__})") from last

    def stream(self, api_name: str, *args: Any, progress: Callable[[float, str], None] | None = None) -> Iterator[Any]:
        """Call a streaming endpoint; yield each intermediate output, then the final one.

        `progress(fraction, description)` receives the Space's own progress reports (gradio_client
        transport only), so a UI can show a long upload's progress bar.
        """
        if self.transport == "rest":
            yield from self._stream_rest(api_name, args)
            return
        try:
            job = self._connect().submit(*args, api_name=api_name)
        except StageError:
            raise
        except Exception as exc:
            raise StageError(self.stage, self.url, f"cannot submit {api_name} ({type(exc).__name__}: {exc})") from exc
        deadline = time.monotonic() + self.timeout
        seen = 0
        try:
            while not job.done():
                if time.monotonic() > deadline:
                    job.cancel()
                    raise self._timed_out(api_name)
                outputs = job.outputs()
                for out in outputs[seen:]:
                    yield out
                seen = len(outputs)
                if progress is not None:
                    units = job.status().progress_data or []
                    if units and units[-1].progress is not None:
                        progress(float(units[-1].progress), units[-1].desc or "")
                time.sleep(0.01)
            final = job.result(timeout=self.timeout)
        except StageError:
            raise
        except Exception as exc:
            raise self._job_error(api_name, exc) from exc
        outputs = job.outputs()
        for out in outputs[seen:-1]:
            yield out
        yield final

    def _job_error(self, api_name: str, exc: Exception) -> StageError:
        if _is_busy(exc):
            return self._busy(api_name)
        if _is_connection_error(exc):
            return StageError(self.stage, self.url, f"connection lost during {api_name}")
        return StageError(
            self.stage,
            self.url,
            f"{api_name} returned an error: {exc}",
            "See the message above; it comes from the Space itself.",
        )

    def _stream_rest(self, api_name: str, args: tuple) -> Iterator[Any]:
        """`stream` over the REST transport: each event's output, errors as StageError."""
        try:
            yield from self._rest_events(api_name, args)
        except httpx.TimeoutException as exc:
            raise self._timed_out(api_name) from exc
        except Exception as exc:
            self._http = None
            if _is_busy(exc):
                raise self._busy(api_name) from exc
            problem = (
                f"connection lost during {api_name}"
                if _is_connection_error(exc)
                else f"{api_name} returned an error: {exc}"
            )
            raise StageError(self.stage, self.url, problem) from exc
