"""A picture with what :meth:`DigitClassifier.read_digits` found drawn over it (Pillow only)."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from .._input._inputs import PictureInput, about, picture_image
from ._numbers import Reading

__all__ = ["draw_reading"]

_PRINTED = (0, 120, 215)  # printed boxes found: blue
_SURE = (0, 150, 60)  # digits read with confidence: green
_UNSURE = (220, 120, 0)  # digits below min_confidence: orange


def draw_reading(image: PictureInput, reading: Reading) -> Image.Image:
    """``image`` in colour with the printed boxes found (blue), each digit's box (green, or
    orange when read with less than ``min_confidence``) and its label above it.

    Args:
        image: the picture that was read, in any form :meth:`DigitClassifier.read_digits`
            takes.
        reading: what :meth:`DigitClassifier.read_digits` returned for it.

    Returns:
        A new RGB :class:`PIL.Image.Image` of the picture's size (as decoded, upright).

    Examples:
        >>> from PIL import Image, ImageDraw
        >>> from mnistcnn import DigitClassifier
        >>> page = Image.new("L", (200, 80), 255)
        >>> ImageDraw.Draw(page).line([(60, 15), (60, 65)], fill=0, width=6)
        >>> reading = DigitClassifier.pretrained().read_digits(page)
        >>> draw_reading(page, reading).size
        (200, 80)
    """
    with about(image):
        canvas = picture_image(image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(max(canvas.size) / 300))
    font_size = max(10, round(max(canvas.size) / 30))
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow before 10.1: one small bitmap font
        font = ImageFont.load_default()
    for printed in reading.boxes:
        draw.rectangle(_corners(printed.box), outline=_PRINTED, width=line)
    for digit in reading.digits:
        colour = _SURE if digit.confident else _UNSURE
        left, top, _, _ = digit.box
        draw.rectangle(_corners(digit.box), outline=colour, width=line)
        draw.text((left, max(0, top - font_size - 2)), str(digit.label), fill=colour, font=font)
    return canvas


def _corners(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    return (left, top, max(left, right - 1), max(top, bottom - 1))
