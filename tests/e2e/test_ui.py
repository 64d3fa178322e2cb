"""The search page (/ui), end to end in headless Chromium against a real service.

The service runs the small CLIP trained on coloured shapes (tests/assets/shapes-clip), so
"a red circle" has a right answer. Chromium is Debian's (``apt-get install chromium``,
done by tools/install_test_deps.sh), driven by Playwright for Python; Playwright's own
browser downloads are never used. Without Chromium the tests skip, except in CI
(``CI`` set), where they fail instead.

Screenshots land in test-output/. ``CLIPVEC_UPDATE_DOCS_SCREENSHOT=1`` also copies the
text-search one to docs/screenshot-search.png (the README's picture).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from hostile_names import hostile_service
from photo_corpus import exif_block
from service_process import ServiceProcess

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "screenshot-search.png"
COLORS = ("red", "blue", "green", "yellow")
SHAPES = ("circle", "square", "triangle")
PER_CLASS = 2
SEED = HELD_OUT_SEED_START + 5_100_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLASS_OF_PATH = re.compile(r"-([a-z]+)_([a-z]+)_\d+\.png$")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("CLIPVEC_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def label(path: str) -> str:
    """'uploads/<hash>-red_circle_1.png' -> 'red circle'."""
    match = CLASS_OF_PATH.search(path)
    assert match, path
    return f"{match.group(1)} {match.group(2)}"


def jpeg_with_exif(color: str, shape: str, seed: int, size: tuple[int, int], exif) -> bytes:
    image = draw_shape(color, shape, size=max(size), seed=seed).resize(size)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


HOSTILE_MAKE = "<img id=injected src=x>"
PARIS, NEW_YORK = (48.8566, 2.3522), (40.7128, -74.0060)
# key -> (colour, shape, seed, (width, height), EXIF): two "Alpha" shots in Paris (2019, 2021),
# one portrait "Beta" shot in New York (2020), and a camera whose name is markup (2018).
PHOTOS = {
    "alpha-2021": (
        "red",
        "circle",
        SEED + 7_001,
        (160, 120),
        exif_block(make="UiCam", model="Alpha", lens="Wide 24mm", date="2021:06:01 10:00:00", place=PARIS),
    ),
    "alpha-2019": (
        "red",
        "circle",
        SEED + 7_002,
        (160, 120),
        exif_block(make="UiCam", model="Alpha", lens="Wide 24mm", date="2019:03:02 08:00:00", place=PARIS),
    ),
    "beta-2020": (
        "blue",
        "square",
        SEED + 7_003,
        (120, 160),
        exif_block(make="UiCam", model="Beta", lens="Tele 85mm", date="2020:01:01 12:30:00", place=NEW_YORK),
    ),
    "markup-2018": (
        "green",
        "triangle",
        SEED + 7_004,
        (160, 120),
        exif_block(
            make=HOSTILE_MAKE, model='Gamma & "Co"', lens="<b id=injected>L</b>", date="2018:05:05 05:05:05"
        ),
    ),
}


# --------------------------------------------------------------------------- fixtures
class Service:
    def __init__(self, proc: ServiceProcess, images: Path) -> None:
        self.proc = proc
        self.url = proc.url
        self.images = images
        self.populated = False
        self.photos: dict[str, str] | None = None

    def populate(self) -> None:
        if self.populated:
            return
        jobs = [
            (f"{color}_{shape}_{k}.png", draw_shape(color, shape, size=128, seed=SEED + 100 * i + k))
            for i, (color, shape) in enumerate((c, s) for c in COLORS for s in SHAPES)
            for k in range(PER_CLASS)
        ]

        def add(job) -> None:
            name, image = job
            resp = requests.post(
                f"{self.url}/add_image",
                params={"name": name},
                data=png(image),
                headers={"Content-Type": "image/png"},
                timeout=60,
            )
            assert resp.status_code == 200, resp.text

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(add, jobs))
        self.populated = True

    def add(self, name: str, data: bytes) -> str:
        """One image through /add_image; its stored path."""
        resp = requests.post(f"{self.url}/add_image", params={"name": name}, data=data, timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json()["path"]

    def add_photos(self) -> dict[str, str]:
        """Issue 17.7: shapes saved as JPEG with EXIF blocks (camera, lens, date, place), once.
        Added after the tests that count the collection (they run first, in file order)."""
        if self.photos is None:
            self.photos = {
                key: self.add(f"photo-{key}.jpg", jpeg_with_exif(color, shape, seed, size, exif))
                for key, (color, shape, seed, size, exif) in PHOTOS.items()
            }
        return self.photos


@pytest.fixture(scope="module")
def service(tmp_path_factory, test_output):
    base = tmp_path_factory.mktemp("ui")
    images = base / "images"
    images.mkdir()
    env = {
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_IMAGES_DIR": str(images),
        "CLIPVEC_MILVUS_URI": str(base / "milvus.db"),
        "CLIPVEC_THUMB_DIR": str(base / "thumbs"),
    }
    with ServiceProcess(env, test_output / "ui-service.log") as proc:
        yield Service(proc, images)


@pytest.fixture(scope="module")
def populated(service):
    service.populate()
    return service


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        if in_ci():
            pytest.fail("Chromium is not installed; in CI it must be (tools/install_test_deps.sh)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, service):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


# --------------------------------------------------------------------------- helpers
def open_page(page, service) -> None:
    page.goto(service.url + "/ui")
    page.wait_for_function("() => document.getElementById('info').dataset.count !== undefined")


def searches(page) -> int:
    return int(page.eval_on_selector("#results", "el => el.dataset.searches || '0'"))


def wait_search(page, before: int, query: str | None = None) -> None:
    """Until a search finished after ``before`` (and, given ``query``, that search was for it)."""
    page.wait_for_function(
        "([before, query]) => { const r = document.getElementById('results');"
        " return Number(r.dataset.searches || 0) > before && (query === null || r.dataset.query === query); }",
        arg=[before, query],
    )


def result_paths(page) -> list[str]:
    return page.eval_on_selector_all("#results .hit", "els => els.map(e => e.dataset.path)")


def wait_thumbnails(page) -> None:
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('#results .hit img'))"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )


def text_search(page, text: str) -> list[str]:
    before = searches(page)
    page.fill("#q", text)
    page.press("#q", "Enter")
    wait_search(page, before, text.strip())
    return result_paths(page)


def shot(page, test_output: Path, name: str) -> Path:
    path = test_output / name
    page.screenshot(path=str(path), full_page=False)
    return path


def save_docs_screenshot(screenshot: Path) -> None:
    """The README's picture, as a 256-colour PNG (less than half the size, no visible loss)."""
    from PIL import Image

    DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
    with Image.open(screenshot) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        small.save(DOCS_SCREENSHOT, optimize=True)


