"""The Invert tab in headless Chromium, as a student uses it: draw a digit on the pad, invert it, watch the
search, open the found z in Explore; a faces model inverts a held-out face."""
import json
import time

import numpy as np
import pytest

from test_browser import browser_page, need_chromium, wait_live
from ui_helpers import launch, make_model, skips_over_values

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    need_chromium()
    root = tmp_path_factory.mktemp("invert-ck")
    make_model(root / "digits-cdcgan", 10, z_dim=16, seed=3)
    make_model(root / "faces", z_dim=16, seed=5, shape=(3, 32, 32))
    demo, url = launch(root)
    yield demo, url
    demo.close()


def explore_state(page) -> dict:
    """The state the Explore tab's live view draws from (its value, as JSON)."""
    return page.evaluate("() => window.latentExplorer.state")


def explore_faces(page) -> None:
    """Pick the 'faces' model on the Explore tab, as a person does, and wait until the live view draws it."""
    wait_live(page)
    model = page.get_by_label("Model", exact=True).first
    model.click()
    model.fill("faces")
    page.keyboard.press("Enter")
    page.wait_for_function("window.latentExplorer.state && window.latentExplorer.state.model === 'faces'",
                           timeout=30000)


def draw_a_one(page) -> None:
    canvas = page.locator("#invert-sketch canvas").last
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for f in np.linspace(0, 1, 12):
        page.mouse.move(x0 + box["width"] * 0.1 * f, y0 + box["height"] * 0.6 * f)
    page.mouse.up()


def test_draw_invert_and_open_in_explore(app):
    demo, url = app
    with browser_page(url) as page:
        wait_live(page)
        page.get_by_role("tab", name="Invert").click()
        page.wait_for_selector("#invert-sketch canvas")
        page.get_by_text("Inverting **digits-cdcgan**", exact=False).or_(
            page.get_by_text("Inverting digits-cdcgan", exact=False)).first.wait_for(timeout=20000)
        page.locator("#invert-run").click()             # nothing drawn yet: a readable refusal
        page.get_by_text("the picture is empty: draw a digit").first.wait_for(timeout=20000)
        draw_a_one(page)
        page.locator("#invert-run").click()
        verdict = page.locator("#invert-verdict")
        verdict.get_by_text("Pixel error", exact=False).wait_for(timeout=60000)
        text = verdict.inner_text()
        assert "Class found" in text and "no encoder yet" in text and "standard deviations" in text
        for elem in ("#invert-seen", "#invert-guess", "#invert-result"):
            assert page.locator(f"{elem} img").count() == 1
        page.screenshot(path=str(demo.explorer_context.renderer.scratch / "invert.png"))
        before = explore_state(page)
        page.locator("#invert-open").click()
        page.wait_for_function("(z) => JSON.stringify(window.latentExplorer.state.z) !== z",
                               arg=json.dumps(before["z"]), timeout=20000)
        page.get_by_role("tab", name="Explore", selected=True).wait_for(timeout=20000)   # Explore is shown
        after = explore_state(page)
        assert after["model"] == "digits-cdcgan" and len(after["z"]) == 16 and after["z"] != before["z"]
        slider = float(page.locator("#zs-0 input[type=number]").input_value())
        assert slider == pytest.approx(max(-3, min(3, after["z"][0])), abs=0.01)


def test_a_visit_to_another_tab_mid_search_keeps_the_pictures(app):
    """A long search (500 steps) shows its progress while it runs; look at another tab meanwhile and come back:
    the picture the model sees is still shown, beside the guess and the result, and the page raised nothing.
    (The progress messages skipped that picture, which emptied the value the page held for it.)"""
    _, url = app
    with browser_page(url) as page, skips_over_values() as skips:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        wait_live(page)
        page.get_by_role("tab", name="Invert").click()
        page.wait_for_selector("#invert-sketch canvas")
        draw_a_one(page)
        steps = page.get_by_label("number input for Search steps")
        steps.fill("500")
        steps.press("Enter")
        page.locator("#invert-run").click()
        page.locator("#invert-verdict").get_by_text("Searching… step", exact=False).wait_for(timeout=60000)
        page.get_by_role("tab", name="Explore").click()
        time.sleep(1.0)
        page.get_by_role("tab", name="Invert").click()
        page.locator("#invert-verdict").get_by_text("Pixel error", exact=False).wait_for(timeout=120000)
        for elem in ("#invert-seen", "#invert-guess", "#invert-result"):
            page.locator(f"{elem} img").wait_for(timeout=20000)
        verdict = page.locator("#invert-verdict").inner_text()
    assert "after 500 steps" in verdict
    assert skips == [] and errors == []


