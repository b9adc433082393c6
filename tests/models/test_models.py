from __future__ import annotations

import numpy as np
import paddle
import pytest

from mnistcnn import available_models, build_model

from ..tutorial_reference import tutorial_network


def test_registry_lists_tutorial() -> None:
    assert "tutorial" in available_models()
    assert available_models() == sorted(available_models())


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; available: .*tutorial"):
        build_model("resnet")


def test_outputs_logits_for_a_batch() -> None:
    net = build_model("tutorial", seed=0)
    net.eval()
    out = net(paddle.rand([5, 1, 28, 28])).numpy()
    assert out.shape == (5, 10)
    assert not np.allclose(out.sum(axis=1), 1.0)  # logits, not probabilities


def test_seed_makes_initial_weights_reproducible() -> None:
    a = build_model(seed=3).state_dict()
    b = build_model(seed=3).state_dict()
    c = build_model(seed=4).state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert not np.array_equal(a["0.weight"].numpy(), c["0.weight"].numpy())


def test_tutorial_weights_load_in_both_directions() -> None:
    ours = build_model("tutorial", seed=0)
    theirs = tutorial_network()
    assert (
        list(ours.state_dict())
        == list(theirs.state_dict())
        == [
            "0.weight",
            "0.bias",
            "3.weight",
            "3.bias",
            "7.weight",
            "7.bias",
        ]
    )
    theirs.set_state_dict(ours.state_dict())
    ours.eval()
    theirs.eval()
    x = paddle.rand([4, 1, 28, 28])
    np.testing.assert_allclose(
        theirs(x).numpy(), paddle.nn.functional.softmax(ours(x)).numpy(), atol=1e-6
    )
