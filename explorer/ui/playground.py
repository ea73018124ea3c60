"""Playground tab: small 2-D GANs learning live, GAN Lab style; two runs side by side on the same data and seed."""
from __future__ import annotations

import asyncio
import time
import weakref

import anyio
import gradio as gr

from explorer.checks import check_whole
from explorer.errors import ExplorerError
from explorer.render import histogram, plane
from explorer.services.playground import Session
from explorer.training.playground import DISTRIBUTIONS, LOSSES, ToyRun
from explorer.services.pixels import check_seed
from explorer.ui.common import AppContext, curve_frame, explainer, guarded, validator

HELP = """
Two small GANs (3 layers of 128 units) learn the same 2-D distribution from the same seed, so the only
difference between the two pictures is the loss. **Black dots** are real data, **orange dots** are the
generator's samples (the same z every frame, so you follow the same points). The background is the
discriminator's opinion: **green** where it says *real*, **purple** where it says *fake* (for BCE, the
probability D(x); for WGAN, the critic's score, scaled to its range in this frame). **Red arrows** show
where the generator's gradient pushes each sample: downhill in its loss, uphill in the critic. The faint
**blue grid** is a square grid of z bent by the generator: where it folds and stretches, the generator
spreads or gathers probability.

Things to try: **BCE vs WGAN-GP** on *25gaussians*: BCE **never covers the grid**: it holds 0 to 4 of the 25
modes over its first 6,000 steps, most of its samples strung between them, while WGAN-GP spreads over the grid
and has all 25 by about step 4,500 (about two minutes of Play on a 2-core laptop, both runs side by side and the
browser on the same machine). On *8gaussians* BCE **collapses** within about a minute: it chases one mode at a
time early on (the captured count jumps around), then sits on 3 of the 8, while WGAN-GP settles on all eight.
**Weight clipping vs gradient penalty**: clipping pins almost every critic weight at +-0.01 (see the
histogram) and gives a blunt critic; the penalty keeps weights free and the critic sharp. **Saturating
BCE**: once D wins, the arrows shrink to nothing (**vanishing gradients**). Step the critic alone a few
times to see it sharpen, then the generator alone to see the samples follow the arrows.

A mode counts as **captured** when at least 20 of 2,500 samples lie within 3 standard deviations of its
centre; the **high-quality** share is the fraction of samples that lie that close to any centre (the way
VEEGAN and PacGAN count them).
"""

PAIRS = {  # a quick choice for the comparison the course makes
    "BCE vs WGAN-GP": ("bce", "wgangp"),
    "Weight clipping vs gradient penalty": ("wgan", "wgangp"),
    "Saturating vs non-saturating BCE": ("bce-saturating", "bce"),
}
TICK_S = 0.15          # while playing, a refresh starts at most this often (the pictures ~6.7 times a second)
BUDGET_S = 0.08        # training time per refresh beyond what trained while the last one travelled to the page
PLAY_LIMIT_S = 3600    # a page left playing pauses itself after an hour (closing the page stops it at once)
# while playing, the weight histograms and loss curves are redrawn at most this often (the pictures every
# refresh). On every event Gradio's page copies the value of every component the app's events track, changed or
# not, so the curves stay small: the last CURVE_STEPS steps, one point in CURVE_EVERY
PLOTS_S = 1.0
CURVE_STEPS, CURVE_EVERY = 600, 6
# frames go out as JPEG: WebP (Gradio's default) took 27 ms to encode one 420 px field on this CPU, JPEG 1 ms
FRAME_FORMAT = "jpeg"
STEP_WORDS = {"both": "critic then generator", "critic": "critic only", "generator": "generator only"}
CURVE_NAMES = {"loss_d": "D loss", "loss_g": "G loss", "wasserstein": "Wasserstein estimate"}
LAYERS = ["critic field", "gradient arrows", "z-grid warp", "real points"]
REFRESHES_AT_ONCE = 4  # refreshes drawn at once across every visitor's Play (the others wait their turn)
_slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # event loop -> its semaphore


