"""Base64 and data URLs as the JSON form of ``/v1/predict`` takes them."""

from __future__ import annotations

import base64
import re

import pytest

from mnistcnn._serving._requests import RequestError, decode_base64

DATA = bytes(range(256)) * 3 + b"\xff\xfe"


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(DATA).decode(),
        base64.b64encode(DATA).decode().rstrip("="),
        base64.urlsafe_b64encode(DATA).decode(),
        base64.encodebytes(DATA).decode(),
        "data:image/png;base64," + base64.b64encode(DATA).decode(),
        "data:;base64," + base64.b64encode(DATA).decode(),
        "data:image/jpeg;name=x.jpg;base64," + base64.b64encode(DATA).decode(),
    ],
    ids=["standard", "unpadded", "url-safe", "wrapped", "data URL", "bare data URL", "named"],
)
def test_every_base64_form_decodes(text: str) -> None:
    assert decode_base64(text, "images[0]") == DATA


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc$", "images[2] is not valid base64"),
        ("é" * 8, "images[2] is not valid base64"),
        ("A", "images[2] is not valid base64"),
        ("data:image/png,rawtext", "images[2] is a data URL without ';base64'"),
    ],
)
def test_bad_base64_is_a_400_naming_the_item(text: str, message: str) -> None:
    with pytest.raises(RequestError, match=re.escape(message)) as error:
        decode_base64(text, "images[2]")
    assert (error.value.status, error.value.kind) == (400, "invalid_base64")
