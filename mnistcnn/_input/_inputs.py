"""The one input path: every form users have images in, streamed as fixed-size model batches.

Modelled on scikit-learn's ``check_array``: one place turns each accepted form into model input,
never writes into the caller's data (every conversion makes a new array), and names the item it
refuses and what to do instead. Pixel values go through
:func:`~mnistcnn._input._preprocess.unit_pixels` and pictures through
:mod:`mnistcnn._input._pictures`, so the same picture gives the same numbers however it arrives:
as an array, a PIL image, a path, encoded bytes or a file object.

Arrays and iterators are consumed ``batch_size`` images at a time: memory does not grow with the
number of images (only the result does), a memory-mapped array is read slice by slice and a
generator is never turned into a list.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol, TypeAlias, get_args

import numpy as np
from PIL import Image

from .._choices import Preprocess
from .._errors import ImageError, ImageTypeError
from ._pictures import (
    MAX_PIXELS,
    PictureSource,
    colour_pixels,
    grayscale,
    is_picture_source,
    normalise,
    open_picture,
    resize_to_mnist,
    source_name,
)
from ._preprocess import IMAGE_SIZE, scale_to, unit_pixels

__all__ = [
    "PREPROCESS_CHOICES",
    "DigitPredictor",
    "Images",
    "PictureInput",
    "Preprocess",
    "about",
    "check_options",
    "is_mnist_form",
    "model_batches",
    "picture_gray",
    "picture_unit",
]

PictureInput: TypeAlias = PictureSource | np.ndarray
"""One picture: an array (grey (H, W), colour (H, W, 3|4)), a PIL image, a file path, encoded
bytes (``bytes``, ``bytearray``, ``memoryview``) or a binary file object (anything with
``read()``)."""

Images: TypeAlias = PictureInput | Iterable[PictureInput]
"""One picture, an array of many ((n, H, W), (n, 1, H, W), (n, H, W, 3|4)), or a list, tuple,
iterator or generator of pictures."""

PREPROCESS_CHOICES: tuple[Preprocess, ...] = get_args(Preprocess)


class DigitPredictor(Protocol):
    """Something that predicts digits, as :class:`mnistcnn.DigitClassifier` does: what the
    stages below inference (reading numbers, streaming files) take, so that they never import
    the classifier above them."""

    @property
    def classes_(self) -> np.ndarray: ...

    def predict_proba(
        self, images: Images, *, batch_size: int = 64, preprocess: Preprocess = "auto"
    ) -> np.ndarray: ...


# What "already in MNIST's form" means, measured on the 60,000 MNIST training digits: every one
# has all its ink (pixels above 0.1) within a box whose longer side is 18 to 20 pixels, and its
# centre of mass within 1.0 pixel of the centre (13.5, 13.5). A scan upscaled to 28x28 fills the
# frame (a longer side of 28: all 2,007 USPS digits); a digit off-centre or much smaller than
# MNIST's has not been placed as MNIST places it. The margins leave room for MNIST-like digits
# made by other tools, not for those.
_INK_LEVEL = 0.1
_LONGEST_SIDE = (14, 22)
_MAX_OFFCENTRE = 2.0
_CENTRE = (IMAGE_SIZE - 1) / 2
# Columns: mass, and mass times row and column index; one matrix product gives the centre of mass.
_MOMENTS = np.stack(
    (np.ones((IMAGE_SIZE, IMAGE_SIZE), np.float32), *np.indices((IMAGE_SIZE,) * 2, np.float32)),
    axis=-1,
).reshape(IMAGE_SIZE**2, 3)
# Ink pixels per row and per column of a batch are counted by matrix products with this (NumPy's
# own reductions over 28-pixel lines are several times slower).
_ONES = np.ones(IMAGE_SIZE, np.float32)


def is_mnist_form(unit: np.ndarray) -> np.ndarray:
    """Per image of a (n, 28, 28) batch in [0, 1], whether it is already in MNIST's form.

    MNIST's form: light ink on a black ground, the ink within a box of about 20x20 pixels whose
    centre of mass is the centre of the 28x28 frame. A blank black image counts too (there is
    nothing to normalise). Everything else (dark ink on white, a digit filling the frame, one off
    centre) is normalised by ``preprocess="auto"``. This is the only such test: arrays, PIL
    images, files and bytes are all judged by it.

    Returns:
        bool array of shape (n,).
    """
    if len(unit) == 1:
        return np.array([_placed_like_mnist(unit[0])])
    low, high = _LONGEST_SIDE
    ink = (unit > _INK_LEVEL).astype(np.float32)
    per_row = ink.reshape(-1, IMAGE_SIZE) @ _ONES
    per_column = _ONES @ ink
    lines = np.concatenate((per_row.reshape(len(unit), IMAGE_SIZE), per_column), axis=1) > 0
    lines = lines.reshape(len(unit), 2, IMAGE_SIZE)  # rows and columns holding ink
    blank = ~lines[:, 0].any(axis=1)
    sides = IMAGE_SIZE - lines.argmax(axis=2) - lines[:, :, ::-1].argmax(axis=2)
    longest_sides = sides.max(axis=1)
    moments = unit.reshape(len(unit), -1) @ _MOMENTS
    mass = np.maximum(moments[:, 0], np.float32(1e-6))
    offcentre = np.abs(moments[:, 1:] / mass[:, None] - _CENTRE).max(axis=1)
    result: np.ndarray = blank | (
        (longest_sides >= low) & (longest_sides <= high) & (offcentre <= _MAX_OFFCENTRE)
    )
    return result


def _placed_like_mnist(plane: np.ndarray) -> bool:
    """:func:`is_mnist_form` for one (28, 28) picture, in as few NumPy calls as it takes: the
    latency of predicting one image depends on it."""
    ink = plane > _INK_LEVEL
    rows: list[bool] = ink.any(axis=1).tolist()  # type: ignore[assignment]  # index() is cheap
    if True not in rows:
        return True
    cols: list[bool] = ink.any(axis=0).tolist()  # type: ignore[assignment]
    height = IMAGE_SIZE - rows.index(True) - rows[::-1].index(True)
    width = IMAGE_SIZE - cols.index(True) - cols[::-1].index(True)
    mass, row_moment, col_moment = (plane.reshape(-1) @ _MOMENTS).tolist()
    low, high = _LONGEST_SIDE
    return bool(
        low <= max(height, width) <= high
        and abs(row_moment / mass - _CENTRE) <= _MAX_OFFCENTRE
        and abs(col_moment / mass - _CENTRE) <= _MAX_OFFCENTRE
    )


def check_options(*, batch_size: int, preprocess: str) -> None:
    """Refuse a ``batch_size`` or ``preprocess`` that is not allowed, saying what is."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an int; got {type(batch_size).__name__}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    if preprocess not in PREPROCESS_CHOICES:
        raise ValueError(
            f"preprocess must be one of {list(PREPROCESS_CHOICES)}; got {preprocess!r}."
        )


