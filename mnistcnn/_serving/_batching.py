"""Micro-batching: the images of concurrent requests run through the network as one batch.

One image costs the network almost as much as a batch of sixteen (the call's fixed cost, not
the arithmetic, dominates), so a server that runs each request on its own spends its time on
fixed costs. :class:`MicroBatcher` gathers what concurrent requests submit and runs it as one
batch, then hands each request its own rows.

It never makes a lone request wait: a batch starts as soon as the first images arrive unless
other requests are known to be on their way (they announced themselves with :meth:`expect`
and are still decoding their pictures); only then does it wait for them, for ``window``
seconds at most. While a batch runs, new requests queue and form the next batch, so under load
batches grow by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BatchStats", "MicroBatcher"]


@dataclass
class BatchStats:
    """What a :class:`MicroBatcher` has done, for ``/healthz`` and the load benchmark."""

    batches: int = 0
    images: int = 0
    largest: int = 0

    @property
    def mean_size(self) -> float:
        return self.images / self.batches if self.batches else 0.0


@dataclass
class _Job:
    units: np.ndarray
    done: asyncio.Future[np.ndarray] = field(repr=False)


class MicroBatcher:
    """Run ``compute`` on the images of concurrent requests together.

    Args:
        compute: the network call, (n, 28, 28) float32 in [0, 1] -> (n, k) results; run in a
            worker thread, one batch at a time.
        window: the longest a batch waits for announced requests, in seconds.
        max_batch: the most images in one batch (a request with more runs alone).

    Use it inside a running event loop: :meth:`start` begins the batching task and
    :meth:`stop` ends it once the requests in flight have their answers.
    """

    def __init__(
        self,
        compute: Callable[[np.ndarray], np.ndarray],
        *,
        window: float = 0.002,
        max_batch: int = 64,
    ) -> None:
        if window < 0:
            raise ValueError(f"window must be at least 0 seconds; got {window}.")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1; got {max_batch}.")
        self._compute = compute
        self._window = window
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._expected = 0
        self._arrived: asyncio.Event | None = None
        self._held: _Job | None = None  # taken from the queue, too big for the last batch
        self.stats = BatchStats()

    def start(self) -> None:
        """Begin gathering batches (in the running event loop)."""
        self._queue = asyncio.Queue()
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop gathering; requests still queued get their answers first."""
        if self._task is None or self._queue is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    @contextlib.contextmanager
    def expect(self) -> Iterator[None]:
        """Announce a request that will :meth:`submit` soon (while it decodes its pictures):
        a batch about to start waits for it, up to ``window``."""
        self._expected += 1
        try:
            yield
        finally:
            self._expected -= 1
            if self._arrived is not None:
                self._arrived.set()  # a batch waiting for this request need not wait more

    async def submit(self, units: np.ndarray) -> np.ndarray:
        """The results for ``units`` (n, 28, 28), computed in a batch with other requests'."""
        if self._queue is None:
            raise RuntimeError("the batcher is not running: call start() in the event loop")
        job = _Job(units, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        if self._arrived is not None:
            self._arrived.set()
        return await job.done

    async def _run(self) -> None:
        assert self._queue is not None  # set by start(), which creates this task
        while True:
            jobs = [self._held] if self._held is not None else [await self._queue.get()]
            self._held = None
            try:
                await self._gather(jobs)
                await self._compute_batch(jobs)
            finally:
                for _ in jobs:
                    self._queue.task_done()

    async def _gather(self, jobs: list[_Job]) -> None:
        """Add queued jobs to ``jobs``, waiting for announced ones until the window closes."""
        assert self._queue is not None and self._arrived is not None
        size = len(jobs[0].units)
        deadline = time.monotonic() + self._window
        while size < self._max_batch:
            if not self._queue.empty():
                job = self._queue.get_nowait()
                if size + len(job.units) > self._max_batch:
                    self._held = job  # it does not fit: it starts the next batch
                    return
                jobs.append(job)
                size += len(job.units)
                continue
            remaining = deadline - time.monotonic()
            if self._expected == 0 or remaining <= 0:
                return
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def _compute_batch(self, jobs: list[_Job]) -> None:
        units = jobs[0].units if len(jobs) == 1 else np.concatenate([job.units for job in jobs])
        try:
            results = await asyncio.to_thread(self._compute, units)
        except Exception as exc:  # each request gets the error as its own
            for job in jobs:
                if not job.done.done():
                    job.done.set_exception(exc)
            return
        self.stats.batches += 1
        self.stats.images += len(units)
        self.stats.largest = max(self.stats.largest, len(units))
        start = 0
        for job in jobs:
            stop = start + len(job.units)
            if not job.done.done():  # a request whose client went away was cancelled
                job.done.set_result(results[start:stop])
            start = stop
