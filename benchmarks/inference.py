"""Inference speed of every engine through the public ``predict``, against bare runtimes and the
machine's compute limit, measured in one process.

    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/inference.py [--model PREFIX]

Timing on a shared machine is noisy, so every figure here is a ratio against references
measured in the same run, interleaved with it round by round (medians of the rounds):

- the **compute limit**: the network's FLOPs divided by the rate of a float32 NumPy matrix
  multiply (2048 x 2048) on all cores, the most this machine's BLAS does, measured as one more
  candidate of every round (with 0.3 s before and after it for idle threads to stop spinning);
- a **bare ONNX Runtime** session (``onnxruntime.InferenceSession(path).run``, default
  options) on the same ``.onnx`` file, and the bare Paddle Inference predictor on the static
  model, each given input already converted to float32 (n, 1, 28, 28).

The single-image figures call ``predict`` with one uint8 (28, 28) MNIST test digit, which the
library checks and converts on every call; batch figures predict the 10,000 test digits
(batches of 64, the default) and compare with the bare session running the same batches.
The issue's targets are printed with the measured figures; nothing here fails a build.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import warnings
from collections.abc import Callable

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import paddle  # noqa: E402

import mnistcnn  # noqa: E402
from mnistcnn import DigitClassifier  # noqa: E402
from mnistcnn._engines._static import StaticBackend  # noqa: E402
from mnistcnn._input._inputs import model_batches  # noqa: E402

Timed = Callable[[], object]


def network_flops(network: paddle.nn.Layer) -> int:
    """Multiply-adds x 2 of convolutions and linear layers for one 28x28 image."""
    flops = [0]

    def count(layer: paddle.nn.Layer, _inputs: object, output: paddle.Tensor) -> None:
        if isinstance(layer, paddle.nn.Conv2D):
            weight = layer.weight.shape  # out, in / groups, kh, kw
            flops[0] += 2 * int(np.prod(output.shape[1:])) * weight[1] * weight[2] * weight[3]
        elif isinstance(layer, paddle.nn.Linear):
            flops[0] += 2 * layer.weight.shape[0] * layer.weight.shape[1]

    hooks = [
        sub.register_forward_post_hook(count)
        for sub in network.sublayers()
        if isinstance(sub, (paddle.nn.Conv2D, paddle.nn.Linear))
    ]
    network.eval()
    with paddle.no_grad():
        network(paddle.zeros([1, 1, 28, 28]))
    for hook in hooks:
        hook.remove()
    return flops[0]


def gemm_candidate(size: int = 2048) -> tuple[Timed, int]:
    """A float32 NumPy matrix multiply on all cores: the most this machine's BLAS does."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    return (lambda: a @ a), 2


GEMM_FLOP = 2 * 2048**3


