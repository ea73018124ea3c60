"""The service layer and the tabs' callbacks, called directly (no server): what a slider, a seed box or the
Interpolate button does to the state and the pixels."""
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.errors import ConfigError
from explorer.models import ModelConfig, build_generator
from explorer.services.pixels import ModelCache, Renderer, codes_tensor, public_message
from explorer.store.checkpoint import save_checkpoint
from explorer.store.config import TrainConfig
from ui_helpers import make_model


def make_points_model(folder):
    """A 2-D toy generator (points, not pictures), untrained but spread out."""
    cfg = TrainConfig(dataset="toy2d", model=ModelConfig(arch="mlp", z_dim=2, shape=(2,), width=16, depth=2))
    torch.manual_seed(0)
    net = build_generator(cfg.model)
    save_checkpoint(folder, {"kind": "gan", "name": folder.name, "summary": "toy points", "train": cfg.to_dict(),
                             "dataset": {"name": "toy2d", "shape": [2], "options": {}}, "class_names": [],
                             "attributes": []}, {"generator": net.eval()})


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("renderer-ck")
    make_model(root / "plain", 0)
    make_model(root / "cond", 10, seed=1)
    make_points_model(root / "toy")
    (root / "judge").mkdir()  # a classifier is a judge, never offered as a generator
    (root / "judge" / "config.json").write_text('{"kind": "classifier", "train": {}, "summary": "judge"}')
    return root


@pytest.fixture(scope="session")
def app(checkpoints):
    from explorer.ui import build_app
    return build_app(checkpoints, audience=True)


def callback(demo, api_name):
    return next(f.fn for f in demo.fns.values() if f.api_name == api_name)


def commit(demo, st, z, cont=()):
    """A slider let go: the page tells the server the z (and codes) it has been drawing."""
    import gradio as gr
    return callback(demo, "commit")(st, 0, gr.EventData(None, {"z": list(z), "cont": list(cont)}))


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_only_generators_are_listed_with_their_summaries(checkpoints):
    names = ModelCache(checkpoints).names()
    assert names == [{"name": "cond", "summary": "tiny test model (10 classes)"},
                     {"name": "plain", "summary": "tiny test model (0 classes)"},
                     {"name": "toy", "summary": "toy points"}]


def test_a_retrained_model_replaces_the_cached_one(tmp_path):
    make_model(tmp_path / "m", 0, seed=0)
    cache = ModelCache(tmp_path)
    first = cache.get("m")
    assert cache.get("m") is first                       # cached: no reload per slider move
    make_model(tmp_path / "m", 0, seed=5)
    weights = tmp_path / "m" / "generator.safetensors"
    os.utime(weights, (time.time() + 5, time.time() + 5))  # a new mtime, whatever the clock's resolution
    assert cache.get("m") is first                       # a slider event does not look at the disk
    cache.refresh()                                      # the Refresh button, a finished job, the schedule
    assert cache.get("m") is not first


def test_slider_events_never_read_the_folder(tmp_path):
    make_model(tmp_path / "m", 0)
    r = Renderer(tmp_path)
    r.image("m", r.seed_z("m", 0))
    scans = r.models.scans
    for v in (0.5, 1.0, 1.5):
        r.image("m", [v] * 64)
    assert r.models.scans == scans
    make_model(tmp_path / "late", 0)                     # a model saved since: found when asked for by name
    assert r.models.get("late").name == "late" and r.models.scans == scans + 1


def test_a_new_model_appears_after_the_listing_expires(tmp_path):
    cache = ModelCache(tmp_path)
    assert cache.names() == []
    make_model(tmp_path / "late", 0)
    cache._listing = (-1e9, [])  # what LIST_TTL seconds of waiting would do
    assert [m["name"] for m in cache.names()] == ["late"]


