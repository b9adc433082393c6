"""Train the tutorial network, save it in both formats, load it back and predict.

    python examples/quickstart.py                 # the full run: 5 epochs, about 99.1%
    python examples/quickstart.py --epochs 1 --limit 6000   # a quick look

MNIST is read from $MNISTCNN_DATA (or downloaded to the user cache).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from mnistcnn import DigitClassifier, build_model, evaluate, load_data, save, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images")
    parser.add_argument("--output", default=None, help="path prefix (default: a temporary dir)")
    args = parser.parse_args()

    train_set = load_data("train")
    test_set = load_data("test")
    data = (
        train_set
        if args.limit is None
        else (train_set.images[: args.limit], train_set.labels[: args.limit])
    )

    network = build_model("tutorial", seed=0)
    history = train(network, data, epochs=args.epochs, seed=0)
    report = evaluate(network, test_set)
    print(f"trained {args.epochs} epoch(s) in {history.seconds:.0f} s;", end=" ")
    print(f"test accuracy {report.accuracy:.2%}")

    prefix = Path(args.output or Path(tempfile.mkdtemp()) / "mnist_cnn_model")
    for path in save(network, prefix, format="both", accuracy=report.accuracy, history=history):
        print(f"saved {path}")

    static = DigitClassifier.load(prefix)  # picks the static model: the faster one
    dynamic = DigitClassifier.load(prefix, backend="dynamic")
    sample = test_set.images[:10]
    print(f"true labels:       {test_set.labels[:10].tolist()}")
    print(f"static predicts:   {static.predict(sample).tolist()}")
    print(f"dynamic predicts:  {dynamic.predict(sample).tolist()}")
    print(f"static model test accuracy: {evaluate(static, test_set).accuracy:.2%}")


if __name__ == "__main__":
    main()
