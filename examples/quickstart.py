"""Train a network, save it in both formats, load it back both ways and recognise digits.

    python examples/quickstart.py                   # fast recipe, 2 processes: 99%+, under 1 min
    python examples/quickstart.py --recipe tutorial # the tutorial's network: ~99.1%, about 15 min
    python examples/quickstart.py --epochs 1 --limit 6000   # a quick look

MNIST is read from $MNISTCNN_DATA (or downloaded to the user cache).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from mnistcnn import DigitClassifier, build_model, evaluate, get_recipe, load_data, save, train


def draw_seven() -> Image.Image:
    """A 7 drawn as a person would, dark ink on white paper, far larger than MNIST's 28x28."""
    picture = Image.new("L", (240, 320), color=245)
    pen = ImageDraw.Draw(picture)
    pen.line([(50, 60), (190, 55), (110, 280)], fill=20, width=22, joint="curve")
    pen.line([(85, 170), (165, 168)], fill=20, width=16)  # the crossbar some people write
    return picture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fast", help="fast (default), best or tutorial")
    parser.add_argument(
        "--procs", type=int, default=None, help="processes (default: 2 for fast and best)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images")
    parser.add_argument("--output", default=None, help="path prefix (default: a temporary dir)")
    args = parser.parse_args()

    recipe = get_recipe(args.recipe)
    # The tutorial's network trains slower on 2 processes than its fixed batch size is worth.
    procs = args.procs or (1 if recipe.name == "tutorial" else 2)
    train_set = load_data("train")
    test_set = load_data("test")
    data = (
        train_set
        if args.limit is None
        else (train_set.images[: args.limit], train_set.labels[: args.limit])
    )

    started = time.perf_counter()
    network = build_model(recipe.architecture, seed=0)
    history = train(network, data, recipe=recipe, epochs=args.epochs, seed=0, procs=procs)
    report = evaluate(network, test_set)
    print(
        f"recipe {recipe.name}: {_counted(len(history.epochs), 'epoch')} on "
        f"{_counted(procs, 'process')} in "
        f"{time.perf_counter() - started:.0f} s; test accuracy {report.accuracy:.2%}"
    )

    prefix = Path(args.output or Path(tempfile.mkdtemp()) / "mnist_cnn_model")
    for path in save(network, prefix, format="both", accuracy=report.accuracy, history=history):
        print(f"saved {path}")

    dynamic = DigitClassifier.load(prefix, backend="dynamic")  # the weights and the network
    static = DigitClassifier.load(prefix, backend="static")  # the exported inference program
    sample = test_set.images[:10]
    print(f"true labels:       {test_set.labels[:10].tolist()}")
    print(f"dynamic predicts:  {dynamic.predict(sample).tolist()}")
    print(f"static predicts:   {static.predict(sample).tolist()}")

    picture = draw_seven()
    probabilities = static.predict_proba(picture)[0]
    print(
        f"a drawn 7 ({picture.width}x{picture.height} pixels): static predicts "
        f"{int(probabilities.argmax())} (p={probabilities.max():.3f})"
    )
    print(f"static model test accuracy: {evaluate(static, test_set).accuracy:.2%}")


def _counted(count: int, noun: str) -> str:
    """ "1 epoch", "2 epochs", "2 processes"."""
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{count} {noun if count == 1 else plural}"


if __name__ == "__main__":  # required: the training processes import this file
    main()
