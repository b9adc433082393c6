"""Train with a recipe, evaluate, and export both formats.

python examples/train_and_export.py --recipe fast --output models/fast
python examples/train_and_export.py --recipe fast --epochs 1 --limit 5000   # a quick look
"""

from __future__ import annotations

import argparse

from mnistcnn import build_model, evaluate, get_recipe, load_data, save, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fast", help="tutorial, fast or best")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images")
    parser.add_argument("--output", default="mnist_model")
    args = parser.parse_args()

    recipe = get_recipe(args.recipe)
    print(f"recipe {recipe.name}: {recipe.description}")
    train_set = load_data("train")
    data = train_set
    if args.limit:
        data = (train_set.images[: args.limit], train_set.labels[: args.limit])
    network = build_model(recipe.architecture, seed=0)
    history = train(network, data, recipe=recipe, epochs=args.epochs, seed=0)
    report = evaluate(network, load_data("test"))
    print(f"{history.seconds:.1f} s of training; test accuracy {report.accuracy:.2%}")
    for path in save(
        network, args.output, format="both", accuracy=report.accuracy, history=history
    ):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
