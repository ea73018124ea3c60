"""What an instructor hit in the browser (issue 15), driven the way it was found: headless Chromium."""
import io
import re
import time

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA
from test_browser import CANVAS, browser_page, image_pixels, need_chromium, picture_key, wait_live
from ui_helpers import launch, make_faces, make_model, skips_over_values

pytestmark = pytest.mark.browser
SEED_RULE = "a seed is a whole number from 0 to 4294967295"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    need_chromium()
    root = make_faces(tmp_path_factory.mktemp("ck"))
    make_model(root / "digits-cdcgan", 10, seed=3)
    make_model(root / "plain", 0, seed=4)
    data = SHARED_DATA if (SHARED_DATA / "MNIST" / "raw").is_dir() else None
    demo, url = launch(root, data_root=data)
    yield demo, url, root, data
    demo.close()


def pick(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.click()
    box.fill(value)
    page.keyboard.press("Enter")


def meter_bars(page) -> dict[str, float]:
    labels = page.locator("#meter path[aria-roledescription='bar']").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))")
    # Vega names each bar "<x title>: <label>; probability: <p>; method: <m>"
    found = [re.search(r"^[^:]+: (?P<bar>[^;]+); probability: (?P<p>[\d.e-]+)", t) for t in labels]
    assert all(found), labels[:3]
    return {m["bar"]: float(m["p"]) for m in found}


def test_the_meter_describes_the_pictures_above_it(app):
    """Pick Sunglasses, then Smiling, then tick a method: each time the bars are that edit's own numbers."""
    from explorer.services.directions import DirectionStudio
    from explorer.services.pixels import ModelCache
    demo, url, root, _ = app
    studio = DirectionStudio(ModelCache(root), root)
    with browser_page(url, 1400) as page:
        page.get_by_role("tab", name="Directions").click()
        page.wait_for_selector("#meter path[aria-roledescription='bar']", timeout=60000)
        # before Compute the matrices show a hint, not placeholder headers "1 2 3"
        page.get_by_text("Entanglement: what each edit changes").click()
        page.get_by_text("to fill the three tables").wait_for(timeout=10000)
        assert not page.locator("#entanglement").is_visible()
        for step in ("Sunglasses", "Smiling", "boundary"):
            if step == "boundary":
                page.get_by_role("checkbox", name="boundary").check()
            else:
                pick(page, "Attribute", step)
            attr = "Smiling" if step == "boundary" else step
            seeds = [int(s) for s in page.get_by_label("Seeds").input_value().split(",")]
            methods = ["gradient", "penalized", "conditional"] + (["boundary"] if step == "boundary" else [])
            _, table, _, _ = studio.edits("faces", attr, methods, 3.0, seeds)
            want = {f"{r['attribute']} · {dict(original='orig', gradient='grad', penalized='pen', boundary='bnd', conditional='cond')[r['method']]}": r["probability"] for r in table}
            deadline = time.time() + 30
            while time.time() < deadline and meter_bars(page) != pytest.approx(want, abs=1e-3):
                time.sleep(0.3)
            assert meter_bars(page) == pytest.approx(want, abs=1e-3), step
            assert seeds == studio.seeds_lacking("faces", attr)   # the default seeds lack the attribute
        rows = Image.open(io.BytesIO(page.request.get(page.locator("#direction-edits img").get_attribute("src")).body()))
        assert rows.width > 6 * 32 * 3 + 60   # a margin on the left carries each row's method name
        page.get_by_role("button", name="Compute matrices").click()
        page.locator("#entanglement").wait_for(state="visible", timeout=60000)
        page.locator("#correlation").wait_for(state="visible", timeout=60000)
        page.wait_for_function("document.querySelector('#correlation').innerText.includes('1.00')", timeout=60000)
        colours = page.locator("#correlation *").evaluate_all(   # the data's correlations, coloured per cell
            "els => els.map(e => getComputedStyle(e).backgroundColor).filter(c => c.startsWith('rgb(') && "
            "c !== 'rgb(255, 255, 255)')")
        assert len(set(colours)) > 3   # a heatmap, not a plain table


