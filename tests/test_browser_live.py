"""The live view in headless Chromium: the page draws the generator itself (onnxruntime-web), the same pixels as
/render, with no server request while dragging; where it cannot, the server draws and the page says why."""
import time

import numpy as np
import pytest
from PIL import Image

from test_browser import browser_page, image_pixels, need_chromium, wait_live
from test_browser_defects import pick
from ui_helpers import launch, make_faces, make_model

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    need_chromium()
    root = tmp_path_factory.mktemp("live")
    make_model(root / "digits-cdcgan", 10, seed=3)
    make_faces(root)
    demo, url = launch(root)
    yield demo, url
    demo.close()


def show(page, z, label=None):
    """Draw this z in the page, as a console would set it, and return the canvas."""
    page.evaluate("async ([z, label]) => { const s = latentExplorer.state; s.z = z; if (label !== null) s.label = "
                  "label; await latentExplorer.drawNow(); }", [z, label])
    return image_pixels(page)


def drag(page, selector: str, steps: int = 30) -> None:
    box = page.locator(selector).first.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 4, y)
    page.mouse.down()
    for f in np.linspace(0.02, 0.98, steps):
        page.mouse.move(box["x"] + box["width"] * f, y)


def test_the_canvas_draws_renders_pixels_for_ten_random_z(site):
    from gradio_client import Client
    demo, url = site
    client = Client(url, verbose=False)
    rs = np.random.RandomState(0)
    with browser_page(url) as page:
        wait_live(page)
        for name, z_dim, label in (("digits-cdcgan", 64, 7), ("faces", 16, None)):
            if name != "digits-cdcgan":
                pick(page, "Model", name)
                page.wait_for_function(f"latentExplorer.state && latentExplorer.state.model === '{name}'")
            assert page.evaluate("latentExplorer.where") == "browser", page.evaluate("latentExplorer.why")
            for _ in range(10):
                z = [round(float(v), 4) for v in rs.standard_normal(z_dim)]
                got = show(page, z, label)
                want = np.asarray(Image.open(client.predict(name, z, label, api_name="/render")))
                assert got.shape == want.shape and np.abs(got.astype(int) - want).max() <= 2, name
            assert page.evaluate("latentExplorer.stats.serverFrames") == 0
        assert "Drawn in your browser" in page.locator(".live-status").inner_text()


def test_a_drag_makes_no_request_and_its_release_tells_the_server(site):
    demo, url = site
    commit_id = next(d["id"] for d in demo.config["dependencies"] if d["api_name"] == "commit")
    with browser_page(url) as page:
        wait_live(page)
        page.wait_for_timeout(1500)            # the first paint's events settle
        before = image_pixels(page)
        seen = []
        page.on("request", lambda r: seen.append((r.url, r.post_data or "")))
        page.evaluate("latentExplorer.reset()")
        drag(page, ".zslider input[type=range]")
        during = list(seen)
        page.mouse.up()
        page.wait_for_timeout(2000)
        frames = page.evaluate("latentExplorer.stats.frames")
        after = image_pixels(page)
        value = float(page.locator("#zs-0 input[type=number]").input_value())
        z0 = page.evaluate("latentExplorer.state.z[0]")
    assert during == [] and frames >= 10, (during[:3], frames)       # drawn in the page, every move
    assert not np.array_equal(before, after) and z0 == pytest.approx(value)
    commits = [d for u, d in seen if "queue/join" in u and f'"fn_index":{commit_id}' in d.replace(" ", "")]
    assert len(commits) == 1 and f"{value:g}"[:4] in commits[0]          # one commit, carrying the new z[0]


def test_without_webassembly_the_server_draws_and_the_page_says_so(site):
    demo, url = site
    with browser_page(url) as page:
        page.route("**/*.wasm", lambda route: route.abort())             # the runtime cannot start
        page.reload()
        wait_live(page)
        assert page.evaluate("latentExplorer.where") == "server"
        assert "could not start" in page.locator(".live-status").inner_text()
        before = image_pixels(page)
        frames = []
        page.on("request", lambda r: frames.append(r.url) if "component_server" in r.url else None)
        drag(page, ".zslider input[type=range]", 15)
        page.mouse.up()
        page.wait_for_timeout(2000)
        assert frames and not np.array_equal(before, image_pixels(page))  # the server drew the moves


def test_server_render_flag_draws_every_frame_on_the_server(tmp_path):
    need_chromium()
    make_model(tmp_path / "plain", 0, seed=4)
    demo, url = launch(tmp_path, server_render=True)
    try:
        with browser_page(url) as page:
            wait_live(page)
            assert page.evaluate("latentExplorer.where") == "server"
            assert "--server-render" in page.locator(".live-status").inner_text()
            assert page.evaluate("latentExplorer.stats.serverFrames") >= 1
    finally:
        demo.close()


def test_nan_or_huge_z_set_from_the_console_is_refused_on_release(site):
    """What a curious participant could type into the console: the page draws it, the server refuses it."""
    demo, url = site
    with browser_page(url) as page:
        wait_live(page)
        page.wait_for_timeout(1500)
        for bad, words in (("NaN", "NaN or infinite"), ("99", "within")):
            page.evaluate(f"latentExplorer.state.z[5] = {bad}; document.querySelector('#zs-0 input[type=range]')"
                          ".dispatchEvent(new Event('change', {bubbles: true}))")
            page.get_by_text(words).first.wait_for(timeout=20000)      # a readable toast
        page.evaluate("latentExplorer.state.z[5] = 0.5; document.querySelector('#zs-0 input[type=range]')"
                      ".dispatchEvent(new Event('change', {bubbles: true}))")
        page.wait_for_timeout(1500)
        assert page.evaluate("latentExplorer.where") == "browser"       # the view keeps drawing


def test_the_interpolate_position_slider_draws_the_strips_frames_in_the_page(site):
    """At position i / (steps - 1) the page draws the strip's i-th picture (z and class blend as the server's
    path), with no server frame; dragging draws the points in between."""
    demo, url = site
    r = demo.explorer_context.renderer
    with browser_page(url) as page:
        wait_live(page)
        page.get_by_role("tab", name="Interpolate").click()
        page.wait_for_function("window.latentPath && latentPath.state && latentPath.stats.frames > 0",
                               timeout=60000)
        path = page.evaluate("latentPath.state")
        assert path["model"] == "digits-cdcgan" and page.evaluate("latentPath.where") == "browser"
        _, _, frames = r.interpolate("digits-cdcgan", path["zs"], [0, 0], 10, "slerp", class_blend=True)
        from explorer.render import to_uint8
        want = to_uint8(frames)[..., 0]
        for i in (0, 3, 9):
            page.evaluate(f"async () => {{ latentPath.state.t = {i / 9}; await latentPath.drawNow(); }}")
            got = page.evaluate("""() => { const c = document.querySelector('#interp-live canvas.live');
                return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")
            got = np.array(got, dtype=np.uint8).reshape(28, 28, 4)[..., 0]
            assert np.abs(got.astype(int) - want[i]).max() <= 2, i
        page.evaluate("latentPath.reset()")
        box = page.locator("#interp-pos input[type=range]").bounding_box()
        page.mouse.move(box["x"] + 3, box["y"] + box["height"] / 2)
        page.mouse.down()
        for f in np.linspace(0.02, 0.98, 20):
            page.mouse.move(box["x"] + box["width"] * f, box["y"] + box["height"] / 2)
        page.mouse.up()
        page.wait_for_timeout(500)
        assert page.evaluate("latentPath.stats.frames") >= 10 and page.evaluate("latentPath.stats.serverFrames") == 0
