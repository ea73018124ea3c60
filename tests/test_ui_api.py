"""The live server as the page and scripts reach it: the sliders' event over Gradio's queue protocol, the
wiring of every event, and what audience mode shows. (tests/test_ui.py covers /render's bad inputs.)"""
import concurrent.futures as cf
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from explorer.services.pixels import Renderer
from ui_helpers import launch, plain_and_conditional


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return plain_and_conditional(tmp_path_factory.mktemp("api-ck"))


@pytest.fixture(scope="module")
def server(checkpoints):
    demo, url = launch(checkpoints)
    yield demo, url
    demo.close()


class Page:
    """One browser tab speaking Gradio's queue protocol: POST queue/join, then read the SSE stream."""

    def __init__(self, url, demo):
        self.url = url
        self.fns = {d["api_name"]: d["id"] for d in demo.config["dependencies"]}
        self.session = uuid.uuid4().hex[:10]
        self.http = httpx.Client(timeout=60)

    def call(self, api, data, event_data=None):
        body = json.dumps({"data": data, "fn_index": self.fns[api], "session_hash": self.session,
                           "event_data": event_data, "trigger_id": None})  # json.dumps writes NaN as a page could
        r = self.http.post(f"{self.url}gradio_api/queue/join", content=body,
                           headers={"Content-Type": "application/json"})
        if r.status_code in (400, 422):   # refused before the queue (a validator): the body says why
            print(r.text)
            raise RuntimeError(r.text)
        r.raise_for_status()
        with self.http.stream("GET", f"{self.url}gradio_api/queue/data", params={"session_hash": self.session}) as s:
            for line in s.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("msg") == "process_completed":
                        if not msg.get("success"):
                            raise RuntimeError(msg.get("output", {}).get("error"))
                        return msg["output"]["data"]
        raise RuntimeError("stream ended without a result")

    def first_frame(self, api, data) -> list:
        """Start a streaming event and return its first output (every value whole); then close the stream, as
        a page that goes away does."""
        body = json.dumps({"data": data, "fn_index": self.fns[api], "session_hash": self.session,
                           "event_data": None, "trigger_id": None})
        self.http.post(f"{self.url}gradio_api/queue/join", content=body,
                       headers={"Content-Type": "application/json"}).raise_for_status()
        with self.http.stream("GET", f"{self.url}gradio_api/queue/data", params={"session_hash": self.session}) as s:
            for line in s.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("msg") == "process_generating":
                        return msg["output"]["data"]
                    if msg.get("msg") == "process_completed":
                        raise RuntimeError(f"the stream ended without a frame: {msg.get('output')}")
        raise RuntimeError("stream ended without a frame")

    def image(self, filedata) -> np.ndarray:
        r = self.http.get(filedata["url"])
        r.raise_for_status()
        return np.asarray(Image.open(io.BytesIO(r.content)))


def test_every_event_is_named_and_no_slider_move_reaches_the_server(server):
    demo, _ = server
    deps = demo.config["dependencies"]
    names = [d["api_name"] for d in deps]
    assert all(isinstance(n, str) and n and not n.startswith("false") for n in names), names
    assert len(set(names)) == len(names)
    sliders = {b["id"] for b in demo.config["components"]
               if {"zslider", "codeslider"} & set(b["props"].get("elem_classes") or [])}
    assert len(sliders) == 10 and all(b["props"].get("interactive") for b in demo.config["components"]
                                      if b["id"] in sliders)   # moved by hand, read by the page's script
    # the page draws every move itself: no event listens to a slider's input; its release is the page's commit
    assert not [d["api_name"] for d in deps for t, ev in d["targets"] if t in sliders and ev == "input"]
    commit = next(d for d in deps if d["api_name"] == "commit")
    live = next(b["id"] for b in demo.config["components"] if b["props"].get("elem_id") == "explore-live")
    assert commit["targets"] == [[live, "commit"]] or commit["targets"] == [(live, "commit")]
    assert commit["trigger_mode"] == "always_last" and commit["show_progress"] == "hidden"
    render = next(d for d in deps if d["api_name"] == "render")
    assert render["api_visibility"] == "public" and render["targets"] == []   # API only: no button fires it


def frame(url, demo, req: dict) -> dict:
    """The live view's server path as the page calls it: one POST to the component's server function."""
    live = next(b["id"] for b in demo.config["components"] if b["props"].get("elem_id") == "explore-live")
    r = httpx.post(f"{url}gradio_api/component_server", json={"data": req, "component_id": live,
                   "session_hash": uuid.uuid4().hex[:10], "fn_name": "frame"}, timeout=60)
    r.raise_for_status()
    return r.json()