def test_points_model_draws_a_cloud_with_the_current_point(checkpoints):
    r = Renderer(checkpoints)
    a = np.asarray(r.image("toy", [0.0, 0.0]))
    b = np.asarray(r.image("toy", [2.5, -2.5]))
    assert a.shape == (320, 320, 3) and not np.array_equal(a, b)   # the ring moves with z
    strip = r.sweep("toy", [0.0, 0.0], dim=1)
    assert strip.width > 6 * strip.height
    with pytest.raises(ConfigError, match="2-D point model"):
        r.interpolate("toy", [[0.0, 0.0], [1.0, 1.0]], None, 4, "lerp")


def test_class_to_class_at_a_fixed_z(checkpoints):
    r = Renderer(checkpoints)
    z = r.seed_z("cond", 5)
    _, _, same = r.interpolate("cond", [z, z], [3, 3], steps=4, method="slerp")
    assert all(torch.allclose(same[0], f, atol=1e-5) for f in same)       # nothing moves: one z, one class
    _, _, frames = r.interpolate("cond", [z, z], [3, 8], steps=4, method="slerp", class_blend=True)
    assert torch.allclose(frames[0], same[0], atol=1e-5) and not torch.allclose(frames[0], frames[-1])


def test_interpolation_steps_are_bounded(checkpoints):
    r = Renderer(checkpoints)
    z = r.seed_z("plain", 1)
    for steps in (1, 33):
        with pytest.raises(ConfigError, match="steps must be a whole number from 2 to 32"):
            r.interpolate("plain", [z, z], None, steps, "lerp")
    with pytest.raises(ConfigError, match="method"):
        r.interpolate("plain", [z, r.seed_z("plain", 2)], None, 5, "cubic")


def test_codes_are_checked():
    cfg = ModelConfig(cat_codes=10, cont_codes=2)
    model = type("M", (), {"cfg": cfg})()
    assert codes_tensor(model, 3, [0.5]).tolist() == [[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0.5, 0.0]]
    for cat, cont in ((10, [0, 0]), (0, [float("nan"), 0]), (0, [5.0, 0])):
        with pytest.raises(ConfigError):
            codes_tensor(model, cat, cont)


@pytest.fixture(scope="module")
def info_app(tmp_path_factory):
    from explorer.ui import build_app
    root = tmp_path_factory.mktemp("info-ck")
    make_model(root / "info", z_dim=16, seed=2, cat_codes=10, cont_codes=2)
    return build_app(root, audience=True)


def test_infogan_codes_get_their_own_controls_strips_and_live_redraws(info_app):
    out = callback(info_app, "select_model")("info", 3, 0)
    st, sweep_choices = out[0], out[9].constructor_args["choices"]   # [state, card, image, strip, class, code, c1, c2, page, sweep, ...]
    assert st["cat"] == 0 and st["cont"] == [0.0, 0.0]
    assert out[5].constructor_args["visible"] and len(out[5].constructor_args["choices"]) == 10  # the code picker
    assert out[5].constructor_args["choices"][0] == "code 0"          # no eval in this card: no matched digit
    assert sweep_choices[15:] == ["z[15]", "code c1 (-2 ... +2)", "code c2 (-2 ... +2)",
                                  "categorical code (every value)"]
    r = info_app.explorer_context.renderer
    z = st["z"]
    c1 = r.sweep("info", z, 16, cat=0, cont=[0, 0])
    every = r.sweep("info", z, 18, cat=0, cont=[0, 0])
    assert every.width > c1.width                                     # 10 categorical values, 7 code values
    cells = np.asarray(c1.convert("L"))
    w = cells.shape[1] // 7
    assert not np.array_equal(cells[:, :w], cells[:, -w:])           # the code moves the picture
    st2, _ = commit(info_app, st, z, [1.5, 0.0])                      # a code slider let go
    assert st2["cont"] == [1.5, 0.0] and not np.array_equal(np.asarray(r.image("info", z, None, 0, [1.5, 0])),
                                                            np.asarray(r.image("info", z, None, 0, [0, 0])))
    import gradio as gr
    with pytest.raises(gr.Error, match="within"):
        commit(info_app, st, z, [2.5, 0.0])                            # codes beyond +-2 are refused
    with pytest.raises(ConfigError, match="dimension"):
        r.sweep("info", z, 19)
    with pytest.raises(ConfigError, match="dimension"):
        r.sweep("info", z, 2.5)


