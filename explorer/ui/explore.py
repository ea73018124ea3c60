"""Explore tab: a model, a seed, and sliders over z that redraw the image while you drag."""
from __future__ import annotations

import json
import random

import gradio as gr

from explorer.checks import check_whole
from explorer.errors import ExplorerError
from explorer.services.pixels import check_seed, check_z, codes_tensor, sweep_names
from explorer.ui.common import AppContext, explainer, guarded, live_view, validator

PAGE = 8  # sliders shown at once

HELP = """
Every image here is made by the generator from a list of numbers called **z** (the *latent vector*),
drawn at random from a bell curve. The **seed** picks which random z you start from, so the same seed
always gives the same picture: share it and others see exactly what you see.

Each slider is one entry of z. Drag it and the picture is redrawn as you move: your browser runs the
generator itself (the line under the picture says so), so nothing waits for the server. Most single entries do
something small and mixed (a bit thicker *and* a bit tilted): that is what an **entangled** latent space
looks like. The strip below the sliders shows what the chosen dimension does from -3 to +3 with
everything else held still.

For a **conditional** model the class picker tells the generator what to draw; z then controls the
*style* (slant, thickness, ...). **Truncation** redraws the extreme entries of z: smaller values give
more typical but less varied pictures. For an **InfoGAN** model the codes were learned to mean something
without labels: compare how cleanly they act with how a plain z slider acts.
"""


def code_names(m) -> list[str]:
    """The categorical code's values, each with the digit `eval` matched it to when the card has one."""
    matched = (m.meta or {}).get("metrics", {}).get("eval", {}).get("categorical_code_to_class") or {}
    return [f"code {k}" if str(k) not in matched else f"code {k} (mostly {matched[str(k)]})"
            for k in range(m.cfg.cat_codes)]


def code_slider_labels(m=None) -> list[str]:
    """The two continuous-code sliders' labels: named slant and width where the run turned its codes to them
    (no model: the plain labels the tab starts with)."""
    named = m is not None and (m.meta or {}).get("train", {}).get("align_codes")
    return [f"Continuous code c{i + 1}" + (f": {('slant', 'width')[i]}" if named else "") + " (InfoGAN)"
            for i in range(2)]


def _state(name, seed, z, label=None, cat=None, cont=None, page=0):
    return {"model": name, "seed": seed, "z": z, "label": label, "cat": cat, "cont": cont or [], "page": page}