# --------------------------------------------------------------------------- tests
def test_empty_collection_says_so(page, service, test_output):
    if service.populated:
        pytest.skip("runs before the collection is filled (file order)")
    open_page(page, service)
    assert page.eval_on_selector("#info", "el => el.dataset.count") == "0"
    error = page.locator("#error")
    assert error.is_visible()
    assert "collection is empty" in error.inner_text()
    shot(page, test_output, "ui-empty-collection.png")
    assert page.errors == []  # type: ignore[attr-defined]


def test_text_search_shows_red_circles_first(page, populated, test_output):
    open_page(page, populated)
    info = page.inner_text("#info")
    assert f"{len(COLORS) * len(SHAPES) * PER_CLASS} images" in info
    assert "shapes-clip" in info
    # Issue 18.4: the page says which collection it searches, and the model's family.
    assert "in collection images · model shapes-clip" in info
    assert page.eval_on_selector("#info", "el => el.dataset.collection") == "images"
    assert page.eval_on_selector("#info-model", "el => el.title").endswith("shapes-clip (clip)")
    assert page.locator("#error").is_hidden()

    paths = text_search(page, "a red circle")
    assert len(paths) == 24  # the default number of results, all of them here
    assert [label(p) for p in paths[:PER_CLASS]] == ["red circle"] * PER_CLASS, paths[:6]
    wait_thumbnails(page)
    first = page.locator("#results .hit").first
    assert re.fullmatch(r"-?\d\.\d{3}", first.locator(".score").inner_text())
    assert first.locator(".path").inner_text() == paths[0]  # short paths are shown whole
    assert "for “a red circle”" in page.inner_text("#status")
    screenshot = shot(page, test_output, "ui-search-text.png")
    if os.environ.get("CLIPVEC_UPDATE_DOCS_SCREENSHOT") == "1":
        save_docs_screenshot(screenshot)

    # top-k and the score threshold are passed on
    page.fill("#topk", "3")
    paths = text_search(page, "a blue triangle")
    assert len(paths) == 3 and label(paths[0]) == "blue triangle"
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_query_in_any_script_reaches_the_service_unchanged(page, populated):
    """Issue 18.3: CJK, Arabic, emoji (a ZWJ sequence) and combining marks, as typed, in UTF-8."""
    query = "猫坐在沙发上 قطة 👨\u200d👩\u200d👧 cre\u0300me bru\u0302le\u0301e"
    open_page(page, populated)
    sent: list[tuple[bytes, str]] = []
    page.on(
        "request",
        lambda req: (
            sent.append((req.post_data_buffer or b"", req.headers.get("content-type", "")))
            if req.url.split("?")[0].endswith("/search_text")
            else None
        ),
    )
    paths = text_search(page, query)
    assert sent == [(query.encode("utf-8"), "text/plain; charset=utf-8")]
    assert len(paths) == 24  # answered, with hits
    assert f"for “{query}”" in page.inner_text("#status")
    assert page.errors == []  # type: ignore[attr-defined]


