"""The micro-batcher on its own event loop, without a server."""

from __future__ import annotations

import asyncio
import threading

import pytest

from imdbops.serving.batching import MicroBatcher


class RecordingModel:
    """A model call that scores each row by its title and remembers every batch it saw."""

    def __init__(self, fail_on: str | None = None):
        self.batches: list[list[str]] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, rows):
        titles = [r["title"] for r in rows]
        with self._lock:
            self.batches.append(titles)
        if self.fail_on in titles:
            raise ValueError(f"cannot score {self.fail_on}")
        return [float(len(t)) / 100 for t in titles], "7"


def rows(*titles: str) -> list[dict]:
    return [{"title": t} for t in titles]


def run(coro):
    return asyncio.run(coro)


async def _with_batcher(model, body, **kwargs):
    batcher = MicroBatcher(model, **kwargs)
    batcher.start()
    try:
        return await body(batcher)
    finally:
        await batcher.stop()


def test_concurrent_requests_share_one_model_call_and_get_their_own_rows_back():
    model = RecordingModel()

    async def body(batcher):
        return await asyncio.gather(
            batcher.predict(rows("a")),
            batcher.predict(rows("bb", "ccc")),
            batcher.predict(rows("dddd")),
        )

    results = run(_with_batcher(model, body, max_size=100, max_wait_ms=50))
    assert model.batches == [["a", "bb", "ccc", "dddd"]]
    assert results == [([0.01], "7"), ([0.02, 0.03], "7"), ([0.04], "7")]


def test_a_batch_stops_growing_at_max_size():
    model = RecordingModel()

    async def body(batcher):
        return await asyncio.gather(*(batcher.predict(rows(f"m{i}")) for i in range(6)))

    results = run(_with_batcher(model, body, max_size=4, max_wait_ms=200))
    assert [len(b) for b in model.batches] == [4, 2]
    assert [r[0] for r in results] == [[0.02]] * 6


def test_an_idle_server_answers_after_max_wait_without_waiting_for_more_traffic():
    model = RecordingModel()

    async def body(batcher):
        first = asyncio.ensure_future(batcher.predict(rows("early")))
        await asyncio.sleep(0.3)  # far beyond max_wait: the first request must be answered
        assert first.done()
        second = await batcher.predict(rows("late"))
        return await first, second

    run(_with_batcher(model, body, max_size=100, max_wait_ms=20))
    assert model.batches == [["early"], ["late"]]


def test_requests_arriving_within_max_wait_join_the_batch():
    model = RecordingModel()

    async def body(batcher):
        first = asyncio.ensure_future(batcher.predict(rows("early")))
        await asyncio.sleep(0.02)
        return await asyncio.gather(first, batcher.predict(rows("soon")))

    run(_with_batcher(model, body, max_size=100, max_wait_ms=2000))
    assert model.batches == [["early", "soon"]]


def test_a_failing_model_call_fails_only_the_requests_of_that_batch():
    model = RecordingModel(fail_on="boom")

    async def body(batcher):
        results = await asyncio.gather(
            batcher.predict(rows("boom", "a")),
            batcher.predict(rows("bb", "cc")),
            return_exceptions=True,
        )
        after = await batcher.predict(rows("ddd"))  # the batcher keeps serving
        return results, after

    (failed, ok), after = run(_with_batcher(model, body, max_size=2, max_wait_ms=50))
    assert model.batches[:2] == [["boom", "a"], ["bb", "cc"]]
    assert isinstance(failed, ValueError) and "boom" in str(failed)
    assert ok == ([0.02, 0.02], "7")
    assert after == ([0.03], "7")


def test_predict_before_start_is_an_error():
    batcher = MicroBatcher(RecordingModel())
    with pytest.raises(RuntimeError, match="not started"):
        run(batcher.predict(rows("a")))