def test_a_faces_model_inverts_a_held_out_face(app):
    """Picking a faces model on Explore turns the Invert tab to held-out faces; one is shown and inverted."""
    demo, url = app
    with browser_page(url) as page:
        explore_faces(page)
        page.get_by_role("tab", name="Invert").click()
        radio = page.get_by_role("radio", name="Held-out face")
        radio.wait_for(timeout=20000)
        page.wait_for_function("() => document.querySelector('input[value=\"Held-out face\"]').checked",
                               timeout=20000)
        page.locator("#invert-sketch").wait_for(state="hidden", timeout=20000)
        page.locator("#invert-face img").wait_for(timeout=30000)
        page.locator("#invert-run").click()
        page.locator("#invert-verdict").get_by_text("Pixel error", exact=False).wait_for(timeout=60000)
        assert "Class found" not in page.locator("#invert-verdict").inner_text()     # not a conditional model


def test_edit_an_inverted_face_in_directions(tmp_path, monkeypatch):
    """Invert a held-out face, then Edit in Directions: the tab switches, the note names the picture and its
    distance from the prior, the strip gains the picture's column; Forget my picture takes it out again.
    The page-load edit (first directions of a model: seconds) is held until the picture's edit has returned,
    as on a slow machine: its older strip must not replace the picture's."""
    import io
    import threading
    from PIL import Image
    from explorer.services.directions import DirectionStudio
    from ui_helpers import make_faces
    need_chromium()
    held, release = threading.Event(), threading.Event()
    edits = DirectionStudio.edits

    def held_edits(self, *args, picture_z=None, **kwargs):
        out = edits(self, *args, picture_z=picture_z, **kwargs)
        if picture_z is None and not release.is_set():     # the page-load edit: returns when the test says
            held.set()
            release.wait(timeout=120)
        return out

    monkeypatch.setattr(DirectionStudio, "edits", held_edits)
    root = make_faces(tmp_path)
    make_model(root / "digits-cdcgan", 10, z_dim=16, seed=3)
    demo, url = launch(root)
    try:
        with browser_page(url) as page:
            explore_faces(page)
            page.get_by_role("tab", name="Invert").click()
            page.locator("#invert-face img").wait_for(timeout=30000)
            page.locator("#invert-run").click()
            page.locator("#invert-verdict").get_by_text("Pixel error", exact=False).wait_for(timeout=60000)

            def strip_width():
                src = page.locator("#direction-edits img").get_attribute("src")
                return Image.open(io.BytesIO(page.request.get(src).body())).width

            page.locator("#invert-edit").click()
            page.get_by_role("tab", name="Directions", selected=True).wait_for(timeout=20000)
            note = page.locator("#direction-picture-note")
            note.get_by_text("Editing your picture", exact=False).wait_for(timeout=30000)
            assert "standard deviations from where N(0, I) puts z" in note.inner_text()
            tile = (32 + 2) * 3     # one more face: a tile and its padding, at scale 3
            # the label margin (92) and outer padding (6), then 6 seeds + the picture
            expected = 92 + 6 + 7 * tile
            page.wait_for_function(f"() => {{ const i = document.querySelector('#direction-edits img');"
                                   f" return i && i.naturalWidth === {expected} }}", timeout=60000)
            assert held.is_set()     # the page-load edit was still running when the picture's edit began
            release.set()
            page.wait_for_timeout(2000)      # time for the older edit's strip to arrive: it must not show
            with_picture = strip_width()
            assert with_picture == expected
            page.get_by_role("button", name="Forget my picture").click()
            note.wait_for(state="hidden", timeout=20000)
            page.wait_for_function(f"() => document.querySelector('#direction-edits img').naturalWidth < "
                                   f"{with_picture}", timeout=60000)
            assert strip_width() == with_picture - tile
    finally:
        release.set()
        demo.close()