def model_batches(
    images: Images,
    *,
    batch_size: int,
    value_range: tuple[float, float],
    preprocess: Preprocess = "auto",
) -> tuple[int | None, Iterator[np.ndarray]]:
    """How many images ``images`` holds (``None`` for an iterator), and an iterator of float32
    (b, 1, 28, 28) batches of at most ``batch_size`` images, in ``value_range``.

    Everything about ``images`` that can be checked without reading it (its type, an array's
    dtype and shape) is checked here; each item is read and checked when its batch is made.

    Raises:
        ImageTypeError: ``images`` is of a type no image can be read from.
        ImageError: an array of a shape that holds no images, or of too many to predict.
        ValueError: ``batch_size`` or ``preprocess`` is not allowed.
    """
    check_options(batch_size=batch_size, preprocess=preprocess)
    if type(images) is np.ndarray and images.shape == (IMAGE_SIZE, IMAGE_SIZE):
        # One MNIST-sized array, the commonest single-image call, in as few steps as possible:
        # its latency is mostly this library's own work (same checks, fewer layers of calls).
        unit = _stack_unit(_as_array(images)[None], None, preprocess)
        return 1, iter([scale_to(unit[:, None], value_range)])
    options = {"batch_size": batch_size, "value_range": value_range, "preprocess": preprocess}
    if isinstance(images, np.ndarray):  # the commonest form first
        return _array_batches(_as_array(images), **options)  # type: ignore[arg-type]
    if is_picture_source(images):
        return 1, _item_batches(iter([images]), indexed=False, **options)  # type: ignore[arg-type]
    if _is_array_like(images):
        return _array_batches(_as_array(images), **options)  # type: ignore[arg-type]
    if isinstance(images, (Mapping, AbstractSet)):
        raise ImageTypeError(
            f"cannot read images from a {type(images).__name__}: it has no order to give the "
            "results in. Pass a list of images."
        )
    if isinstance(images, Iterable):
        count = len(images) if isinstance(images, Sequence) else None
        if count is not None:
            _check_count(count)
        return count, _item_batches(iter(images), indexed=True, **options)  # type: ignore[arg-type]
    raise ImageTypeError(
        f"cannot read images from {type(images).__name__}; pass an array, a PIL image, a file "
        "path, bytes, a binary file object, or a list or iterator of those."
    )


