"""The classic Paddle MNIST tutorial's own code, kept as the reference we must stay compatible with.

Run as a separate process (the static part switches Paddle into static mode for good):

    python tutorial_reference.py train OUT_DIR N_IMAGES   # fit, then save like the tutorial
    python tutorial_reference.py hapi-predict PREFIX IMAGES.npy OUT.npy
    python tutorial_reference.py static-predict PREFIX IMAGES.npy OUT.npy

IMAGES.npy holds float32 (n, 1, 28, 28) network input; OUT.npy receives the model's output.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import paddle
from paddle.vision.transforms import ToTensor


def tutorial_network() -> paddle.nn.Sequential:
    return paddle.nn.Sequential(
        paddle.nn.Conv2D(1, 32, 5, padding=2),
        paddle.nn.MaxPool2D(2, 2),
        paddle.nn.ReLU(),
        paddle.nn.Conv2D(32, 64, 5, padding=2),
        paddle.nn.MaxPool2D(2, 2),
        paddle.nn.ReLU(),
        paddle.nn.Flatten(),
        paddle.nn.Linear(3136, 10),
        paddle.nn.Softmax(),
    )


def train(out_dir: str, n_images: int) -> None:
    data = os.environ["MNISTCNN_DATA"]
    train_set = paddle.vision.datasets.MNIST(
        image_path=os.path.join(data, "train-images-idx3-ubyte.gz"),
        label_path=os.path.join(data, "train-labels-idx1-ubyte.gz"),
        mode="train",
        transform=ToTensor(),
        download=False,
    )
    paddle.seed(0)
    model = paddle.Model(tutorial_network())
    model.prepare(
        paddle.optimizer.Adam(learning_rate=0.001, parameters=model.parameters()),
        paddle.nn.CrossEntropyLoss(),
        paddle.metric.Accuracy(),
    )
    model.fit(
        paddle.io.Subset(train_set, list(range(n_images))), epochs=1, batch_size=64, verbose=0
    )
    model.save(os.path.join(out_dir, "mnist_cnn_model"), training=True)
    model.save(os.path.join(out_dir, "inference", "mnist_cnn_model"), training=False)


def hapi_predict(prefix: str, images: np.ndarray) -> np.ndarray:
    model = paddle.Model(tutorial_network())
    model.prepare()
    model.load(prefix)
    (outputs,) = model.predict_batch([images])
    return np.asarray(outputs)


def static_predict(prefix: str, images: np.ndarray) -> np.ndarray:
    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    program, feed_names, fetch_targets = paddle.static.load_inference_model(prefix, exe)
    (result,) = exe.run(program, feed={feed_names[0]: images}, fetch_list=fetch_targets)
    return np.asarray(result)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "train":
        train(rest[0], int(rest[1]))
    else:
        predict = {"hapi-predict": hapi_predict, "static-predict": static_predict}[command]
        np.save(rest[2], predict(rest[0], np.load(rest[1])))