def test_search_by_uploaded_image(page, populated, test_output, tmp_path):
    probe = tmp_path / "probe-blue-square.png"
    draw_shape("blue", "square", size=160, seed=SEED + 9_999).save(probe)
    open_page(page, populated)
    before = searches(page)
    page.set_input_files("#file", str(probe))
    wait_search(page, before, probe.name)
    paths = result_paths(page)
    assert [label(p) for p in paths[:PER_CLASS]] == ["blue square"] * PER_CLASS, paths[:6]
    assert "probe-blue-square.png" in page.inner_text("#query-preview-text")
    wait_thumbnails(page)
    shot(page, test_output, "ui-search-image.png")
    assert page.errors == []  # type: ignore[attr-defined]


def test_more_like_this(page, populated, test_output):
    open_page(page, populated)
    paths = text_search(page, "a green triangle")
    assert label(paths[0]) == "green triangle", paths[:4]
    before = searches(page)
    page.locator("#results .hit").first.get_by_role("button", name="More like").click()
    wait_search(page, before, paths[0])
    similar = result_paths(page)
    assert paths[0] not in similar  # the example itself is left out (issue 22.10)
    assert len(similar) == 24 - 1  # every other image: the default top_k still fills the page
    assert label(similar[0]) == "green triangle", similar[:4]
    assert paths[0] in page.inner_text("#query-preview-text")
    assert page.input_value("#q") == ""
    wait_thumbnails(page)
    shot(page, test_output, "ui-more-like-this.png")
    assert page.errors == []  # type: ignore[attr-defined]


def test_hostile_file_names_round_trip_in_the_browser(browser, services, test_output):
    """Names with backslashes, bytes that are not UTF-8, newlines, tabs, DEL, ``#?%+&``, unicode
    and leading dashes (issue 21.10): the page's own URLs show each thumbnail and serve each file."""
    svc = hostile_service(services)  # the tiny CLIP over tests/harness/hostile_names.py, imported by the CLI
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        open_page(page, svc)
        page.fill("#topk", "100")
        paths = text_search(page, "anything")
        assert set(svc.files) <= set(paths), sorted(set(svc.files) - set(paths))
        wait_thumbnails(page)
        assert page.locator("#results .missing").count() == 0  # no "no preview"
        shot(page, test_output, "ui-hostile-names.png")
        fetch = (
            "async (url) => { const r = await fetch(url);"
            " return r.ok ? Array.from(new Uint8Array(await r.arrayBuffer())) : r.status; }"
        )
        for index, path in enumerate(paths):
            if path not in svc.files:
                continue
            page.locator("#results .hit .thumb").nth(index).click()
            href = page.get_attribute("#viewer-open", "href")  # the page's fileUrl(hit)
            page.click("#viewer-close")
            body = page.evaluate(fetch, href)
            assert body != 404 and bytes(body) == svc.files[path], (path, href)
        assert errors == []
    finally:
        context.close()


