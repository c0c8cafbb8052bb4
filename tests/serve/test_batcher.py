"""The batcher with a fake engine: windows, the batch size bound, back-pressure, timeouts, disconnects, exclusive
jobs and shutdown. No timing assertions: windows are long compared to the time to queue a few requests."""

from __future__ import annotations

import asyncio
import threading

import pytest

from adapters.errors import QueueFullError, RequestTimeoutError, ServerClosingError
from adapters.serve.batcher import Batcher, BatcherSettings, ClientDisconnected


class FakeEngine:
    """Doubles numbers, fails on negative ones; records every batch; can be held at the start of a batch."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def run_batch(self, jobs):
        self.started.set()
        self.gate.wait(30)
        self.batches.append(list(jobs))
        return [ValueError(f"negative {j}") if j < 0 else 2 * j for j in jobs]


def _run(coroutine_factory, engine: FakeEngine, **settings):
    """Run ``coroutine_factory(batcher)`` on a fresh event loop with a started batcher; close it afterwards."""
    batcher = Batcher(engine.run_batch, BatcherSettings(**settings))
    batcher.start()

    async def main():
        try:
            return await coroutine_factory(batcher)
        finally:
            await asyncio.to_thread(batcher.close, 30)

    return asyncio.run(main())


def test_requests_within_the_window_run_as_one_batch_in_request_order():
    engine = FakeEngine()
    results = _run(lambda b: asyncio.gather(*(b.submit(j) for j in [1, 2, 3, 4, 5])), engine, window_s=0.5)
    assert results == [2, 4, 6, 8, 10]
    assert engine.batches == [[1, 2, 3, 4, 5]]


def test_batches_are_bounded_by_max_batch_size():
    engine = FakeEngine()
    results = _run(lambda b: asyncio.gather(*(b.submit(j) for j in range(7))), engine, window_s=0.3, max_batch_size=3)
    assert results == [0, 2, 4, 6, 8, 10, 12]
    assert [len(batch) for batch in engine.batches] == [3, 3, 1]
    assert sum(engine.batches, []) == list(range(7))


def test_a_failing_job_fails_alone_and_a_failing_batch_fails_every_job():
    engine = FakeEngine()

    async def mixed(batcher):
        return await asyncio.gather(batcher.submit(1), batcher.submit(-1), return_exceptions=True)

    ok, failed = _run(mixed, engine, window_s=0.3)
    assert ok == 2 and isinstance(failed, ValueError) and "negative -1" in str(failed)

    def broken(jobs):
        raise RuntimeError("model exploded")

    batcher = Batcher(broken, BatcherSettings(window_s=0.3))
    batcher.start()

    async def both():
        results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        await asyncio.to_thread(batcher.close, 30)
        return results

    assert [str(e) for e in asyncio.run(both())] == ["model exploded", "model exploded"]


def test_a_full_queue_refuses_at_once_with_retry_after():
    engine = FakeEngine()
    engine.gate.clear()

    async def flood(batcher):
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.to_thread(engine.started.wait, 30)  # the worker holds job 1; the queue is empty again
        queued = [asyncio.ensure_future(batcher.submit(j)) for j in (2, 3)]
        await asyncio.sleep(0)  # both are queued
        with pytest.raises(QueueFullError) as refused:
            await batcher.submit(4)
        assert refused.value.retry_after_s == 7 and refused.value.status == 429
        engine.gate.set()
        return await asyncio.gather(first, *queued)

    assert _run(flood, engine, window_s=0.0, queue_size=2, retry_after_s=7) == [2, 4, 6]
    assert 4 not in sum(engine.batches, [])


def test_a_timed_out_request_is_dropped_before_it_runs():
    engine = FakeEngine()
    engine.gate.clear()

    async def slow(batcher):
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.to_thread(engine.started.wait, 30)
        with pytest.raises(RequestTimeoutError):
            await batcher.submit(2, timeout_s=0.05)
        third = asyncio.ensure_future(batcher.submit(3))
        engine.gate.set()
        return await asyncio.gather(first, third)

    assert _run(slow, engine, window_s=0.0) == [2, 6]
    assert 2 not in sum(engine.batches, [])


def test_a_disconnected_client_is_dropped_and_others_are_answered():
    engine = FakeEngine()
    engine.gate.clear()

    async def scenario(batcher):
        gone = asyncio.Event()
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.to_thread(engine.started.wait, 30)
        leaving = asyncio.ensure_future(batcher.submit(2, disconnected=gone.wait))
        staying = asyncio.ensure_future(batcher.submit(3, disconnected=asyncio.Event().wait))
        await asyncio.sleep(0)
        gone.set()
        with pytest.raises(ClientDisconnected):
            await leaving
        engine.gate.set()
        return await asyncio.gather(first, staying)

    assert _run(scenario, engine, window_s=0.0) == [2, 6]
    assert sum(engine.batches, []) == [1, 3]


def test_exclusive_jobs_run_alone_between_batches():
    order: list = []

    def run_batch(jobs):
        order.append(list(jobs))
        return [2 * j for j in jobs]

    batcher = Batcher(run_batch, BatcherSettings(window_s=0.3))
    batcher.start()

    async def main():
        results = await asyncio.gather(
            batcher.submit(1),
            batcher.run_exclusive(lambda: order.append("load") or "loaded"),
            batcher.submit(2),
        )
        await asyncio.to_thread(batcher.close, 30)
        return results

    assert asyncio.run(main()) == [2, "loaded", 4]
    assert order == [[1], "load", [2]]


def test_close_finishes_queued_and_running_requests_then_refuses_new_ones():
    engine = FakeEngine()
    engine.gate.clear()
    batcher = Batcher(engine.run_batch, BatcherSettings(window_s=0.0, max_batch_size=2))
    batcher.start()

    async def main():
        pending = [asyncio.ensure_future(batcher.submit(j)) for j in range(5)]
        await asyncio.to_thread(engine.started.wait, 30)
        closing = asyncio.ensure_future(asyncio.to_thread(batcher.close, 30))
        while not batcher.closing:
            await asyncio.sleep(0.001)
        with pytest.raises(ServerClosingError):
            await batcher.submit(9)
        engine.gate.set()
        results = await asyncio.gather(*pending)
        await closing
        return results

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]
    assert sum(engine.batches, []) == [0, 1, 2, 3, 4]
    assert not batcher._thread.is_alive()