def test_a_bad_seed_keeps_the_picture_and_says_why(app):
    _, url, _, _ = app
    with browser_page(url, 1000) as page:
        wait_live(page)
        time.sleep(1.0)
        src, before = picture_key(page), image_pixels(page)
        seed = page.get_by_label("Seed", exact=True)
        for bad in ("-5", "1e20", "1.5"):
            seed.fill(bad)
            seed.press("Enter")
            page.get_by_text(SEED_RULE).first.wait_for(timeout=20000)
            time.sleep(0.5)
            assert picture_key(page) == src
            assert page.locator(".error:visible").filter(has_text=re.compile("^Error$")).count() == 0
        assert np.array_equal(image_pixels(page), before)
        seed.fill("5")
        seed.press("Enter")
        deadline = time.time() + 20
        while picture_key(page) == src and time.time() < deadline:
            time.sleep(0.1)
        assert picture_key(page) != src   # a good seed draws again
        page.get_by_role("tab", name="Directions").click()
        arith = page.get_by_label("Seeds")
        arith.fill("1, -3")
        arith.press("Enter")
        page.get_by_text(SEED_RULE).first.wait_for(timeout=20000)   # the same rule, the same words


def test_a_laptop_screen_shows_explore_and_both_playground_fields(app):
    _, url, _, _ = app
    with browser_page(url, 768) as page:
        page.set_viewport_size({"width": 1366, "height": 768})
        wait_live(page)
        page.wait_for_selector("#explore-strip img", timeout=60000)
        boxes = [page.locator(CANVAS).bounding_box(), page.locator("#explore-strip img").bounding_box()]
        boxes += [s.bounding_box() for s in page.locator(".zslider input[type=range]").all()]
        assert len(boxes) == 10 and all(b["y"] >= 0 and b["y"] + b["height"] <= 768 for b in boxes), boxes
        assert page.get_by_text("drag it and the picture follows").count() == 1   # said once, not per slider
        page.get_by_role("tab", name="Playground").click()
        page.wait_for_selector(".field img", timeout=60000)
        fields = [f.bounding_box() for f in page.locator(".field img").all()]
        assert len(fields) == 2 and all(b["y"] + b["height"] <= 768 for b in fields), fields


def play_the_playground(page) -> None:
    """Open the Playground at step 0 and press Play; returns once the runs have moved."""
    page.get_by_role("tab", name="Playground").click()
    page.wait_for_function("document.body.innerText.includes('generator step 0')", timeout=60000)
    page.get_by_role("button", name="Play", exact=True).click()
    page.wait_for_function("/generator step [1-9]/.test(document.body.innerText)", timeout=60000)


def curve_lines(page) -> list[int]:
    """The line marks each Playground loss plot draws (Vega's SVG)."""
    return page.locator(".curves").evaluate_all(
        "els => els.map(e => e.querySelectorAll('path[aria-roledescription=\"line mark\"]').length)")


def test_playground_curves_survive_a_visit_to_another_tab(app):
    """Look at another tab while the runs play, come back: both loss plots still draw their lines and the page
    raised nothing. (The refreshes that do not redraw the curves used to skip them, Gradio's page emptied the
    plots' values in place, and the plots came back blank with a TypeError.)"""
    _, url, _, _ = app
    with browser_page(url, 900) as page, skips_over_values() as skips:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        play_the_playground(page)
        page.wait_for_function("""() => Array.from(document.querySelectorAll('.curves')).every(
            e => e.querySelector('path[aria-roledescription="line mark"]'))""", timeout=60000)
        for away in (3.0, 0.5, 0.7, 0.9, 1.1):   # refreshes land meanwhile, most of them without new curves
            page.get_by_role("tab", name="Explore").click()
            time.sleep(away)
            page.get_by_role("tab", name="Playground").click()
            time.sleep(0.6)
        time.sleep(1.5)
        lines, during_play = curve_lines(page), list(skips)
        page.get_by_role("button", name="Pause", exact=True).click()
        page.wait_for_function("document.body.innerText.includes('Paused.')", timeout=20000)
    assert len(lines) == 2 and min(lines) >= 2, lines      # D and G loss at least, on both sides
    assert errors == []
    assert during_play == []


def test_playground_legends_name_the_lines_and_pause_stays_paused(app):
    _, url, _, _ = app
    with browser_page(url, 1600) as page:
        play_the_playground(page)
        # the speed set while playing reaches the refreshes of the Play under way
        speed = page.get_by_label("number input for Speed: generator steps per refresh")
        speed.fill("1")
        speed.press("Enter")
        page.locator("#playground-rate").get_by_text("Last refresh: 1 generator steps per run").wait_for(
            timeout=20000)
        page.get_by_role("button", name="Pause", exact=True).click()
        page.wait_for_function("document.body.innerText.includes('Paused.')", timeout=20000)   # a busy machine
        for _ in range(4):    # a refresh that was under way lands, and the status still says Paused
            time.sleep(1.0)
            body = page.locator("body").inner_text()
            assert "Paused." in body, body[body.find("Step G only"):][:300]
        legends = page.locator(".curves").all_inner_texts()
        assert "D loss" in legends[0] and "G loss" in legends[0]
        assert "critic loss" in legends[1] and "Wasserstein estimate" in legends[1]