def test_large_view_and_keyboard(page, populated, test_output):
    open_page(page, populated)
    # the search box has focus on load; Enter searches
    assert page.evaluate("document.activeElement.id") == "q"
    before = searches(page)
    page.keyboard.type("a yellow square")
    page.keyboard.press("Enter")
    wait_search(page, before, "a yellow square")
    paths = result_paths(page)

    # tab order: search box, Search, file picker, top-k, min score, order, the (closed) filters,
    # then the results
    order = []
    page.focus("#q")
    for _ in range(9):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert order == [
        "search-button",
        "file",
        "topk",
        "min-score",
        "sort",
        "filters-summary",
        "thumb",
        "more",
        "more-but",
    ], order

    # Enter on the first result's thumbnail opens the large view
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.closest('.hit')?.dataset.path") == paths[0]
    page.keyboard.press("Enter")
    dialog = page.locator("#viewer")
    page.wait_for_function("() => document.getElementById('viewer').open")
    assert page.inner_text("#viewer-title") == paths[0]
    assert page.evaluate("document.activeElement.id") == "viewer-close"
    page.wait_for_function(
        "() => { const i = document.getElementById('viewer-img');"
        " return i.complete && i.naturalWidth > 0 && i.src.includes('/ui/file?'); }"
    )
    shot(page, test_output, "ui-large-view.png")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#viewer-title") == paths[1]
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.getElementById('viewer').open")
    assert not dialog.is_visible()
    # focus goes back to the result that was last shown (the dialog's "close" event comes
    # a task after it closes, and the browser first restores focus to the opener)
    page.wait_for_function(
        "p => document.activeElement.closest('.hit')?.dataset.path === p", arg=paths[1], timeout=5000
    )
    # "/" jumps back to the search box
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    assert page.errors == []  # type: ignore[attr-defined]


def test_error_messages(page, populated, test_output, tmp_path):
    open_page(page, populated)

    # a file that is not an image
    not_image = tmp_path / "notes.txt"
    not_image.write_text("this is not an image\n")
    before = searches(page)
    page.set_input_files("#file", str(not_image))
    wait_search(page, before, not_image.name)
    error = page.locator("#error")
    assert error.is_visible() and "not an image format clipvec can read" in error.inner_text()
    assert result_paths(page) == []
    shot(page, test_output, "ui-error-unsupported.png")

    # no results above the threshold
    page.fill("#min-score", "0.999")
    text_search(page, "a purple star")
    assert "No images matched" in page.inner_text("#status")
    assert error.is_hidden()
    page.fill("#min-score", "")

    # Milvus down: the service answers 503 store_unavailable (simulated at the network layer)
    down = json.dumps({"error": "store_unavailable", "detail": "cannot reach Milvus at http://milvus:19530"})
    page.route(
        "**/search_text*",
        lambda route: route.fulfill(status=503, content_type="application/json", body=down),
    )
    text_search(page, "a red circle")
    assert "Milvus" in error.inner_text() and "cannot be reached" in error.inner_text()
    shot(page, test_output, "ui-error-milvus.png")
    page.unroute("**/search_text*")

    # the service itself gone
    page.route("**/search_text*", lambda route: route.abort())
    text_search(page, "a red circle")
    assert "cannot be reached" in error.inner_text()
    page.unroute("**/search_text*")

    # empty query
    text_search(page, "   ")
    assert "Type what you are looking for" in error.inner_text()
    # unexpected console errors: only the failed requests above
    unexpected = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert unexpected == []


def test_milvus_down_on_load(page, populated):
    down = json.dumps({"error": "store_unavailable", "detail": "cannot reach Milvus"})
    page.route(
        "**/collection_info",
        lambda route: route.fulfill(status=503, content_type="application/json", body=down),
    )
    page.goto(populated.url + "/ui/")
    page.wait_for_selector("#error:not([hidden])")
    assert "Milvus" in page.inner_text("#error")
    assert page.inner_text("#info") == "Collection unavailable"


def test_offline_and_fast(page, populated):
    """Everything comes from the service itself; first paint is quick."""
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    open_page(page, populated)
    text_search(page, "a blue circle")
    wait_thumbnails(page)
    assert requested
    outside = [
        u for u in requested if not u.startswith(populated.url + "/") and not u.startswith(("data:", "blob:"))
    ]
    assert outside == []
    used = {re.sub(r"\?.*", "", u[len(populated.url) :]) for u in requested}
    assert used <= {
        "/ui",
        "/ui/",
        "/ui/app.js",
        "/ui/style.css",
        "/ui/thumb",
        "/collection_info",
        "/facets",  # the filters' camera and lens choices
        "/import_status",  # an import started elsewhere is followed
        "/search_text",
    }
    fcp = page.evaluate(
        "performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint')?.startTime ?? -1"
    )
    assert 0 <= fcp < 3000, fcp
    transferred = page.evaluate(
        "performance.getEntriesByType('resource').filter(e => /\\/ui\\/(app\\.js|style\\.css)$/.test(e.name))"
        ".reduce((n, e) => n + e.encodedBodySize, 0)"
    )
    assert transferred < 60_000  # page script + style stay small


