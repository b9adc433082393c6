"""Time to an accurate model: the fast recipe against the tutorial's and PyTorch's, in one run.

    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/time_to_accuracy.py
        [--seeds 0 1 2] [--full-tutorial] [--no-profile]

Everything is measured in this one invocation, one contender after the other, on the same
machine, so the ratios hold on a faster or slower machine (AVX-512 or AVX2) even though the
seconds do not:

- ``mnistcnn train --recipe fast --procs 2``, once per seed, as a new process, timed from its
  start to a saved (safetensors), evaluated model; its test accuracy is read from its output.
- The tutorial recipe (the Paddle tutorial's network and schedule: Adam 1e-3, batch 64, five
  epochs) as the same command. Five epochs take about 15 minutes, so by default it is run
  twice on part of one epoch (3,200 and 9,600 images): the difference gives the time per image,
  the rest the fixed costs (start-up, loading, evaluation, saving), and five epochs are projected
  from those. ``--full-tutorial`` runs all five epochs instead.
- PyTorch's MNIST example recipe (pytorch/examples mnist/main.py), if ``torch`` is installed:
  its network (conv 32 -> conv 64 -> max pool -> dropout -> fc 128 -> dropout -> fc 10),
  Adadelta at 1.0 with StepLR 0.7, batch 64, its input normalisation, on all threads, timed from
  the start of its process until its test accuracy first reaches 99.0% (measured after every
  epoch, as the example does).

Then a profile of the fast run: where its seconds go (process start, data, starting the
training processes, the steps and what each step is made of, evaluation, saving).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.99


def train_command(folder: Path, *options: str) -> tuple[float, float, str]:
    """Run ``mnistcnn train OPTIONS``; (wall seconds, test accuracy, its output)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mnistcnn", "train", "-q", "--format", "safetensors",
         "-o", str(folder / "model"), *options],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"mnistcnn train {' '.join(options)} failed:\n{result.stderr[-2000:]}")
    accuracy = float(result.stdout.split("test accuracy ")[1].split()[0])
    return seconds, accuracy, result.stdout


def tutorial_projection(folder: Path, full: bool) -> tuple[float, float, str]:
    """Seconds for the tutorial recipe's five epochs (measured or projected), its accuracy (of
    the full run, or NaN), and how the figure was obtained."""
    if full:
        seconds, accuracy, _ = train_command(folder, "--recipe", "tutorial", "--seed", "0")
        return seconds, accuracy, "measured: 5 epochs"
    small, large = 3200, 9600
    t_small, _, _ = train_command(folder, "--recipe", "tutorial", "--epochs", "1", "--seed", "0",
                                  "--limit", str(small))  # fmt: skip
    t_large, _, _ = train_command(folder, "--recipe", "tutorial", "--epochs", "1", "--seed", "0",
                                  "--limit", str(large))  # fmt: skip
    per_image = (t_large - t_small) / (large - small)
    fixed = t_small - per_image * small
    projected = fixed + per_image * 5 * 60_000
    how = (
        f"projected: {per_image * 1000:.2f} ms per image (from {small:,} and {large:,} images) "
        f"x 300,000 + {fixed:.1f} s fixed"
    )
    return projected, float("nan"), how


PYTORCH_RUN = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np, torch
from torch import nn
import mnistcnn

torch.manual_seed(0)
train_set, test_set = mnistcnn.load_data("train"), mnistcnn.load_data("test")

def tensors(data):
    x = torch.from_numpy(data.images.astype(np.float32) / 255)[:, None]
    return (x - 0.1307) / 0.3081, torch.from_numpy(data.labels)

x_train, y_train = tensors(train_set)
x_test, y_test = tensors(test_set)

class Net(nn.Module):  # pytorch/examples mnist/main.py
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        x = torch.flatten(self.dropout1(torch.max_pool2d(x, 2)), 1)
        x = self.dropout2(torch.relu(self.fc1(x)))
        return torch.log_softmax(self.fc2(x), dim=1)

model = Net()
optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
target, accuracy, epoch = float(sys.argv[1]), 0.0, 0
while accuracy < target and epoch < 14:
    epoch += 1
    model.train()
    order = torch.randperm(len(x_train))
    for first in range(0, len(order), 64):
        index = order[first : first + 64]
        optimizer.zero_grad()
        nn.functional.nll_loss(model(x_train[index]), y_train[index]).backward()
        optimizer.step()
    scheduler.step()
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(x_test[i : i + 1000]).argmax(1)
                               for i in range(0, 10000, 1000)])
    accuracy = float((predicted == y_test).float().mean())
torch.save(model.state_dict(), sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - start, "accuracy": accuracy, "epochs": epoch,
                  "threads": torch.get_num_threads()}))
"""


def pytorch_example(folder: Path) -> dict[str, float] | None:
    """The PyTorch example's recipe in a process of its own, until 99.0%; None without torch."""
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    if probe.returncode != 0:
        return None
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PYTORCH_RUN, str(TARGET), str(folder / "torch_model.pt")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    report["wall"] = time.perf_counter() - start
    return report


