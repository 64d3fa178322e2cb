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


# --------------------------------------------------------------------------- fixtures
class Service:
    def __init__(self, proc: ServiceProcess, images: Path) -> None:
        self.proc = proc
        self.url = proc.url
        self.images = images
        self.populated = False

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

    # tab order: search box, Search, file picker, top-k, min score, then the results
    order = []
    page.focus("#q")
    for _ in range(6):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert order == ["search-button", "file", "topk", "min-score", "thumb", "more"], order

    # Enter on the first result's thumbnail opens the large view
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
