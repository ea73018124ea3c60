"""The Compare tab in headless Chromium, as an instructor shows it: the VAE and its GAN are picked on load,
Compare fills the pictures and the table; picking a VAE of other terms says so."""
import io

import pytest
from PIL import Image

from test_browser import browser_page, need_chromium, wait_live
from ui_helpers import launch, make_faces, make_model, make_vae

pytestmark = pytest.mark.browser


def test_compare_a_gan_with_the_vae_of_its_data(tmp_path):
    need_chromium()
    root = make_faces(tmp_path)
    make_vae(root, "faces-vae")
    make_vae(root, "other-vae", correlation=0.0, z_dim=8)
    demo, url = launch(root)
    try:
        with browser_page(url, 1800) as page:
            wait_live(page)
            page.get_by_role("tab", name="Compare").click()
            gan, vae = page.locator("#compare-gan input"), page.locator("#compare-vae input")
            assert vae.input_value() == "faces-vae" and gan.input_value() == "faces"   # its partner, picked
            page.locator("#compare-run").click()
            table = page.locator("#compare-table")
            table.get_by_text("not available", exact=True).wait_for(timeout=120000)
            assert "yes, one pass" in table.inner_text() and "Bound on log p(x)" in table.inner_text()
            for elem in ("compare-gan-samples", "compare-vae-samples", "compare-recon", "compare-path"):
                src = page.locator(f"#{elem} img").get_attribute("src")
                assert Image.open(io.BytesIO(page.request.get(src).body())).width > 0
            samples = Image.open(io.BytesIO(page.request.get(
                page.locator("#compare-gan-samples img").get_attribute("src")).body()))
            assert samples.width > 6 * samples.height       # the eight default seeds in one row
            assert "Same data, same z_dim." in page.locator("#compare-status").inner_text()
            # another VAE: no GAN shares its terms, so the note says what differs
            vae.click()
            page.get_by_role("option", name="other-vae").click()
            page.locator("#compare-terms").get_by_text("z_dim differs", exact=False).wait_for(timeout=30000)
            # and a bad seed list is refused beside the box, the pictures kept
            page.get_by_label("Seeds for the samples").fill("1, x")
            page.locator("#compare-run").click()
            page.get_by_text("seeds are separated by commas", exact=False).first.wait_for(timeout=30000)
            assert page.locator("#compare-gan-samples img").get_attribute("src")
    finally:
        demo.close()


def test_picking_a_gan_of_other_data_picks_a_vae_of_its_data(tmp_path, data_root):
    """The page opens on the digits pair; picking the faces GAN brings the faces VAE beside it (it used to keep
    the digits VAE, and Compare then refused the pair), and the note says the two share their terms."""
    from explorer.models import ModelConfig
    from explorer.store.config import TrainConfig
    from explorer.training.loop import train
    need_chromium()
    root = make_faces(tmp_path)
    make_vae(root, "faces-vae")
    train(TrainConfig(task="vae", dataset="digits", model=ModelConfig(z_dim=16, width=8, shape=(1, 28, 28)), steps=2,
                      batch_size=16, log_every=1, sample_every=100, checkpoint_every=100),
          root / "digits-vae", data_root=data_root, progress=False)
    make_model(root / "digits", 0, z_dim=16)
    demo, url = launch(root)
    try:
        with browser_page(url) as page:
            wait_live(page)
            page.get_by_role("tab", name="Compare").click()
            gan, vae = page.locator("#compare-gan input"), page.locator("#compare-vae input")
            assert (gan.input_value(), vae.input_value()) == ("digits", "digits-vae")
            gan.click()
            page.get_by_role("option", name="faces", exact=True).click()
            page.wait_for_function("document.querySelector('#compare-vae input').value === 'faces-vae'",
                                   timeout=30000)
            page.locator("#compare-terms").get_by_text("Same data, same z_dim.").wait_for(timeout=30000)
            gan.click()       # back to digits: the faces VAE cannot pair with it, the digits one comes back
            page.get_by_role("option", name="digits", exact=True).click()
            page.wait_for_function("document.querySelector('#compare-vae input').value === 'digits-vae'",
                                   timeout=30000)
    finally:
        demo.close()