def test_swagger_try_it_out_vectorize_image(page, service, tmp_path):
    """The Swagger page at / sends an image file to /vectorize_image and shows the 200 answer."""
    image = tmp_path / "circle.png"
    image.write_bytes(png(draw_shape("red", "circle", size=96, seed=SEED)))
    page.route(
        "**/*",
        lambda route: route.abort() if not route.request.url.startswith(service.url) else route.continue_(),
    )
    html = requests.get(service.url + "/").text
    assert "swagger-ui" in html and "googletagmanager" not in html  # no tracker from the internet
    page.goto(service.url + "/")
    block = page.locator("[id$='clip_image_vectorizer__vectorize_image']")
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    block.locator("input[type=file]").set_input_files(str(image))
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip().startswith("200"), status.inner_text()
    assert '"vector"' in block.locator(".live-responses-table").inner_text()


def test_import_button_imports_the_images_folder(page, populated, test_output):
    """Issue 22.5: on a Milvus Lite file nothing but the service may import; the page's button asks it to."""
    folder = populated.images / "dropped-in"
    folder.mkdir()
    for k, (color, shape) in enumerate([("red", "square"), ("blue", "triangle")]):
        png_data = png(draw_shape(color, shape, size=128, seed=SEED + 9_000 + k))
        (folder / f"{color}_{shape}_new.png").write_bytes(png_data)
    open_page(page, populated)
    before = int(page.eval_on_selector("#info", "el => el.dataset.count"))
    page.click("#import-button")
    page.wait_for_function(
        "() => document.getElementById('import-status').dataset.state === 'done'", timeout=120_000
    )
    assert page.inner_text("#import-status").startswith("Import finished: 2 new"), page.inner_text(
        "#import-status"
    )
    page.wait_for_function(
        "(n) => Number(document.getElementById('info').dataset.count) === n", arg=before + 2
    )
    assert "dropped-in/blue_triangle_new.png" in text_search(page, "a blue triangle")[:3]
    shot(page, test_output, "ui-import.png")
    assert page.errors == []  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- issue 17.7
def open_filters(page, service) -> None:
    open_page(page, service)
    page.wait_for_function("() => document.getElementById('filters').dataset.facets === 'loaded'")
    page.click("#filters-summary")
    assert page.locator("#camera").is_visible()


def choose(page, selector: str, value: str) -> None:
    """Pick a choice; a page with a query on it searches again: wait for that search."""
    rerun = page.evaluate("document.getElementById('results').dataset.query !== undefined")
    before = searches(page)
    page.select_option(selector, value)
    if rerun:
        wait_search(page, before)