def per_call(function: Timed, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


GEMM = "GEMM 2048x2048"
LIMIT = "compute limit"
SETTLE = 0.3  # seconds for idle threads (ONNX Runtime's, OpenBLAS's) to stop spinning


def interleaved(candidates: dict[str, tuple[Timed, int]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each candidate, round by round, the candidates taking turns in an
    order shuffled every round (so that none always follows the same one)."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for function, calls in candidates.values():
        per_call(function, max(1, calls // 10))  # warm up
    order = list(candidates)
    for round_number in range(rounds):
        random.Random(round_number).shuffle(order)
        for name in order:
            function, calls = candidates[name]
            if name == GEMM:  # on cores no runtime's idle threads are spinning on
                time.sleep(SETTLE)
            times[name].append(per_call(function, calls))
            if name == GEMM:
                time.sleep(SETTLE)
    return times


def ratio(times: dict[str, list[float]], name: str, reference: str) -> float:
    """Median over rounds of the per-round ratio: the noise of one round hits both alike."""
    return statistics.median(a / b for a, b in zip(times[name], times[reference], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default=None, help="saved model prefix (default: pretrained)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    def load(engine: str) -> DigitClassifier:
        if args.model:
            return DigitClassifier.load(args.model, backend=engine)  # type: ignore[arg-type]
        return DigitClassifier.pretrained(backend=engine)  # type: ignore[arg-type]

    engines = {name: load(name) for name in ("onnxruntime", "static", "dynamic")}
    default = load(None)  # type: ignore[arg-type]
    onnx_file = str(engines["onnxruntime"]._source)
    static = engines["static"]._backend
    assert isinstance(static, StaticBackend)
    flops = network_flops(load("dynamic").network)  # type: ignore[arg-type]

    test = mnistcnn.load_data("test")
    images = test.images
    one = images[0]
    one_input = mnistcnn.to_model_input(images[:1])
    batches = [mnistcnn.to_model_input(images[i : i + 64]) for i in range(0, len(images), 64)]
    bare = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    runtime = engines["onnxruntime"]

    def bare_single() -> object:
        return bare.run(None, {"x": one_input})

    def bare_single_converting() -> object:  # the least a caller with a uint8 digit must do
        batch = (one.astype(np.float32) / 255)[None, None]
        return bare.run(None, {"x": batch})[0].argmax(axis=1)

    def bare_batches() -> object:
        return [bare.run(None, {"x": batch}) for batch in batches]

    def static_batches() -> object:
        return [static.run(batch) for batch in batches]

    def library_work() -> object:  # checking and converting one picture into model input
        return next(model_batches(one, batch_size=64, value_range=(0.0, 1.0))[1])

    gemm = gemm_candidate()
    # ONNX Runtime first, before any Paddle engine has run: Paddle's OpenMP threads keep
    # spinning for a while after each call and would slow whatever runs next on 2 cores.
    single = interleaved(
        {
            "bare ONNX Runtime": (bare_single, 2000),
            "bare ORT + uint8 conversion": (bare_single_converting, 2000),
            "predict, onnxruntime": (lambda: runtime.predict(one), 2000),
            "predict, preprocess='raw'": (lambda: runtime.predict(one, preprocess="raw"), 2000),
            "library's own work": (library_work, 5000),
            GEMM: gemm,
        },
        args.rounds,
    )
    batch = interleaved(
        {
            GEMM: gemm,
            "bare ONNX Runtime": (bare_batches, 1),
            "predict, onnxruntime": (lambda: runtime.predict(images), 1),
        },
        args.rounds,
    )
    paddle_single = interleaved(
        {
            "predict, static": (lambda: engines["static"].predict(one), 1000),
            "bare Paddle predictor": (lambda: static.run(one_input), 1000),
            "predict, dynamic": (lambda: engines["dynamic"].predict(one), 300),
        },
        max(3, args.rounds // 3),
    )
    paddle_batch = interleaved(
        {
            "predict, static": (lambda: engines["static"].predict(images), 1),
            "bare Paddle predictor": (static_batches, 1),
            "predict, dynamic": (lambda: engines["dynamic"].predict(images), 1),
        },
        max(3, args.rounds // 3),
    )
    # The compute limit of each round: seconds per image at that round's GEMM rate.
    single[LIMIT] = [seconds * flops / GEMM_FLOP for seconds in single.pop(GEMM)]
    batch[LIMIT] = [seconds * flops / GEMM_FLOP for seconds in batch.pop(GEMM)]
    limit = statistics.median(single[LIMIT])
    gemm_rate = flops / limit

    print(f"machine: {paddle.device.get_device()}, {mnistcnn._engines._base.available_cpus()} CPUs")
    print(f"network: {flops / 1e6:.1f} MFLOP per image ({default.metadata.architecture})")
    print(f"NumPy float32 GEMM (2048x2048): {gemm_rate / 1e9:.0f} GFLOP/s")
    print(f"compute limit: {limit * 1e3:.3f} ms per image, {1 / limit:,.0f} images/s")
    print(f"default engine: {default.backend}")

    bare_one = statistics.median(single["bare ONNX Runtime"])
    print("\none image (uint8 28x28) per call:")
    print(f"{'':28} {'ms':>8} {'x bare ORT':>11} {'x limit':>8}")
    for name, seconds in [*single.items(), *paddle_single.items()]:
        median = statistics.median(seconds)
        if name in single:  # measured in the same rounds: ratios round by round
            relative, to_limit = (
                ratio(single, name, "bare ONNX Runtime"),
                ratio(single, name, LIMIT),
            )
        else:
            relative, to_limit = median / bare_one, median / limit
        print(f"{name:28} {median * 1e3:8.3f} {relative:11.2f} {to_limit:8.2f}")

    bare_rate = len(images) / statistics.median(batch["bare ONNX Runtime"])
    print("\nthe 10,000 test digits in batches of 64:")
    print(f"{'':28} {'images/s':>10} {'x bare ORT':>11} {'of limit':>9}")
    for name, seconds in [*batch.items(), *paddle_batch.items()]:
        if name == LIMIT:
            continue
        rate = len(images) / statistics.median(seconds)
        if name in batch:
            relative = 1 / ratio(batch, name, "bare ONNX Runtime")
            share = len(images) / ratio(batch, name, LIMIT)
        else:
            relative, share = rate / bare_rate, rate * limit
        print(f"{name:28} {rate:10,.0f} {relative:11.2f} {share:9.0%}")

    single_ratio = ratio(single, "predict, onnxruntime", "bare ONNX Runtime")
    single_limit = ratio(single, "predict, onnxruntime", LIMIT)
    batch_ratio = 1 / ratio(batch, "predict, onnxruntime", "bare ONNX Runtime")
    batch_share = len(images) / ratio(batch, "predict, onnxruntime", LIMIT)
    print("\ntargets (issue 11), ONNX Runtime engine through predict:")
    for text, value, target, ok in (
        ("one image, x bare ONNX Runtime", single_ratio, "<= 1.3", single_ratio <= 1.3),
        ("one image, x compute limit", single_limit, "<= 2.0", single_limit <= 2.0),
        ("batches, x bare ONNX Runtime", batch_ratio, ">= 0.9", batch_ratio >= 0.9),
        ("batches, share of the GEMM limit", batch_share, ">= 0.6", batch_share >= 0.6),
    ):
        print(f"  {text:34} {value:6.2f}  target {target}: {'met' if ok else 'NOT MET'}")
    work = statistics.median(single["library's own work"])
    print(f"  the library's work on one picture: {work * 1e6:.1f} us")
    labels = {name: engine.predict(images) for name, engine in engines.items()}
    same = all(np.array_equal(labels["dynamic"], other) for other in labels.values())
    print(f"every engine gives the same label for every test digit: {same}")


if __name__ == "__main__":
    main()
