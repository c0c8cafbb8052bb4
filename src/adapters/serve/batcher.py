"""Dynamic batching: requests from the event loop, one worker thread that runs them in batches.

A request waits in a bounded queue. The worker takes the oldest one and keeps collecting until ``window_s`` has
passed since that request arrived or ``max_batch_size`` requests are collected, then runs them as one batch
(``run_batch(jobs) -> one result or exception per job``, whatever adapters they ask for). While the model is busy,
new requests pile up and the next batch takes them at once.

* Back-pressure: a full queue refuses at once (:class:`~adapters.errors.QueueFullError`, HTTP 429).
* Timeouts: a request not answered within its timeout gets :class:`~adapters.errors.RequestTimeoutError`; if it has
  not run yet it is dropped, so it costs the model nothing. A client that disconnects is dropped the same way, and
  the requests batched with it are answered as usual.
* Exclusive jobs (loading or unloading an adapter) go through the same queue and run alone on the worker, between
  batches: the model is changed only while no forward runs.
* Shutdown: :meth:`Batcher.close` refuses new requests, lets the worker finish everything queued and running, then
  joins it.

Only the worker thread touches the model, so torch never runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import QueueFullError, RequestTimeoutError, ServerClosingError

__all__ = ["Batcher", "BatcherSettings", "ClientDisconnected"]


class ClientDisconnected(Exception):
    """The client went away before its answer was ready (the request was dropped)."""


@dataclass(frozen=True)
class BatcherSettings:
    """How requests are batched: the window after the first request, the largest batch, the queue bound, the
    default timeout per request and the ``Retry-After`` a refused client is told."""

    max_batch_size: int = 32
    window_s: float = 0.005
    queue_size: int = 256
    timeout_s: float = 30.0
    retry_after_s: float = 1.0


@dataclass(eq=False)
class _Item:
    job: Any
    label: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)
    exclusive: bool = False
    dropped: bool = False  # set by the waiting side (timeout, disconnect); read by the worker


_STOP = object()


class Batcher:
    """Runs ``run_batch`` on batches of submitted jobs in one worker thread.

    ``observer`` (optional) gets ``batch(size)`` and ``queue_wait(label, seconds)`` calls from the worker, for
    metrics.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Any]], Sequence[Any]],
        settings: BatcherSettings | None = None,
        observer: Any = None,
    ):
        self._run_batch = run_batch
        self.settings = settings = settings or BatcherSettings()
        self._observer = observer
        self._queue: queue.Queue = queue.Queue(maxsize=settings.queue_size)
        self._held: _Item | None = None  # an exclusive job met while collecting a batch; runs next
        self._closing = False
        self._thread: threading.Thread | None = None

    # the event-loop side --------------------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Requests waiting in the queue."""
        return self._queue.qsize()

    @property
    def closing(self) -> bool:
        return self._closing

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="adapters-serve-worker", daemon=True)
            self._thread.start()

    async def submit(
        self,
        job: Any,
        label: str = "",
        timeout_s: float | None = None,
        disconnected: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any:
        """Queue ``job``, wait for its result (raises what ``run_batch`` returned as an exception for it)."""
        return await self._wait(self._enqueue(job, label, exclusive=False), timeout_s, disconnected)

    async def run_exclusive(self, function: Callable[[], Any], label: str = "", timeout_s: float | None = None) -> Any:
        """Run ``function()`` on the worker between batches (nothing else runs meanwhile); return its result."""
        return await self._wait(self._enqueue(function, label, exclusive=True), timeout_s, None)

    def _enqueue(self, job: Any, label: str, exclusive: bool) -> _Item:
        if self._closing:
            raise ServerClosingError("The server is shutting down and accepts no new requests.")
        loop = asyncio.get_running_loop()
        item = _Item(job, label, loop, loop.create_future(), exclusive=exclusive)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            raise QueueFullError(
                f"The request queue is full ({self.settings.queue_size} waiting); retry later.",
                retry_after_s=self.settings.retry_after_s,
            ) from None
        return item

    async def _wait(self, item: _Item, timeout_s: float | None, disconnected) -> Any:
        timeout = self.settings.timeout_s if timeout_s is None else timeout_s
        watcher = asyncio.ensure_future(disconnected()) if disconnected is not None else None
        try:
            waiting = {item.future} if watcher is None else {item.future, watcher}
            done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if watcher is not None:
                watcher.cancel()
        if item.future in done:
            return item.future.result()
        item.dropped = True
        if watcher is not None and watcher in done:
            raise ClientDisconnected()
        raise RequestTimeoutError(f"No answer within {timeout:g} s; the request was dropped.")

    def close(self, timeout_s: float | None = None) -> None:
        """Refuse new requests, finish everything queued and running, stop the worker (blocking)."""
        self._closing = True
        if self._thread is None:
            return
        self._queue.put(_STOP)  # blocks only while the queue is full; the worker keeps draining it
        self._thread.join(timeout_s)

    # the worker side ------------------------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            first = self._held or self._queue.get()
            self._held = None
            if first is _STOP:
                return
            if first.exclusive:
                self._run_exclusive(first)
                continue
            batch, stop = self._collect(first)
            self._run(batch)
            if stop:
                return

    def _collect(self, first: _Item) -> tuple[list[_Item], bool]:
        """``first`` plus what arrives until its window ends or the batch is full; whether the stop mark came."""
        batch, deadline = [first], first.enqueued + self.settings.window_s
        while len(batch) < self.settings.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            if item.exclusive:
                self._held = item
                break
            batch.append(item)
        return batch, False

    def _run(self, batch: list[_Item]) -> None:
        live = [item for item in batch if not item.dropped and not item.future.cancelled()]
        if not live:
            return
        started = time.monotonic()
        if self._observer is not None:
            self._observer.batch(len(live))
            for item in live:
                self._observer.queue_wait(item.label, started - item.enqueued)
        try:
            results = list(self._run_batch([item.job for item in live]))
            if len(results) != len(live):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(live)} jobs")
        except Exception as error:  # the whole batch failed: every request in it gets the error
            results = [error] * len(live)
        for item, result in zip(live, results):
            _resolve(item, result)

    def _run_exclusive(self, item: _Item) -> None:
        if item.dropped:
            return
        try:
            result = item.job()
        except Exception as error:
            result = error
        _resolve(item, result)


def _resolve(item: _Item, result: Any) -> None:
    def settle() -> None:
        if item.future.done():
            return
        if isinstance(result, BaseException):
            item.future.set_exception(result)
        else:
            item.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits for this answer any more
        item.loop.call_soon_threadsafe(settle)
