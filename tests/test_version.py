"""The version in one place (mnistcnn/_version.py) agrees with the changelog and the install."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import mnistcnn

CHANGELOG = Path(__file__).resolve().parents[1] / "docs" / "changelog.md"
HEADING = re.compile(r"^## (.*)$", re.MULTILINE)
RELEASE = re.compile(r"\[(\d+)\.(\d+)\.(\d+)\] - (\d{4}-\d{2}-\d{2})")


def _headings() -> list[str]:
    return HEADING.findall(CHANGELOG.read_text(encoding="utf-8"))


def _releases() -> list[tuple[tuple[int, int, int], datetime.date]]:
    releases = []
    for heading in _headings()[1:]:
        match = RELEASE.fullmatch(heading)
        assert match, f"changelog heading {heading!r} is not '[X.Y.Z] - YYYY-MM-DD'"
        major, minor, patch, day = match.groups()
        # fromisoformat refuses impossible dates such as 2026-02-30.
        releases.append(((int(major), int(minor), int(patch)), datetime.date.fromisoformat(day)))
    return releases


def test_unreleased_section_is_on_top() -> None:
    assert _headings()[0] == "[Unreleased]"


def test_every_other_heading_is_a_dated_release() -> None:
    assert len(_releases()) == len(_headings()) - 1 >= 1


def test_releases_are_newest_first() -> None:
    versions = [version for version, _ in _releases()]
    dates = [day for _, day in _releases()]
    assert versions == sorted(versions, reverse=True)
    assert len(set(versions)) == len(versions)
    assert dates == sorted(dates, reverse=True)


def test_version_is_the_newest_release() -> None:
    newest, _ = _releases()[0]
    assert mnistcnn.__version__ == ".".join(map(str, newest))


def _editable_source(distribution: importlib.metadata.Distribution) -> Path | None:
    """The source tree of an editable install (PEP 610's direct_url.json), else None."""
    text = distribution.read_text("direct_url.json")
    if not text:
        return None
    direct_url = json.loads(text)
    if not direct_url.get("dir_info", {}).get("editable") or not direct_url["url"].startswith(
        "file:"
    ):
        return None
    return Path(urllib.request.url2pathname(urllib.parse.urlsplit(direct_url["url"]).path))


def test_version_is_the_installed_distribution_version() -> None:
    try:
        distribution = importlib.metadata.distribution("mnistcnn")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("mnistcnn is not installed: imported from a source tree only")
    tree = Path(mnistcnn.__file__).resolve().parents[1]
    source = _editable_source(distribution)
    if source is not None and source.resolve() != tree:
        pytest.skip(f"the installed mnistcnn is an editable install of {source}, not of {tree}")
    # Without an editable install elsewhere, the installed metadata was built from this tree (tox
    # installs the wheel it built): a difference means a stale install, to be reinstalled.
    assert mnistcnn.__version__ == distribution.version, (
        f"mnistcnn {mnistcnn.__version__} is imported, {distribution.version} is installed: "
        "reinstall it (pip install -e .)"
    )
