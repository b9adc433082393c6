"""``mnistcnn serve`` over real HTTP: a uvicorn process on 127.0.0.1, the real pictures, and
answers compared with the same pictures given to the library in this process."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, get_args

import httpx
import jsonschema
import numpy as np
import pytest
from openapi_spec_validator import validate as validate_spec
from PIL import Image

from mnistcnn import DigitClassifier, MnistDataset
from tests import held_out
from tests.conftest import cli
from tests.pictures import canvas_drawing, load_usps, photo_of, png_bytes
from tests.server import Server, running_server

pytestmark = pytest.mark.xdist_group("server")  # one server process per test worker


def jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


APP_ORIGIN = "http://app.example.test"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server("--allow-origin", APP_ORIGIN) as running:
        yield running


@pytest.fixture(scope="module")
def spec(server: Server) -> dict[str, Any]:
    """The served OpenAPI document, which is the one generated from the declarations."""
    from mnistcnn import __version__
    from mnistcnn._serving._openapi import openapi_document

    document: dict[str, Any] = httpx.get(f"{server.url}/openapi.json", timeout=60).json()
    assert document == openapi_document(version=__version__, max_body=10 * 1024**2)
    return document


def checked_client(url: str, spec: dict[str, Any]) -> httpx.Client:
    """An HTTP client that checks every answer it receives against the OpenAPI document."""

    def check_answer(response: httpx.Response) -> None:
        response.read()
        conforms(spec, response.request.method, response.request.url.path, response)

    return httpx.Client(base_url=url, timeout=60, event_hooks={"response": [check_answer]})


def conforms(spec: dict[str, Any], method: str, path: str, response: httpx.Response) -> None:
    """``response`` is what the document says ``method path`` answers with its status."""
    if method == "OPTIONS":
        return  # CORS preflights: the Fetch standard's, answered by the middleware, not the API
    operation = spec["paths"].get(path, {}).get(method.lower())
    if operation is None:  # no such path or method: the answer is an error
        assert response.status_code in (404, 405), response.text
        check(spec, "Error", response.json())
        return
    responses = operation["responses"]
    documented = responses.get(str(response.status_code)) or responses.get("default")
    assert documented is not None, f"{method} {path} answered {response.status_code}"
    media = response.headers["content-type"].split(";")[0]
    assert media in documented["content"], f"{media} is not documented for {method} {path}"
    schema = documented["content"][media].get("schema")
    if schema is not None:
        document = {**schema, "components": spec["components"]}
        jsonschema.validate(response.json(), document, cls=jsonschema.Draft202012Validator)


@pytest.fixture(scope="module")
def http(server: Server, spec: dict[str, Any]) -> Iterator[httpx.Client]:
    with checked_client(server.url, spec) as client:
        yield client


@pytest.fixture(scope="module")
def local() -> DigitClassifier:
    """The model the server loads (the shipped one, on the same engine), in this process."""
    return DigitClassifier.pretrained()


@pytest.fixture(scope="module")
def pictures(test_set: MnistDataset) -> list[tuple[str, bytes]]:
    """(content type, file bytes): MNIST test digits, photos and canvas drawings of USPS digits."""
    usps, _ = load_usps()
    rng = np.random.default_rng(12)
    made = [("image/png", png_bytes(test_set.images[i])) for i in range(6)]
    made += [("image/jpeg", jpeg_bytes(photo_of(usps[i], rng))) for i in range(3)]
    made += [("image/png", png_bytes(canvas_drawing(test_set.images[100 + i]))) for i in range(3)]
    return made


def check(spec: dict[str, Any], name: str, document: object) -> None:
    """``document`` is valid against the schema ``name`` of the served OpenAPI description."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)


def test_healthz_names_the_model_engine_and_version(
    http: httpx.Client, spec: dict[str, Any], local: DigitClassifier
) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    health = response.json()
    check(spec, "Health", health)
    assert health["status"] == "ok"
    assert health["engine"] == local.backend
    assert health["model"]["architecture"] == local.metadata.architecture
    assert health["model"]["classes"] == list(range(10))
    import mnistcnn

    assert health["version"] == mnistcnn.__version__


