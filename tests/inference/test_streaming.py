"""Very many files: found lazily (directory trees, patterns), read a batch at a time, a bad file
reported in its own result while the others go on."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistcnn import DigitClassifier, FilePrediction, ImageNotFoundError, MnistDataset, find_images


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, test_set: MnistDataset) -> Path:
    """120 MNIST test digits as PNG and JPEG files in nested folders, with other files beside."""
    root = tmp_path_factory.mktemp("tree")
    for index in range(120):
        folder = root / f"box{index % 3}" / f"sheet{index % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".JPG" if index % 10 == 0 else ".png"
        Image.fromarray(255 - test_set.images[index]).save(folder / f"{index:03d}{suffix}")
    (root / "box0" / "notes.txt").write_text("not a picture")
    (root / "box1" / "sheet2" / "scan.pdf").write_bytes(b"%PDF-1.4")
    return root


def test_find_images_walks_a_tree_in_sorted_order_and_takes_pictures_only(tree: Path) -> None:
    found = [Path(name) for name in find_images(tree)]
    assert len(found) == 120
    assert all(path.suffix in (".png", ".JPG") for path in found)
    relative = [path.relative_to(tree).parts for path in found]
    assert relative == sorted(relative)  # folders and names in order, so runs are repeatable
    # A file named directly is taken whatever its ending; a pattern yields its matches.
    assert list(find_images(tree / "box0" / "notes.txt")) == [str(tree / "box0" / "notes.txt")]
    pattern = list(find_images(str(tree / "**" / "sheet1" / "*.png")))
    assert pattern and all("sheet1" in name for name in pattern)
    assert pattern == sorted(pattern)


def test_find_images_names_a_source_that_is_missing(tree: Path) -> None:
    with pytest.raises(ImageNotFoundError, match=r"nothing\.png: no such file or directory"):
        list(find_images(tree / "nothing.png"))
    with pytest.raises(ImageNotFoundError, match=r"\*\.gif: no file matches this pattern"):
        list(find_images(str(tree / "*.gif")))


def test_find_images_lists_one_folder_at_a_time(tmp_path: Path, tree: Path) -> None:
    """A folder is listed when the walk reaches it, not before: one made after the walk
    started is found, and one removed meanwhile goes to on_error (or raises)."""
    copy = tmp_path / "copy"
    shutil.copytree(tree / "box0", copy / "a")
    shutil.copytree(tree / "box1", copy / "b")
    errors: list[str] = []
    walk = find_images(copy, on_error=lambda folder, exc: errors.append(folder))
    first = next(walk)
    assert "/a/" in first
    shutil.copytree(tree / "box2" / "sheet0", copy / "b" / "sheet9")  # after the walk started
    shutil.rmtree(copy / "a" / "sheet2")  # listed in a/, removed before the walk gets there
    rest = list(walk)
    assert any("/b/sheet9/" in name for name in rest)
    assert errors == [str(copy / "a" / "sheet2")]
    walk = find_images(copy)
    next(walk)
    shutil.rmtree(copy / "a" / "sheet3")
    with pytest.raises(FileNotFoundError):
        list(walk)


def test_predict_files_equals_predict_proba_in_order(tree: Path) -> None:
    classifier = DigitClassifier.pretrained()
    files = list(find_images(tree))
    results = list(classifier.predict_files(iter(files), batch_size=16))
    assert [r.file for r in results] == files
    assert all(isinstance(r, FilePrediction) and r.ok for r in results)
    expected = classifier.predict_proba(files)
    np.testing.assert_array_equal(np.stack([r.probabilities for r in results]), expected)
    assert [r.label for r in results] == classifier.predict(files).tolist()
    assert all(r.probability == r.probabilities.max() for r in results)  # type: ignore[union-attr]
    # What the network saw, as preprocess() shows it.
    np.testing.assert_array_equal(results[7].model_input, classifier.preprocess(files[7]))
    # Several reading threads: the same results.
    threaded = list(classifier.predict_files(files, batch_size=7, threads=2))
    assert [r.file for r in threaded] == files
    np.testing.assert_array_equal(np.stack([r.probabilities for r in threaded]), expected)


def test_a_bad_file_is_its_own_result_and_the_rest_go_on(tmp_path: Path, tree: Path) -> None:
    good = list(find_images(tree))[:5]
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    files = [good[0], str(tmp_path / "junk.png"), good[1], str(tmp_path / "gone.png"), good[2],
             str(tmp_path / "blank.png"), *good[3:]]  # fmt: skip
    classifier = DigitClassifier.pretrained()
    results = list(classifier.predict_files(files, batch_size=2, threads=2))
    assert [r.file for r in results] == files
    assert [r.ok for r in results] == [True, False, True, False, True, False, True, True]
    errors = {Path(r.file).name: r.error for r in results if not r.ok}
    assert "junk.png: not a readable image" in errors["junk.png"]  # type: ignore[operator]
    assert "gone.png" in errors["gone.png"] and "no such file" in errors["gone.png"].lower()  # type: ignore[union-attr]
    assert "blank.png" in errors["blank.png"] and "ink" in errors["blank.png"]  # type: ignore[operator]
    failed = [r for r in results if not r.ok]
    assert all(r.label is None and r.probabilities is None for r in failed)
    np.testing.assert_array_equal(
        np.stack([r.probabilities for r in results if r.ok]), classifier.predict_proba(good)
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_predict_files_reads_at_most_two_batches_ahead(tree: Path, threads: int) -> None:
    """Memory stays the same whatever the number of files: the input is read lazily."""
    files = list(find_images(tree))
    taken = 0

    def counted() -> Iterator[str]:
        nonlocal taken
        for name in files:
            taken += 1
            yield name

    results = DigitClassifier.pretrained().predict_files(counted(), batch_size=10, threads=threads)
    for index, _ in enumerate(results, start=1):
        assert taken <= (-(-index // 10) + 1) * 10, (index, taken)
    assert taken == len(files)


def test_predict_files_refuses_bad_options(tree: Path) -> None:
    classifier = DigitClassifier.pretrained()
    with pytest.raises(ValueError, match="threads must be an integer of at least 1; got 0"):
        classifier.predict_files([], threads=0)
    with pytest.raises(ValueError, match="batch_size"):
        classifier.predict_files([], batch_size=0)
    assert list(classifier.predict_files([])) == []


def test_read_files_reads_a_number_per_file_and_reports_the_bad_ones(
    tmp_path: Path, test_set: MnistDataset
) -> None:
    from mnistcnn import FileReading

    digits = [0, 1, 2]  # 7, 2, 1 in the MNIST test set
    pictures = [np.hstack([test_set.images[i] for i in digits]), test_set.images[3]]
    for name, picture in zip(("number.png", "one.png"), pictures, strict=True):
        Image.fromarray(255 - picture).save(tmp_path / name)
    (tmp_path / "damaged.png").write_bytes(b"\x89PNG cut off")
    classifier = DigitClassifier.pretrained()
    files = [tmp_path / "number.png", tmp_path / "damaged.png", tmp_path / "one.png"]
    results = list(classifier.read_files(iter(files), min_confidence=0.9))
    assert all(isinstance(result, FileReading) for result in results)
    assert [result.file for result in results] == [str(f) for f in files]
    assert [result.ok for result in results] == [True, False, True]
    assert results[0].reading == classifier.read_digits(files[0], min_confidence=0.9)
    assert results[0].reading is not None and results[0].reading.text == "721"
    assert "damaged.png: not a readable image" in (results[1].error or "")
    row = results[0].to_dict()
    assert row == {"file": str(files[0]), **results[0].reading.to_dict()}
    assert [d["label"] for d in row["digits"]] == [7, 2, 1]
    assert results[1].to_dict() == {"file": str(files[1]), "error": results[1].error}
    # The options are checked at once, before any file is touched.
    with pytest.raises(ValueError, match="method must be 'auto', 'segments' or 'sequence'"):
        classifier.read_files(files, method="guess")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\]"):
        classifier.read_files(files, min_confidence=2)


def test_a_prediction_has_one_json_form(tmp_path: Path, test_set: MnistDataset) -> None:
    Image.fromarray(test_set.images[0]).save(tmp_path / "seven.png")
    classifier = DigitClassifier.pretrained()
    (result,) = classifier.predict_files([tmp_path / "seven.png"])
    row = result.to_dict()
    assert list(row) == ["file", "label", "probability", "probabilities"]
    assert row["label"] == 7 == result.label
    expected = classifier.predict_proba(tmp_path / "seven.png")[0]
    np.testing.assert_allclose(row["probabilities"], expected, atol=5e-7)  # 6 decimals
    assert row["probability"] == round(float(expected.max()), 6)