def test_the_code_picker_names_the_digit_eval_matched_each_code_to():
    from explorer.store.checkpoint import load_generator
    from explorer.ui.explore import code_names
    names = code_names(load_generator("digits-infogan"))
    mapping = load_generator("digits-infogan").meta["metrics"]["eval"]["categorical_code_to_class"]
    assert names == [f"code {k} (mostly {mapping[str(k)]})" for k in range(10)]


def test_audience_messages_hide_paths(tmp_path):
    err = ConfigError(f"{tmp_path}/m/generator.safetensors is truncated")
    assert str(tmp_path) not in public_message(err, tmp_path, audience=True)
    assert str(tmp_path) in public_message(err, tmp_path, audience=False)


# ---- the Explore and Interpolate callbacks, as the page calls them ----

def test_select_model_fills_state_and_controls(app):
    out = callback(app, "select_model")("cond", 7, 0)
    st = out[0]
    assert st["model"] == "cond" and st["seed"] == 7 and len(st["z"]) == 64 and st["label"] == 0
    assert "tiny test model" in out[1] and "/" not in out[1]             # the card: summary, no path
    view = json.loads(out[2])                                           # what the page's live view draws from
    assert view["z"] == st["z"] and view["label"] == 0 and view["num_classes"] == 10 and view["page_size"] == 8
    assert view["draw"]["where"] == "browser" and view["draw"]["graph"].endswith("generator.onnx")


def test_a_commit_takes_the_pages_z_and_redraws_the_strip(app):
    r = app.explorer_context.renderer
    st = callback(app, "select_model")("cond", 7, 0)[0]
    out = callback(app, "set_page")(st, 2)                                # z[16] .. z[23]
    st = out[0]
    assert json.loads(out[1])["page"] == 2                                # the page learns which z the sliders hold
    expected = list(st["z"])
    expected[19] = 2.5
    st2, strip = commit(app, st, expected)
    assert st2["z"] == expected and st["z"][19] != 2.5                   # the old state is not mutated
    assert np.array_equal(pixels(strip), np.asarray(r.sweep("cond", expected, 0, 0, labelled=True)))


def test_seed_reset_and_random(app):
    r = app.explorer_context.renderer
    st = callback(app, "select_model")("plain", 3, 0)[0]
    st = commit(app, st, [0.0] * 64)[0]
    st = callback(app, "new_seed")(st, 3, 0, 0)[0]                        # reset: the seed's z again
    assert st["z"] == r.seed_z("plain", 3)
    out = callback(app, "random_seed")(st, 0, 0)
    assert out[1]["seed"] == out[0] and out[1]["z"] == r.seed_z("plain", out[0])
    truncated = callback(app, "new_seed")(st, 3, 0.5, 0)[0]["z"]
    assert max(abs(v) for v in truncated) <= 0.5


def test_a_class_change_redraws(app):
    st = callback(app, "select_model")("cond", 1, 0)[0]
    st7, view, strip = callback(app, "set_condition")(st, 7, None, 0, 0, 0)
    assert st7["label"] == 7 and json.loads(view)["label"] == 7         # the page redraws with the new class
    assert not np.array_equal(pixels(strip), pixels(commit(app, st, st["z"])[1]))


def test_interpolate_callback_paths(app):
    st = callback(app, "select_model")("cond", 1, 0)[0]
    run = callback(app, "interpolate")
    strip, gif, view = run(st, "1, 2, 3", False, 0, 9, False, True, "slerp", 9)   # a path through three seeds
    assert Image.open(gif).n_frames == 16 and Image.open(strip).width > 8 * Image.open(strip).height
    path = json.loads(view)                                                 # what the position slider draws
    assert path["kind"] == "path" and len(path["zs"]) == 3 and path["method"] == "slerp" and path["blend"]
    assert path["anchors"][0][0] == 1 and path["anchors"][-1][9] == 1 and path["draw"]["where"] == "browser"
    strip, gif, _ = run(st, "4", False, 2, 6, True, True, "lerp", 5)        # hold z still: classes only
    assert Image.open(gif).n_frames == 8
    import gradio as gr
    with pytest.raises(gr.Error, match="between 2 and 8 seeds"):
        run(st, "4", False, 2, 6, False, True, "lerp", 5)
    with pytest.raises(gr.Error, match="a seed is a whole number from 0 to 4294967295"):
        run(st, "1, x", False, 2, 6, False, True, "lerp", 5)


