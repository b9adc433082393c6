"""Time to an accurate model: each mnistcnn recipe against the tutorial and PyTorch's example.

    MNISTCNN_DATA=../shared/datasets/mnist python benchmarks/time_to_accuracy.py [--with-best]

Every contender runs in this one benchmark invocation, one after the other, on the same machine:

- ``mnistcnn train --recipe R --procs P`` as a subprocess, timed from start to a saved, evaluated
  model (data loading included);
- PyTorch's own MNIST example recipe, if ``torch`` is installed (``pip install torch``; not a
  dependency of mnistcnn): its network (conv3x3 32 -> conv3x3 64 -> maxpool -> dropout ->
  fc128 -> dropout -> fc10), Adadelta lr 1.0, StepLR gamma 0.7, batch 64, its input
  normalisation, on the same in-memory arrays; timed until its test accuracy first reaches
  99.0% (evaluated after every epoch, evaluation time included).

Prints wall times, accuracies and speed-ups relative to the tutorial recipe.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_recipe(recipe: str, procs: int, folder: Path) -> tuple[float, float]:
    start = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistcnn",
            "train",
            "--recipe",
            recipe,
            "--procs",
            str(procs),
            "--seed",
            "0",
            "-q",
            "-o",
            str(folder / recipe),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    accuracy = float(result.stdout.split("test accuracy ")[1].split()[0])
    return seconds, accuracy


def run_pytorch(target: float = 0.99, max_epochs: int = 14) -> tuple[float, float, int] | None:
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    import numpy as np

    import mnistcnn

    start = time.perf_counter()
    torch.manual_seed(0)
    train_set, test_set = mnistcnn.load_data("train"), mnistcnn.load_data("test")

    def tensors(data: mnistcnn.MnistDataset) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(data.images.astype(np.float32) / 255)[:, None]
        return (x - 0.1307) / 0.3081, torch.from_numpy(data.labels)

    x_train, y_train = tensors(train_set)
    x_test, y_test = tensors(test_set)

    class Net(nn.Module):  # pytorch/examples mnist/main.py
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.conv1(x))
            x = torch.relu(self.conv2(x))
            x = torch.flatten(self.dropout1(torch.max_pool2d(x, 2)), 1)
            x = self.dropout2(torch.relu(self.fc1(x)))
            return torch.log_softmax(self.fc2(x), dim=1)

    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    accuracy = 0.0
    for epoch in range(1, max_epochs + 1):
        model.train()
        order = torch.randperm(len(x_train))
        for first in range(0, len(order), 64):
            index = order[first : first + 64]
            optimizer.zero_grad()
            loss = nn.functional.nll_loss(model(x_train[index]), y_train[index])
            loss.backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            predicted = torch.cat(
                [model(x_test[i : i + 1000]).argmax(1) for i in range(0, 10_000, 1000)]
            )
        accuracy = float((predicted == y_test).float().mean())
        if accuracy >= target:
            return time.perf_counter() - start, accuracy, epoch
    return time.perf_counter() - start, accuracy, max_epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-best", action="store_true", help="also the ~15-minute best recipe")
    args = parser.parse_args()
    if not os.environ.get("MNISTCNN_DATA"):
        parser.error("set MNISTCNN_DATA to the MNIST directory")
    folder = Path(tempfile.mkdtemp())
    rows: list[tuple[str, float, float]] = []
    runs = [("tutorial", 1), ("fast", 1), ("fast", 2)] + ([("best", 2)] if args.with_best else [])
    for recipe, procs in runs:
        seconds, accuracy = run_recipe(recipe, procs, folder)
        rows.append((f"mnistcnn --recipe {recipe} --procs {procs}", seconds, accuracy))
        print(f"{rows[-1][0]:<40} {seconds:8.1f} s  {accuracy:.2%}", flush=True)
    torch_result = run_pytorch()
    if torch_result is not None:
        seconds, accuracy, epochs = torch_result
        rows.append((f"PyTorch example ({epochs} epochs to 99.0%)", seconds, accuracy))
        print(f"{rows[-1][0]:<40} {seconds:8.1f} s  {accuracy:.2%}", flush=True)
    else:
        print("PyTorch not installed: its example recipe was skipped")
    reference = rows[0][1]
    print("\nspeed-up against the tutorial recipe (5 epochs, 1 process):")
    for name, seconds, accuracy in rows:
        print(f"  {name:<40} {reference / seconds:6.1f}x   {accuracy:.2%}")


if __name__ == "__main__":
    main()
