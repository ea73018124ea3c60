"""The Translate tab in headless Chromium, as a student uses it: a held-out drawing becomes a face beside the
true one, noise variations appear, a drawing made over it is translated, and a CycleGAN is driven both ways."""
import io

import numpy as np
import pytest
from PIL import Image

from test_browser import browser_page, need_chromium, wait_live
from ui_helpers import launch, make_faces, make_translators

pytestmark = pytest.mark.browser


def picture(page, elem: str) -> np.ndarray:
    src = page.locator(f"#{elem} img").get_attribute("src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"))


def wait_new_picture(page, elem: str, old: str | None, timeout: float = 60000) -> None:
    page.wait_for_function("([e, old]) => { const i = document.querySelector(`#${e} img`); "
                           "return i && i.src && i.src !== old; }", arg=[elem, old], timeout=timeout)


def src(page, elem: str) -> str | None:
    img = page.locator(f"#{elem} img")
    return img.get_attribute("src") if img.count() else None


def test_translate_a_drawing_then_add_and_remove_sunglasses(tmp_path):
    need_chromium()
    root = make_translators(make_faces(tmp_path))
    demo, url = launch(root)
    try:
        with browser_page(url, 1600) as page:
            wait_live(page)
            page.get_by_role("tab", name="Translate").click()
            assert page.locator("#translate-model input").input_value() == "sketch2face"   # pix2pix first
            wait_new_picture(page, "translate-held-pic", None)
            held = picture(page, "translate-held-pic")
            assert held.mean() > 180                                    # a line drawing on white paper
            assert page.locator("#translate-direction").is_hidden()     # pix2pix goes one way
            wait_new_picture(page, "translate-glance", None)
            glance = picture(page, "translate-glance")
            assert glance.shape[1] > 3 * glance.shape[0]                # 8 inputs over 8 outputs
            page.locator("#translate-run").click()
            wait_new_picture(page, "translate-output", None)
            assert "L1 to the true face" in page.locator("#translate-verdict").inner_text()
            assert "true face" in page.locator("#translate-third").inner_text()
            assert picture(page, "translate-third").mean() < held.mean()  # the colour face beside it
            seen_first = picture(page, "translate-seen")
            table = page.locator("#translate-table").inner_text()
            assert "Sunglasses" in table and "truth" in table and "input" not in table   # a drawing is not read
            # the noise: dropout on for four seeds
            page.locator("#translate-variations input").check()
            before = src(page, "translate-output")
            page.locator("#translate-run").click()
            wait_new_picture(page, "translate-noisy", None)
            noisy = picture(page, "translate-noisy")
            assert noisy.shape[1] > 3 * noisy.shape[0]                  # four outputs in a row
            assert "With dropout on" in page.locator("#translate-verdict").inner_text()
            # draw over the held-out drawing: the pad takes it, a stroke changes it, the output follows
            page.locator("#translate-draw-over").click()
            page.locator("#translate-pad canvas").last.wait_for(timeout=30000)
            page.wait_for_timeout(2000)          # the held-out drawing loads into the pad's canvas first
            canvas = page.locator("#translate-pad canvas").last
            for attempt in range(3):             # a stroke made while the pad still loads can be lost: redraw
                box = canvas.bounding_box()
                page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * (0.45 + 0.05 * attempt))
                page.mouse.down()
                for f in range(1, 8):
                    page.mouse.move(box["x"] + box["width"] * (0.3 + 0.05 * f),
                                    box["y"] + box["height"] * (0.45 + 0.05 * attempt))
                page.mouse.up()
                before, out_before = src(page, "translate-seen"), picture(page, "translate-output").astype(float)
                page.locator("#translate-run").click()
                wait_new_picture(page, "translate-seen", before)
                seen = picture(page, "translate-seen").astype(float)
                if seen.mean() < seen_first.mean() - 1:
                    break
            assert seen.shape == seen_first.shape and seen.mean() < seen_first.mean() - 1   # a dark stroke more
            assert np.abs(picture(page, "translate-output") - out_before).max() > 0   # the output changed too
            changed = np.abs(seen - seen_first).mean((1, 2))                # per row of the picture
            assert changed[: len(changed) // 3].max() < changed.max() / 4   # where it was drawn, not at the top
            # a CycleGAN: both ways, no drawing pad, the round trip shown
            page.locator("#translate-model input").click()
            page.get_by_role("option", name="glasses").click()
            page.locator("#translate-direction").get_by_text("with Sunglasses -> without Sunglasses").wait_for()
            assert page.locator("#translate-source").get_by_text("Draw", exact=True).count() == 0
            assert page.locator("#translate-draw-over").is_hidden()
            page.locator("#translate-direction").get_by_text("with Sunglasses -> without Sunglasses").click()
            page.locator("#translate-source").get_by_text("Held-out picture", exact=True).click()
            before = src(page, "translate-output")
            page.locator("#translate-run").click()
            wait_new_picture(page, "translate-output", before)
            page.locator("#translate-verdict").get_by_text("with Sunglasses -> without Sunglasses").wait_for()
            assert "Sent back" in page.locator("#translate-third").inner_text()
            # an upload that was never made is refused with a sentence, the pictures kept
            page.locator("#translate-source").get_by_text("Upload", exact=True).click()
            page.locator("#translate-run").click()
            page.get_by_text("no picture uploaded yet").first.wait_for(timeout=30000)
            assert src(page, "translate-output")
    finally:
        demo.close()