def test_scratch_folder_is_removed_with_its_renderer(checkpoints, tmp_path):
    import gc
    r = Renderer(checkpoints)
    made = r.scratch
    assert Path(r.save(r.image("plain", r.seed_z("plain", 0)))).parent == made
    del r
    gc.collect()
    assert not made.exists()     # no latent-explorer-* folder left behind in /tmp per launch
    given = tmp_path / "mine"
    r = Renderer(checkpoints, scratch=str(given))
    r.save(r.image("plain", r.seed_z("plain", 0)))
    del r
    gc.collect()
    assert any(given.iterdir())  # a folder the caller chose is the caller's


def play_frames(demo, sess, args, k: int) -> list:
    """The first k refreshes of Play's stream for a page's session (fewer if it ends first); then the stream
    is closed, as when the page goes away."""
    import asyncio
    gen = callback(demo, "playground_stream")(sess, *args)

    async def take():
        out = []
        try:
            async for frame in gen:
                out.append(frame)
                if len(out) == k:
                    break
        finally:
            await gen.aclose()
        return out
    return asyncio.run(take())


def nothing(frame) -> bool:
    """A stream's output that leaves every component as it is."""
    import gradio as gr
    return all(isinstance(v, type(gr.skip())) for v in frame)


def test_a_nan_playground_speed_pauses_it_with_a_reason(app):
    """The Playground's speed, sent as NaN over raw HTTP, stops Play with a sentence (no int(NaN))."""
    sess, _ = callback(app, "playground_play")(None, "8gaussians", "bce", "none", 0, ["real points"])
    out = play_frames(app, sess, ("8gaussians", "bce", "none", 0, ["real points"], float("nan")), 5)
    assert len(out) == 1 and "speed must be a whole number from 1 to 100; got nan" in out[0][-2]  # the status line
    assert sess.playing is False


def test_a_model_with_a_garbage_config_is_listed_as_damaged_with_its_reason(tmp_path):
    """It used to vanish from the list; now the picker shows it and choosing it says why, in the CLI too."""
    from conftest import run_cli
    from explorer.errors import CheckpointError
    from explorer.services import Services
    from explorer.ui.common import AppContext
    make_model(tmp_path / "good", 0)
    make_model(tmp_path / "bad", 0)
    (tmp_path / "bad" / "config.json").write_text("{ not json")
    ctx = AppContext(Services.open(tmp_path, training=False), audience=True)
    choices = dict((v, k) for k, v in ctx.model_choices(refresh=True))
    assert choices["good"].startswith("good: tiny test model")
    assert choices["bad"].startswith("bad: DAMAGED") and "not valid JSON" in choices["bad"]
    assert str(tmp_path) not in choices["bad"]                          # audience mode: no path
    with pytest.raises(CheckpointError, match="model 'bad' is damaged: .*not valid JSON"):
        ctx.renderer.models.get("bad")
    proc = run_cli("models", "--checkpoints", tmp_path)
    assert proc.returncode == 0 and any(line.split()[:2] == ["bad", "broken"] for line in proc.stdout.splitlines())


