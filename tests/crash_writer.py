"""A process that saves models until it is killed, for tests/formats/test_atomic.py.

    python crash_writer.py PREFIX loop          save model B, A, B, ... to PREFIX forever
    python crash_writer.py PREFIX replace K     save model B, SIGKILL itself at its K-th os.replace

Model A is ``build_model("fast", seed=1)`` saved with accuracy 0.1, model B seed 2 with 0.2:
the accuracy in the metadata tells which one a reader got. "ready" is printed once the
process is about to start saving.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings

warnings.filterwarnings("ignore", message="No ccache found")

from mnistcnn import build_model, save  # noqa: E402

FORMATS = ["dynamic", "safetensors", "static"]


def main() -> None:
    prefix, mode = sys.argv[1], sys.argv[2]
    models = {0.1: build_model("fast", seed=1), 0.2: build_model("fast", seed=2)}
    if mode == "replace":
        import mnistcnn._formats._atomic as atomic

        target = int(sys.argv[3])
        calls = 0
        real_replace = os.replace

        def replace_then_die(source: str, destination: str) -> None:
            nonlocal calls
            calls += 1
            if calls == target:
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(source, destination)

        atomic.os.replace = replace_then_die  # type: ignore[assignment]
        print("ready", flush=True)
        save(models[0.2], prefix, format=FORMATS, accuracy=0.2)
        print("finished", flush=True)
        return
    print("ready", flush=True)
    while True:
        for accuracy in (0.2, 0.1):
            save(models[accuracy], prefix, format=FORMATS, accuracy=accuracy)


if __name__ == "__main__":
    main()