def test_openapi_is_a_valid_description_of_every_route(spec: dict[str, Any]) -> None:
    validate_spec(spec)  # type: ignore[arg-type]
    paths = spec["paths"]
    assert isinstance(paths, dict)
    assert set(paths) == {"/", "/healthz", "/openapi.json", "/v1/predict", "/v1/read"}
    predict = paths["/v1/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {
        "multipart/form-data",
        "application/json",
        "image/*",
    }
    assert {"200", "400", "413", "415", "422"} <= set(predict["responses"])


def expected(local: DigitClassifier, data: bytes) -> np.ndarray:
    return local.predict_proba(data)[0]


def assert_answers(
    answer: dict[str, object], local: DigitClassifier, sent: list[bytes], spec: dict[str, Any]
) -> None:
    check(spec, "Predictions", answer)
    predictions = answer["predictions"]
    assert isinstance(predictions, list) and len(predictions) == len(sent)
    for prediction, data in zip(predictions, sent, strict=True):
        wanted = expected(local, data)
        np.testing.assert_allclose(prediction["probabilities"], wanted, atol=1e-5)
        assert prediction["label"] == int(wanted.argmax())
        assert prediction["probability"] == pytest.approx(float(wanted.max()), abs=1e-5)


def test_multipart_files_are_answered_in_order(
    http: httpx.Client,
    local: DigitClassifier,
    pictures: list[tuple[str, bytes]],
    spec: dict[str, Any],
    test_set: MnistDataset,
) -> None:
    files = [("file", (f"p{i}", data, kind)) for i, (kind, data) in enumerate(pictures)]
    response = http.post("/v1/predict", files=files)
    assert response.status_code == 200, response.text
    assert_answers(response.json(), local, [data for _, data in pictures], spec)
    digits = [p["label"] for p in response.json()["predictions"][:6]]
    assert digits == test_set.labels[:6].tolist()  # the real labels, not only agreement


def test_json_base64_and_data_urls(
    http: httpx.Client,
    local: DigitClassifier,
    pictures: list[tuple[str, bytes]],
    spec: dict[str, Any],
) -> None:
    sent = [data for _, data in pictures[:4]]
    encoded = [
        base64.b64encode(sent[0]).decode(),
        "data:image/png;base64," + base64.b64encode(sent[1]).decode(),
        base64.urlsafe_b64encode(sent[2]).decode().rstrip("="),  # URL-safe, unpadded
        base64.encodebytes(sent[3]).decode(),  # wrapped at 76 characters, as `base64` prints
    ]
    response = http.post("/v1/predict", json={"images": encoded})
    assert response.status_code == 200, response.text
    assert_answers(response.json(), local, sent, spec)