def test_photo_filters_and_sort_through_the_controls(page, populated, test_output):
    photos = populated.add_photos()
    open_filters(page, populated)
    # the camera and lens choices come from GET /facets, with their counts
    cameras = page.eval_on_selector_all("#camera option", "os => os.map(o => o.textContent)")
    assert cameras[0] == "Any camera" and "UiCam Alpha (2)" in cameras and "UiCam Beta (1)" in cameras, (
        cameras
    )
    lenses = page.eval_on_selector_all("#lens option", "os => os.map(o => o.value)")
    assert {"Wide 24mm", "Tele 85mm"} <= set(lenses), lenses

    # a camera and lens named in markup are shown as text, in the choices, on the card and in
    # the large view, and filter like any other name
    markup = [
        c for c in page.eval_on_selector_all("#camera option", "os => os.map(o => o.value)") if "Gamma" in c
    ]
    assert len(markup) == 1 and markup[0].startswith(HOSTILE_MAKE), markup
    choose(page, "#camera", markup[0])
    assert text_search(page, "a green triangle") == [photos["markup-2018"]]
    assert page.inner_text("#results .hit .camera") == markup[0]
    page.click("#results .hit .thumb")
    assert HOSTILE_MAKE in page.inner_text("#viewer-meta") and "<b id=injected>L</b>" in page.inner_text(
        "#viewer-meta"
    )
    page.click("#viewer-close")
    assert page.locator("#injected").count() == 0

    # camera: only the two Alpha shots, each showing its date and camera
    choose(page, "#camera", "UiCam Alpha")
    assert set(text_search(page, "a red circle")) == {photos["alpha-2021"], photos["alpha-2019"]}
    dates = page.eval_on_selector_all("#results .hit .taken", "els => els.map(e => e.textContent)")
    assert sorted(dates) == ["2019-03-02 08:00", "2021-06-01 10:00"], dates
    cams = page.eval_on_selector_all("#results .hit .camera", "els => els.map(e => e.textContent)")
    assert cams == ["UiCam Alpha", "UiCam Alpha"], cams

    # the sort toggle: the same hits, oldest first (a change of order searches again)
    choose(page, "#sort", "taken")
    assert result_paths(page) == [photos["alpha-2019"], photos["alpha-2021"]]
    assert "in the order taken" in page.inner_text("#status")

    # a date range (the "to" day included), any camera: the 2020 and 2021 shots, in time order
    choose(page, "#camera", "")
    page.fill("#taken-after", "2020-01-01")
    page.fill("#taken-before", "2021-06-01")
    assert text_search(page, "a red circle") == [photos["beta-2020"], photos["alpha-2021"]]
    assert "(2 on)" in page.inner_text("#filters-summary")

    # near a place and the orientation, through Enter in a filter field
    page.fill("#taken-after", "")
    page.fill("#taken-before", "")
    page.fill("#near-lat", "48.85")
    page.fill("#near-lon", "2.35")
    page.fill("#near-km", "20")
    before = searches(page)
    page.press("#near-km", "Enter")
    wait_search(page, before, "a red circle")
    assert result_paths(page) == [photos["alpha-2019"], photos["alpha-2021"]]
    page.fill("#near-lat", "")
    page.fill("#near-lon", "")
    page.fill("#near-km", "")
    choose(page, "#orientation", "portrait")
    choose(page, "#sort", "score")
    assert text_search(page, "a blue square") == [photos["beta-2020"]]
    wait_thumbnails(page)
    shot(page, test_output, "ui-filters.png")

    # a malformed filter: the service's 400 is shown in the error area, no results
    choose(page, "#orientation", "")
    page.fill("#near-lat", "200")
    page.fill("#near-lon", "2.35")
    page.fill("#near-km", "20")
    assert text_search(page, "a red circle") == []
    error = page.locator("#error")
    assert error.is_visible() and "A search option is not valid" in error.inner_text(), error.inner_text()
    assert "near" in error.inner_text()
    shot(page, test_output, "ui-filters-error.png")
    page.click("#filters-clear")
    unexpected = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert unexpected == []


def test_more_like_this_but_sends_a_combined_query(page, populated, test_output):
    photos = populated.add_photos()
    open_page(page, populated)
    paths = text_search(page, "a red circle")
    index = paths.index(photos["alpha-2021"])
    card = page.locator("#results .hit").nth(index)
    # the card's "…but" opens the large view with the cursor in the "but…" field
    card.get_by_role("button", name="but…").click()
    page.wait_for_function("() => document.getElementById('viewer').open")
    assert page.evaluate("document.activeElement.id") == "refine-text"
    assert "UiCam Alpha" in page.inner_text("#viewer-meta") and "2021-06-01 10:00" in page.inner_text(
        "#viewer-meta"
    )
    page.select_option("#refine-sign", "-1")
    page.fill("#refine-text", "red")
    before = searches(page)
    with page.expect_request("**/search_combined*") as sent:
        page.press("#refine-text", "Enter")
    request = sent.value
    assert request.method == "POST"
    assert json.loads(request.post_data or "") == {
        "parts": [{"image_path": photos["alpha-2021"], "weight": 1}, {"text": "red", "weight": -1}]
    }
    label = f"{photos['alpha-2021']} without “red”"
    wait_search(page, before, label)
    found = result_paths(page)
    assert found and photos["alpha-2021"] not in found  # the example itself is left out
    assert label in page.inner_text("#query-preview-text")
    assert page.locator("#error").is_hidden()
    wait_thumbnails(page)
    shot(page, test_output, "ui-more-like-this-but.png")
    assert page.errors == []  # type: ignore[attr-defined]