def test_the_server_frame_render_and_the_cli_draw_the_same_pixels(server, checkpoints, tmp_path):
    """One z, three front doors: the live view's server frame, /render, and `sample --npz` (its z sent back)."""
    import base64
    from conftest import run_cli
    demo, url = server
    from gradio_client import Client
    client = Client(url, verbose=False)
    seed_z = Renderer(checkpoints).seed_z("cond", 4)
    z = [round(v + 0.37, 2) for v in seed_z[:8]] + seed_z[8:]
    got = frame(url, demo, {"model": "cond", "z": z, "label": 0})
    png = client.predict("cond", z, 0, api_name="/render")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(got["png"])))), np.asarray(Image.open(png)))
    for bad, words in (({"model": "cond", "z": [float("nan")] * 64}, "NaN"), ({"model": "cond", "z": [0] * 3}, "64"),
                       ({"model": "nope", "z": z}, "unknown model"), ("not a dict", "expected")):
        r = httpx.post(f"{url}gradio_api/component_server", content=json.dumps({"data": bad, "component_id": next(
            b["id"] for b in demo.config["components"] if b["props"].get("elem_id") == "explore-live"),
            "session_hash": "x", "fn_name": "frame"}), headers={"Content-Type": "application/json"}, timeout=60)
        assert r.status_code == 200 and words in r.json()["error"]   # a readable refusal, not a crash
    proc = run_cli("sample", "--model", "cond", "--checkpoints", checkpoints, "--seed", 4, "--n", 1, "--label", 6,
                   "--npz", tmp_path / "s.npz")
    assert proc.returncode == 0, proc.stderr
    saved = np.load(tmp_path / "s.npz")
    png = client.predict("cond", saved["z"][0].tolist(), int(saved["labels"][0]), api_name="/render")
    assert np.array_equal(saved["images"][0][..., 0], np.asarray(Image.open(png)))


def test_ten_pages_letting_go_of_the_same_slider_at_once(server):
    """Identical strips land in Gradio's content-hashed cache at the same moment: all must succeed."""
    demo, url = server
    pages = [Page(url, demo) for _ in range(10)]
    for p in pages:
        p.call("select_model", ["plain", 9, 0])

    def move(p):
        return p.image(p.call("commit", [None, "z[0]"], {"z": [1.5] * 64, "cont": []})[1])

    with cf.ThreadPoolExecutor(10) as pool:
        shots = list(pool.map(move, pages))
    assert all(np.array_equal(shots[0], s) for s in shots)


def test_a_bad_commit_from_the_page_is_refused_and_the_server_keeps_serving(server):
    """What a page's console could send on release: NaN, values beyond the limit, wrong lengths, bad codes."""
    demo, url = server
    page = Page(url, demo)
    page.call("select_model", ["plain", 1, 0])
    st, good = page.call("commit", [None, "z[0]"], {"z": [0.5] * 64, "cont": []})
    for bad, fragment in (([99.0] + [0.5] * 63, "within"), ([float("nan")] + [0.5] * 63, "NaN"),
                          ([float("inf")] + [0.5] * 63, "NaN or infinite"), ([0.5] * 3, "64 numbers"),
                          ("zzz", "list of numbers"), (None, "list of")):
        with pytest.raises(RuntimeError, match=fragment):
            page.call("commit", [None, "z[0]"], {"z": bad, "cont": []})
    with pytest.raises(RuntimeError, match="Pick a model first"):
        Page(url, demo).call("commit", [None, None], {"z": [0.5] * 64})   # a fresh page that never loaded a model
    # the state is intact: the next good commit draws the same strip as the first
    assert np.array_equal(page.image(page.call("commit", [None, "z[0]"], {"z": [0.5] * 64, "cont": []})[1]),
                          page.image(good))


def test_interpolate_and_render_through_gradio_client(server, checkpoints):
    _, url = server
    from gradio_client import Client
    c = Client(url, verbose=False)
    r = Renderer(checkpoints)
    png = c.predict("cond", r.seed_z("cond", 2), "7", api_name="/render")      # a class by name works too
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(r.image("cond", r.seed_z("cond", 2), 7)))