@pytest.mark.parametrize("index", [0, 7, 10])
def test_a_raw_body_is_one_picture(
    http: httpx.Client,
    local: DigitClassifier,
    pictures: list[tuple[str, bytes]],
    spec: dict[str, Any],
    index: int,
) -> None:
    kind, data = pictures[index]
    response = http.post("/v1/predict", content=data, headers={"Content-Type": kind})
    assert response.status_code == 200, response.text
    assert_answers(response.json(), local, [data], spec)
    octets = http.post(
        "/v1/predict", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert octets.json() == response.json()


def test_model_input_is_what_the_library_shows(
    http: httpx.Client, pictures: list[tuple[str, bytes]], spec: dict[str, Any]
) -> None:
    kind, data = pictures[7]  # a photo: normalised, so the 28x28 view is not the file itself
    response = http.post(
        "/v1/predict?include=model_input", content=data, headers={"Content-Type": kind}
    )
    assert response.status_code == 200
    check(spec, "Predictions", response.json())
    seen = np.array(response.json()["predictions"][0]["model_input"], dtype=np.uint8)
    np.testing.assert_array_equal(seen, DigitClassifier.preprocess(data))


@pytest.mark.parametrize("preprocess", ["normalize", "raw"])
def test_preprocess_option(
    http: httpx.Client,
    local: DigitClassifier,
    pictures: list[tuple[str, bytes]],
    preprocess: str,
) -> None:
    kind, data = pictures[8]
    response = http.post(
        f"/v1/predict?preprocess={preprocess}", content=data, headers={"Content-Type": kind}
    )
    assert response.status_code == 200
    wanted = local.predict_proba(data, preprocess=preprocess)[0]  # type: ignore[arg-type]
    answer = response.json()["predictions"][0]["probabilities"]
    np.testing.assert_allclose(answer, wanted, atol=1e-5)


def test_read_gives_the_library_reading(
    http: httpx.Client, local: DigitClassifier, spec: dict[str, Any]
) -> None:
    for number in held_out.numbers("apart", 3, seed=21):
        data = png_bytes(number.picture)
        response = http.post("/v1/read", files={"file": ("n.png", data, "image/png")})
        assert response.status_code == 200, response.text
        reading = response.json()
        check(spec, "Reading", reading)
        wanted = local.read_digits(data)
        assert reading["text"] == wanted.text
        assert reading["probability"] == pytest.approx(wanted.probability, abs=1e-5)
        assert [d["box"] for d in reading["digits"]] == [list(d.box) for d in wanted.digits]
        assert [d["label"] for d in reading["digits"]] == [d.label for d in wanted.digits]
        assert reading == json.loads(json.dumps(wanted.to_dict()))  # the library's own form
    assert reading["text"] == number.text  # the last number, read right (not only agreement)


def test_read_reports_printed_boxes(
    http: httpx.Client, local: DigitClassifier, spec: dict[str, Any]
) -> None:
    number = next(held_out.numbers("boxed", 1, seed=3))
    data = jpeg_bytes(number.picture)
    response = http.post(
        "/v1/read?min_confidence=0.9", content=data, headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 200
    reading = response.json()
    check(spec, "Reading", reading)
    wanted = local.read_digits(data, min_confidence=0.9)
    assert len(reading["boxes"]) == len(wanted.boxes) == 6
    assert [b["box"] for b in reading["boxes"]] == [list(b.box) for b in wanted.boxes]
    assert reading["confident"] == wanted.confident


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` pixels, with hardly any data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 8)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


PNG = {"Content-Type": "image/png"}
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "multipart/form-data; boundary=x"}
TEXT_FIELD = b'--x\r\nContent-Disposition: form-data; name="picture"\r\n\r\nabc\r\n--x--\r\n'
BLANK = np.full((50, 50), 255, np.uint8)

ERRORS = [
    # (name, path, headers, body, status, type)
    ("unreadable", "/v1/predict", PNG, b"not a picture", 400, "invalid_image"),
    ("bomb", "/v1/predict", PNG, bomb_png(20000, 20000), 400, "invalid_image"),
    ("blank", "/v1/predict", PNG, png_bytes(BLANK), 400, "invalid_image"),
    ("empty body", "/v1/predict", PNG, b"", 400, "no_image"),
    ("bad base64", "/v1/predict", JSON, b'{"images": ["@@@"]}', 400, "invalid_base64"),
    ("plain data URL", "/v1/predict", JSON, b'{"images": ["data:,abc"]}', 400, "invalid_base64"),
    ("no images", "/v1/predict", JSON, b'{"images": []}', 400, "no_image"),
    ("malformed JSON", "/v1/predict", JSON, b'{"images": [', 422, "invalid_json"),
    ("JSON list", "/v1/predict", JSON, b"[1, 2]", 422, "invalid_json"),
    ("JSON number", "/v1/predict", JSON, b'{"images": [7]}', 422, "invalid_json"),
    ("text", "/v1/predict", {"Content-Type": "text/plain"}, b"7", 415, "unsupported_media_type"),
    ("no type", "/v1/read", {}, b"7", 415, "unsupported_media_type"),
    ("form without file", "/v1/predict", FORM, TEXT_FIELD, 400, "no_image"),
    ("bad parameter", "/v1/predict?preprocess=sharpen", PNG, b"x", 400, "invalid_parameter"),
    ("bad confidence", "/v1/read?min_confidence=2", PNG, b"x", 400, "invalid_parameter"),
    ("two to read", "/v1/read", JSON, b'{"images": ["AAAA", "AAAA"]}', 400, "too_many_images"),
    ("unknown path", "/v2/predict", PNG, b"x", 404, "not_found"),
]


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "kind"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_errors_are_json_with_their_status(
    http: httpx.Client,
    spec: dict[str, Any],
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    kind: str,
) -> None:
    response = http.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    check(spec, "Error", response.json())
    assert response.json()["error"]["type"] == kind
    assert "Traceback" not in response.text
    assert http.get("/healthz").status_code == 200  # the server is still up


def test_wrong_method_and_unknown_get(http: httpx.Client, spec: dict[str, Any]) -> None:
    response = http.get("/v1/predict")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "method_not_allowed"
    response = http.get("/nothing/here")
    assert response.status_code == 404
    check(spec, "Error", response.json())


def test_too_many_pictures(http: httpx.Client, pictures: list[tuple[str, bytes]]) -> None:
    data = base64.b64encode(pictures[0][1]).decode()
    response = http.post("/v1/predict", json={"images": [data] * 257})
    assert response.status_code == 400
    assert "the limit is 256" in response.json()["error"]["message"]
    files = [("file", (f"{i}.png", pictures[0][1], "image/png")) for i in range(300)]
    response = http.post("/v1/predict", files=files)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "too_many_images"


def test_a_bad_picture_among_good_ones_is_named(
    http: httpx.Client, pictures: list[tuple[str, bytes]]
) -> None:
    files = [
        ("file", ("a.png", pictures[0][1], "image/png")),
        ("file", ("b.png", b"junk", "image/png")),
    ]
    response = http.post("/v1/predict", files=files)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("picture 1: ")


def raw_post(url: str, head: bytes, chunks: Iterator[bytes]) -> tuple[int, bytes]:
    """Send a request by hand (to declare sizes or stream chunks as no client library
    would), and return the status and body of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(head)
        for chunk in chunks:
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        while data := connection.recv(65536):
            answer += data
            if b"\r\n\r\n" in answer:
                headers, _, body = answer.partition(b"\r\n\r\n")
                length = int(headers.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    return int(headers.split(b" ")[1]), body[:length]
    raise AssertionError(f"no complete answer: {answer!r}")


def test_body_over_the_limit_is_413_declared_or_streamed(
    server: Server, http: httpx.Client, spec: dict[str, Any]
) -> None:
    limit = 10 * 1024**2
    declared = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        + f"Content-Length: {limit + 1}\r\n\r\n".encode()
    )
    status, body = raw_post(server.url, declared, iter([]))  # refused before any byte is sent
    assert status == 413
    check(spec, "Error", json.loads(body))
    assert json.loads(body)["error"]["type"] == "body_too_large"
    assert "limit of 10,485,760 bytes (10 MiB)" in json.loads(body)["error"]["message"]

    chunked = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"%x\r\n%s\r\n" % (1024**2, b"\0" * 1024**2)
    status, body = raw_post(server.url, chunked, iter([piece] * 11 + [b"0\r\n\r\n"]))
    assert status == 413
    check(spec, "Error", json.loads(body))
    assert json.loads(body)["error"]["type"] == "body_too_large"

    files = {"file": ("big.png", b"\0" * (limit + 10), "image/png")}
    assert http.post("/v1/predict", files=files).status_code == 413
    assert http.get("/healthz").status_code == 200


def test_concurrent_clients_get_their_own_answers_with_flat_memory(
    server: Server,
    http: httpx.Client,
    spec: dict[str, Any],
    local: DigitClassifier,
    test_set: MnistDataset,
) -> None:
    sent = [png_bytes(test_set.images[i]) for i in range(200, 264)]
    wanted = [int(local.predict(data)[0]) for data in sent]

    def client(worker: int, rounds: int) -> list[tuple[int, int, int]]:
        answers = []
        with checked_client(server.url, spec) as own:
            for round_ in range(rounds):
                index = (worker * 7 + round_) % len(sent)
                response = own.post(
                    "/v1/predict", content=sent[index], headers={"Content-Type": "image/png"}
                )
                digit = response.json()["predictions"][0]["label"]
                answers.append((index, response.status_code, digit))
        return answers

    def load(rounds: int) -> list[tuple[int, int, int]]:
        with ThreadPoolExecutor(16) as pool:
            results = pool.map(lambda worker: client(worker, rounds), range(16))
            return [answer for answers in results for answer in answers]

    load(10)  # warm up: the server's allocations reach their working size
    before = server.rss()
    answers = load(40)
    after = server.rss()
    assert len(answers) == 640
    assert all(status == 200 for _, status, _ in answers)
    assert all(digit == wanted[index] for index, _, digit in answers)
    assert after - before < 20 * 1024**2, f"server memory grew {(after - before) / 1e6:.1f} MB"
    batching = http.get("/healthz").json()["batching"]
    assert batching["largest"] > 1  # concurrent requests shared network calls


@pytest.mark.cli
def test_sigterm_finishes_the_request_in_flight_and_exits_0(test_set: MnistDataset) -> None:
    data = png_bytes(test_set.images[0])
    with running_server() as server:
        head = (
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            + f"Content-Length: {len(data)}\r\n\r\n".encode()
        )
        answer: dict[str, object] = {}

        def chunks() -> Iterator[bytes]:
            yield data[:100]
            time.sleep(0.5)  # the request is in flight when the signal arrives
            server.process.send_signal(15)
            time.sleep(0.5)
            yield data[100:]

        def send() -> None:
            answer["reply"] = raw_post(server.url, head, chunks())

        sender = threading.Thread(target=send)
        sender.start()
        sender.join(60)
        status = server.process.wait(60)
        assert answer["reply"][0] == 200  # type: ignore[index]
        assert json.loads(answer["reply"][1])["predictions"][0]["label"] == 7  # type: ignore[index]
        assert status == 0, server.output()
        assert "mnistcnn serve: stopped" in server.output()
        assert "Traceback" not in server.output()


@pytest.mark.cli
def test_cli_errors(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        result = cli("serve", "--port", str(busy.getsockname()[1]))
    finally:
        busy.close()
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli("serve", "--max-body", "lots")
    assert result.returncode == 2
    assert "'lots' is not a size" in result.stderr
    result = cli("serve", "--allow-origin", "app.example.test")
    assert result.returncode == 1
    assert "'app.example.test' is not a web origin; write it as https://host" in result.stderr
    result = cli("serve", "--model", str(tmp_path / "missing"))
    assert result.returncode == 1
    assert "mnistcnn serve: error:" in result.stderr


def test_connections_have_nagles_algorithm_off() -> None:
    """Kept-alive connections answer at once: without TCP_NODELAY on the accepted sockets,
    each answer waited 40 ms for the client's delayed ACK (25 requests/s per connection)."""
    from mnistcnn._serving._app import _bind

    listener = _bind("127.0.0.1", 0)

    async def accepted_nodelay() -> int:
        seen: list[int] = []

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connection = writer.get_extra_info("socket")
            seen.append(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listener)
        reader, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        await reader.read()
        writer.close()
        server.close()
        await server.wait_closed()
        return seen[0]

    try:
        assert asyncio.run(accepted_nodelay()) != 0
    finally:
        listener.close()


@pytest.mark.cli
def test_without_the_serve_extra_the_command_names_it() -> None:
    """In a process where Starlette cannot be imported, ``mnistcnn serve`` fails with the
    extra to install (checked before the model is loaded)."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['starlette'] = None\n"
            "from mnistcnn._cli._main import main\n"
            "raise SystemExit(main(['serve']))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert 'needs starlette, not installed: pip install "mnistcnn[serve]"' in result.stderr
    assert "Traceback" not in result.stderr
    assert "mnistcnn serve:" not in result.stdout  # it never listened


def test_cors_only_for_the_origins_allowed(http: httpx.Client, test_set: MnistDataset) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    allowed = http.options("/v1/predict", headers={"Origin": APP_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    other = http.options("/v1/predict", headers={"Origin": "http://other.test", **preflight})
    assert "access-control-allow-origin" not in other.headers
    answer = http.post(
        "/v1/predict",
        content=png_bytes(test_set.images[0]),
        headers={"Content-Type": "image/png", "Origin": APP_ORIGIN},
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
    plain = http.post(
        "/v1/predict", content=png_bytes(test_set.images[0]), headers={"Content-Type": "image/png"}
    )
    assert "access-control-allow-origin" not in plain.headers  # no Origin: no CORS headers


def test_the_documented_choices_are_the_librarys(spec: dict[str, Any]) -> None:
    """Each closed choice has one source, a Literal; the document's enums are read from it."""
    from mnistcnn._choices import BackendName, Preprocess, ReadMethod
    from mnistcnn._serving._schemas import ErrorKind

    def parameter(path: str, name: str) -> dict[str, Any]:
        parameters = spec["paths"][path]["post"]["parameters"]
        schema: dict[str, Any] = next(p for p in parameters if p["name"] == name)["schema"]
        return schema

    schemas = spec["components"]["schemas"]

    def same(enum: list[str], literal: object) -> bool:  # msgspec lists the values sorted
        return sorted(enum) == sorted(get_args(literal))

    assert same(parameter("/v1/predict", "preprocess")["enum"], Preprocess)
    assert same(parameter("/v1/read", "method")["enum"], ReadMethod)
    assert same(schemas["Health"]["properties"]["engine"]["enum"], BackendName)
    assert same(schemas["ErrorDetail"]["properties"]["type"]["enum"], ErrorKind)
    # The rows are the library's: the keys of Reading.to_dict() and FilePrediction.to_dict().
    assert set(schemas["ReadDigit"]["properties"]) == {"label", "probability", "box", "confident"}
    assert set(schemas["Prediction"]["properties"]) == {
        "label",
        "probability",
        "probabilities",
        "model_input",
    }


def test_a_bad_parameter_names_the_values_allowed(http: httpx.Client) -> None:
    answer = http.post("/v1/predict?preprocess=sharpen", content=b"x", headers=PNG)
    assert answer.json()["error"]["message"] == (
        "preprocess='sharpen' is not allowed; use one of auto, normalize, raw."
    )
    answer = http.post("/v1/read?min_confidence=high", content=b"x", headers=PNG)
    assert answer.json()["error"]["message"] == (
        "min_confidence='high' is not allowed; give a number from 0 to 1."
    )


@pytest.mark.cli
def test_every_server_message_goes_to_stderr(test_set: MnistDataset) -> None:
    """uvicorn's access lines (its default: stdout) and its other lines (stderr) on one stream,
    stderr; stdout holds only what the command says (where it listens, that it stopped)."""
    with running_server("--log-level", "info") as server:
        answer = httpx.post(
            f"{server.url}/v1/predict", content=png_bytes(test_set.images[0]), headers=PNG
        )
        assert answer.status_code == 200
        assert server.stop() == 0
    stdout, stderr = "".join(server.stdout), "".join(server.stderr)
    assert '"POST /v1/predict HTTP/1.1" 200' in stderr  # the access log
    assert "Application startup complete" in stderr  # uvicorn's own log
    assert [line.split(":")[0] for line in stdout.splitlines()] == ["mnistcnn serve"] * 2