def test_playground_reset_while_playing_shows_the_new_runs_at_step_0(app):
    """Reset pressed while playing: the new runs stay at step 0 (the old runs' Play ends instead of drawing
    them over the new ones)."""
    _, url, _, _ = app
    with browser_page(url, 1600) as page:
        play_the_playground(page)
        page.get_by_role("button", name="Reset", exact=True).click()
        page.get_by_text("New runs at step 0").wait_for(timeout=20000)
        time.sleep(2.0)     # a refresh of the old runs would have landed by now
        body = page.locator("body").inner_text()
        assert body.count("generator step 0,") == 2 and not re.search(r"generator step [1-9]", body), \
            re.findall(r"generator step[^\n]{0,40}|New runs[^\n]{0,20}|Paused[^\n]{0,60}", body)


def test_interpolate_opens_drawn_on_one_class_and_names_its_gif(app):
    _, url, _, _ = app
    with browser_page(url, 1100) as page:
        wait_live(page)
        page.get_by_role("tab", name="Interpolate").click()
        page.wait_for_selector("#interp-strip img", timeout=60000)      # drawn without pressing Interpolate
        assert page.get_by_label("From class").input_value() == page.get_by_label("To class").input_value() == "0"
        gif = page.locator("img[src*='.gif']").get_attribute("src")
        assert "digits-cdcgan-seeds-1-2-class-0-to-0-slerp.gif" in gif
        page.get_by_role("tab", name="Explore").click()
        src = picture_key(page)
        pick(page, "Model", "plain")
        deadline = time.time() + 20
        while picture_key(page) == src and time.time() < deadline:
            time.sleep(0.1)
        page.get_by_role("tab", name="Interpolate").click()
        page.wait_for_function("document.body.innerText.includes('Model: **plain**') || "
                               "document.body.innerText.includes('Model: plain')", timeout=30000)
        assert not page.get_by_label("From class").is_visible()   # the class row is gone, no gap left
        page.wait_for_selector("img[src*='plain-seeds-1-2-slerp.gif']", timeout=30000)


def test_train_a_shipped_preset_from_the_tab_and_see_it_everywhere(app):
    """digits-infogan's preset starts (its architecture is listed), a run shorter than the preview interval
    shows its final samples, and a page loaded afterwards lists the new model."""
    demo, url, root, data = app
    if data is None:
        pytest.skip(f"MNIST not found at {SHARED_DATA} (CI provides ../shared/data)")
    with browser_page(url, 1300) as page:
        page.get_by_role("tab", name="Train").click()
        pick(page, "Preset", "digits-infogan")
        page.get_by_text("Model and loss").click()
        page.wait_for_function("document.querySelector('input[aria-label=\"Architecture\"]') && "
                               "document.querySelector('input[aria-label=\"Architecture\"]').value.includes('infogan')",
                               timeout=20000)
        page.locator("#train-name textarea").fill("tab-infogan")
        page.get_by_label("Steps", exact=True).fill("3")
        page.get_by_role("button", name="Start", exact=True).click()
        page.wait_for_function("document.body.innerText.includes('tab-infogan**') || "
                               "/tab-infogan: finished/.test(document.body.innerText)", timeout=180000)
        page.wait_for_function("/finished/.test(document.body.innerText)", timeout=180000)
        assert "not in the list of choices" not in page.locator("body").inner_text()
        page.locator("#train-samples img").wait_for(timeout=30000)
    with browser_page(url, 1000) as fresh:   # another session, loaded after the model was saved
        wait_live(fresh)
        fresh.get_by_label("Model", exact=True).first.click()
        assert fresh.get_by_role("option", name=re.compile("^tab-infogan")).count() >= 1


