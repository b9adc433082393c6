"""Install a built wheel into a fresh virtual environment and use it from outside the source tree.

    python tests/wheel_smoke.py DIST_DIR

Checks the sdist holds the sources and none of the build output, then runs
``mnistcnn --version``, ``mnistcnn --help`` and a prediction on a drawn picture with the
shipped weights (``DigitClassifier.pretrained()``), in an empty temporary directory, without
the optional matplotlib, ONNX Runtime and Starlette (plotting, the ONNX engine and the server
must then say which extra to install), and checks the served page is installed. Used by the
``pkg`` tox environment.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import venv
from pathlib import Path

PREDICT = """
from PIL import Image, ImageDraw
from mnistcnn import DigitClassifier

picture = Image.new("L", (200, 200), 255)
ImageDraw.Draw(picture).line([(60, 40), (140, 40), (90, 170)], fill=0, width=14)  # a 7
classifier = DigitClassifier.pretrained()
assert classifier.backend == "static", classifier  # the fastest engine without the onnx extra
label = int(classifier.predict(picture)[0])
print("predicted", label)
assert label == 7, label
read = DigitClassifier.pretrained().read_digits(picture, method="sequence").text
assert read == "7", read  # the sequence reader's weights load from the installed package

from mnistcnn import MissingDependencyError, plot_digits
try:
    DigitClassifier.pretrained(backend="onnxruntime")
except MissingDependencyError as exc:
    assert 'pip install "mnistcnn[onnx]"' in str(exc), exc
else:
    raise AssertionError("onnxruntime is not a requirement, yet the ONNX engine loaded")
from mnistcnn import create_app
try:
    create_app(classifier)
except MissingDependencyError as exc:
    assert 'pip install "mnistcnn[serve]"' in str(exc), exc
else:
    raise AssertionError("starlette is not a requirement, yet the app was made")
import importlib.resources
page = importlib.resources.files("mnistcnn._serving") / "_web" / "index.html"
assert 'id="canvas"' in page.read_text(encoding="utf-8"), "the served page is not installed"
try:
    plot_digits(__import__("numpy").zeros((1, 28, 28), "uint8"))
except MissingDependencyError as exc:
    assert 'pip install "mnistcnn[plot]"' in str(exc), exc
else:
    raise AssertionError("matplotlib is not a requirement, yet plotting worked")
"""

SDIST_MUST_HAVE = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "tox.ini",
    "mnistcnn/__init__.py",
    "mnistcnn/_models/weights/mnistcnn_best_meta.json",
    "mnistcnn/_models/weights/mnistcnn_best.onnx",
    "mnistcnn/_serving/_web/index.html",
    "tests/conftest.py",
    "docs/conf.py",
    "examples/quickstart.py",
)
SDIST_MUST_NOT_HAVE = (
    "docs/_build/",
    "docs/_generated/",
    ".tox/",
    ".venv/",
    "__pycache__/",
    ".pytest_cache/",
    ".mypy_cache/",
    "dist/",
)


def check_sdist(dist: Path) -> None:
    (sdist,) = dist.glob("mnistcnn-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    missing = [name for name in SDIST_MUST_HAVE if name not in names]
    unwanted = sorted({n for n in names for part in SDIST_MUST_NOT_HAVE if part in f"{n}/"})
    if missing or unwanted:
        sys.exit(f"{sdist.name}: missing {missing}; should not hold {unwanted[:10]}")
    print(f"{sdist.name}: {len(names)} files, sources only")


def main(dist: Path) -> None:
    check_sdist(dist)
    (wheel,) = dist.glob("mnistcnn-*.whl")
    with tempfile.TemporaryDirectory() as work:
        env = Path(work) / "venv"
        venv.create(env, with_pip=True)
        python = env / "bin" / "python"
        run = lambda *args: subprocess.run(args, check=True, cwd=work)  # noqa: E731
        # As on Python 3.12+ or in a venv made by uv: no setuptools, which `import paddle`
        # needs; installing mnistcnn must bring it.
        run(str(python), "-m", "pip", "uninstall", "-q", "-y", "setuptools")
        run(str(python), "-m", "pip", "install", "-q", str(wheel))
        run(str(env / "bin" / "mnistcnn"), "--version")
        run(str(env / "bin" / "mnistcnn"), "--help")
        run(str(python), "-c", PREDICT)
    print(f"{wheel.name}: installed and used from outside the source tree")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