def test_audience_mode_never_shows_a_path(checkpoints):
    demo, url = launch(checkpoints, audience=True)
    try:
        from gradio_client import Client
        from gradio_client.exceptions import AppError
        page = Page(url, demo)
        config = httpx.get(f"{url}config").text
        out = page.call("select_model", ["cond", 0, 0])
        assert str(checkpoints) not in config and str(checkpoints) not in json.dumps(out)
        assert "tiny test model (10 classes)" in config                       # the picker shows summaries
        with pytest.raises(AppError) as e:
            Client(url, verbose=False).predict(str(checkpoints / "cond"), [0.0] * 64, 0, api_name="/render")
        assert "unknown model" in str(e.value) and str(checkpoints) not in str(e.value)
    finally:
        demo.close()


def test_the_cosine_table_compares_gradient_with_the_chosen_method(tmp_path):
    from ui_helpers import make_faces
    demo, url = launch(make_faces(tmp_path))
    try:
        page = Page(url, demo)
        outs = {m: page.call("entanglement", ["faces", "gradient", m]) for m in ("penalized", "boundary")}
    finally:
        demo.close()
    # outputs: the hint (hidden once the tables are there), then entanglement, correlation, cosine tables
    assert all(o[0]["visible"] is False and all(t["visible"] for t in o[1:]) for o in outs.values())
    tables = {m: o[3]["value"] for m, o in outs.items()}
    for t in tables.values():   # 7 rows, the attribute edited then 7 columns
        assert len(t["data"]) == 7 and len(t["headers"]) == 8 and t["headers"][0] == "edited"
        colours = [c for row in t["metadata"]["styling"] for c in row[1:]]   # a heatmap: every cell coloured
        assert len(colours) == 49 and all("background-color: rgb(" in c for c in colours)
    assert tables["penalized"]["data"] != tables["boundary"]["data"]
    cells = [v for t in tables.values() for row in t["data"] for v in row[1:]]
    assert all(v == round(v, 2) for v in cells)       # shown to two places, not float32's 0.6600000262260437


def test_audience_mode_leaves_what_is_saved_beside_models_to_the_instructor(tmp_path):
    from ui_helpers import make_faces
    root = make_faces(tmp_path)
    demo, url = launch(root, audience=True)
    try:
        page = Page(url, demo)
        for api, data, what in (("name_pc", ["faces", 0, "Hair", "pca"], "naming principal directions"),
                                ("recompute_directions", ["faces"], "recomputing directions")):
            with pytest.raises(RuntimeError, match=f"{what} is off on this server"):
                page.call(api, data)
        assert sorted(p.name for p in (root / "faces").iterdir()) == [
            "config.json", "generator.onnx", "generator.safetensors"]      # nothing written beside the model
    finally:
        demo.close()


def test_launch_flags_are_safe_by_default(capsys):
    import launch
    args = launch.parse_args([])
    assert (args.host, args.port, args.share, args.audience, args.auth) == ("127.0.0.1", 7860, False, False, None)
    assert launch.main(["--auth", "nopassword"]) == 2
    assert "USER:PASS" in capsys.readouterr().err