def profile(folder: Path) -> list[tuple[str, float]]:
    """Where the seconds of ``train --recipe fast --procs 2`` go, phase by phase (each
    measured on its own in this process or a new one)."""
    phases: list[tuple[str, float]] = []
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import paddle, mnistcnn._training._loop"], check=True,
                   capture_output=True)  # fmt: skip
    phases.append(
        ("process start: Python, import Paddle and mnistcnn", time.perf_counter() - start)
    )

    import numpy as np
    import paddle

    import mnistcnn
    from mnistcnn._input._preprocess import to_model_input

    start = time.perf_counter()
    train_set, test_set = mnistcnn.load_data("train"), mnistcnn.load_data("test")
    phases.append(("read MNIST (IDX files, both splits)", time.perf_counter() - start))

    recipe = mnistcnn.get_recipe("fast")
    network = mnistcnn.build_model(recipe.architecture, seed=0)
    start = time.perf_counter()
    history = mnistcnn.train(network, train_set, recipe=recipe, seed=0, procs=2, progress=False)
    in_train = time.perf_counter() - start
    steps = sum(epoch.seconds for epoch in history.epochs)
    phases.append(("start 2 training processes, rendezvous, hand back weights", in_train - steps))
    phases.append((f"training steps ({recipe.epochs} epochs, in 2 processes)", steps))

    start = time.perf_counter()
    mnistcnn.evaluate(network, test_set)
    phases.append(("evaluate on the 10,000 test digits", time.perf_counter() - start))
    start = time.perf_counter()
    mnistcnn.save(network, folder / "profiled", format="safetensors", history=history)
    phases.append(("save (safetensors + metadata, atomically)", time.perf_counter() - start))

    # One process's share of a step (half of each batch), part by part, on one process.
    share = recipe.batch_size // 2
    model = mnistcnn.build_model(recipe.architecture, seed=0)
    optimizer = paddle.optimizer.Adam(learning_rate=recipe.learning_rate,
                                      parameters=model.parameters())  # fmt: skip
    parts = {"batch to tensor": 0.0, "forward + loss": 0.0, "backward": 0.0, "optimizer": 0.0}
    count = 200
    for step in range(count + 10):
        index = np.arange(step * share, (step + 1) * share) % len(train_set.images)
        t0 = time.perf_counter()
        x = paddle.to_tensor(to_model_input(train_set.images[index]))
        y = paddle.to_tensor(train_set.labels[index])
        t1 = time.perf_counter()
        loss = paddle.nn.functional.cross_entropy(model(x), y)
        float(loss)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        optimizer.clear_grad()
        t4 = time.perf_counter()
        if step >= 10:  # after warming up
            for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                parts[name] += seconds
    alone = sum(parts.values()) / count
    per_step = steps / (recipe.epochs * -(-len(train_set.images) // recipe.batch_size))
    for name, seconds in parts.items():
        phases.append((f"  per step, {name} ({share} images, 1 process)", seconds / count))
    phases.append(("  per step, in 2 processes (gradient all-reduce, sharing 2 cores)", per_step))
    phases.append(("  per step, the same alone in 1 process", alone))
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--full-tutorial", action="store_true", help="all 5 epochs (~15 min)")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("MNISTCNN_DATA"):
        parser.error("set MNISTCNN_DATA to the MNIST directory")
    folder = Path(tempfile.mkdtemp(prefix="time-to-accuracy-"))
    avx512 = (
        "avx512f" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else None
    )
    print(f"CPU: {os.cpu_count()} cores, AVX-512: {avx512}; Python {sys.version.split()[0]}\n")

    fast = []
    for seed in args.seeds:
        seconds, accuracy, _ = train_command(folder, "--recipe", "fast", "--procs", "2",
                                             "--seed", str(seed))  # fmt: skip
        fast.append((seconds, accuracy))
        print(f"fast --procs 2, seed {seed}: {seconds:6.1f} s  test accuracy {accuracy:.2%}",
              flush=True)  # fmt: skip
    tutorial, tutorial_accuracy, how = tutorial_projection(folder, args.full_tutorial)
    print(f"tutorial recipe, 5 epochs: {tutorial:6.1f} s ({how})", flush=True)
    torch_report = pytorch_example(folder)
    if torch_report is None:
        print("PyTorch is not installed: its example recipe was skipped (pip install torch)")
    else:
        print(f"PyTorch example: {torch_report['wall']:6.1f} s to {torch_report['accuracy']:.2%} "
              f"after {torch_report['epochs']:.0f} epoch(s), {torch_report['threads']:.0f} "
              "threads", flush=True)  # fmt: skip

    median = statistics.median(seconds for seconds, _ in fast)
    print("\n| run | seconds | test accuracy | tutorial recipe / this |")
    print("| --- | ---: | ---: | ---: |")
    measured = "" if tutorial_accuracy != tutorial_accuracy else f"{tutorial_accuracy:.2%}"
    print(f"| tutorial recipe, 5 epochs, 1 process ({how.split(':')[0]}) | {tutorial:.1f} | "
          f"{measured} | 1.0x |")  # fmt: skip
    if torch_report is not None:
        print(f"| PyTorch example to 99.0% ({torch_report['epochs']:.0f} epochs) | "
              f"{torch_report['wall']:.1f} | {torch_report['accuracy']:.2%} | "
              f"{tutorial / torch_report['wall']:.1f}x |")  # fmt: skip
    accuracies = [accuracy for _, accuracy in fast]
    ratio = tutorial / median
    print(f"| **fast, --procs 2** (median of {len(fast)} seeds) | {median:.1f} | "
          f"{min(accuracies):.2%} to {max(accuracies):.2%} | **{ratio:.1f}x** |")  # fmt: skip
    if torch_report is not None:
        print(f"\nfast against the PyTorch example: {torch_report['wall'] / median:.1f}x")
    verdict = "met" if ratio >= 30 and min(accuracies) >= TARGET else "NOT met"
    print(f"target (>= 30x the tutorial recipe, >= 99.0% on every seed): {verdict}")

    if not args.no_profile:
        print("\nProfile of fast --procs 2 (each phase measured on its own):")
        for name, seconds in profile(folder):
            unit = f"{seconds * 1000:8.1f} ms" if name.startswith("  ") else f"{seconds:8.2f} s "
            print(f"  {unit}  {name}")


if __name__ == "__main__":
    main()
