"""The Playground: 2-D GANs stepped by hand train exactly as their presets do, and every frame is drawable."""
import numpy as np
import pytest
import torch

from explorer.errors import ConfigError
from explorer.render import colour_field, histogram, plane
from explorer.training.playground import LOSSES, ToyRun, run_config
from explorer.training.presets import PRESETS


def weights(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_a_playground_run_is_the_presets_own_training(tmp_path):
    from explorer.store.checkpoint import load_weights
    from explorer.training.loop import train
    from explorer.training.tasks import TASKS
    cfg = PRESETS["toy-8gaussians-wgangp"]   # stopped after its first log (step 25) to stay on its lr schedule
    train(cfg, tmp_path / "run", progress=False, callback=lambda e: e["step"] < 25)
    run = ToyRun("8gaussians", "wgangp", 0)
    run.step("both", 25)
    g = TASKS["gan"](cfg, run.data, run.task.dist).G
    load_weights(g, tmp_path / "run" / "generator.safetensors")
    assert same(weights(g), weights(run.task.G))
    assert run.g_steps == 25 and run.d_steps == 25 * cfg.n_critic == 50 and len(run.history) == 25


def test_two_runs_side_by_side_do_not_disturb_each_other():
    alone = ToyRun("ring", "bce", 3)
    alone.step("both", 10)
    a, b = ToyRun("ring", "bce", 3), ToyRun("ring", "wgangp", 3)
    for _ in range(10):
        a.step("both", 1)
        b.step("both", 1)
        torch.randn(7)  # other code drawing from the global stream changes nothing either
    assert same(weights(alone.task.G), weights(a.task.G)) and same(weights(alone.task.D), weights(a.task.D))


@pytest.mark.parametrize("cores", [2, 1])   # two threads where a core is spare, one after the other where not
def test_a_pair_trained_together_equals_each_run_trained_alone(cores, monkeypatch):
    import explorer.services.playground as service
    monkeypatch.setattr(service, "CORES", cores)
    pair = service.Session("8gaussians", "bce", "wgangp", 2)
    assert pair.advance("both", 30) == 30
    for run, loss in zip(pair.runs, ("bce", "wgangp")):
        alone = ToyRun("8gaussians", loss, 2)
        alone.step("both", 30)
        assert run.g_steps == 30
        assert same(weights(alone.task.G), weights(run.task.G)) and same(weights(alone.task.D), weights(run.task.D))


def test_a_run_that_diverges_in_the_second_thread_stops_the_pair_with_its_reason():
    from explorer.services.playground import Session
    pair = Session("8gaussians", "bce", "wgangp", 0)
    with torch.no_grad():
        next(pair.runs[1].task.G.parameters()).fill_(float("nan"))
    with pytest.raises(ConfigError, match="diverged"):
        pair.advance("both", 5)
    assert pair.runs[0].g_steps >= 1   # the first run's steps stand


def test_a_diverged_run_says_so_instead_of_drawing():
    """Pause (or a change of layers) after a run diverged draws it again: its view says why there is nothing to
    draw, where its NaN weights used to crash the picture's colour lookup."""
    run = ToyRun("8gaussians", "wgan", 0)
    run.step("both", 2)
    plane(run.view())   # drawable while finite
    with torch.no_grad():
        next(run.task.D.parameters()).fill_(float("nan"))
    with pytest.raises(ConfigError, match="diverged.*reset it"):
        run.view()


def test_step_modes_move_only_their_own_network():
    run = ToyRun("8gaussians", "bce", 0)
    g0, d0 = weights(run.task.G), weights(run.task.D)
    run.step("critic", 2)
    assert same(g0, weights(run.task.G)) and not same(d0, weights(run.task.D))
    assert (run.g_steps, run.d_steps) == (0, 2)
    d1 = weights(run.task.D)
    run.step("generator", 1)
    assert same(d1, weights(run.task.D)) and not same(g0, weights(run.task.G))
    assert (run.g_steps, run.d_steps) == (1, 2)
    assert "loss_d" in run.history[0] and "loss_g" not in run.history[0] and "loss_g" in run.history[-1]


def test_a_frame_holds_what_the_tab_draws():
    run = ToyRun("8gaussians", "bce", 0)
    run.step("both", 5)
    v = run.view()
    assert v.real.shape == v.fake.shape == (600, 2) and v.field.shape == (48, 48)
    assert 0 <= v.field.min() and v.field.max() <= 1 and v.field_range == (0.0, 1.0)  # BCE: probabilities
    assert v.arrows.shape == (120, 4) and np.isfinite(v.arrows).all() and v.arrow_scale > 0
    assert len(v.warp) == 22 and all(line.shape == (41, 2) for line in v.warp)       # 11 + 11 lines of z
    fine = torch.linspace(-2.5, 2.5, 41)     # the first line (z1 = -2.5) drawn through G on its own
    with torch.no_grad():
        run.task.G.eval()
        alone = run.task.G(torch.stack([torch.full_like(fine, -2.5), fine], 1)).numpy()
        run.task.G.train()
    assert np.allclose(v.warp[0], alone, atol=1e-5)
    assert v.coverage["modes_total"] == 8 and 0 <= v.coverage["high_quality"] <= 1
    assert v.clip is None and v.weights.size == sum(p.numel() for n, p in run.task.D.named_parameters()
                                                    if n.endswith("weight"))
    img = plane(v, size=200)
    assert img.size == (200, 200)
    bare = plane(v, size=200, field=False, arrows=False, warp=False, real=False)
    assert np.asarray(bare).mean() > np.asarray(img).mean()  # the field and layers cover the white canvas
    assert ToyRun("swissroll", "wgangp", 0).view().coverage is None  # no modes to count on a swiss roll


def test_the_loss_curves_show_the_last_steps_thinned_and_end_at_the_runs_step():
    """The page copies every tracked component's value on every event, so a refresh's loss curves stay small:
    the last CURVE_STEPS steps, one in CURVE_EVERY, always ending at the step the caption shows. A refresh that
    draws no plots sends the histogram and curves drawn last again, the same objects (never a skip: see
    test_playground_curves_survive_a_visit_to_another_tab)."""
    from explorer.services.playground import Session
    from explorer.ui.playground import CURVE_EVERY, CURVE_STEPS, LAYERS, _frames
    sess = Session("8gaussians", "bce", "wgangp", 0)
    sess.advance("both", 700)
    frames = _frames(sess, LAYERS)
    for curves, run in ((frames[3], sess.runs[0]), (frames[7], sess.runs[1])):
        steps = sorted(set(curves["step"]))
        assert steps[-1] == run.g_steps == 700 and len(steps) == CURVE_STEPS // CURVE_EVERY
        assert set(np.diff(steps)) == {CURVE_EVERY} and steps[0] > 700 - CURVE_STEPS
    assert set(frames[7]["series"]) == {"critic loss", "G loss", "Wasserstein estimate"}
    quick = _frames(sess, LAYERS, plots=False)
    assert [type(f) for f in quick[::4]] == [type(frames[0])] * 2 and "generator step 700," in quick[1]
    assert all(q is f for q, f in zip(quick[2::4] + quick[3::4], frames[2::4] + frames[3::4]))
    sess.advance("both", 1)
    again = _frames(sess, LAYERS)     # plots drawn anew: the step the caption shows
    assert max(again[3]["step"]) == 701 and again[2] is not frames[2]


def test_the_clipping_run_shows_its_weights_pinned_at_the_bound():
    run = ToyRun("8gaussians", "wgan", 0)
    run.step("both", 20)
    v = run.view()
    assert v.clip == pytest.approx(0.01) and np.abs(v.weights).max() <= 0.01 + 1e-7
    assert (np.abs(v.weights) > 0.0099).mean() > 0.3   # RMSprop drives many of them to the bound
    assert np.asarray(histogram(v.weights, bound=v.clip)).shape == (110, 420, 3)
    assert "critic value" in v.field_label


def test_the_saturating_loss_is_offered_and_its_gradients_are_weaker():
    assert run_config("8gaussians", "bce-saturating").loss_options == {"saturating": True}
    weak, strong = ToyRun("8gaussians", "bce-saturating", 0), ToyRun("8gaussians", "bce", 0)
    for r in (weak, strong):
        r.step("critic", 100)  # the same discriminator in both (its loss does not change), now winning
    assert same(weights(weak.task.D), weights(strong.task.D)) and weak.history[-1]["loss_d"] < 0.3
    assert weak.view().arrow_scale < 0.2 * strong.view().arrow_scale   # log(1 - D) goes flat where D wins


def test_colour_field_runs_from_purple_to_green():
    c = colour_field(np.array([[0.0, 0.5, 1.0]]), 0, 1)[0]
    assert c[0][2] > c[0][1] and tuple(c[1]) == (247, 247, 247) and c[2][1] > c[2][0]


@pytest.mark.parametrize("args, fragment", [
    (("moons", "bce", 0), "unknown 2-D distribution 'moons'"),
    (("ring", "focal", 0), "unknown playground loss 'focal'"),
    (("ring", "bce", -1), "seed must be a whole number"),
    (("ring", "bce", 1.5), "seed must be a whole number"),
])
def test_bad_choices_are_refused_clearly(args, fragment):
    with pytest.raises(ConfigError, match=fragment):
        ToyRun(*args)


def test_bad_steps_are_refused_and_the_run_is_untouched():
    run = ToyRun("ring", "bce", 0)
    g0 = weights(run.task.G)
    for mode, n, fragment in (("sideways", 1, "step mode must be one of"), ("both", 0, "from 1 to 1000"),
                              ("both", 5000, "from 1 to 1000"), ("both", True, "from 1 to 1000")):
        with pytest.raises(ConfigError, match=fragment):
            run.step(mode, n)
    assert same(g0, weights(run.task.G)) and run.g_steps == 0


def test_every_loss_choice_has_a_label():
    assert {"bce", "bce-saturating", "wgan", "wgangp"} <= set(LOSSES)   # every registered loss, and variants
    for loss in LOSSES:
        ToyRun("25gaussians", loss, 0).step("both", 1)


def test_a_frame_paints_every_point_where_it_lies():
    from explorer.render import dots, plane
    canvas = np.full((20, 30, 3), 255.0, np.float32)
    dots(canvas, np.array([5.0, 29.4, -10.0]), np.array([4.0, 19.0, 3.0]), 1.5, (0, 0, 0), 1.0)
    assert (canvas[4, 5] == 0).all() and (canvas[3, 5] == 0).all() and (canvas[19, 29] == 0).all()
    assert (canvas[10, 15] == 255).all()                   # untouched away from the points
    assert (canvas[4, 8] == 255).all()                     # radius 1.5: three pixels away stays white
    half = np.full((5, 5, 3), 100.0, np.float32)
    dots(half, np.array([2.0]), np.array([2.0]), 0.5, (200, 0, 0), 0.5)
    assert np.allclose(half[2, 2], (150, 50, 50))          # alpha-blended
    run = ToyRun("8gaussians", "bce", 0)
    v = run.view()
    img = np.asarray(plane(v, field=False, arrows=False, warp=False, real=False)).astype(int)
    e, size = v.extent, 420
    u = np.rint((v.fake[:, 0] + e) / (2 * e) * (size - 1)).astype(int)
    r = np.rint((e - v.fake[:, 1]) / (2 * e) * (size - 1)).astype(int)
    inside = (u >= 0) & (u < size) & (r >= 0) & (r < size)
    orange = img[r[inside], u[inside]]
    assert inside.sum() > 500 and (orange[:, 0] > orange[:, 2] + 100).all()   # every sample shows in orange


def test_training_ahead_never_starts_once_paused_and_stops_when_settled():
    from explorer.services.playground import Session
    sess = Session("ring", "bce", "none", 0)
    sess.playing = False                     # Pause came first: a refresh finishing late starts nothing
    sess.train_ahead("both", 50)
    assert sess.settle() == 0 and sess.runs[0].g_steps == 0
    sess.playing = True
    sess.train_ahead("both", 3)
    import time
    deadline = time.time() + 30
    while sess.runs[0].g_steps < 3 and time.time() < deadline:
        time.sleep(0.02)
    assert sess.settle() == 3 and sess.runs[0].g_steps == 3   # bounded by what was asked
    assert sess.settle() == 0