def picture_unit(item: object, preprocess: Preprocess = "auto") -> np.ndarray:
    """One picture as MNIST-style (28, 28) float32 in [0, 1] (light ink on black): the image
    the network sees, before scaling to its value range.

    Raises:
        ImageTypeError, ImageNotFoundError, ImageError: as for :func:`model_batches`, naming
            the file when there is one.
    """
    with about(item, None):
        return _picture_unit(item, preprocess)


def picture_gray(item: object) -> np.ndarray:
    """One picture, any size, as float32 grey levels in [0, 1] (0 = black), upright."""
    with about(item, None):
        return _checked_gray(_as_image(item))


def picture_image(item: object) -> Image.Image:
    """One picture as a PIL image, decoded and upright, whatever form it came in."""
    with about(item, None):
        return _as_image(item)


def picture_colours(item: object) -> tuple[np.ndarray, np.ndarray | None]:
    """One picture as :func:`picture_gray` gives it, and as RGB float32 (h, w, 3) in [0, 1]
    of the same size when it has colour (``None`` when it is grey)."""
    with about(item, None):
        image = _as_image(item)
        return _checked_gray(image), colour_pixels(image)


def _is_array_like(item: object) -> bool:
    return isinstance(item, np.ndarray) or (
        not isinstance(item, Image.Image)
        and (hasattr(item, "__array__") or hasattr(item, "__array_interface__"))
    )


def _as_array(item: object) -> np.ndarray:
    """``item`` as an ndarray without copying it (a memory map stays a map), its dtype checked."""
    try:
        array = np.asarray(item)
    except Exception as exc:  # whatever __array__ of a foreign type raises
        raise ImageTypeError(
            f"cannot turn a {type(item).__name__} into an array ({exc}); pass a NumPy array."
        ) from exc
    if array.dtype.kind not in "biuf":
        hint = (
            " An object array is not read item by item: pass a list of images instead."
            if array.dtype.kind == "O"
            else ""
        )
        raise ImageTypeError(
            f"unsupported pixel type {array.dtype}: pass integers in [0, 255] or floats in "
            f"[0, 1].{hint}"
        )
    return array


def _array_batches(
    array: np.ndarray,
    *,
    batch_size: int,
    value_range: tuple[float, float],
    preprocess: Preprocess,
) -> tuple[int, Iterator[np.ndarray]]:
    shape = array.shape
    options = {"batch_size": batch_size, "value_range": value_range, "preprocess": preprocess}
    if array.ndim == 2 or (array.ndim == 3 and shape[-1] in (1, 3, 4)):
        _check_picture_shape(shape[:2])  # one picture, grey or colour
        if shape == (IMAGE_SIZE, IMAGE_SIZE):
            return 1, _stack_batches(array[None], indexed=False, **options)  # type: ignore[arg-type]
        return 1, _item_batches(iter([array]), indexed=False, **options)  # type: ignore[arg-type]
    if array.ndim == 3 or (array.ndim == 4 and (shape[1] == 1 or shape[-1] in (3, 4))):
        stack = array[:, 0] if array.ndim == 4 and shape[1] == 1 else array
        _check_count(len(stack))
        if len(stack) and stack.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE):
            return len(stack), _stack_batches(stack, indexed=True, **options)  # type: ignore[arg-type]
        if len(stack):
            _check_picture_shape(stack.shape[1:3])
        pictures = (stack[i] for i in range(len(stack)))
        return len(stack), _item_batches(pictures, indexed=True, **options)  # type: ignore[arg-type]
    raise ImageError(
        f"an array of shape {shape} holds no images: expected one picture (H, W) or "
        "(H, W, 3|4), or many shaped (n, H, W), (n, 1, H, W) or (n, H, W, 3|4) "
        "(MNIST digits: (28, 28), (n, 28, 28) or (n, 1, 28, 28))."
    )


