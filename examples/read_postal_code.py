"""Read a handwritten number, such as a postal code, from a picture.

    python examples/read_postal_code.py PICTURE [--min-confidence 0.5]

Prints the number (a '?' marks a digit read with too little confidence) and each digit's
probability and bounding box.
"""

from __future__ import annotations

import argparse

from mnistcnn import DigitClassifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("picture")
    parser.add_argument("--min-confidence", type=float, default=0.5)
    args = parser.parse_args()
    reading = DigitClassifier.pretrained().read_digits(
        args.picture, min_confidence=args.min_confidence
    )
    print(f"read: {reading.text}")
    for digit in reading.digits:
        left, top, right, bottom = digit.box
        mark = "" if digit.confident else "   <- unsure"
        box = f"({left}, {top}, {right}, {bottom})"
        print(f"  {digit.label}  p={digit.probability:.3f}  box={box}{mark}")


if __name__ == "__main__":
    main()
