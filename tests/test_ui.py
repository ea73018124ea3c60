"""The explorer's service layer and its HTTP API, as a script (gradio_client) would use them."""
import concurrent.futures as cf

import numpy as np
import pytest
from PIL import Image

from explorer.errors import ConfigError
from explorer.services.pixels import Renderer, check_label, check_z
from ui_helpers import launch, plain_and_conditional


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return plain_and_conditional(tmp_path_factory.mktemp("ck"))


@pytest.fixture(scope="module")
def server(checkpoints):
    demo, url = launch(checkpoints)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client
    return Client(server, verbose=False)


def test_renderer_draws_reproducibly(checkpoints):
    r = Renderer(checkpoints)
    assert [m["name"] for m in r.models.names()] == ["cond", "plain"]
    z = r.seed_z("plain", 3)
    a, b = np.asarray(r.image("plain", z)), np.asarray(r.image("plain", z))
    assert a.shape[:2] == (28, 28) and np.array_equal(a, b)  # native pixels; the page upscales
    z2 = list(z)
    z2[0] += 2.5
    assert not np.array_equal(a, np.asarray(r.image("plain", z2)))
    strip = r.sweep("cond", z, dim=5, label=2)
    assert strip.width > 6 * strip.height
    img, gif, frames = r.interpolate("cond", [z, r.seed_z("cond", 4)], [1, 7], steps=5, method="slerp", class_blend=True)
    assert frames.shape == (5, 1, 28, 28) and Image.open(gif).n_frames == 8


@pytest.mark.parametrize("z,fragment", [
    ([0.0] * 63, "64 numbers"), ([float("nan")] + [0.0] * 63, "NaN"), ([float("inf")] + [0.0] * 63, "NaN or infinite"),
    ([50.0] + [0.0] * 63, "within"), ("abc", "list of numbers"), ([[0.0] * 64], "64 numbers"),
    ([True] + [0.0] * 63, "not true/false"), ({"z": 1}, "list of numbers"),
])
def test_bad_z_is_refused(checkpoints, z, fragment):
    r = Renderer(checkpoints)
    with pytest.raises(ConfigError, match=fragment):
        check_z(r.models.get("plain"), z)


def test_bad_labels_and_models(checkpoints):
    r = Renderer(checkpoints)
    m = r.models.get("cond")
    assert check_label(m, 3) == 3 and check_label(m, "7") == 7
    for bad in (10, -1, 2.5, "cat"):
        with pytest.raises(ConfigError):
            check_label(m, bad)
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        r.models.get("nope")
    with pytest.raises(ConfigError, match="seed"):
        r.seed_z("plain", -4)


def test_render_api_matches_the_renderer(client, checkpoints):
    r = Renderer(checkpoints)
    z = r.seed_z("cond", 11)
    path = client.predict("cond", z, 4, api_name="/render")
    got = np.asarray(Image.open(path))
    assert np.array_equal(got, np.asarray(r.image("cond", z, 4)))
    other = np.asarray(Image.open(client.predict("cond", z, 5, api_name="/render")))
    assert not np.array_equal(got, other)  # the label reaches the picture


def raw_call(url: str, api: str, data: list) -> tuple[str, str]:
    """Gradio's HTTP call protocol by hand (json.dumps writes NaN/Infinity, which gradio_client refuses to send)."""
    import json
    import httpx
    r = httpx.post(f"{url}gradio_api/call/{api}", content=json.dumps({"data": data}),
                   headers={"Content-Type": "application/json"}, timeout=30)
    r.raise_for_status()
    stream = httpx.get(f"{url}gradio_api/call/{api}/{r.json()['event_id']}", timeout=30).text
    events = [ln[len("event: "):] for ln in stream.splitlines() if ln.startswith("event: ")]
    payload = [ln[len("data: "):] for ln in stream.splitlines() if ln.startswith("data: ")]
    return events[-1], payload[-1]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinite_z_over_raw_http(server, client, value):
    event, data = raw_call(server, "render", ["plain", [value] + [0.0] * 63, None])
    assert event == "error" and "NaN or infinite" in data
    assert Image.open(client.predict("plain", [0.0] * 64, None, api_name="/render")).size[0] > 0


@pytest.mark.parametrize("args,fragment", [
    (("plain", [1e6] + [0.0] * 63, None), "within"),
    (("plain", [0.0] * 10, None), "64 numbers"),
    (("ghost", [0.0] * 64, None), "unknown model"),
    (("cond", [0.0] * 64, 12), "unknown class"),
    (("plain", [0.0] * 64, 3), "not conditional"),
])
def test_render_api_refuses_bad_input_and_keeps_serving(client, args, fragment):
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match=fragment):
        client.predict(*args, api_name="/render")
    assert Image.open(client.predict("plain", [0.0] * 64, None, api_name="/render")).size[0] > 0


def test_ten_identical_renders_at_once(server):
    """Gradio caches outputs under their content hash; identical concurrent renders must all succeed."""
    from gradio_client import Client
    clients = [Client(server, verbose=False) for _ in range(10)]
    z = [0.25] * 64

    def one(c):
        return np.asarray(Image.open(c.predict("plain", z, None, api_name="/render")))

    with cf.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(one, clients))
    assert len(results) == 10 and all(np.array_equal(results[0], x) for x in results)


def test_every_event_has_an_api_name(server):
    from explorer.ui import build_app
    demo = build_app(None)
    named = [d.get("api_name") for d in demo.config["dependencies"] if d.get("api_visibility", "public") == "public"]
    assert {"render", "commit", "select_model", "new_seed", "interpolate", "set_page", "sweep"} <= set(named)


def test_audience_mode_shows_no_paths(checkpoints):
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    demo, url = launch(checkpoints, audience=True)
    try:
        c = Client(url, verbose=False)
        with pytest.raises(AppError) as e:
            c.predict("plain", [0.0] * 3, None, api_name="/render")
        assert str(checkpoints) not in str(e.value)
        tabs = [b.get("props", {}).get("label") for b in demo.config["components"] if b.get("type") == "tabitem"]
        assert "Train" not in tabs and "Explore" in tabs
    finally:
        demo.close()


def test_newest_call_of_a_session_wins():
    """Two calls of one page: the one that started last shows, whichever ends last; pages do not disturb each
    other; a session forgotten past the limit counts as current (nothing is dropped for it)."""
    from types import SimpleNamespace
    from explorer.ui.common import NewestWins
    newest = NewestWins()
    page, other = SimpleNamespace(session_hash="a"), SimpleNamespace(session_hash="b")
    older = newest.start(page)
    newer = newest.start(page)
    theirs = newest.start(other)
    assert newest.current(newer) and not newest.current(older)
    assert newest.current(theirs)
    assert newest.current(newest.start(None))      # a direct call (no request) is its own page
    newest.SESSIONS = 2
    newest.start(SimpleNamespace(session_hash="c"))
    assert newest.current(older) and newest.current(newer)    # 'a' forgotten: nothing refused for it
