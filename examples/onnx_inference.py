"""Export a model to ONNX, then run the .onnx file with ONNX Runtime alone, as any program
(in Python or another language) can, and compare with mnistcnn.

    pip install "mnistcnn[onnx]"
    python examples/onnx_inference.py MODEL_PREFIX OUTPUT_PREFIX

MODEL_PREFIX is what `mnistcnn train -o` or `mnistcnn.save` wrote (weights or a static model);
OUTPUT_PREFIX.onnx and OUTPUT_PREFIX_meta.json are written. Exporting needs paddle2onnx
(Python 3.10-3.12); running the .onnx file needs only onnxruntime and NumPy.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime

from mnistcnn import DigitClassifier, load_data, save


def main(model: str, output: str) -> None:
    written = save(DigitClassifier.load(model, backend="static"), output, format="onnx")
    print("exported", ", ".join(path.name for path in written))

    # Everything the .onnx file needs to be fed correctly is in its metadata.
    meta = json.loads(Path(f"{output}_meta.json").read_text(encoding="utf-8"))
    low, high = meta["input"]["value_range"]
    classes = np.array(meta["output"]["classes"])
    session = onnxruntime.InferenceSession(f"{output}.onnx", providers=["CPUExecutionProvider"])

    test = load_data("test")
    images, labels = test.images[:1000], test.labels[:1000]  # uint8, MNIST's own form
    batch = (low + (high - low) * images.astype(np.float32) / 255)[:, None]  # (n, 1, 28, 28)
    logits = session.run(None, {session.get_inputs()[0].name: batch})[0]
    print(f"ONNX Runtime alone: accuracy {np.mean(classes[logits.argmax(1)] == labels):.2%}")

    classifier = DigitClassifier.load(output)  # the same file, through mnistcnn
    print(
        f"mnistcnn ({classifier.backend}): accuracy "
        f"{np.mean(classifier.predict(images) == labels):.2%}"
    )
    exp = np.exp(logits - logits.max(1, keepdims=True))
    difference = np.abs(exp / exp.sum(1, keepdims=True) - classifier.predict_proba(images)).max()
    print(f"largest difference in probability: {difference:.2e}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
