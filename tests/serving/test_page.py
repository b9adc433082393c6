"""The page of ``mnistcnn serve`` in a real headless Chromium, driven by Selenium.

Digits are drawn with pointer strokes (mouse, pen and touch), as people draw them; the answers
are read from ``#result[data-digit]``. Needs Debian's ``chromium`` and ``chromium-driver``
(``.ci/run`` installs them); without them these tests are skipped, unless
``MNISTCNN_REQUIRE_BROWSER=1`` (set by CI) makes that a failure. With
``MNISTCNN_SCREENSHOTS=DIR`` the screenshots are also saved in DIR (the documentation's come
from there).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistcnn import DigitClassifier
from tests import held_out
from tests.pictures import load_usps, photo_of
from tests.server import Server, running_server
from tests.strokes import DIGITS, Stroke, densify

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("server")]

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.actions import interaction  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.actions.pointer_input import PointerInput  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    missing = [str(path) for path in (CHROMEDRIVER, CHROMIUM) if not path.exists()]
    if missing:
        message = (
            f"{', '.join(missing)} not found: apt-get install chromium chromium-driver "
            "(as .ci/run does)"
        )
        if os.environ.get("MNISTCNN_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,820",
        "--force-device-scale-factor=1",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as running:
        yield running


@pytest.fixture
def page(browser: WebDriver, server: Server) -> WebDriver:
    browser.get(server.url + "/")
    browser.execute_script("localStorage.clear()")
    browser.get(server.url + "/")
    WebDriverWait(browser, 30, poll_frequency=0.02).until(
        lambda d: d.find_element(By.ID, "version").text != ""
    )  # the page has asked /healthz: its script runs
    browser.get_log("browser")  # start each test with an empty console
    return browser


def draw(
    driver: WebDriver,
    strokes: list[Stroke],
    *,
    kind: str = interaction.POINTER_MOUSE,
    box: tuple[float, float, float, float] = (0, 0, 1, 1),
) -> None:
    """Draw ``strokes`` (unit-square points) into ``box`` (fractions of the canvas: left, top,
    width, height) with a pointer of ``kind``, one pointer-down ... pointer-up per stroke."""
    rect = driver.execute_script(
        "const r = document.getElementById('canvas').getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height];"
    )
    left, top, width, height = rect
    bx, by, bw, bh = box
    side = min(width * bw, height * bh)  # digits keep their shape in a wide canvas
    origin_x = left + width * bx + (width * bw - side) / 2
    origin_y = top + height * by + (height * bh - side) / 2
    pointer = PointerInput(kind, f"{kind}-pointer")
    actions = ActionBuilder(driver, mouse=pointer, duration=0)
    for stroke in strokes:
        dense = densify(stroke)
        x, y = dense[0]
        actions.pointer_action.move_to_location(
            round(origin_x + x * side), round(origin_y + y * side)
        )
        actions.pointer_action.pointer_down()
        for x, y in dense[1:]:
            actions.pointer_action.move_to_location(
                round(origin_x + x * side), round(origin_y + y * side)
            )
        actions.pointer_action.pointer_up()
    actions.perform()


def answer(driver: WebDriver) -> dict[str, str]:
    """The result once the page has its answer to the latest stroke or upload."""
    WebDriverWait(driver, 30, poll_frequency=0.02).until(
        lambda d: d.find_element(By.ID, "result").get_attribute("data-state") in ("done", "error")
    )
    result = driver.find_element(By.ID, "result")
    return {
        name: result.get_attribute(f"data-{name}") or "" for name in ("state", "digit", "text")
    } | {"error": driver.find_element(By.ID, "error").text}


def ink_pixels(driver: WebDriver) -> int:
    """How many canvas pixels differ from its top-left one (the paper)."""
    count: int = driver.execute_script(
        "const c = document.getElementById('canvas');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] !== d[0]) n++; return n;"
    )
    return count


def clear(driver: WebDriver) -> None:
    driver.find_element(By.ID, "clear").click()


def severe_console(driver: WebDriver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: WebDriver, name: str, tmp_path: Path) -> Image.Image:
    data = driver.get_screenshot_as_png()
    (tmp_path / name).write_bytes(data)
    target = os.environ.get("MNISTCNN_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(target) / name)
    return Image.open(io.BytesIO(data)).convert("RGB")


def assert_not_blank(image: Image.Image) -> None:
    pixels = np.asarray(image, np.float32)
    assert pixels.std() > 20, "the screenshot is nearly one colour"
    colours = len(set(map(tuple, pixels.reshape(-1, 3)[::97].astype(int).tolist())))
    assert colours > 20, f"only {colours} colours: the page did not render"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_digit_drawn_with_the_mouse_is_recognised(page: WebDriver, theme: str) -> None:
    """In both themes: the dark one sends light ink on a dark canvas, the other polarity."""
    if theme == "dark":
        page.find_element(By.ID, "theme").click()
    paper = page.execute_script(
        "return Array.from(document.getElementById('canvas').getContext('2d')"
        ".getImageData(1, 1, 1, 1).data.slice(0, 3))"
    )
    assert (sum(paper) > 600) == (theme == "light")
    seen = {}
    for digit, strokes in DIGITS.items():
        clear(page)
        draw(page, strokes)
        seen[digit] = answer(page)["digit"]
    assert seen == {digit: str(digit) for digit in DIGITS}
    assert severe_console(page) == []


def test_each_stroke_is_recognised_when_it_ends(page: WebDriver) -> None:
    first, second = DIGITS[4]
    draw(page, [first])
    after_first = answer(page)
    assert after_first["state"] == "done" and after_first["digit"] != ""
    draw(page, [second])
    assert answer(page)["digit"] == "4"
    bars = page.find_elements(By.CSS_SELECTOR, "#bars .track")
    assert len(bars) == 10
    widths = [
        float(b.find_element(By.CLASS_NAME, "fill").value_of_css_property("width")[:-2])
        for b in bars
    ]
    assert int(np.argmax(widths)) == 4  # the longest bar is the answer's
    view = page.execute_script(
        "return Array.from(document.getElementById('model-input').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 === 0));"
    )
    pixels = np.array(view, np.uint8).reshape(28, 28)
    assert pixels.max() > 200 and (pixels > 100).mean() < 0.5  # a digit, light on black
    assert pixels[:, :4].max() < 50 and pixels[:4].max() < 50  # with MNIST's margins


@pytest.mark.parametrize(
    ("kind", "digit"), [(interaction.POINTER_PEN, 7), (interaction.POINTER_TOUCH, 3)]
)
def test_pen_and_touch(page: WebDriver, kind: str, digit: int) -> None:
    draw(page, DIGITS[digit], kind=kind)
    assert answer(page)["digit"] == str(digit)


def test_clear_empties_the_canvas_and_the_answer(page: WebDriver) -> None:
    draw(page, DIGITS[1])
    assert answer(page)["digit"] == "1"
    assert ink_pixels(page) > 1000
    clear(page)
    result = page.find_element(By.ID, "result")
    assert result.get_attribute("data-digit") is None
    assert result.get_attribute("data-state") == "empty"
    assert ink_pixels(page) == 0


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, int]]:
    """Photos of USPS digits (writers MNIST never had), as JPEG files, with their labels."""
    usps, labels = load_usps()
    rng = np.random.default_rng(5)
    folder = tmp_path_factory.mktemp("photos")
    made = []
    for index in (3, 40, 77):
        path = folder / f"digit-{index}.jpg"
        photo_of(usps[index], rng).save(path, quality=85)
        made.append((path, int(labels[index])))
    return made


def test_upload_a_photo(page: WebDriver, photos: list[tuple[Path, int]]) -> None:
    local = DigitClassifier.pretrained()
    for path, _ in photos:
        page.find_element(By.ID, "upload").send_keys(str(path))
        got = answer(page)
        assert got["digit"] == str(int(local.predict(path)[0])), got
    assert [label for _, label in photos] == [
        int(d) for d in local.predict([p for p, _ in photos])
    ]  # and the photos are read right, not only as the library reads them


def test_drop_a_photo(page: WebDriver, photos: list[tuple[Path, int]]) -> None:
    path, label = photos[0]
    page.execute_script(
        """
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const file = new File([bytes], "dropped.jpg", {type: "image/jpeg"});
        const data = new DataTransfer();
        data.items.add(file);
        const stage = document.getElementById("stage");
        const how = {dataTransfer: data, bubbles: true, cancelable: true};
        stage.dispatchEvent(new DragEvent("dragover", how));
        stage.dispatchEvent(new DragEvent("drop", how));
        """,
        base64.b64encode(path.read_bytes()).decode(),
    )
    assert answer(page)["digit"] == str(label)


def test_whole_number_mode_reads_and_draws_boxes(page: WebDriver, tmp_path: Path) -> None:
    page.find_element(By.CSS_SELECTOR, "label[for=mode-number]").click()
    size = page.execute_script(
        "const c = document.getElementById('canvas'); return [c.width, c.height];"
    )
    assert size[0] > 2 * size[1]  # a wide canvas for a number
    assert page.find_element(By.ID, "subtitle").text == "write a number"
    for place, digit in enumerate((3, 1, 4)):
        draw(page, DIGITS[digit], box=(0.05 + 0.3 * place, 0.1, 0.27, 0.8))
    got = answer(page)
    assert got["text"] == "314", got
    assert page.find_element(By.ID, "overlay").get_attribute("data-boxes") == "3"
    chips = page.find_elements(By.CSS_SELECTOR, "#digits span")
    assert [chip.text[0] for chip in chips] == ["3", "1", "4"]
    assert_not_blank(screenshot(page, "serve-page-number.png", tmp_path))


def test_whole_number_mode_on_an_uploaded_number(page: WebDriver, tmp_path: Path) -> None:
    number = next(held_out.numbers("apart", 1, seed=8))
    path = tmp_path / "number.png"
    number.picture.save(path)
    page.find_element(By.ID, "upload").send_keys(str(path))
    assert answer(page)["digit"] != ""  # read as one digit first
    page.find_element(By.CSS_SELECTOR, "label[for=mode-number]").click()  # the photo is kept
    got = answer(page)
    assert got["text"] == DigitClassifier.pretrained().read_digits(path).text
    assert int(page.find_element(By.ID, "overlay").get_attribute("data-boxes")) == len(got["text"])


def test_switching_modes_starts_a_drawing_afresh(page: WebDriver) -> None:
    draw(page, DIGITS[7])
    assert answer(page)["digit"] == "7"
    assert ink_pixels(page) > 1000
    page.find_element(By.CSS_SELECTOR, "label[for=mode-number]").click()
    result = page.find_element(By.ID, "result")
    assert result.get_attribute("data-state") == "empty"
    assert ink_pixels(page) == 0


def test_an_error_is_shown_and_the_page_recovers(page: WebDriver, tmp_path: Path) -> None:
    junk = tmp_path / "not-a-picture.png"
    junk.write_bytes(b"this is text")
    page.find_element(By.ID, "upload").send_keys(str(junk))
    got = answer(page)
    assert got["state"] == "error"
    assert "not a readable image" in got["error"]
    assert got["digit"] == ""
    clear(page)
    draw(page, DIGITS[7])
    assert answer(page) == {"state": "done", "digit": "7", "text": "", "error": ""}


def test_themes_and_screenshots(page: WebDriver, tmp_path: Path) -> None:
    draw(page, DIGITS[2])
    assert answer(page)["digit"] == "2"
    light = screenshot(page, "serve-page-light.png", tmp_path)
    assert_not_blank(light)
    background = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    page.find_element(By.ID, "theme").click()
    assert page.execute_script("return document.documentElement.dataset.theme") == "dark"
    dark_background = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert dark_background != background
    assert answer(page)["digit"] == "2"  # the drawing is kept, redrawn in the theme's ink
    dark = screenshot(page, "serve-page-dark.png", tmp_path)
    assert_not_blank(dark)
    assert np.asarray(dark, np.float32).mean() < np.asarray(light, np.float32).mean() - 40
    page.refresh()  # the choice is remembered
    assert page.execute_script("return document.documentElement.dataset.theme") == "dark"


def test_the_page_works_offline(page: WebDriver, server: Server) -> None:
    resources = page.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources, "the page asked for nothing (not even /healthz)?"
    assert all(name.startswith(server.url) for name in resources), resources
    html = page.page_source
    assert "https://" not in html and "http://" not in html.replace(server.url, "")


def test_a_phone_sized_window(page: WebDriver, tmp_path: Path) -> None:
    """On a phone-sized screen the page fits its width and a finger draws."""
    size = page.get_window_size()
    page.set_window_size(390, 844)
    try:
        overflow = page.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"the page is {overflow} px wider than the screen"
        draw(page, DIGITS[5], kind=interaction.POINTER_TOUCH)
        assert answer(page)["digit"] == "5"
        assert_not_blank(screenshot(page, "serve-page-phone.png", tmp_path))
    finally:
        page.set_window_size(size["width"], size["height"])
