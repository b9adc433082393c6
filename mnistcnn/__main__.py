"""``python -m mnistcnn``: the same as the ``mnistcnn`` command."""

import sys

from ._cli._main import main

if __name__ == "__main__":
    sys.exit(main())
