"""The Text tab in headless Chromium, as a student uses it: the first sentence is drawn on its own, a changed
word is drawn again with what changed shown, the attention maps follow the chosen sample, an example fills the
box, and a word outside the vocabulary is refused with the nearest known ones."""
import pytest

from test_browser import browser_page, need_chromium, wait_live
from test_browser_translate import picture, src, wait_new_picture
from ui_helpers import launch, make_faces

pytestmark = pytest.mark.browser


def test_type_a_sentence_change_a_word_and_read_the_attention(tmp_path):
    need_chromium()
    from explorer.models import ModelConfig
    from explorer.store.config import TrainConfig
    from explorer.training.loop import train
    root = make_faces(tmp_path)
    cfg = TrainConfig(task="attngan", dataset="faces-captions", data_options={"n": 32, "correlation": 0.0},
                      model=ModelConfig(arch="attngan", z_dim=8, width=8, shape=(3, 32, 32)), steps=3, damsm_steps=1,
                      batch_size=8, critic_width=8, ema_decay=0.0, judge="judge", log_every=1, sample_every=100,
                      checkpoint_every=100)
    train(cfg, root / "words", data_root=tmp_path / "data", progress=False)
    demo, url = launch(root)
    try:
        with browser_page(url, 1700) as page:
            wait_live(page)
            page.get_by_role("tab", name="Text").click()
            assert page.locator("#text-model input").input_value() == "words"
            assert "AttnGAN" in page.locator("#text-about").inner_text()
            # the first sentence is drawn on page load: eight samples in a row, the judge's table, the maps
            wait_new_picture(page, "text-samples", None)
            samples = picture(page, "text-samples")
            assert 7 < samples.shape[1] / samples.shape[0] <= 8       # eight in a row
            verdict = page.locator("#text-verdict").inner_text()
            assert "a smiling face with long blond hair and sunglasses" in verdict and "seeds 0 to 7" in verdict
            table = page.locator("#text-table").inner_text()
            assert "Sunglasses" in table and "yes" in table and "(not said)" in table
            wait_new_picture(page, "text-attention", None)
            maps = picture(page, "text-attention")
            assert maps.shape[1] > maps.shape[0]                     # the sample, then a panel per word
            assert page.locator("#text-change").is_hidden()          # nothing to compare with yet
            # change one word: drawn again with the same seeds, and what changed is shown
            box = page.locator("#text-caption input")
            box.fill("a smiling face with long blond hair and no sunglasses")
            before = src(page, "text-samples")
            box.press("Enter")
            wait_new_picture(page, "text-samples", before)
            page.locator("#text-change img").wait_for(timeout=30000)
            assert "Since \"a smiling face with long blond hair and sunglasses\"" in \
                page.locator("#text-verdict").inner_text()
            assert "no" in page.locator("#text-table").inner_text()
            # fewer samples, and the attention maps of the last one
            n = page.get_by_label("number input for Samples")
            n.fill("3")
            n.press("Enter")
            before = src(page, "text-samples")
            page.locator("#text-draw").click()
            wait_new_picture(page, "text-samples", before)
            samples = picture(page, "text-samples")
            assert 2.5 < samples.shape[1] / samples.shape[0] <= 3      # three in a row
            which = page.get_by_label("number input for Sample for the attention maps")
            before = src(page, "text-attention")
            which.fill("3")
            which.press("Enter")
            wait_new_picture(page, "text-attention", before)
            # an example fills the box
            page.get_by_text("someone in a red hat, not smiling, with a beard").first.click()
            page.wait_for_function("() => document.querySelector('#text-caption input').value"
                                   ".startsWith('someone in a red hat')", timeout=20000)
            # a word outside the vocabulary: a readable refusal naming the nearest words; the pictures stay
            before = src(page, "text-samples")
            box.fill("a face with a monocle")
            page.locator("#text-draw").click()
            page.get_by_text("'monocle': try").first.wait_for(timeout=20000)
            assert src(page, "text-samples") == before
    finally:
        demo.close()