def test_a_stopped_server_leaves_no_scratch_folder(checkpoints, tmp_path):
    """launch.py stopped the way a service manager stops it (SIGTERM) cleans up like Ctrl-C does."""
    from ui_helpers import free_port
    port, tmp = free_port(), tmp_path / "tmp"
    tmp.mkdir()
    launch_py = Path(__file__).resolve().parents[1] / "launch.py"
    proc = subprocess.Popen([sys.executable, str(launch_py), "--port", str(port), "--checkpoints", str(checkpoints)],
                            env={**os.environ, "TMPDIR": str(tmp)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert list(tmp.glob("latent-explorer-*")), "the running app has its scratch folder"
        stop = threading.Event()

        def render_until_stopped():   # requests in flight when the signal comes, each writing a picture
            while not stop.is_set():
                try:
                    httpx.post(f"http://127.0.0.1:{port}/gradio_api/call/render",
                               json={"data": ["plain", [0.1] * 64, None]}, timeout=5)
                except httpx.HTTPError:
                    pass

        load = [threading.Thread(target=render_until_stopped) for _ in range(4)]
        for t in load:
            t.start()
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        stop.set()
        proc.kill()
    assert not list(tmp.glob("latent-explorer-*"))


def test_auth_keeps_strangers_out(checkpoints):
    from explorer.ui import CSS, build_app
    from ui_helpers import free_port
    demo = build_app(checkpoints, audience=True)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, auth=("ada", "lovelace"), prevent_thread_lock=True,
                quiet=True, css=CSS)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert httpx.get(f"{url}config").status_code == 401
        from gradio_client import Client
        c = Client(url, auth=("ada", "lovelace"), verbose=False)
        assert Image.open(c.predict("plain", [0.0] * 64, None, api_name="/render")).size == (28, 28)
    finally:
        demo.close()


LAYERS = ["critic field", "gradient arrows", "z-grid warp", "real points"]


def test_the_playground_steps_and_plays_through_its_events(server):
    demo, url = server
    stream = next(d for d in demo.config["dependencies"] if d["api_name"] == "playground_stream")
    rate = next(c["id"] for c in demo.config["components"] if c["props"].get("elem_id") == "playground-rate")
    assert stream["show_progress_on"] == [rate]   # the page tracks Play on the rate line, not on all 12 outputs
    page = Page(url, demo)   # outputs: state, then per side image, caption, histogram, curves; then status
    out = page.call("playground_reset", [None, "8gaussians", "bce", "wgan", 0, LAYERS])
    assert "generator step 0," in out[2] and "generator step 0," in out[6]
    out = page.call("playground_step_both", [None, "8gaussians", "bce", "wgan", 0, LAYERS])
    assert "generator step 1, critic step 1 " in out[2] and "generator step 1, critic step 5 " in out[6]
    out = page.call("playground_step_critic", [None, "8gaussians", "bce", "wgan", 0, LAYERS])
    assert "generator step 1, critic step 2 " in out[2]
    assert page.call("playground_play", [None, "8gaussians", "bce", "wgan", 0, LAYERS])[1] == "Playing..."
    # Play's stream: per side image, caption, histogram, curves; then status and rate
    out = page.first_frame("playground_stream", [None, "8gaussians", "bce", "wgan", 0, LAYERS, 10])
    n = int(out[1].split("generator step ")[1].split(",")[0])
    assert 2 <= n <= 11 and "Last refresh:" in out[-1]
    assert page.image(out[0]).shape[:2] == (420, 420) and page.image(out[2]).shape[:2] == (110, 420)
    left, right = (o.get("value", o) for o in (out[3], out[7]))
    assert {r[2] for r in left["data"]} == {"D loss", "G loss"}     # the legend's names, per run's loss
    assert {r[2] for r in right["data"]} == {"critic loss", "G loss", "Wasserstein estimate"}
    # the page went away (its stream closed): nothing trains on, one step by hand is one step
    time.sleep(1.0)
    first = page.call("playground_step_both", [None, "8gaussians", "bce", "wgan", 0, LAYERS])
    time.sleep(1.0)
    second = page.call("playground_step_both", [None, "8gaussians", "bce", "wgan", 0, LAYERS])
    at = [int(re.search(r"generator step ([\d,]+),", o[2]).group(1).replace(",", "")) for o in (first, second)]
    assert at[1] == at[0] + 1, at
    # a new choice starts new runs; a page of its own has its own runs
    out = page.call("playground_step_both", [None, "ring", "bce", "none", 0, LAYERS])
    assert "generator step 1," in out[2] and out[5] is None and "No second run" in out[6]
    other = Page(url, demo).call("playground_step_both", [None, "8gaussians", "bce", "wgan", 0, LAYERS])
    assert "generator step 1," in other[2]


def test_the_playground_refuses_bad_choices_and_keeps_the_runs(server):
    demo, url = server
    page = Page(url, demo)
    page.call("playground_reset", [None, "8gaussians", "bce", "none", 0, LAYERS])
    page.call("playground_step_both", [None, "8gaussians", "bce", "none", 0, LAYERS])
    for args, fragment in ((["moons", "bce", "none", 0], "moons"), (["ring", "focal", "none", 0], "focal"),
                           (["ring", "bce", "none", -3], "a seed is a whole number from 0 to 4294967295"),
                           (["ring", "bce", "none", 1.5], "a seed is a whole number from 0 to 4294967295"),
                           (["ring", "bce", "none", 2**40], "a seed is a whole number from 0 to 4294967295")):
        with pytest.raises(RuntimeError, match=fragment):
            page.call("playground_step_both", [None, *args, LAYERS])
    out = page.call("playground_step_both", [None, "8gaussians", "bce", "none", 0, LAYERS])
    assert "generator step 2," in out[2]   # the page's run survived every refused call


def test_nan_over_raw_http_gets_a_readable_refusal_from_every_counting_control(server, checkpoints, tmp_path):
    """Numbers a slider's bounds would stop, sent as NaN over raw HTTP: one readable sentence each, not None."""
    demo, url = server
    page = Page(url, demo)
    st = page.call("select_model", ["cond", 1, 0])[0]
    nan = float("nan")
    with pytest.raises(RuntimeError, match="steps must be a whole number from 2 to 32; got nan"):
        page.call("interpolate", [st, "1, 2", False, None, None, False, True, "slerp", nan])
    with pytest.raises(RuntimeError, match="steps must be a whole number"):
        page.call("interpolate", [st, "1, 2", False, None, None, False, True, "slerp", 4.5])


def test_a_principal_direction_number_is_checked(tmp_path):
    from explorer.errors import ConfigError
    from explorer.services import Services
    from ui_helpers import make_faces
    studio = Services.open(make_faces(tmp_path), training=False).directions
    for bad in (float("nan"), 10, -1, 2.5, True, "3"):
        with pytest.raises(ConfigError, match="pca direction's number must be a whole number from 0 to 9"):
            studio.pc_walk("faces", bad, [1], 3.0)


def test_uploads_above_the_limit_are_refused(server):
    """Anyone reaching the port can post to Gradio's upload route: a few MB at most, as launch.py sets it."""
    _, url = server
    small = httpx.post(f"{url}gradio_api/upload", files={"files": ("a.png", b"\x89PNG" + b"0" * 1000)}, timeout=60)
    assert small.status_code == 200
    big = httpx.post(f"{url}gradio_api/upload", files={"files": ("b.bin", b"0" * 6_000_000)}, timeout=60)
    assert big.status_code == 413 and "maximum allowed size" in big.text


def test_pillow_refuses_a_decompression_bomb_before_decoding():
    from PIL import Image
    import explorer.ui  # noqa: F401  (sets the limit)
    bomb = io.BytesIO()
    Image.new("1", (10000, 5000)).save(bomb, format="PNG")           # 50 Mpixels, a few KB on disk
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb.getvalue())).load()


