"""Recognise the digit in a photo, a scan or a drawing, and save what the model saw.

    python examples/recognise_photo.py PICTURE [PICTURE ...]

Uses the weights shipped with mnistcnn; nothing is downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from mnistcnn import DigitClassifier, ImageError


def main(paths: list[str]) -> int:
    classifier = DigitClassifier.pretrained()
    status = 0
    for path in paths:
        try:
            probabilities = classifier.predict_proba(path)[0]
            seen = classifier.preprocess(path)
        except ImageError as error:  # not an image, blank, too large...
            print(f"skipped: {error}")
            status = 1
            continue
        label = int(probabilities.argmax())
        target = Path(path).with_name(Path(path).stem + "_seen.png")
        Image.fromarray(seen).resize((112, 112), Image.Resampling.NEAREST).save(target)
        print(f"{path}: {label} (p={probabilities[label]:.3f}); the model saw {target}")
    return status


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