def build(ctx: AppContext, default_model: str | None):
    r = ctx.renderer
    guard = guarded(ctx)
    explainer(HELP)
    state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model = gr.Dropdown(ctx.model_choices(), value=default_model, label="Model",
                                info="A trained generator from the checkpoints folder, with its one-line card.")
            refresh = gr.Button("Refresh model list", size="sm")
            summary = gr.Markdown()
            with gr.Row():
                seed = gr.Number(0, label="Seed", info="Which random z to start from (a whole number, 0 to "
                                 f"{2**32 - 1}); the same seed is the same picture. Enter to apply.")
            with gr.Row():
                rand = gr.Button("Random seed", size="sm")
                reset = gr.Button("Reset sliders", size="sm")
            label = gr.Dropdown([], label="Class", type="index", visible=False,
                                info="Conditional models: what to draw. z then sets the style.")
            cat = gr.Dropdown([], label="Categorical code (InfoGAN)", type="index", visible=False,
                              info="Learned without labels; it tends to pick the digit, in an order of its own "
                                   "('mostly 8': what eval matched it to).")
            cont = [gr.Slider(-2, 2, 0, step=0.05, label=code_slider_labels()[i], visible=False,
                              elem_classes="codeslider", elem_id=f"code-{i}", interactive=True,
                              info="Learned without labels; often slant or stroke width.") for i in range(2)]
            trunc = gr.Slider(0, 3, 0, step=0.1, label="Truncation",
                              info="0 = off. Redraw z entries larger than this: typical but less varied pictures.")
            page = gr.Dropdown([], value=None, type="index", label="Which z dimensions",
                               info=f"z has many entries; the sliders show {PAGE} at a time.")
            sweep_dim = gr.Dropdown([], value=None, type="index", label="Sweep dimension",
                                    info="The strip shows this entry of z from -3 to +3, all else fixed. InfoGAN "
                                         "models also list their codes: compare a code's strip with a z entry's.")
        # image and strip in the middle, the sliders on the right: all three fit a 1366x768 laptop screen
        with gr.Column(scale=2, min_width=320):
            live = live_view(ctx, "explore-live")
            strip = gr.Image(label="What the sweep dimension does, left to right (its value under each)",
                             format="png", type="filepath", interactive=False, height=120,
                             elem_classes="crisp strip", elem_id="explore-strip")
        with gr.Column(scale=2, min_width=360):
            gr.Markdown("Each slider is one entry of z: drag it and the picture follows.", elem_classes="hint")
            sliders = []
            with gr.Row(equal_height=False):
                for half in range(2):
                    with gr.Column(min_width=170):
                        sliders += [gr.Slider(-3, 3, 0, step=0.01, label=f"z[{i}]", elem_classes="zslider",
                                              elem_id=f"zs-{i}", interactive=True)  # read by live.js
                                    for i in range(half * PAGE // 2, (half + 1) * PAGE // 2)]

    def sliders_for(st):
        base = st["page"] * PAGE
        z = st["z"]
        return [gr.Slider(value=z[base + i] if base + i < len(z) else 0, label=f"z[{base + i}]",
                          visible=base + i < len(z)) for i in range(PAGE)]

    def draw(st):
        """The live view's value: the state the page draws from, and where it draws (see explorer/web/live.js)."""
        m = r.models.get(st["model"])
        return json.dumps({**st, "kind": "explore", "page_size": PAGE, "num_classes": m.num_classes,
                           "cat_codes": m.cfg.cat_codes, "cont_codes": m.cfg.cont_codes,
                           "draw": ctx.draw_plan(st["model"])})

    def draw_strip(st, dim):
        return r.save(r.sweep(st["model"], st["z"], dim or 0, st["label"], st["cat"], st["cont"], labelled=True))

    @guard
    def select_model(name, seed_v, trunc_v):
        if not name:
            raise ExplorerError("No models found: train one (python -m explorer train --preset ...) or pass --checkpoints")
        m = r.models.get(name)
        seed_v = check_seed(0 if seed_v is None else seed_v)
        z = r.seed_z(name, seed_v, trunc_v)
        st = _state(name, seed_v, z, 0 if m.num_classes else None, 0 if m.cfg.cat_codes else None,
                    [0.0] * m.cfg.cont_codes)
        pages = [f"z[{i}] to z[{min(i + PAGE, m.z_dim) - 1}]" for i in range(0, m.z_dim, PAGE)]
        extra = f" Classes: {', '.join(m.class_names)}." if m.num_classes else ""
        if m.is_points:
            extra += (" A 2-D toy model: each z gives one point, not a picture. The orange cloud is 1500 samples"
                      " (what the generator learned to draw); the blue ring is the point for your z.")
        codes = code_names(m)
        card = f"**{name}**: {m.meta.get('summary', '').rstrip('.')}. z has {m.z_dim} dimensions.{extra}"
        return [st, card, draw(st), draw_strip(st, 0),
                gr.Dropdown(choices=list(m.class_names), value=m.class_names[0] if m.num_classes else None,
                            visible=bool(m.num_classes)),
                gr.Dropdown(choices=codes, value=codes[0] if codes else None, visible=bool(codes)),
                *[gr.Slider(value=0, visible=i < m.cfg.cont_codes, label=text)
                  for i, text in enumerate(code_slider_labels(m))],
                gr.Dropdown(choices=pages, value=pages[0]),
                gr.Dropdown(choices=sweep_names(m), value="z[0]"),
                *sliders_for(st)]

    model_outputs = [state, summary, live, strip, label, cat, *cont, page, sweep_dim, *sliders]
    model_event = gr.on([model.change], select_model, [model, seed, trunc], model_outputs, api_name="select_model")

    @guard
    def new_seed(st, seed_v, trunc_v, dim):
        if st is None:
            raise ExplorerError("Pick a model first")
        z = r.seed_z(st["model"], seed_v, trunc_v)
        st = {**st, "seed": check_seed(seed_v), "z": z}
        return [st, draw(st), draw_strip(st, dim), *sliders_for(st)]

    seed_outputs = [state, live, strip, *sliders]
    gr.on([seed.submit, reset.click, trunc.release], new_seed, [state, seed, trunc, sweep_dim], seed_outputs,
          api_name="new_seed", validator=validator(None, check_seed, None, None))

    @guard
    def random_seed(st, trunc_v, dim):
        """A fresh random seed, and its picture."""
        s = random.randrange(0, 2**31)
        return [s, *new_seed(st, s, trunc_v, dim)]

    rand.click(random_seed, [state, trunc, sweep_dim], [seed, *seed_outputs], api_name="random_seed")

    @guard
    def set_codes(st, label_v, cat_v, c1, c2, dim):
        if st is None:
            raise ExplorerError("Pick a model first")
        st = {**st, "label": label_v if st["label"] is not None else None,
              "cat": cat_v if st["cat"] is not None else None, "cont": [c1, c2][: len(st["cont"])]}
        return st, draw(st), draw_strip(st, dim)

    gr.on([label.input, cat.input], set_codes, [state, label, cat, *cont, sweep_dim], [state, live, strip],
          api_name="set_condition")

    @guard
    def commit(st, dim, evt: gr.EventData):
        """A slider let go: the page, which drew every move itself, tells the server the z (and InfoGAN codes)
        it shows; the strip follows. Checked as any z from outside is: NaN or values beyond the limit are
        refused and the state stays as it was."""
        if st is None:
            raise ExplorerError("Pick a model first")
        told = getattr(evt, "_data", None) or {}
        m = r.models.get(st["model"])
        check_z(m, told.get("z"))
        z = [float(v) for v in told["z"]]
        try:
            cont = [float(v) for v in list(told.get("cont") or [])[: m.cfg.cont_codes]]
        except (TypeError, ValueError):
            raise gr.Error("continuous codes must be numbers", print_exception=False) from None
        codes_tensor(m, st["cat"], cont)       # continuous codes: finite, within +-2
        st = {**st, "z": z, "cont": cont}
        return st, draw_strip(st, dim)

    live.commit(commit, [state, sweep_dim], [state, strip], trigger_mode="always_last", show_progress="hidden",
                api_name="commit", concurrency_limit=4)

    @guard
    def set_page(st, p):
        if st is None:
            raise ExplorerError("Pick a model first")
        pages = (r.models.get(st["model"]).z_dim + PAGE - 1) // PAGE
        st = {**st, "page": check_whole(p or 0, 0, pages - 1, "the page of z")}
        return [st, draw(st), *sliders_for(st)]

    page.input(set_page, [state, page], [state, live, *sliders], api_name="set_page")

    @guard
    def sweep(st, dim):
        if st is None:
            raise ExplorerError("Pick a model first")
        return draw_strip(st, dim)

    sweep_dim.input(sweep, [state, sweep_dim], strip, api_name="sweep", show_progress="hidden")

    def refresh_models(current):
        choices = ctx.model_choices(refresh=True)
        names = [c[1] for c in choices]
        return gr.Dropdown(choices=choices, value=current if current in names else (names[0] if names else None))

    refresh.click(refresh_models, model, model, api_name="refresh_models")
    return {"state": state, "model": model, "live": live, "sliders": sliders, "select_model": select_model,
            "seed": seed, "trunc": trunc, "refresh": refresh_models, "outputs": model_outputs,
            # what another tab needs to put a z into Explore (Invert's "Open in Explore")
            "draw": draw, "draw_strip": draw_strip, "sliders_for": sliders_for, "code_names": code_names,
            "strip": strip, "sweep_dim": sweep_dim, "label": label, "cat": cat, "cont": cont,
            "on_load": [(select_model, [model, seed, trunc], model_outputs)],  # other tabs add theirs
            # steps other tabs chain after a model is selected (and after the first paint), reading its state
            "model_event": model_event, "after_model": []}