def test_duplicates_view_shows_a_group(page, populated, test_output):
    # one photo twice: a PNG and a smaller JPEG of it (two files, two content hashes)
    image = draw_shape("yellow", "triangle", size=200, seed=SEED + 7_100)
    small = io.BytesIO()
    image.resize((150, 150)).save(small, "JPEG", quality=80)
    original = populated.add("twin-original.png", png(image))
    copy = populated.add("twin-copy.jpg", small.getvalue())
    open_page(page, populated)
    page.click("#duplicates-button")
    page.wait_for_function(
        "() => document.getElementById('duplicates').dataset.state === 'done'", timeout=120_000
    )
    assert page.locator("#results").is_hidden() and page.locator("#duplicates").is_visible()
    assert " of near-duplicates among " in page.inner_text("#status"), page.inner_text("#status")
    groups = page.locator("#duplicate-groups .dup-group")
    members = page.eval_on_selector_all(
        "#duplicate-groups .dup-group",
        "gs => gs.map(g => Array.from(g.querySelectorAll('.dup-member')).map(m => m.dataset.path))",
    )
    twins = [g for g in members if original in g]
    assert twins and copy in twins[0], members
    group = groups.nth(members.index(twins[0]))
    assert group.locator("h3").inner_text().endswith(f"{len(twins[0])} images")
    for path, size in ((original, "200 × 200"), (copy, "150 × 150")):
        member = group.locator(f'.dup-member[data-path="{path}"]')
        assert member.locator(".dup-size").inner_text() == size
        assert re.fullmatch(r"\d+(\.\d)? (B|KB)", member.locator(".dup-file").inner_text())
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", member.locator(".dup-modified").inner_text())
    group.scroll_into_view_if_needed()
    for path in (original, copy):
        page.wait_for_function(
            "p => Array.from(document.querySelectorAll('#duplicates .dup-member'))"
            ".filter(m => m.dataset.path === p).every(m => { const i = m.querySelector('img');"
            " return i && i.complete && i.naturalWidth > 0; })",
            arg=path,
        )
    shot(page, test_output, "ui-duplicates.png")
    # a search brings the results back
    text_search(page, "a red circle")
    assert page.locator("#duplicates").is_hidden() and page.locator("#results").is_visible()

    # another run going on: the service's 503 busy is told as such, not as Milvus being down
    busy = json.dumps({"error": "busy", "detail": "another duplicates run is going on"})
    page.route(
        "**/duplicates*", lambda route: route.fulfill(status=503, content_type="application/json", body=busy)
    )
    page.click("#duplicates-button")
    page.wait_for_function("() => document.getElementById('duplicates').dataset.state === 'failed'")
    assert "busy" in page.inner_text("#error") and "Milvus" not in page.inner_text("#error")
    page.unroute("**/duplicates*")
    unexpected = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert unexpected == []


def test_watch_work_shows_indexing_n_files(page, populated):
    """Issue 19.4: with serve --watch, "Indexing N files" while changes wait, gone once indexed.

    The watcher's status is played back through /import_status (its real shape, from
    ``WatchCounts.as_json``): the real service here does not watch.
    """
    from clipvec.indexing.watch_status import WatchCounts

    answers = [
        WatchCounts(state="watching", queued=3, pending=True, lag_seconds=1.0),
        WatchCounts(state="indexing", queued=3, pending=True, lag_seconds=2.0),
        WatchCounts(state="watching", passes=1, indexed=3),
    ]
    asked: list[int] = []

    def import_status(route) -> None:
        watch = answers[min(len(asked), len(answers) - 1)].as_json()
        asked.append(1)
        body = {"state": "idle", "source": "", "total": None, "done": 0, "runs": 0, "watch": watch}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/import_status", import_status)
    open_page(page, populated)
    page.wait_for_function(
        "() => document.getElementById('import-status').textContent === 'Indexing 3 files\\u2026'"
    )
    assert page.eval_on_selector("#import-status", "el => el.hidden") is False
    page.wait_for_function("() => document.getElementById('import-status').hidden", timeout=30_000)
    assert len(asked) >= 3
    assert page.errors == []  # type: ignore[attr-defined]