def test_every_registered_loss_is_offered_with_its_own_settings(app):
    """The Train tab's loss list and settings, and the Playground's runs, come from the loss registry."""
    from explorer.losses import LOSSES
    _, url, _, _ = app
    with browser_page(url, 1300) as page:
        page.get_by_role("tab", name="Train").click()
        page.get_by_text("Model and loss").click()
        loss = page.get_by_label("Loss", exact=True)
        loss.click()
        offered = [t.replace("✓", "").strip() for t in page.get_by_role("option").all_inner_texts()]
        assert all(cls.title in offered for cls in LOSSES.values()), offered
        page.keyboard.press("Escape")
        for title, shown in (("WGAN (weight clipping)", "clip c"), ("LSGAN (least squares)", None)):
            pick(page, "Loss", title)
            about = next(c.about for c in LOSSES.values() if c.title == title).replace("*", "")
            page.get_by_text(about[:40]).first.wait_for(timeout=10000)   # the loss's own paragraph
            for label in ("clip c", "gradient penalty lambda", "saturating generator loss"):
                assert page.get_by_text(label, exact=True).is_visible() == (label == shown), (title, label)
        page.get_by_role("tab", name="Playground").click()
        right = page.get_by_label("Right run", exact=True)
        right.click()
        runs = [t.replace("✓", "").strip() for t in page.get_by_role("option").all_inner_texts()]
        assert "Hinge" in runs and "LSGAN (least squares)" in runs, runs


def test_refresh_lists_a_model_saved_after_the_page_loaded(app):
    _, url, root, _ = app
    with browser_page(url, 1000) as page:
        wait_live(page)
        make_model(root / "late-arrival", 0, seed=8)
        page.get_by_role("button", name="Refresh model list").click()
        time.sleep(2.0)
        page.get_by_label("Model", exact=True).first.click()
        assert page.get_by_role("option", name=re.compile("^late-arrival")).count() == 1


def test_a_vae_preset_shows_beta_and_hides_the_gan_controls(app):
    """Train tab: picking a VAE preset shows its own paragraph and the beta box, and freezes the loss, the
    architecture and n_critic, which a VAE does not have; a GAN preset hides beta again."""
    _, url, _, _ = app
    with browser_page(url, 1300) as page:
        page.get_by_role("tab", name="Train").click()
        page.get_by_text("Model and loss").click()
        beta = page.locator("#train-beta")
        assert not beta.is_visible()
        pick(page, "Preset", "faces-betavae")
        page.get_by_text("A VAE: an encoder and a decoder", exact=False).first.wait_for(timeout=10000)
        beta.wait_for(state="visible", timeout=10000)
        assert beta.locator("input").input_value() == "4"
        assert page.get_by_label("Loss", exact=True).is_disabled()
        assert page.get_by_label("n_critic", exact=True).is_disabled()
        assert page.get_by_label("z_dim", exact=True).is_enabled()
        pick(page, "Preset", "digits-dcgan")
        beta.wait_for(state="hidden", timeout=10000)
        assert page.get_by_label("Loss", exact=True).is_enabled()


def test_a_translation_preset_lists_its_own_datasets_and_architecture(app):
    """Train tab: picking a CycleGAN preset offers only two-domain datasets and shows its ResNet generator, the
    GAN-only loss frozen; a GAN preset brings back the GAN architectures and single-picture datasets."""
    _, url, _, _ = app
    with browser_page(url, 1300) as page:
        page.get_by_role("tab", name="Train").click()
        page.get_by_text("Model and loss").click()
        pick(page, "Preset", "faces-cyclegan-sunglasses")
        page.get_by_text("CycleGAN (Zhu et al. 2017)", exact=False).first.wait_for(timeout=10000)
        arch = page.get_by_label("Architecture", exact=True)
        page.wait_for_function("() => [...document.querySelectorAll('input')].some(i => "
                               "i.value.startsWith('resnet'))", timeout=10000)
        assert arch.is_disabled() and page.get_by_label("Loss", exact=True).is_disabled()
        page.get_by_text("Data", exact=True).click()
        page.get_by_label("Dataset", exact=True).click()
        options = [o.split("\n")[-1] for o in page.get_by_role("option").all_inner_texts()]   # no tick mark
        assert any(o.startswith("faces-domains") for o in options) and any(o.startswith("domains") for o in options)
        assert not any(o.startswith(("faces (", "digits", "faces-sketch")) for o in options)
        page.keyboard.press("Escape")
        pick(page, "Preset", "digits-dcgan")
        page.wait_for_function("() => [...document.querySelectorAll('input')].some(i => "
                               "i.value.startsWith('infogan'))", timeout=10000)
        assert page.get_by_label("Architecture", exact=True).is_enabled()


