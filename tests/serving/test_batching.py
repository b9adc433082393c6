"""The micro-batcher on its own: batches formed from concurrent submissions, answers routed back
in order, lone requests never delayed, errors given to every request of the failed batch."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from mnistcnn._serving._batching import MicroBatcher


class Recorder:
    """A stand-in network that records the batches it is given: row i's answer is its sum."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.sizes: list[int] = []
        self.threads: set[int] = set()
        self.delay = delay
        self.fail = fail

    def __call__(self, units: np.ndarray) -> np.ndarray:
        self.sizes.append(len(units))
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        if self.fail:
            raise ValueError("the network failed")
        return units.reshape(len(units), -1).sum(axis=1, keepdims=True)


def units(*values: float) -> np.ndarray:
    return np.stack([np.full((28, 28), v, np.float32) for v in values])


async def request(batcher: MicroBatcher, values: tuple[float, ...], decode: float) -> np.ndarray:
    with batcher.expect():
        await asyncio.sleep(decode)  # decoding pictures, as the server does in a thread
        sent = units(*values)
    return await batcher.submit(sent)


def test_concurrent_requests_share_batches_and_get_their_own_rows() -> None:
    network = Recorder(delay=0.01)

    async def main() -> list[np.ndarray]:
        batcher = MicroBatcher(network, window=0.05, max_batch=64)
        batcher.start()
        values = [tuple(float(10 * r + i) for i in range(r % 3 + 1)) for r in range(12)]
        answers = await asyncio.gather(
            *(request(batcher, v, decode=0.001 * (r % 4)) for r, v in enumerate(values))
        )
        await batcher.stop()
        for answer, sent in zip(answers, values, strict=True):
            np.testing.assert_array_equal(answer[:, 0], np.array(sent) * 784)
        assert batcher.stats.images == sum(len(v) for v in values)
        return answers

    asyncio.run(main())
    assert sum(network.sizes) == 24
    assert len(network.sizes) < 12  # requests were gathered, not run one by one
    assert max(network.sizes) > 3


def test_a_lone_request_does_not_wait_for_the_window() -> None:
    network = Recorder()

    async def main() -> float:
        batcher = MicroBatcher(network, window=1.0)
        batcher.start()
        started = time.perf_counter()
        await batcher.submit(units(1.0))
        elapsed = time.perf_counter() - started
        await batcher.stop()
        return elapsed

    assert asyncio.run(main()) < 0.5  # far less than the 1 s window


def test_batches_never_exceed_max_batch() -> None:
    network = Recorder(delay=0.005)

    async def main() -> None:
        batcher = MicroBatcher(network, window=0.05, max_batch=5)
        batcher.start()
        answers = await asyncio.gather(*(request(batcher, (r, r, 1.0), 0) for r in range(10)))
        assert [a[0, 0] for a in answers] == [784.0 * r for r in range(10)]
        big = await batcher.submit(units(*range(12)))  # more than max_batch alone: one call
        assert len(big) == 12
        await batcher.stop()

    asyncio.run(main())
    assert max(network.sizes[:-1]) <= 5
    assert network.sizes[-1] == 12


def test_an_error_reaches_every_request_of_the_batch() -> None:
    async def main() -> list[BaseException | np.ndarray]:
        batcher = MicroBatcher(Recorder(fail=True), window=0.05)
        batcher.start()
        results = await asyncio.gather(
            *(request(batcher, (1.0,), 0) for _ in range(3)), return_exceptions=True
        )
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert all(isinstance(r, ValueError) and "network failed" in str(r) for r in results)


def test_the_network_runs_outside_the_event_loop_thread() -> None:
    network = Recorder()

    async def main() -> None:
        batcher = MicroBatcher(network)
        batcher.start()
        await batcher.submit(units(1.0))
        await batcher.stop()

    asyncio.run(main())
    assert threading.get_ident() not in network.threads


def test_bad_settings_and_use_before_start() -> None:
    with pytest.raises(ValueError, match="window must be at least 0"):
        MicroBatcher(Recorder(), window=-1)
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        MicroBatcher(Recorder(), max_batch=0)
    with pytest.raises(RuntimeError, match="call start"):
        asyncio.run(MicroBatcher(Recorder()).submit(units(1.0)))
