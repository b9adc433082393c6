"""Install a built wheel into a fresh virtual environment and use it from outside the source tree.

    python tests/wheel_smoke.py DIST_DIR

Runs ``mnistcnn --version``, ``mnistcnn --help`` and a prediction on a drawn picture with the
shipped weights (``DigitClassifier.pretrained()``), in an empty temporary directory. Used by
the ``pkg`` tox environment.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

PREDICT = """
from PIL import Image, ImageDraw
from mnistcnn import DigitClassifier

picture = Image.new("L", (200, 200), 255)
ImageDraw.Draw(picture).line([(60, 40), (140, 40), (90, 170)], fill=0, width=14)  # a 7
label = int(DigitClassifier.pretrained().predict(picture)[0])
print("predicted", label)
assert label == 7, label
"""


def main(dist: Path) -> None:
    (wheel,) = dist.glob("mnistcnn-*.whl")
    with tempfile.TemporaryDirectory() as work:
        env = Path(work) / "venv"
        venv.create(env, with_pip=True)
        python = env / "bin" / "python"
        run = lambda *args: subprocess.run(args, check=True, cwd=work)  # noqa: E731
        run(str(python), "-m", "pip", "install", "-q", str(wheel))
        run(str(env / "bin" / "mnistcnn"), "--version")
        run(str(env / "bin" / "mnistcnn"), "--help")
        run(str(python), "-c", PREDICT)
    print(f"{wheel.name}: installed and used from outside the source tree")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
