"""The real UI in headless Chromium: drag a slider, see the picture change, and check it is /render's picture."""
import contextlib
import io
import os
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from ui_helpers import launch, make_faces, make_model

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.browser


def need_chromium() -> None:
    if not shutil.which("chromium") and not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    pytest.importorskip("playwright")


@contextlib.contextmanager
def browser_page(url: str, height: int = 1100):
    """A headless Chromium tab on the app, 1300 px wide; closed afterwards whatever happens."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = open_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": height})
            page.goto(url)
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    need_chromium()
    root = tmp_path_factory.mktemp("ck")
    make_model(root / "digits-cdcgan", 10, seed=3)
    make_model(root / "info", z_dim=16, seed=2, cat_codes=10, cont_codes=2, align_codes=True)
    demo, url = launch(root)
    yield url, root
    demo.close()


def open_browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"])


CANVAS = "#explore-live canvas.live"


def wait_live(page, timeout: float = 60000) -> None:
    """Until the Explore tab's live view has drawn its first picture."""
    page.wait_for_function("window.latentExplorer && latentExplorer.stats.frames > 0", timeout=timeout)


def image_pixels(page) -> np.ndarray:
    """The live view's canvas as the page shows it: H x W (grey pictures) or H x W x 3."""
    w, h, data = page.evaluate("""() => { const c = document.querySelector('#explore-live canvas.live');
        return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]; }""")
    rgb = np.array(data, dtype=np.uint8).reshape(h, w, 4)[..., :3]
    return rgb[..., 0] if (rgb == rgb[..., :1]).all() else rgb


def picture_key(page) -> bytes:
    return image_pixels(page).tobytes()


def press_and_drag(page, slider, steps: int) -> None:
    """Press a range input at its middle and move right to 95% of its width like a hand would; the button
    stays down (the caller releases it)."""
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    for f in np.linspace(0.5, 0.95, steps):
        page.mouse.move(box["x"] + box["width"] * f, y)
        time.sleep(0.03)