def test_the_scratch_folder_is_bounded_by_count_as_well_as_age(tmp_path):
    from explorer.services import pixels
    folder = tmp_path / "scratch"
    folder.mkdir()
    now = time.time()
    for i in range(30):   # 10 fresh, 20 between a minute and an hour old, and one ancient folder with a GIF
        p = folder / f"{i}.png"
        p.write_bytes(b"x")
        age = 1 if i < 10 else 60 + i
        os.utime(p, (now - age, now - age))
    (folder / "old-gif").mkdir()
    os.utime(folder / "old-gif", (now - 4000, now - 4000))
    (folder / "web").mkdir()                                           # the page's files: never swept
    os.utime(folder / "web", (now - 4000, now - 4000))
    removed = pixels.sweep_folder(folder, max_age_s=3600, max_files=12, skip=("web",))
    left = sorted(p.name for p in folder.iterdir())
    assert removed == 19 and "web" in left and "old-gif" not in left
    assert all(f"{i}.png" in left for i in range(10))                  # the fresh ones stay, whatever the count
    assert len(left) == 13                                             # 12 pictures kept, plus web/


def test_gradios_cache_is_bounded_by_files_not_by_folders(tmp_path):
    """Gradio keeps each picture in a folder named by its content, so one picture sent 500 times was 500 files
    in one folder, which a count of folders never saw (the cache grew to 5,500 files in a 3-minute soak)."""
    from explorer.services import pixels
    now = time.time()
    same = tmp_path / "a"
    same.mkdir()
    for i in range(40):                                              # one picture, sent 40 times
        p = same / f"tmp{i}.png"
        p.write_bytes(b"x")
        os.utime(p, (now - 100 - i, now - 100 - i))
    for i in range(5):                                               # five others, just sent
        (tmp_path / f"h{i}").mkdir()
        (tmp_path / f"h{i}" / "image.png").write_bytes(b"y")
    empty = tmp_path / "emptied"
    empty.mkdir()
    os.utime(empty, (now - 60, now - 60))
    removed = pixels.sweep_folder(tmp_path, max_age_s=3600, max_files=10)
    kept = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert removed == 35 + 1 and len(kept) == 10 and not empty.exists()
    assert [f"h{i}/image.png" for i in range(5)] == kept[-5:]        # the young ones stay
    assert {f"a/tmp{i}.png" for i in range(5)} == set(kept[:5])      # and the newest copies of the old one


def test_the_same_picture_is_saved_once_and_a_resent_one_is_fresh_again(checkpoints, tmp_path):
    renderer = Renderer(checkpoints, scratch=tmp_path / "scratch")
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    first = renderer.save(red)
    os.utime(first, (time.time() - 200, time.time() - 200))
    again, other = renderer.save(red.copy()), renderer.save(blue)
    assert first == again != other
    assert time.time() - os.stat(again).st_mtime < 5                  # sent again: no sweep takes it now
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(red))
    assert sorted(p.suffix for p in (tmp_path / "scratch").iterdir()) == [".png", ".png"]   # no .part left


def test_a_playground_refresh_never_writes_the_status_line_that_pause_wrote(app):
    """Pause writes "Paused." to the status line; a refresh that was under way lands later and writes only its
    picture and its rate line, so nothing it sends can replace "Paused." (it once did, in 1 run of 3)."""
    import gradio as gr
    play, pause = (callback(app, f"playground_{k}") for k in ("play", "pause"))
    layers = ["critic field", "real points"]
    args = ("8gaussians", "bce", "wgangp", 0, layers, 5)
    sess, status = play(None, *args[:-1])
    assert status == "Playing..."
    status, rate = play_frames(app, sess, args, 1)[0][-2:]
    assert isinstance(status, type(gr.skip())) and "generator steps per run" in rate
    sess, status = pause(sess)
    assert status == "Paused." and sess.playing is False
    assert play_frames(app, sess, args, 3) == []      # a stream that starts after Pause draws nothing


