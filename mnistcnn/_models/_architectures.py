"""Network architectures, by name.

Each architecture is one function returning a :class:`paddle.nn.Layer` that maps a float32 batch
of shape (n, 1, 28, 28) to logits of shape (n, 10), except the line readers
(:data:`LINE_ARCHITECTURES`), which map a line of digits (n, 1, 32, W) to CTC scores
(n, W / 4, 11). Register a new one with :func:`_register`.
"""

from __future__ import annotations

from collections.abc import Callable

import paddle
from paddle import nn

from ._kinds import LINE_ARCHITECTURES

__all__ = ["available_models", "build_model"]

_ARCHITECTURE_ATTR = "_mnistcnn_architecture"

_REGISTRY: dict[str, Callable[[], nn.Layer]] = {}


def _register(name: str) -> Callable[[Callable[[], nn.Layer]], Callable[[], nn.Layer]]:
    def decorate(factory: Callable[[], nn.Layer]) -> Callable[[], nn.Layer]:
        _REGISTRY[name] = factory
        return factory

    return decorate


@_register("tutorial")
def _tutorial() -> nn.Layer:
    """The Paddle MNIST tutorial's network with a logits head.

    Same layers and parameter names (``0.weight`` ... ``7.bias``) as the tutorial's
    ``Sequential``; only its final ``Softmax`` is gone, because ``CrossEntropyLoss`` applies
    softmax itself (training through both floors the loss near 1.46). Having no parameters,
    the ``Softmax`` layer does not appear in the weights, so tutorial weights load unchanged.
    """
    return nn.Sequential(
        nn.Conv2D(1, 32, 5, padding=2),
        nn.MaxPool2D(2, 2),
        nn.ReLU(),
        nn.Conv2D(32, 64, 5, padding=2),
        nn.MaxPool2D(2, 2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 10),
    )


def _conv_bn_pool(channels_in: int, channels_out: int, kernel: int) -> list[nn.Layer]:
    """Convolution, batch norm, 2x2 max pooling, then ReLU: pooling first is 4x cheaper and
    gives the same result, since max pooling and ReLU commute."""
    return [
        nn.Conv2D(channels_in, channels_out, kernel, padding=kernel // 2, bias_attr=False),
        nn.BatchNorm2D(channels_out),
        nn.MaxPool2D(2, 2),
        nn.ReLU(),
    ]


@_register("fast")
def _fast() -> nn.Layer:
    """A tenth of the tutorial's FLOPs: 16 and 32 channels, batch norm, a 128-unit hidden layer."""
    return nn.Sequential(
        *_conv_bn_pool(1, 16, 5),
        *_conv_bn_pool(16, 32, 3),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


@_register("tiny")
def _tiny() -> nn.Layer:
    """The ``fast`` network at half its width (8 and 16 channels): about 1 MFLOP per image, a
    third of ``fast``'s, and still 99% on MNIST after two epochs (the ``fast`` recipe)."""
    return nn.Sequential(
        *_conv_bn_pool(1, 8, 5),
        *_conv_bn_pool(8, 16, 3),
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


@_register("best")
def _best() -> nn.Layer:
    """Three batch-norm convolutions (32 channels 5x5, then 64 and 128 3x3), one per scale.

    About 16 MFLOP per image, a quarter less than the tutorial's network: the expensive
    layers run after pooling, so inference stays near 10,000 images/s on 2 CPU cores.
    """
    return nn.Sequential(
        *_conv_bn_pool(1, 32, 5),
        *_conv_bn_pool(32, 64, 3),
        nn.Conv2D(64, 128, 3, padding=1, bias_attr=False),
        nn.BatchNorm2D(128),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(128 * 7 * 7, 10),
    )


class _LineReader(nn.Layer):
    """Convolutions that fold a line's height away, then context along its width.

    Input float32 (n, 1, 32, W), W a multiple of 4; output (n, W / 4, 11) scores, class 0 the
    CTC blank and class ``d + 1`` digit ``d``. The receptive field of each output column spans
    about 42 input columns: a digit and a half at the line height the reader uses.
    """

    def __init__(self) -> None:
        super().__init__()

        def block(channels_in: int, channels_out: int, pool: tuple[int, int]) -> list[nn.Layer]:
            return [
                nn.Conv2D(channels_in, channels_out, 3, padding=1, bias_attr=False),
                nn.BatchNorm2D(channels_out),
                nn.MaxPool2D(pool, pool),
                nn.ReLU(),
            ]

        self.features = nn.Sequential(
            *block(1, 32, (2, 2)),  # 16 x W/2
            *block(32, 64, (2, 2)),  # 8 x W/4
            *block(64, 96, (2, 1)),  # 4 x W/4
            *block(96, 128, (4, 1)),  # 1 x W/4
        )
        self.context = nn.Sequential(
            nn.Conv1D(128, 128, 5, padding=2, bias_attr=False),
            nn.BatchNorm1D(128),
            nn.ReLU(),
            nn.Dropout(0.2),
        )
        self.head = nn.Linear(128, 11)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        columns = self.context(self.features(x).squeeze(2))
        result: paddle.Tensor = self.head(columns.transpose([0, 2, 1]))
        return result


@_register("reader")
def _reader() -> nn.Layer:
    """The line recogniser for whole numbers (CTC), not a digit classifier: see
    :mod:`mnistcnn._input._lines`."""
    return _LineReader()


def reads_lines(model: nn.Layer) -> bool:
    """Whether ``model`` is a line recogniser (``build_model("reader")``)."""
    return architecture_of(model) in LINE_ARCHITECTURES


def available_models() -> list[str]:
    """Names accepted by :func:`build_model`, sorted.

    Examples:
        >>> "tutorial" in available_models()
        True
    """
    return sorted(_REGISTRY)


def build_model(name: str = "tutorial", *, seed: int | None = None) -> nn.Layer:
    """Build a freshly initialised network that outputs logits.

    Args:
        name: one of :func:`available_models`.
        seed: seed Paddle's generator first, so that the initial weights are reproducible.

    Returns:
        A :class:`paddle.nn.Layer` mapping float32 (n, 1, 28, 28) in [0, 1] to (n, 10) logits.

    Raises:
        ValueError: ``name`` is not a known architecture.

    Examples:
        >>> import paddle
        >>> net = build_model("tutorial", seed=0)
        >>> list(net(paddle.zeros([2, 1, 28, 28])).shape)
        [2, 10]
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}.")
    if seed is not None:
        paddle.seed(seed)
    model = _REGISTRY[name]()
    setattr(model, _ARCHITECTURE_ATTR, name)
    return model


def architecture_of(model: nn.Layer) -> str | None:
    """The registry name ``model`` was built from, if it came from :func:`build_model`."""
    name = getattr(model, _ARCHITECTURE_ATTR, None)
    return name if isinstance(name, str) else None


def ends_with_softmax(model: nn.Layer) -> bool:
    """Whether ``model`` is a ``Sequential`` whose last layer is ``Softmax`` (the tutorial's)."""
    return isinstance(model, nn.Sequential) and len(model) > 0 and isinstance(model[-1], nn.Softmax)