def _stack_batches(
    stack: np.ndarray,
    *,
    indexed: bool,
    batch_size: int,
    value_range: tuple[float, float],
    preprocess: Preprocess,
) -> Iterator[np.ndarray]:
    """Batches of a (n, 28, 28) array, converted slice by slice: the fast path for MNIST data."""
    for start in range(0, len(stack), batch_size):
        chunk = stack[start : start + batch_size]
        unit = _stack_unit(chunk, start if indexed else None, preprocess)
        yield scale_to(unit[:, None], value_range)


def _stack_unit(chunk: np.ndarray, first: int | None, preprocess: Preprocess) -> np.ndarray:
    """(b, 28, 28) pixels as the network sees them; ``first`` is the index of the first image,
    for error messages (``None``: one image, not part of a collection)."""
    try:
        unit = unit_pixels(chunk)
    except ImageError:
        if first is not None:
            _raise_for_first_bad(chunk, first)
        raise
    if preprocess == "auto" and len(unit) == 1:  # one picture: no arrays of flags to make
        redo: list[int] = [] if _placed_like_mnist(unit[0]) else [0]
    elif preprocess != "raw":
        flags = np.ones(len(unit), bool) if preprocess == "normalize" else ~is_mnist_form(unit)
        redo = np.flatnonzero(flags).tolist()
    else:
        redo = []
    for offset in redo:
        with about(None, None if first is None else first + int(offset)):
            image = Image.fromarray(_to_uint8(unit[offset]))
            unit[offset] = _unit_of_image(image, preprocess)
    return unit