def test_switching_a_nets_loss_takes_its_tuned_critic_steps(app):
    """Train tab: WGAN-GP picked on digits-dcgan shows the 2 critic steps and learning rate digits-wgangp tuned for
    that net (not the loss's textbook 5, 6.5x a BCE step) and says where they come from; a net no preset tuned for
    it says it takes the loss's defaults; back to BCE, the preset's own 1."""
    _, url, _, _ = app
    with browser_page(url, 1300) as page:
        page.get_by_role("tab", name="Train").click()
        page.get_by_text("Model and loss").click()
        pick(page, "Preset", "digits-dcgan")
        page.wait_for_function("() => [...document.querySelectorAll('input')].some(i => "
                               "i.value.startsWith('infogan'))", timeout=10000)
        n_critic, rate = page.get_by_label("n_critic", exact=True), page.get_by_label("Learning rate", exact=True)
        pick(page, "Loss", "WGAN-GP (gradient penalty)")
        page.get_by_text("from preset digits-wgangp").wait_for(timeout=10000)
        assert n_critic.input_value() == "2" and float(rate.input_value()) == pytest.approx(2e-4)
        pick(page, "Preset", "faces-dcgan")
        page.wait_for_function("() => [...document.querySelectorAll('input')].some(i => "
                               "i.value.startsWith('dcgan'))", timeout=10000)
        pick(page, "Loss", "WGAN-GP (gradient penalty)")
        page.get_by_text("No preset tunes this net for it").wait_for(timeout=10000)
        assert n_critic.input_value() == "5" and float(rate.input_value()) == pytest.approx(1e-4)
        pick(page, "Loss", "BCE")
        page.wait_for_function("() => !document.body.innerText.includes('No preset tunes this net')", timeout=10000)
        assert n_critic.input_value() == "1"


def _estimate(page) -> str:
    return page.locator("#train-estimate").inner_text()


def _next_estimate(page, before: str, words: str = "s a step") -> str:
    """The estimate once it has changed from `before` and says `words` (not Gradio's progress line meanwhile)."""
    page.wait_for_function("([t, w]) => { const s = document.querySelector('#train-estimate').innerText.trim(); "
                           "return s !== t && s.startsWith('Expected duration') && s.includes(w); }",
                           arg=[before, words], timeout=30000)
    return _estimate(page).strip()


def _per_step(text: str) -> float:
    return float(re.search(r"\(([\d.e-]+) s a step", text).group(1))


def _total_s(text: str) -> float:
    m = re.search(r"about (?:(\d+) h )?(?:(\d+) min )?(?:(\d+) s)?", text)
    h, mins, s = (int(g) if g else 0 for g in m.groups())
    return 3600 * h + 60 * mins + s


def test_the_train_tab_shows_the_expected_duration_before_start(app):
    """Train tab: before Start, the settings' expected duration, measured here; more steps take longer, a heavier
    loss takes longer a step, a step count that is not one says so instead of a figure."""
    _, url, _, _ = app
    with browser_page(url, 1300) as page:
        page.get_by_role("tab", name="Train").click()
        first = _next_estimate(page, "")
        per_step = _per_step(first)
        assert per_step > 0 and _total_s(first) >= 1
        steps = page.get_by_label("Steps", exact=True)
        steps.fill("20000")
        steps.press("Enter")
        more = _next_estimate(page, first)
        assert _total_s(more) > 5 * _total_s(first), (first, more)
        page.get_by_text("Model and loss").click()
        pick(page, "Loss", "WGAN-GP (gradient penalty)")
        tuned = _next_estimate(page, more, "a step")
        time.sleep(2.0)               # the estimate for the loss with its net's tuned n_critic has landed
        tuned = _estimate(page).strip()
        # 20 critic steps with a penalty a step: many times dearer, so that the comparison holds even when the
        # first measurement ran beside a burst of other work (CI runs two test files at once)
        critic = page.get_by_label("n_critic", exact=True)
        critic.fill("20")
        critic.press("Enter")
        gp = _next_estimate(page, tuned, "a step")
        while _per_step(gp) in (per_step, _per_step(tuned)):   # the new settings' own measurement
            gp = _next_estimate(page, gp, "a step")
        assert _per_step(gp) > per_step, (first, gp)
        steps.fill("0")               # no figure for it, and the reason in words
        steps.press("Enter")
        assert "steps must be a whole number from 1" in _next_estimate(page, gp, "none until the settings are fixed")