def wait_for_new_picture(page, key: bytes, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while picture_key(page) == key and time.time() < deadline:
        page.wait_for_timeout(100)


def test_drag_a_slider_and_get_the_render_endpoints_pixels(page_url):
    from gradio_client import Client
    from explorer.services.pixels import Renderer
    url, root = page_url
    with browser_page(url, 1100) as page:
        wait_live(page)
        first_src = picture_key(page)
        before = image_pixels(page)
        # drag the first z slider's range input from its position to near the right end, like a hand would
        press_and_drag(page, page.locator(".zslider input[type=range]").first, 12)
        page.mouse.up()
        wait_for_new_picture(page, first_src)
        time.sleep(1.0)  # let the last drag position's render land
        after = image_pixels(page)
        assert not np.array_equal(before, after), "the picture did not change while dragging"
        values = [float(v) for v in page.locator(".zslider input[type=number]").evaluate_all(
            "els => els.map(e => e.value)")]
    assert 2.0 < values[0] <= 3.0  # the thumb ended near the right end of -3..3
    z = Renderer(root).seed_z("digits-cdcgan", 0)
    z[:8] = values
    expected = np.asarray(Image.open(Client(url, verbose=False).predict("digits-cdcgan", z, 0, api_name="/render")))
    # the page rounds half-way values up, torch to even: at most 1/255 apart, here and in test_browser_live
    assert after.shape == expected.shape and np.abs(after.astype(int) - expected).max() <= 2


def test_no_error_pops_up_on_load_when_no_model_has_attributes(page_url):
    """Neither tiny model has attributes: the Directions tab says so in its note, not in an error toast."""
    url, _ = page_url
    with browser_page(url, 1100) as page:
        wait_live(page)
        time.sleep(2.0)   # the load chain (Directions: attributes, seeds, edit) has run
        assert page.locator("[data-testid='toast-body']").count() == 0
        page.get_by_role("tab", name="Directions").click()
        page.get_by_text("no named attributes").first.wait_for(timeout=10000)


def test_an_infogan_code_slider_redraws_while_dragged(page_url):
    url, _ = page_url
    with browser_page(url, 1100) as page:
        wait_live(page)
        src = picture_key(page)
        model = page.get_by_label("Model", exact=True)
        model.click()
        model.fill("info")
        page.keyboard.press("Enter")
        wait_for_new_picture(page, src)
        # a model whose codes were turned to slant and width (align_codes): the sliders say which is which
        page.get_by_text("Continuous code c1: slant", exact=False).first.wait_for(timeout=10000)
        page.get_by_text("Continuous code c2: width", exact=False).first.wait_for(timeout=10000)
        time.sleep(1.0)
        before, src = image_pixels(page), picture_key(page)
        press_and_drag(page, page.locator(".codeslider input[type=range]").first, 10)   # c1
        wait_for_new_picture(page, src)   # the picture changes before the mouse is released
        during = image_pixels(page)
        page.mouse.up()
    assert during.shape == before.shape and not np.array_equal(before, during)


# the left loss plot: its step axis's numbered ticks (value, x) and the x where its lines end (Vega's SVG)
CURVE_END = """e => {
  const svg = e.querySelector('svg');
  const ticks = [...svg.querySelector('[aria-roledescription=axis]').querySelectorAll('text')]
    .map(t => [parseFloat(t.textContent.replace(/,/g, '')), parseFloat(t.getAttribute('transform').slice(10))])
    .filter(([v, x]) => isFinite(v) && isFinite(x));
  const ends = [...svg.querySelectorAll("path[aria-roledescription='line mark']")]
    .map(p => Math.max(...[...p.getAttribute('d').matchAll(/[ML]([-\\d.]+),/g)].map(m => parseFloat(m[1]))));
  return [ticks, Math.max(...ends)];
}"""


def curve_last_step(page) -> float:
    """The step where the left loss plot's lines end, read off its SVG with the step axis's scale."""
    ticks, right_end = page.locator(".vega-embed").first.evaluate(CURVE_END)
    (v0, x0), (v1, x1) = sorted(ticks)[:2]           # the step axis: two labelled ticks give the scale
    return v0 + (right_end - x0) / (x1 - x0) * (v1 - v0)


def test_play_the_playground_then_pause_it(page_url):
    """Press Play: both runs train and their pictures, counts and loss curves refresh (the curves and weight
    histograms at most once a second); Pause stops them."""
    import re
    url, _ = page_url

    def steps(page) -> list[int]:
        text = page.locator("body").inner_text()
        return [int(n.replace(",", "")) for n in re.findall(r"generator step ([\d,]+)", text)]

    with browser_page(url, 1500) as page:
        page.get_by_role("tab", name="Playground").click()
        page.wait_for_function("document.body.innerText.includes('generator step 0')", timeout=60000)
        assert steps(page) == [0, 0] and "Modes captured" in page.locator("body").inner_text()
        page.get_by_role("button", name="Play", exact=True).click()
        page.wait_for_function("/generator step [1-9]/.test(document.body.innerText)", timeout=60000)
        page.wait_for_selector(".vega-embed path[aria-roledescription='line mark']", timeout=30000)
        time.sleep(1.5)
        playing = [curve_last_step(page)]
        time.sleep(2.5)
        playing.append(curve_last_step(page))
        page.get_by_role("button", name="Pause", exact=True).click()
        time.sleep(2.0)   # a refresh already under way may still land
        paused = steps(page)
        time.sleep(2.0)
        still = steps(page)
        lines = page.locator(".vega-embed path[aria-roledescription='line mark']").count()
        # while playing the curves redraw once a second; Pause redraws them up to the paused step
        last_step = curve_last_step(page)
        # what the paused page shows is where the runs are: one step by hand moves both exactly one step on
        page.get_by_role("button", name="Step D+G", exact=True).click()
        page.wait_for_function(f"document.body.innerText.includes('generator step {paused[0] + 1:,},')",
                               timeout=30000)
        stepped = steps(page)
    assert paused[0] == paused[1] > 0, paused     # both runs advanced in step
    assert still == paused                       # and stopped when paused
    assert lines >= 2                            # the loss plot draws lines, not just axes
    assert playing[1] > playing[0] + 5, playing  # the curves went on with the runs while playing
    assert abs(last_step - paused[0]) <= 1, (last_step, paused)
    assert stepped == [paused[0] + 1] * 2, (stepped, paused)


def test_walk_a_principal_direction_and_name_it(tmp_path):
    """Directions tab: opening the unsupervised panel walks pc0; a name typed and entered is saved beside the
    model, and a name that is not allowed gets a readable error and changes nothing. Found by SeFa walks
    SeFa's direction instead (another picture) and takes no name."""
    import json
    need_chromium()
    root = make_faces(tmp_path)
    demo, url = launch(root)
    try:
        with browser_page(url, 1800) as page:
            page.get_by_role("tab", name="Directions").click()
            page.get_by_text("Unsupervised directions (pca, sefa): see what each does").click()
            page.wait_for_function("document.body.innerText.includes('change at +3')", timeout=60000)
            page.wait_for_selector("#pc-walk img", timeout=30000)    # the walk itself: seeds x 5 steps
            walked = Image.open(io.BytesIO(page.request.get(page.locator("#pc-walk img").get_attribute("src")).body()))
            assert walked.width / walked.height == pytest.approx(5 / 6, rel=0.05)   # the six default seeds
            name = page.get_by_role("textbox", name="Name")
            name.fill("pc4")                       # refused: that is what an unnamed PC is called
            name.press("Enter")
            page.wait_for_function("document.body.innerText.includes('before it has a name')", timeout=30000)
            assert not (root / "faces" / "pca_names.json").exists()
            name.fill("Hair length")
            name.press("Enter")
            page.wait_for_function("document.body.innerText.includes(\"now called 'Hair length'\")",
                                   timeout=30000)
            pca_src = page.locator("#pc-walk img").get_attribute("src")
            page.locator("#unsupervised-family").get_by_label("SeFa (first layer's weights)").check()
            page.wait_for_function(f"() => {{ const i = document.querySelector('#pc-walk img');"
                                   f" return i && i.getAttribute('src') !== {json.dumps(pca_src)} }}", timeout=30000)
            sefa = Image.open(io.BytesIO(page.request.get(page.locator("#pc-walk img").get_attribute("src")).body()))
            pca = Image.open(io.BytesIO(page.request.get(pca_src).body()))
            assert sefa.size == pca.size and sefa.tobytes() != pca.tobytes()    # another direction walked
            assert name.input_value() == ""           # SeFa's directions carry no names
            name.fill("Width")
            name.press("Enter")
            page.wait_for_function("document.body.innerText.includes(\"names are given to PCA's directions\")",
                                   timeout=30000)
    finally:
        demo.close()
    assert json.loads((root / "faces" / "pca_names.json").read_text()) == {"pc0": "Hair length"}
