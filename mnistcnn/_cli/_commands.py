"""The commands other than ``predict``: each a few lines over the library."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .._errors import ModelNotFoundError
from ._common import counted, load_model, load_split

__all__ = ["run_evaluate", "run_export", "run_serve", "run_show", "run_train"]


def run_train(args: argparse.Namespace) -> int:
    from .._data._mnist import MnistDataset
    from .._formats._saving import save
    from .._inference._evaluation import evaluate
    from .._models._architectures import build_model, reads_lines
    from .._training._loop import evaluate_lines
    from .._training._recipes import get_recipe
    from .._training._train import train

    started = time.perf_counter()
    recipe = get_recipe(args.recipe)  # an unknown name fails here, before any data is read
    if args.nnodes is not None or args.node_rank is not None or args.master is not None:
        return _train_on_nodes(args)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1; got {args.limit}.")
    network = build_model(args.model or recipe.architecture, seed=args.seed)
    train_set = load_split(args, "train")
    data = train_set
    if args.limit is not None:
        data = MnistDataset(train_set.images[: args.limit], train_set.labels[: args.limit])
    test_set = load_split(args, "test")
    history = train(
        network,
        data,
        val=test_set if args.validate else None,
        recipe=recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        procs=args.procs,
        checkpoint_dir=args.checkpoint_dir,
        progress=not args.quiet,
    )
    if history.world_size > 1 and args.procs == 1:
        import paddle.distributed as dist

        if dist.get_rank() != 0:  # under paddle.distributed.launch: the first process reports
            return 0
    if reads_lines(network):  # numbers composed from the test digits, read exactly
        accuracy, loss = evaluate_lines(network, test_set.images, test_set.labels)
        measured = "test numbers read exactly"
    else:
        report = evaluate(network, test_set)
        accuracy, loss = report.accuracy, report.loss
        measured = "test accuracy"
    paths = save(
        network,
        args.output,
        format=args.format,
        accuracy=accuracy,
        history=history,
        replace=args.replace,
    )
    plan = history.recipe
    print(
        f"{measured} {accuracy:.4f} ({accuracy:.2%}), loss {loss:.4f}; "
        f"recipe {plan.name}, {counted(plan.epochs, 'epoch')} on "
        f"{counted(history.world_size, 'process')}: "
        f"training {history.seconds:.1f} s, total {time.perf_counter() - started:.1f} s"
    )
    print("saved " + ", ".join(str(p) for p in paths))
    return 0


def _train_on_nodes(args: argparse.Namespace) -> int:
    """``train`` on several machines: Paddle's launcher runs this command's training
    options in --procs processes here, which join those of the other machines."""
    from .._scale._launch import NodeSetup, launch

    missing = [
        option
        for option, value in (("--nnodes", args.nnodes), ("--node-rank", args.node_rank),
                              ("--master", args.master))
        if value is None
    ]  # fmt: skip
    if missing:
        raise ValueError(
            f"training on several machines needs --nnodes, --node-rank and --master; "
            f"{' and '.join(missing)} missing."
        )
    setup = NodeSetup(
        nnodes=args.nnodes,
        node_rank=args.node_rank,
        master=args.master,
        procs=args.procs,
        join_timeout=args.join_timeout,
    )
    options: list[str] = ["--recipe", args.recipe, "--output", args.output, "--format", args.format]
    if args.replace:
        options.append("--replace")
    for flag, value in (
        ("--model", args.model),
        ("--epochs", args.epochs),
        ("--batch-size", args.batch_size),
        ("--learning-rate", args.learning_rate),
        ("--seed", args.seed),
        ("--checkpoint-dir", args.checkpoint_dir),
        ("--limit", args.limit),
        ("--data-dir", args.data_dir),
    ):
        if value is not None:
            options += [flag, str(value)]
    options += [flag for flag, on in (("--validate", args.validate), ("--quiet", args.quiet),
                                      ("--no-download", args.no_download)) if on]  # fmt: skip
    launch(setup, options, log_dir=None if args.log_dir is None else Path(args.log_dir))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from .._inference._evaluation import evaluate

    classifier = load_model(args)
    report = evaluate(classifier, load_split(args, args.split))
    if args.json:
        print(
            json.dumps(
                {
                    "accuracy": report.accuracy,
                    "loss": report.loss,
                    "n_samples": report.n_samples,
                    "confusion_matrix": report.confusion_matrix.tolist(),
                }
            )
        )
    else:
        print(report)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from .._formats._files import split_model_path
    from .._formats._metadata import META_SUFFIX
    from .._formats._saving import save
    from .._inference._classifier import DigitClassifier

    formats = args.format or ["static"]
    if _reads_lines(args.model):  # the whole-number reader: its network, on the dynamic graph
        return _export_line_reader(args, formats)
    if split_model_path(args.model)[1] not in (None, META_SUFFIX):  # that file, or an error
        classifier = DigitClassifier.load(args.model, architecture=args.architecture)
    else:
        try:  # the network itself when there are weights: every format can be written from it
            classifier = DigitClassifier.load(
                args.model, backend="dynamic", architecture=args.architecture
            )
        except ModelNotFoundError:
            only_onnx = set(formats) == {"onnx"}  # then an .onnx may be copied as it is
            classifier = DigitClassifier.load(args.model, backend=None if only_onnx else "static")
    paths = save(classifier, args.output, format=formats, replace=args.replace)
    print("saved " + ", ".join(str(p) for p in paths))
    return 0


def _reads_lines(path: str) -> bool:
    """Whether the model at ``path`` is a line reader, as its metadata says."""
    from .._formats._files import ModelFiles, prefix_of
    from .._formats._metadata import ModelMetadata
    from .._models._kinds import LINE_ARCHITECTURES

    meta = ModelFiles.find(prefix_of(path)).meta
    return meta is not None and ModelMetadata.read(meta).architecture in LINE_ARCHITECTURES


def _export_line_reader(args: argparse.Namespace, formats: list[str]) -> int:
    from .._formats._loading import open_model
    from .._formats._saving import save

    loaded = open_model(args.model, backend="dynamic", architecture=None, num_threads=None)
    network = loaded.backend.layer  # type: ignore[attr-defined]
    paths = save(
        network,
        args.output,
        format=formats,  # type: ignore[arg-type]
        accuracy=loaded.metadata.accuracy,
        history=loaded.metadata.history,
        replace=args.replace,
    )
    print("saved " + ", ".join(str(p) for p in paths))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from .._plotting._drawing import digit_grid

    if args.count < 1:
        raise ValueError(f"--count must be at least 1; got {args.count}.")
    data = load_split(args, args.split)
    images = data.images[args.start : args.start + args.count]
    labels = data.labels[args.start : args.start + args.count]
    if len(images) == 0:
        raise ValueError(f"--start {args.start} is past the end of the {args.split} split.")
    predictions = load_model(args).predict(images) if args.predict or args.model else None
    output = Path(args.output)
    tmp = output.with_name(f".{output.name}.tmp")
    digit_grid(images, labels, predictions=predictions).save(tmp, format="PNG")
    os.replace(tmp, output)
    print(f"wrote {output} ({counted(len(images), 'digit')} from the {args.split} split)")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from .._serving._extra import require_serve_extra

    require_serve_extra()  # before the model is loaded, which takes seconds
    import paddle  # noqa: F401  # here, in the main thread, not in a request's thread (reading needs it)

    from .._inference._classifier import DigitClassifier
    from .._serving._app import serve

    if args.batch_window < 0:
        raise ValueError(f"--batch-window must be at least 0 ms; got {args.batch_window}.")
    if args.max_batch < 1:
        raise ValueError(f"--max-batch must be at least 1; got {args.max_batch}.")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be from 0 to 65535; got {args.port}.")
    if args.model is None:
        classifier = DigitClassifier.pretrained(backend=args.backend, num_threads=args.threads)
    else:
        classifier = DigitClassifier.load(
            args.model, backend=args.backend, num_threads=args.threads
        )

    def ready(url: str) -> None:
        print(
            f"mnistcnn serve: {url} ({classifier.metadata.architecture} model on "
            f"{classifier.backend}); Ctrl+C to stop",
            flush=True,
        )
        if not _loopback(args.host):
            print(
                f"mnistcnn serve: listening on {args.host}, reachable from other machines, "
                "with no authentication; put it behind a proxy that has some.",
                file=sys.stderr,
                flush=True,
            )

    serve(
        classifier,
        host=args.host,
        port=args.port,
        max_body=args.max_body,
        batch_window=args.batch_window / 1000,
        max_batch=args.max_batch,
        allow_origins=args.allow_origin,
        log_level=args.log_level,
        ready=ready,
    )
    print("mnistcnn serve: stopped", flush=True)
    return 0


def _loopback(host: str) -> bool:
    """Whether ``host`` is an address of this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
