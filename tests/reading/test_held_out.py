"""The held-out generators themselves: deterministic, the lengths asked for, and each kind what
its name says (joined numbers are one piece of ink, heights vary from digit to digit)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from .. import held_out, held_out_pen
from ..held_out import KINDS, SOURCES, Kind, Number, Source

Generator = Callable[..., Iterator[Number]]
GENERATORS: dict[str, Generator] = {"bitmap": held_out.numbers, "pen": held_out_pen.numbers}


@pytest.fixture(autouse=True)
def _mnist_files(mnist_dir: Path) -> None:
    """The MNIST test digits are one of the two sources: ``MNISTCNN_DATA`` must name them."""


def _pictures(generator: Generator, kind: Kind, source: Source, seed: int) -> list[Number]:
    return list(generator(kind, 3, seed, source=source))


def _ink(picture: Image.Image) -> np.ndarray:
    """Dark pixels: darker than halfway from the paper (the median) to the darkest ink."""
    grey = np.asarray(picture.convert("L"), np.float32)
    return grey < (np.median(grey) + np.percentile(grey, 0.5)) / 2


def _largest_piece(picture: Image.Image) -> float:
    """The share of the ink in its largest 8-connected piece."""
    labelled, _ = ndimage.label(_ink(picture), structure=np.ones((3, 3)))
    sizes = np.bincount(labelled.ravel())[1:]
    return float(sizes.max() / sizes.sum())


@pytest.mark.parametrize("name", GENERATORS)
def test_each_generator_gives_the_same_pictures_for_a_seed(name: str) -> None:
    generator = GENERATORS[name]
    for kind in KINDS:
        source: Source = "mnist" if kind in ("heights", "joined") else "usps"
        first, again = (_pictures(generator, kind, source, seed=5) for _ in range(2))
        other = _pictures(generator, kind, source, seed=6)
        for a, b in zip(first, again, strict=True):
            assert a.text == b.text and a.sources == b.sources and a.boxes == b.boxes
            assert np.array_equal(np.asarray(a.picture), np.asarray(b.picture)), kind
        assert [n.text for n in first] != [n.text for n in other], kind


def test_the_two_generators_draw_different_pictures() -> None:
    bitmap = next(held_out.numbers("apart", 1, 3, source="usps"))
    pen = next(held_out_pen.numbers("apart", 1, 3, source="usps"))
    assert bitmap.picture.mode == "L" and pen.picture.mode == "RGB"
    assert bitmap.text != pen.text or bitmap.picture.size != pen.picture.size


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize("source", SOURCES)
def test_every_kind_writes_numbers_of_the_requested_length(name: str, source: Source) -> None:
    labels = held_out.source_digits(source)[1]
    for kind in KINDS:
        for number in _pictures(GENERATORS[name], kind, source, seed=7):
            assert len(number.text) == 6 if kind == "boxed" else 5 <= len(number.text) <= 6
            assert number.text == "".join(str(labels[i]) for i in number.sources)
            assert number.source == source
            assert len(number.alone) in (0, len(number.text))
            assert _ink(number.picture).any(), (name, kind)


@pytest.mark.parametrize("name", GENERATORS)
def test_joined_numbers_are_one_piece_of_ink(name: str) -> None:
    joined = [
        _largest_piece(n.picture)
        for source in SOURCES
        for n in GENERATORS[name]("joined", 6, 11, source=source)
    ]
    apart = [_largest_piece(n.picture) for n in GENERATORS[name]("apart", 6, 11)]
    # A digit broken in its source (the bar of a 5) may stay apart; the number holds together.
    assert np.median(joined) >= 0.9 and np.mean(np.array(joined) >= 0.75) >= 0.8, joined
    assert max(apart) < 0.5, apart  # the same measure on digits apart: one digit's share


@pytest.mark.parametrize("name", GENERATORS)
def test_digits_of_heights_stand_at_their_own_heights(name: str) -> None:
    for source in SOURCES:
        for number in GENERATORS[name]("heights", 6, 13, source=source):
            boxes = np.array(number.boxes, np.float64)
            assert len(boxes) == len(number.text)
            middles, height = (boxes[:, 1] + boxes[:, 3]) / 2, np.median(boxes[:, 3] - boxes[:, 1])
            assert np.ptp(middles) >= 0.3 * height, (name, middles, height)
            assert np.abs(np.diff(middles)).max() <= 1.5 * height
            ink = _ink(number.picture)
            for left, top, right, bottom in number.boxes:  # each box holds its digit's ink
                assert ink[top:bottom, left:right].mean() > 0.03
    flat = [np.array(n.boxes, np.float64) for n in GENERATORS[name]("touching", 6, 13)]
    spread = [np.ptp((b[:, 1] + b[:, 3]) / 2) / np.median(b[:, 3] - b[:, 1]) for b in flat]
    assert max(spread) < 0.3, spread  # along one baseline, the same measure stays small
