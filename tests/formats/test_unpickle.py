"""Weights files from strangers: a crafted pickle is refused before any of its code runs."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnistcnn import DigitClassifier, ModelFormatError, build_model, save
from mnistcnn._formats._files import file_sha256
from mnistcnn._formats._unpickle import read_state, state_from_bytes

PRETRAINED_WEIGHTS = Path(__file__).parent.parent.parent / "mnistcnn" / "_models" / "weights"


class _RunsCode:
    """Pickles as a call of ``function(*args)``: what a crafted weights file does."""

    def __init__(self, function: object, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.function, self.args


def _crafted_model(folder: Path, payload: object, *, with_metadata: bool) -> Path:
    """A real model whose .pdparams also holds ``payload``; with metadata whose digest matches
    (an attacker can write the metadata too)."""
    prefix = folder / "m"
    save(build_model("fast", seed=0), prefix, format="dynamic")
    state = read_state(prefix.with_suffix(".pdparams"))
    state["0.weight"] = payload
    prefix.with_suffix(".pdparams").write_bytes(pickle.dumps(state, protocol=4))
    meta_path = folder / "m_meta.json"
    if with_metadata:
        meta = json.loads(meta_path.read_text())
        meta["files"][".pdparams"] = file_sha256(prefix.with_suffix(".pdparams"))
        meta_path.write_text(json.dumps(meta))
    else:
        meta_path.unlink()
    return prefix


@pytest.mark.parametrize("with_metadata", [True, False])
def test_a_pickle_that_runs_a_command_is_refused_before_it_runs(
    tmp_path: Path, with_metadata: bool
) -> None:
    marker = tmp_path / "the-payload-ran"
    prefix = _crafted_model(
        tmp_path, _RunsCode(os.system, f"touch {marker}"), with_metadata=with_metadata
    )
    with pytest.raises(ModelFormatError, match=r"refused, it asks for posix\.system") as caught:
        DigitClassifier.load(prefix, architecture=None if with_metadata else "fast")
    assert "m.pdparams" in str(caught.value) and ".safetensors" in str(caught.value)
    assert not marker.exists()
    # paddle.load, which this replaces, runs the payload: the test's file is a real attack.
    import paddle

    paddle.load(str(prefix.with_suffix(".pdparams")))
    assert marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        _RunsCode(eval, "1 + 1"),
        _RunsCode(np.ndarray, (10**6, 10**6)),  # numpy.ndarray called: a huge allocation
        _RunsCode(np.load, "/etc/passwd"),
        np.array([{"a": 1}], dtype=object),  # arrays of objects may hold anything
        _RunsCode(np.dtype, "O"),
    ],
    ids=["eval", "ndarray-call", "np-load", "object-array", "object-dtype"],
)
def test_anything_but_arrays_in_plain_containers_is_refused(
    tmp_path: Path, payload: object
) -> None:
    path = tmp_path / "m.pdparams"
    path.write_bytes(pickle.dumps({"w": payload}, protocol=4))
    with pytest.raises(ModelFormatError, match="refused"):
        read_state(path)


def test_an_array_rebuilt_with_unexpected_arguments_is_refused() -> None:
    data = pickle.dumps({"w": np.zeros(3, np.float32)}, protocol=4)
    # _reconstruct(ndarray, (0,), b'b') is all NumPy and Paddle write; ask for another shape.
    tampered = data.replace(b"K\x00\x85", b"K\x07\x85", 1)
    assert tampered != data and any(op.name == "BININT1" for op, _, _ in pickletools.genops(data))
    with pytest.raises(ModelFormatError, match="refused, an array is rebuilt"):
        state_from_bytes(tampered, source="tampered")


def test_paddle_files_of_every_kind_still_load(tmp_path: Path) -> None:
    import paddle

    network = paddle.nn.Linear(3, 2)
    schedule = paddle.optimizer.lr.OneCycleLR(0.1, 10)
    optimizer = paddle.optimizer.Adam(learning_rate=schedule, parameters=network.parameters())
    network(paddle.ones([4, 3])).mean().backward()
    optimizer.step()
    paddle.save(network.state_dict(), str(tmp_path / "n.pdparams"))
    paddle.save(optimizer.state_dict(), str(tmp_path / "n.pdopt"))
    for suffix in (".pdparams", ".pdopt"):
        ours = read_state(tmp_path / f"n{suffix}")
        theirs = paddle.load(str(tmp_path / f"n{suffix}"))
        assert sorted(ours) == sorted(theirs)
        for key, value in theirs.items():
            if isinstance(value, paddle.Tensor):
                assert np.array_equal(ours[key], value.numpy())
            else:
                assert ours[key] == value  # the schedule's plain dict
    # Older pickle protocols and NumPy scalars, as older Paddle and NumPy write them.
    for protocol in (2, 3):
        path = tmp_path / f"p{protocol}.pdparams"
        path.write_bytes(pickle.dumps({"w": np.arange(4.0), "s": np.float32(2)}, protocol))
        state = read_state(path)
        assert np.array_equal(state["w"], np.arange(4.0)) and state["s"] == np.float32(2)


@pytest.mark.slow
def test_the_tutorial_files_load_safely(tutorial_files: Path) -> None:
    import paddle

    for name in ("mnist_cnn_model.pdparams", "mnist_cnn_model.pdopt"):
        ours = read_state(tutorial_files / name)
        theirs = paddle.load(str(tutorial_files / name))
        assert sorted(ours) == sorted(theirs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=10_000), noise=st.binary(max_size=64))
def test_damaged_weights_raise_model_format_error_only(cut: int, noise: bytes) -> None:
    real = (PRETRAINED_WEIGHTS / "mnistcnn_best.safetensors").read_bytes()
    from safetensors.numpy import load

    state = {name: value for name, value in load(real).items()}
    data = pickle.dumps(state, protocol=4)
    for damaged in (data[: cut % len(data)], data[: cut % len(data)] + noise, noise):
        with contextlib.suppress(ModelFormatError):  # any other exception fails the test
            state_from_bytes(damaged, source="damaged")
