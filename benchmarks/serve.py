"""``mnistcnn serve`` under a bounded load, next to in-process ``predict`` in the same run.

    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/serve.py [--clients 16]
        [--requests 100] [--rounds 3]

Two servers run on 127.0.0.1, the same model and engine: one with micro-batching (the default:
batches of up to 64, a 2 ms window) and one with ``--max-batch 1`` (every picture on its own).
Each round, in a shuffled order, ``--clients`` threads (one keep-alive connection each) send
``--requests`` pictures each, one at a time, as raw PNG bodies to ``/v1/predict``; and this
process runs ``predict`` on the same pictures, one call per picture, then in batches of 64.

Two workloads: MNIST test digits as 28x28 PNG files (the network's own form, taken as is) and
280x280 canvas drawings of other MNIST test digits (what the page sends: each is normalised).

Reported per configuration: requests per second (medians of the rounds), latency p50 and p99
(over every request of every round), and the server's resident memory before the first round
and after the last. The clients share the machine's cores with the server: on 2 cores the
figures are what one machine serving itself gets. Nothing here fails a build.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import mnistcnn  # noqa: E402
from mnistcnn import DigitClassifier  # noqa: E402
from tests.pictures import canvas_drawing, png_bytes  # noqa: E402
from tests.server import Server, running_server  # noqa: E402

ONE = "in-process predict, one at a time"
BATCHES = "in-process predict, batches of 64"


def load(
    server: Server, pictures: list[bytes], clients: int, requests: int
) -> tuple[float, list[float]]:
    """Requests per second and each request's latency (s) of one bounded load."""
    host, port = server.url.removeprefix("http://").split(":")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client(worker: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.connect()
        barrier.wait()
        for request in range(requests):
            body = pictures[(worker * 31 + request) % len(pictures)]
            started = time.perf_counter()
            connection.request("POST", "/v1/predict", body, {"Content-Type": "image/png"})
            response = connection.getresponse()
            response.read()
            latencies[worker].append(time.perf_counter() - started)
            if response.status != 200:
                failures.append(f"HTTP {response.status}")
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:3]}")
    return clients * requests / elapsed, [value for each in latencies for value in each]


def in_process(
    classifier: DigitClassifier, pictures: list[bytes], count: int
) -> tuple[float, float, list[float]]:
    """Pictures per second one call at a time, in batches of 64, and the single-call latencies."""
    latencies = []
    started = time.perf_counter()
    for index in range(count):
        begin = time.perf_counter()
        classifier.predict(pictures[index % len(pictures)])
        latencies.append(time.perf_counter() - begin)
    single = count / (time.perf_counter() - started)
    batch = [pictures[i % len(pictures)] for i in range(count)]
    started = time.perf_counter()
    classifier.predict(batch, batch_size=64)
    batched = count / (time.perf_counter() - started)
    return single, batched, latencies


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=100, help="per client and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    test_set = mnistcnn.load_data("test")
    workloads = {
        "MNIST 28x28 PNG": [png_bytes(test_set.images[i]) for i in range(256)],
        "canvas drawing 280x280 PNG": [
            png_bytes(canvas_drawing(test_set.images[1000 + i])) for i in range(256)
        ],
    }
    classifier = DigitClassifier.pretrained()
    print(
        f"mnistcnn {mnistcnn.__version__}, engine {classifier.backend}, {args.clients} clients x "
        f"{args.requests} requests, {args.rounds} rounds\n"
    )
    with running_server() as batched, running_server("--max-batch", "1") as unbatched:
        servers = {"server, micro-batching": batched, "server, --max-batch 1": unbatched}
        memory_before = {name: server.rss() for name, server in servers.items()}
        rates: dict[tuple[str, str], list[float]] = {}
        latencies: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.rounds):
            plan: list[tuple[str, str, Callable[[], None]]] = []
            for workload, pictures in workloads.items():
                for name, server in servers.items():

                    def run(
                        server: Server = server,
                        pictures: list[bytes] = pictures,
                        key: tuple[str, str] = (workload, name),
                    ) -> None:
                        rate, times = load(server, pictures, args.clients, args.requests)
                        rates.setdefault(key, []).append(rate)
                        latencies.setdefault(key, []).extend(times)

                    plan.append((workload, name, run))

                    def alone(
                        server: Server = server,
                        pictures: list[bytes] = pictures,
                        key: tuple[str, str] = (workload, f"{name}, one client"),
                    ) -> None:
                        rate, times = load(server, pictures, 1, args.requests * 2)
                        rates.setdefault(key, []).append(rate)
                        latencies.setdefault(key, []).extend(times)

                    plan.append((workload, name, alone))

                def local(pictures: list[bytes] = pictures, workload: str = workload) -> None:
                    single, batch, times = in_process(
                        classifier, pictures, args.clients * args.requests // 4
                    )
                    rates.setdefault((workload, ONE), []).append(single)
                    latencies.setdefault((workload, ONE), []).extend(times)
                    rates.setdefault((workload, BATCHES), []).append(batch)

                plan.append((workload, "in-process", local))
            random.Random(round_).shuffle(plan)
            for _, _, run_one in plan:
                run_one()
            print(f"round {round_ + 1} done", file=sys.stderr)
            if round_ == 0:
                memory_warm = {name: server.rss() for name, server in servers.items()}
        memory_after = {name: server.rss() for name, server in servers.items()}
        host, port = batched.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.request("GET", "/healthz")
        batching = json.loads(connection.getresponse().read())["batching"]
        connection.close()

    for workload in workloads:
        print(f"### {workload}\n")
        print("| | requests/s | x one-at-a-time in-process | p50 | p99 |")
        print("| --- | --- | --- | --- | --- |")
        reference = statistics.median(rates[(workload, ONE)])
        names = [ONE, BATCHES, *servers, *(f"{name}, one client" for name in servers)]
        for name in names:
            rate = statistics.median(rates[(workload, name)])
            times = latencies.get((workload, name))
            p50 = f"{percentile(times, 50) * 1000:.2f} ms" if times else ""
            p99 = f"{percentile(times, 99) * 1000:.2f} ms" if times else ""
            print(f"| {name} | {rate:,.0f} | {rate / reference:.2f} | {p50} | {p99} |")
        gain = statistics.median(
            a / b
            for a, b in zip(
                rates[(workload, "server, micro-batching")],
                rates[(workload, "server, --max-batch 1")],
                strict=True,
            )
        )
        print(f"\nmicro-batching: {gain:.2f}x the requests/s of the unbatched server\n")
    print("| server | memory before | after round 1 | after the last round |")
    print("| --- | --- | --- | --- |")
    for name in memory_before:
        before, warm, after = memory_before[name], memory_warm[name], memory_after[name]
        print(f"| {name} | {before / 1e6:.0f} MB | {warm / 1e6:.0f} MB | {after / 1e6:.0f} MB |")
    print(
        f"\nmicro-batching server: {batching['images']:,} pictures in {batching['batches']:,} "
        f"network calls, {batching['mean_size']:.1f} per call on average, "
        f"{batching['largest']} at most"
    )


if __name__ == "__main__":
    main()