def test_while_playing_the_runs_train_on_between_refreshes_and_stop_at_pause(app):
    """After a refresh goes out, the pair trains on (up to the speed's steps) until the next refresh takes what it
    did; Pause stops it, and nothing trains on after that. A second Play of the same page takes over from the
    first (one stream per page)."""
    import asyncio
    import time
    play, pause = (callback(app, f"playground_{k}") for k in ("play", "pause"))
    layers = ["real points"]
    args = ("8gaussians", "bce", "wgangp", 0, layers, 6)
    sess, _ = play(None, *args[:-1])

    async def scenario():
        gen = callback(app, "playground_stream")(sess, *args)
        try:
            await gen.__anext__()
            first = [r.g_steps for r in sess.runs]
            deadline = time.time() + 30
            while sess.runs[1].g_steps < first[1] + 6 and time.time() < deadline:   # the page is drawing meanwhile
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            assert [r.g_steps for r in sess.runs] == [first[0] + 6, first[1] + 6]   # both sides, no more than 6
            out = await gen.__anext__()                   # the next refresh counts them
            assert f"generator step {first[0] + 6}," in out[1] and "6 generator steps per run" in out[-1]
            newer = callback(app, "playground_stream")(sess, *args)       # Play pressed again on the same page
            await newer.__anext__()
            assert nothing(await gen.__anext__())         # the older stream ends at its next refresh, its last
            with pytest.raises(StopAsyncIteration):       # output one that changes nothing on the page
                await gen.__anext__()
            await newer.aclose()
        finally:
            await gen.aclose()

    asyncio.run(scenario())
    pause(sess)
    paused = [r.g_steps for r in sess.runs]
    time.sleep(0.5)
    assert [r.g_steps for r in sess.runs] == paused


def test_reset_while_playing_ends_the_play_of_the_old_runs(app):
    """Reset (or another data or loss) while playing: new runs at step 0, and the Play under way ends instead of
    drawing the old runs over them."""
    import asyncio
    play, reset = (callback(app, f"playground_{k}") for k in ("play", "reset"))
    layers = ["real points"]
    sess, _ = play(None, "8gaussians", "bce", "none", 0, layers)

    async def scenario():
        gen = callback(app, "playground_stream")(sess, "8gaussians", "bce", "none", 0, layers, 5)
        try:
            await gen.__anext__()
            out = reset(sess, "ring", "bce", "none", 0, layers)
            # what it was drawing is not sent; its last output (which Gradio repeats at the end) changes nothing
            assert nothing(await gen.__anext__())
            with pytest.raises(StopAsyncIteration):
                await gen.__anext__()
            return out
        finally:
            await gen.aclose()

    out = asyncio.run(scenario())
    assert out[0] is not sess and "generator step 0," in out[2] and sess.playing is False
    stopped = [r.g_steps for r in sess.runs]
    time.sleep(0.3)
    assert [r.g_steps for r in sess.runs] == stopped     # the old runs train no more


def test_a_cache_sweep_forgets_the_files_it_removed(tmp_path):
    """Gradio records every file it serves in `temp_files` and never forgets one (a path per picture: the record
    grew with every event of a long workshop); the sweep drops the paths of the files it removed."""
    from types import SimpleNamespace
    from explorer.ui.server import CACHE_MAX_FILES, sweep_once
    kept = []
    for k in range(CACHE_MAX_FILES + 30):
        f = tmp_path / f"{k:05d}.png"
        f.write_bytes(b"x")
        os.utime(f, (1_000_000 + k, 1_000_000 + k))         # oldest first
        kept.append(str(f))
    demo = SimpleNamespace(temp_files=set(kept) | {str(tmp_path / "gone.png")})
    sweep_once(demo, tmp_path)
    left = {str(p) for p in tmp_path.iterdir()}
    assert len(left) <= CACHE_MAX_FILES and demo.temp_files == left


def test_a_strips_middle_value_reads_zero_not_float_noise():
    from explorer.services.pixels import tick_label
    code_ticks = [tick_label(t, 2) for t in torch.linspace(-2, 2, 7)]       # float32 leaves -6e-08 in the middle
    assert code_ticks == ["-2", "-1.3", "-0.67", "0", "+0.67", "+1.3", "+2"]
    assert [tick_label(t, 3) for t in torch.linspace(-3, 3, 7)] == ["-3", "-2", "-1", "0", "+1", "+2", "+3"]