def _item_batches(
    items: Iterator[object],
    *,
    indexed: bool,
    batch_size: int,
    value_range: tuple[float, float],
    preprocess: Preprocess,
) -> Iterator[np.ndarray]:
    """Batches of pictures of any form, taking only ``batch_size`` items at a time."""
    done = 0
    while chunk := list(itertools.islice(items, batch_size)):
        if _same_mnist_arrays(chunk):  # a list of MNIST arrays: converted as one stack
            unit = _stack_unit(np.stack(chunk), done if indexed else None, preprocess)  # type: ignore[arg-type]
        else:
            unit = np.empty((len(chunk), IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
            for offset, item in enumerate(chunk):
                with about(item, done + offset if indexed else None):
                    unit[offset] = _picture_unit(item, preprocess)
        done += len(chunk)
        yield scale_to(unit[:, None], value_range)


def _same_mnist_arrays(chunk: list[object]) -> bool:
    first = chunk[0]
    return isinstance(first, np.ndarray) and all(
        isinstance(item, np.ndarray)
        and item.shape == (IMAGE_SIZE, IMAGE_SIZE)
        and item.dtype == first.dtype
        for item in chunk
    )


def _picture_unit(item: object, preprocess: Preprocess) -> np.ndarray:
    if _is_array_like(item):
        array = _picture_array(_as_array(item))
        if array.shape == (IMAGE_SIZE, IMAGE_SIZE) and preprocess != "normalize":
            unit = unit_pixels(array)
            if preprocess == "raw" or _placed_like_mnist(unit):
                return unit
            return _unit_of_image(Image.fromarray(_to_uint8(unit)), preprocess)
        return _unit_of_image(_array_image(array), preprocess)
    return _unit_of_image(_as_image(item), preprocess)


def _unit_of_image(image: Image.Image, preprocess: Preprocess) -> np.ndarray:
    """The one decision: a picture already in MNIST's form is kept as it is, others normalised."""
    gray = _checked_gray(image)
    if (
        gray.shape == (IMAGE_SIZE, IMAGE_SIZE)
        and preprocess != "normalize"
        and (preprocess == "raw" or _placed_like_mnist(gray))
    ):
        return gray
    return unit_pixels(resize_to_mnist(gray) if preprocess == "raw" else normalise(gray))


def _as_image(item: object) -> Image.Image:
    if _is_array_like(item):
        return _array_image(_picture_array(_as_array(item)))
    if is_picture_source(item):
        return open_picture(item)  # type: ignore[arg-type]
    hint = (
        " For pixel values, pass a NumPy array (np.asarray(...))."
        if isinstance(item, (list, tuple, int, float))
        else ""
    )
    raise ImageTypeError(
        f"cannot read an image from {type(item).__name__}: pass an array, a PIL image, a file "
        f"path, bytes or a binary file object.{hint}"
    )


def _picture_array(array: np.ndarray) -> np.ndarray:
    """One picture's array as (H, W) or (H, W, 3|4): a (1, H, W), (1, 1, H, W) or (H, W, 1)
    array is one grey picture too."""
    if array.ndim in (3, 4) and array.shape[: array.ndim - 2] in ((1,), (1, 1)):
        array = array.reshape(array.shape[-2:])
    elif array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2 and not (array.ndim == 3 and array.shape[-1] in (3, 4)):
        raise ImageError(
            f"a picture array must be (H, W), (H, W, 3) or (H, W, 4); got {array.shape}. "
            "Pass several pictures as one array (n, H, W) or as separate list items."
        )
    _check_picture_shape(array.shape[:2])
    return array


def _array_image(array: np.ndarray) -> Image.Image:
    """A picture array as an 8-bit PIL image: the form every picture is normalised from."""
    pixels = array if array.dtype == np.uint8 else _to_uint8(unit_pixels(array))
    return Image.fromarray(pixels)


def _checked_gray(image: Image.Image) -> np.ndarray:
    try:
        gray = grayscale(image)
    except ImageError:
        raise
    except (ValueError, OSError) as exc:  # a mode Pillow cannot convert to grey
        raise ImageError(f"cannot read a {image.mode} image as grey levels ({exc}).") from exc
    if not np.isfinite(gray).all():  # 32-bit float pictures can hold NaN
        raise ImageError("the picture holds NaN or infinite values.")
    return gray


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.round(unit * 255).astype(np.uint8)
    return result


def _check_picture_shape(size: tuple[int, ...]) -> None:
    height, width = size
    if height == 0 or width == 0:
        raise ImageError(f"the image is empty ({width}x{height} pixels).")
    if height * width > MAX_PIXELS:  # checked before anything is allocated for it
        raise ImageError(
            f"a {width}x{height} picture is over the limit of {MAX_PIXELS:,} pixels; scale it "
            "down first."
        )


def _check_count(count: int) -> None:
    """Refuse, before allocating it, a result that could not fit in this machine's memory."""
    memory = _memory_bytes()
    if memory is not None and count * 10 * 4 > memory:
        raise ImageError(
            f"{count:,} images would need a {count * 40:,}-byte result, more than this "
            "machine's memory: predict on slices of them."
        )


@functools.cache
def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not on this platform
        return None


def _raise_for_first_bad(chunk: np.ndarray, start: int | None) -> None:
    """Re-raise the error of the first image of ``chunk`` whose pixels are not usable."""
    if start is None:
        return
    for offset in range(len(chunk)):
        with about(None, start + offset):
            unit_pixels(chunk[offset])


@contextlib.contextmanager
def about(item: object, index: int | None = None) -> Iterator[None]:
    """Name the item an :class:`ImageError` raised inside is about (its index and file), keeping
    the error's class."""
    try:
        yield
    except ImageError as exc:
        message = str(exc)
        where = [f"images[{index}]"] if index is not None else []
        name = source_name(item)
        if name is not None and name not in message:
            where.append(name)
        if not where:
            raise
        raise type(exc)(": ".join([*where, message])) from exc
