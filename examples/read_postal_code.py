"""Read the postal code on an envelope, or any handwritten number, from a picture.

    python examples/read_postal_code.py PICTURE [--min-confidence 0.5] [--show OUT.png]
    python examples/read_postal_code.py --envelope envelope.jpg

Prints the number (the most likely digits), its probability, and each digit's probability and
bounding box; on a form or envelope with printed boxes, each box and the digit in it (or that it
is empty). ``--show`` saves the picture with what was found drawn over it.

``--envelope PATH`` first writes a photograph-like picture of a Chinese envelope to PATH (the
six red postal-code boxes at the top left, a postal code written in blue or black ink with
MNIST test digits, the stamp box at the top right, a shadow across the paper, JPEG), then reads
it: a picture to try the reader on when none is at hand.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from mnistcnn import DigitClassifier, draw_reading, load_data


def make_envelope(path: str, seed: int = 0) -> str:
    """Write an envelope photo to ``path``; returns the postal code written on it."""
    rng = np.random.default_rng(seed)
    test = load_data("test")
    chosen = rng.choice(len(test.labels), 6, replace=False)
    width, height = 900, 560
    envelope = Image.new("RGB", (width, height), (236, 226, 204))  # kraft paper
    draw = ImageDraw.Draw(envelope)
    red = (206, 42, 48)
    box, gap, left0, top = 64, 16, 40, 40
    for index in range(6):
        left = left0 + index * (box + gap)
        draw.rectangle([left, top, left + box, top + box], outline=red, width=3)
    draw.rectangle([width - 140, 30, width - 40, 150], outline=red, width=3)  # the stamp box
    ink = Image.new("L", (width, height))
    for index, i in enumerate(chosen):
        digit = Image.fromarray(test.images[i]).resize((84, 84), Image.Resampling.BICUBIC)
        left = left0 + index * (box + gap) - 10 + int(rng.integers(-4, 5))
        ink.paste(digit, (left, top - 10 + int(rng.integers(-4, 5))), digit)
    pen = (30, 50, 150) if rng.random() < 0.5 else (30, 30, 36)
    envelope.paste(Image.new("RGB", (width, height), pen), (0, 0), ink)
    shade = np.linspace(1.0, 0.8, width, dtype=np.float32)[None, :, None]  # light from the left
    pixels = np.asarray(envelope, np.float32) * shade + rng.normal(0, 3, (height, width, 3))
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(0.7)
    )
    photo.save(path, quality=85)
    return "".join(str(int(test.labels[i])) for i in chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("picture", nargs="?", help="a picture of a handwritten number")
    parser.add_argument("--envelope", metavar="PATH", help="write an envelope photo and read it")
    parser.add_argument("--min-confidence", type=float, default=0.5)
    parser.add_argument("--show", metavar="OUT", help="save the picture with the reading drawn")
    args = parser.parse_args()
    if args.envelope:
        written = make_envelope(args.envelope)
        print(f"wrote {args.envelope}: an envelope with the postal code {written}")
        args.picture = args.envelope
    if not args.picture:
        parser.error("give a PICTURE, or --envelope PATH to make one")
    classifier = DigitClassifier.pretrained()
    reading = classifier.read_digits(args.picture, min_confidence=args.min_confidence)
    print(f"read: {reading.text} (p={reading.probability:.3f})")
    if reading.boxes:
        print(f"{len(reading.boxes)} printed boxes:")
        for number, printed in enumerate(reading.boxes, 1):
            what = "empty" if printed.digit is None else str(printed.digit.label)
            print(f"  box {number} {printed.box}: {what}")
    for digit in reading.digits:
        mark = "" if digit.confident else "   <- unsure"
        print(f"  {digit.label}  p={digit.probability:.3f}  box={digit.box}{mark}")
    if args.show:
        draw_reading(args.picture, reading).save(args.show)
        print(f"wrote {args.show}")


if __name__ == "__main__":
    main()