def test_malformed_api_calls_get_a_sentence_not_a_null_error(server):
    """Raw HTTP with the wrong number of values or the wrong types: a readable refusal each."""
    _, url = server

    def call(data):
        eid = httpx.post(f"{url}gradio_api/call/render", json={"data": data}, timeout=30).json()["event_id"]
        return httpx.get(f"{url}gradio_api/call/render/{eid}", timeout=30).text

    assert "render: takes 3 values, got 0" in call([])
    assert "render: takes 3 values, got 1" in call(["plain"])
    assert "z must be a list of numbers" in call(["plain", "abc", None])
    assert "not true/false" in call(["plain", [True] * 64, None])
    assert '"error": null' not in call(["plain", [0.1] * 64, "x"])


def test_an_unknown_api_name_is_a_404_with_a_sentence(server):
    _, url = server
    r = httpx.post(f"{url}gradio_api/call/no_such_thing", json={"data": []}, timeout=30)
    assert r.status_code == 404 and "no such API endpoint (no_such_thing)" in r.json()["error"]


def test_a_flood_of_api_sessions_does_not_stop_the_queue(checkpoints):
    """Gradio evicts the oldest session's message box after N others (2,000; 3 here): a page that was open
    before the flood keeps working, and so does everyone else (the queue used to stop for good: 503)."""
    demo, url = launch(checkpoints)
    try:
        demo._queue.pending_messages_per_session.max_size = 3
        page = Page(url, demo)
        page.call("select_model", ["plain", 1, 0])
        for _ in range(6):    # six API calls, each a session of its own: the page's box is evicted
            eid = httpx.post(f"{url}gradio_api/call/render", json={"data": ["plain", [0.1] * 64, None]}).json()
            httpx.get(f"{url}gradio_api/call/render/{eid['event_id']}", timeout=30).raise_for_status()
        assert page.image(page.call("commit", [None, "z[0]"], {"z": [0.2] * 64, "cont": []})[1]).size > 0
        assert "plain" in Page(url, demo).call("select_model", ["plain", 2, 0])[1]
        assert not demo._queue.stopped
    finally:
        demo.close()


def test_a_status_message_for_an_evicted_session_does_not_kill_the_queue(checkpoints):
    """The failure bench/soak.py found, at its root: a queued event's session box evicted by 2,000 newer
    sessions; the queue's next status message for it raised KeyError and stopped the queue for good."""
    from types import SimpleNamespace
    from explorer.ui import build_app, start_queue
    demo = start_queue(build_app(checkpoints))
    queue = demo._queue
    event = SimpleNamespace(session_hash="gone", alive=True, _id="e1")
    assert "gone" not in queue.pending_messages_per_session
    queue.send_message(event, SimpleNamespace(event_id=None))          # raised KeyError before
    box = queue.pending_messages_per_session["gone"]
    assert box.get_nowait().event_id == "e1"                            # the page's stream gets it