def _refresh_slot() -> asyncio.Semaphore:
    """The server's REFRESHES_AT_ONCE slots (one semaphore per event loop: an asyncio one belongs to its loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(REFRESHES_AT_ONCE)
    return _slots[loop]


def _caption(run: ToyRun, view) -> str:
    loss = LOSSES[run.loss_name]
    lines = [f"**{loss}**: generator step {view.g_steps:,}, critic step {view.d_steps:,} "
             f"({run.n_critic} critic step(s) per generator step)"]
    if view.coverage:
        c = view.coverage
        lines.append(f"Modes captured **{c['modes_captured']} / {c['modes_total']}**, "
                     f"high-quality samples **{c['high_quality']:.0%}**")
    else:
        lines.append("Modes are counted on the Gaussian mixtures (8gaussians, 25gaussians).")
    lines.append(f"Background: {view.field_label}. Mean gradient length on the samples: {view.arrow_scale:.3g}")
    return "  \n".join(lines)


def _frames(sess: Session, layers: list[str], plots: bool = True):
    """Per side: the picture, its caption, the critic's weight histogram and the loss curves. When `plots` is
    False the histogram and curves are the ones drawn last, sent again unchanged: redrawing them costs the page
    more than the pictures do, and an unchanged value reaches a stream's page as an empty diff. Not gr.skip():
    Gradio's page applies a stream's diffs in place, to the very value the component holds, so a skip after a
    plot turns the plot's value into an empty update, which it draws blank (and fails on) once it is drawn
    again, as after a visit to another tab."""
    show = {k: k in layers for k in LAYERS}

    def side(run: ToyRun) -> list:
        v = run.view()
        img = plane(v, field=show["critic field"], arrows=show["gradient arrows"], warp=show["z-grid warp"],
                    real=show["real points"])
        if not plots and id(run) in sess.plots_shown:
            return [img, _caption(run, v), *sess.plots_shown[id(run)]]
        names = {**CURVE_NAMES, "loss_d": "D loss" if run.loss_name.startswith("bce") else "critic loss"}
        shown = v.history[::-CURVE_EVERY][:CURVE_STEPS // CURVE_EVERY][::-1]   # ending at the last step
        rows = [{"step": row["step"], "value": row[key], "series": names[key]}
                for row in shown for key in CURVE_NAMES if key in row]
        sess.plots_shown[id(run)] = plots_now = (histogram(v.weights, bound=v.clip), curve_frame(rows))
        return [img, _caption(run, v), *plots_now]

    out = [x for part in sess.draw(side) for x in part]   # the two sides drawn at once
    if len(sess.runs) == 1:
        out += [None, "No second run: choose one on the right to compare.", None, None]
    return out


def build(ctx: AppContext) -> dict:
    guard = guarded(ctx)
    with gr.Row():   # compact, so both fields fit a 1366x768 screen under the controls (the help is below them)
        dist = gr.Dropdown(list(DISTRIBUTIONS), value="8gaussians", label="Data",
                           info="Blobs (countable modes), ring, swiss roll.")
        pair = gr.Dropdown(list(PAIRS), value="BCE vs WGAN-GP", label="Compare", info="A classic pair of losses.")
        left = gr.Dropdown([(v, k) for k, v in LOSSES.items()], value="bce", label="Left run", info="Its loss.")
        right = gr.Dropdown([(v, k) for k, v in LOSSES.items()] + [("none", "none")], value="wgangp",
                            label="Right run", info="'none': one run alone.")
        seed = gr.Number(0, label="Seed", info="The same for both runs.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            with gr.Row():
                play = gr.Button("Play", variant="primary", min_width=60)
                pause = gr.Button("Pause", min_width=60)
                step_both = gr.Button("Step D+G", min_width=80)
                step_d = gr.Button("Step D only", min_width=90)
                step_g = gr.Button("Step G only", min_width=90)
                reset = gr.Button("Reset", min_width=60)
            status = gr.Markdown("Small GANs learn 2-D point clouds live. Press **Play**, or step them by hand.",
                                 elem_id="playground-status")
            # the refreshes write only here: one that lands after Pause cannot replace "Paused." above
            rate = gr.Markdown(elem_id="playground-rate", elem_classes="hint")
        with gr.Column(scale=2):
            speed = gr.Slider(1, 100, 20, step=1, label="Speed: generator steps per refresh",
                              info=f"Up to {1 / TICK_S:.0f} refreshes a second; the runs train on between them.")
            layers = gr.CheckboxGroup(LAYERS, value=LAYERS, label="Show", container=False)
    views = []
    with gr.Row():
        for side in ("Left", "Right"):
            with gr.Column():
                img = gr.Image(label=f"{side} run", type="pil", interactive=False, height=280,
                               elem_classes="field", format=FRAME_FORMAT)
                cap = gr.Markdown()
                hist = gr.Image(label="Critic weights (dashed: the clipping bound)", type="pil",
                                interactive=False, height=110, format=FRAME_FORMAT)
                # no fixed height: a LinePlot given one clips its own legend (Gradio 6.31)
                curves = gr.LinePlot(x="step", y="value", color="series", color_title="",
                                     label=f"{side} run: losses (last {CURVE_STEPS} steps)", elem_classes="curves")
                views += [img, cap, hist, curves]
    explainer(HELP)
    state = gr.State(None)
    outputs = views

    def session(sess, d, lft, rgt, sd) -> Session:
        settings = (d, lft, rgt, check_seed(sd))
        if sess is None or sess.settings != settings:  # a new choice starts new runs
            sess = ctx.services.playground(*settings)
        return sess

    def restart(old, d, lft, rgt, sd, lay):
        """New runs from step 0 for the chosen data, losses and seed. The page's old runs stop, and a Play
        under way with them (it would go on drawing them over the new ones)."""
        sess = ctx.services.playground(d, lft, rgt, check_seed(sd))
        if old is not None:
            old.stop()
        return [sess, *_frames(sess, lay), "New runs at step 0: press Play, or step them by hand."]

    def stepper(mode: str):
        def step_once(sess, d, lft, rgt, sd, lay):
            sess = session(sess, d, lft, rgt, sd)
            sess.advance(mode, 1)
            return [sess, *_frames(sess, lay), f"One step: {STEP_WORDS[mode]}."]
        step_once.__name__ = f"step_{mode}"
        return guard(step_once)

    def refresh(sess, d, lft, rgt, sd, lay, n):
        """One refresh while playing: what trained since the last one (more within BUDGET_S if the speed asks
        for it), drawn; training goes on while it travels to the page. Returns the state, the views, the status
        line (untouched unless a run stopped) and the rate line."""
        try:
            n = check_whole(n, 1, 100, "speed")
            sess = session(sess, d, lft, rgt, sd)
            if not sess.playing:   # paused while this refresh waited: draw nothing
                sess.settle()
                return [sess] + [gr.skip()] * len(outputs) + [gr.skip(), gr.skip()]
            t0 = time.perf_counter()
            since = sess.refreshed_at or t0
            done = sess.settle()   # the steps trained since the last refresh went out
            if done < n:
                done += sess.advance("both", n - done, budget_s=BUDGET_S)
            plots = sess.plots_at is None or t0 - sess.plots_at >= PLOTS_S
            frames = _frames(sess, lay, plots)
            now = time.perf_counter()
            if plots:
                sess.plots_at = now
            per_s = done / max(now - since, 1e-9)
            sess.refreshed_at = now
            note = f"Last refresh: {done} generator steps per run, {per_s:.0f} a second."
            if done < n:
                note += f" (This machine managed {done} of the {n} asked for.)"
            if sess.playing:   # train on while this refresh travels to the page and is drawn there
                sess.train_ahead("both", n)
            # the status line is Play's and Pause's: a refresh landing after Pause leaves "Paused." as it is
            return [sess, *frames, gr.skip(), note]
        except ExplorerError as e:  # e.g. a run diverged: stop playing and say why
            if sess is not None:   # this Play ends (nothing trains ahead after a failed refresh) and says why
                sess.playing = False
            return [sess] + [gr.skip()] * len(outputs) + [f"Paused: {e}", gr.skip()]

    async def stream(sess, d, lft, rgt, sd, lay, n):
        """Play: refreshes one after another, each at most every TICK_S, while the page's runs play. One event
        for the whole of Play, so the page pays Gradio's per-event bookkeeping (about 80 ms of its CPU here,
        more than a refresh's drawing) once, not on every picture; the speed and layers the page changes
        meanwhile reach it through the session. Ends at Pause, at a stop (a diverged run), at a newer Play of
        the same page, or after PLAY_LIMIT_S; Gradio stops it when the page closes."""
        if sess is None:
            return
        mine = sess.plays = sess.plays + 1
        sess.speed, sess.layers = n, lay
        started, sent = time.perf_counter(), False
        while sess.playing and sess.plays == mine:
            t0 = time.perf_counter()
            if t0 - started > PLAY_LIMIT_S:
                sess.stop()     # ends this Play: the message below is its last word
                yield [gr.skip()] * len(outputs) + [f"Paused after {PLAY_LIMIT_S // 60} minutes of Play: press "
                                                    "Play to go on.", gr.skip()]
                return
            async with _refresh_slot():
                out = await anyio.to_thread.run_sync(refresh, sess, d, lft, rgt, sd, sess.layers, sess.speed)
            if sess.plays != mine:   # Pause, Reset or another Play came meanwhile: the page shows theirs
                break
            yield out[1:]
            sent = any(not isinstance(v, type(gr.skip())) for v in out[1:1 + len(outputs)])   # it drew the runs
            await asyncio.sleep(max(0.0, TICK_S - (time.perf_counter() - t0)))
        if sent:   # Gradio's end-of-event message repeats the last output whole: let it be one that changes
            yield [gr.skip()] * (len(outputs) + 2)     # nothing, not old runs landing after Reset's or Pause's

    def redraw(sess, lay):
        """The runs drawn whole: after Pause, a change of layers, and the end of every Play (whose stream's last
        message leaves the values the page holds as empty updates, see _frames). A run that diverged keeps its
        last picture: the status line says why it stopped."""
        try:
            return _frames(sess, lay) if sess else [gr.skip()] * len(outputs)
        except ExplorerError:
            return [gr.skip()] * len(outputs)

    common = [state, dist, left, right, seed, layers]
    reset.click(guard(restart), common, [state, *outputs, status], api_name="playground_reset",
                validator=validator(None, None, None, None, check_seed, None))
    for btn, mode in ((step_both, "both"), (step_d, "critic"), (step_g, "generator")):
        btn.click(stepper(mode), common, [state, *outputs, status], api_name=f"playground_step_{mode}",
                  validator=validator(None, None, None, None, check_seed, None))
    def play_runs(sess, d, lft, rgt, sd, lay):
        """Mark the page's runs as playing (made first if the page has none yet); the stream follows."""
        sess = session(sess, d, lft, rgt, sd)
        sess.playing, sess.refreshed_at, sess.plots_at = True, None, None
        return sess, "Playing..."

    def pause_runs(sess):
        """Stop playing; a refresh already under way sees the flag (and never writes the status line)."""
        if sess is not None:
            sess.stop()
        return sess, "Paused."

    def follow(sess, n, lay):
        """The speed and layers a playing page changes: its stream reads them from the session."""
        if sess is not None:
            sess.speed, sess.layers = n, lay

    # Play and Pause only flip a flag: they never wait in the queue behind another visitor's long event
    play.click(guard(play_runs), common, [state, status], api_name="playground_play",
               validator=validator(None, None, None, None, check_seed, None), concurrency_limit=None).then(
        stream, common + [speed], [*outputs, status, rate], api_name="playground_stream",
        api_visibility="undocumented", show_progress="hidden", show_progress_on=rate, concurrency_limit=None).then(
        redraw, [state, layers], outputs, show_progress="hidden")
    pause.click(pause_runs, state, [state, status], api_name="playground_pause", concurrency_limit=None).then(
        redraw, [state, layers], outputs, show_progress="hidden")   # the paused runs whole, loss curves included
    gr.on([speed.change, layers.change], follow, [state, speed, layers], None, queue=False,
          show_progress="hidden", api_name="playground_follow", api_visibility="undocumented")
    pair.change(lambda p: PAIRS[p], pair, [left, right], api_name="playground_pair")
    for ctl, what in ((dist, "data"), (left, "left"), (right, "right")):
        ctl.change(guard(restart), common, [state, *outputs, status], api_name=f"playground_{what}_changed",
                   show_progress="hidden")
    layers.change(redraw, [state, layers], outputs, api_name="playground_layers", show_progress="hidden")
    return {"on_load": [(guard(restart), common, [state, *outputs, status])]}
