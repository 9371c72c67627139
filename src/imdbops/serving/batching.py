"""Micro-batching: concurrent requests share one ``predict_proba`` call.

A single-row model call costs about as much as a 50-row one, so under load the server
collects what is waiting (up to ``batch_max_size`` rows, or ``batch_max_wait_ms`` after the
first request), runs one call in a worker thread and fans the results back out. While that
call runs, new requests queue up; the next batch is collected only once the model is free,
so it takes all of them, and the wait is only paid when the server is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from imdbops.log import get_logger

log = get_logger("serving.batching")

# (rows) -> (probabilities, model_version); runs in a worker thread.
PredictFn = Callable[[list[dict[str, Any]]], tuple[Sequence[float], str]]


class MicroBatcher:
    def __init__(
        self,
        predict: PredictFn,
        max_size: int = 256,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int, float], None] | None = None,
        max_concurrent: int = 1,
    ):
        self._predict = predict
        self.max_size = max(1, int(max_size))
        self.max_wait_s = max(0.0, float(max_wait_ms)) / 1000.0
        self._on_batch = on_batch
        # More than one model call in flight lets a multi-core host overlap the parts of
        # predict_proba that release the GIL; 1 gives the biggest batches.
        self.max_concurrent = max(1, int(max_concurrent))
        self._slots: asyncio.Semaphore | None = None
        self._running: set[asyncio.Task] = set()
        self._queue: asyncio.Queue[tuple[list[dict[str, Any]], asyncio.Future]] | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._task = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._running):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def predict(self, rows: list[dict[str, Any]]) -> tuple[list[float], str]:
        """Probabilities for ``rows`` and the version of the model that produced them."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((rows, future))
        return await future

    async def _collect(self) -> list[tuple[list[dict[str, Any]], asyncio.Future]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        size = len(batch[0][0])
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_size:
            try:
                entry = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    entry = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(entry)
            size += len(entry[0])
        return batch

    async def _run(self) -> None:
        assert self._slots is not None
        while True:
            # A free slot first, then the batch: everything that queued while the model was
            # busy joins it. Collected before the slot (as before), a batch was cut from the
            # first one or two arrivals and later ones waited a whole extra call.
            await self._slots.acquire()
            try:
                batch = await self._collect()
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._call(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _call(self, batch: list[tuple[list[dict[str, Any]], asyncio.Future]]) -> None:
        assert self._slots is not None
        rows = [row for entry, _ in batch for row in entry]
        started = time.perf_counter()
        try:
            probs, version = await asyncio.to_thread(self._predict, rows)
        except Exception as exc:  # noqa: BLE001 - fan the failure out to every waiter
            log.exception("model call failed for a batch of %d rows", len(rows))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self._slots.release()
        if self._on_batch is not None:
            self._on_batch(len(rows), time.perf_counter() - started)
        offset = 0
        for entry, future in batch:
            n = len(entry)
            if not future.done():
                future.set_result((list(probs[offset : offset + n]), version))
            offset += n
