"""Load a saved static inference model and predict, with mnistcnn and with Paddle's own API.

    python examples/static_inference.py MODEL_PREFIX

MODEL_PREFIX is what `mnistcnn train -o` or `mnistcnn.save` wrote (`PREFIX.json` +
`PREFIX.pdiparams`). Both ways give the same probabilities.
"""

from __future__ import annotations

import sys

import numpy as np

from mnistcnn import DigitClassifier, load_data, to_model_input


def main(prefix: str) -> None:
    test = load_data("test")
    images = test.images[:1000]

    classifier = DigitClassifier.load(prefix, backend="static")
    ours = classifier.predict_proba(images)
    print(f"mnistcnn:          accuracy {np.mean(ours.argmax(1) == test.labels[:1000]):.2%}")

    # The same model through the bare Paddle Inference API. (Imported here, after mnistcnn has
    # imported Paddle without its import-time noise, such as a warning about ccache.)
    from paddle import inference

    # Its input is "x": float32 (n, 1, 28, 28), pixel values in [0, 1].
    config = inference.Config(f"{prefix}.json", f"{prefix}.pdiparams")
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    batch = to_model_input(images)
    handle.reshape(list(batch.shape))
    handle.copy_from_cpu(batch)
    predictor.run()
    logits = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    theirs = np.exp(logits - logits.max(1, keepdims=True))
    theirs /= theirs.sum(1, keepdims=True)
    print(f"Paddle Inference:  accuracy {np.mean(theirs.argmax(1) == test.labels[:1000]):.2%}")
    print(f"largest difference in probability: {np.abs(ours - theirs).max():.2e}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
