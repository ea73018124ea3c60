"""Interpolate tab: walk between latent points (and classes), as a strip and an animated GIF."""
from __future__ import annotations

import json

import gradio as gr

from explorer.errors import ConfigError, ExplorerError
from explorer.services.pixels import SEED_RULE, check_seed
from explorer.ui.common import AppContext, explainer, guarded, live_view, validator

HELP = """
Pick two (or more) points in z and the generator draws the pictures in between. If the pictures change
smoothly, nearby points in z mean similar pictures: the generator has learned a continuous space rather
than memorising examples.

**lerp** walks a straight line. **slerp** walks along the sphere where random z's actually live (a
straight line's middle is unusually close to the origin, so its pictures can look faded or generic).

For a **conditional** model you can keep z fixed and change the class (tick *hold z still*): the
*style* (slant, thickness, pose) stays while the content changes. Tick *morph classes* to blend the
class input smoothly instead of switching halfway.

The model is the one picked on the Explore tab.
"""


def parse_seeds(text: str, least: int = 2) -> list[int]:
    """'1, 2, 3' -> [1, 2, 3]: the points a path passes through (2 to 8 of them)."""
    parts = [s for s in str(text).replace(";", ",").split(",") if s.strip()]
    try:
        seeds = [check_seed(s) for s in parts]
    except ConfigError:
        raise ConfigError(f"{SEED_RULE}, and seeds are separated by commas; got '{text}'") from None
    if not least <= len(seeds) <= 8:
        raise ConfigError(f"give between {least} and 8 seeds, separated by commas")
    return seeds


def build(ctx: AppContext, explore: dict):
    r = ctx.renderer
    guard = guarded(ctx)
    explainer(HELP)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model_note = gr.Markdown()
            seeds = gr.Textbox("1, 2", label="Seeds along the path",
                               info="Two or more seeds separated by commas; the path passes through each in turn "
                                    "(with Hold z still: only the first is used).")
            use_current = gr.Checkbox(False, label="Start from the Explore tab's current z",
                                      info="Replaces the first seed with the z your sliders have made.")
            # the rows themselves hide for unconditional models: hidden pickers inside a shown row leave a gap
            with gr.Row(visible=False) as class_row:
                from_cls = gr.Dropdown([], type="index", label="From class",
                                       info="Conditional models: the class at the start.")
                to_cls = gr.Dropdown([], type="index", label="To class",
                                     info="The class at the end. Same as the start (the default): only z moves.")
            with gr.Row(visible=False) as class_opts:
                hold = gr.Checkbox(False, label="Hold z still",
                                   info="Class to class at one fixed z (the first point): only the class changes.")
                morph = gr.Checkbox(True, label="Morph classes",
                                    info="Blend the class input smoothly rather than switching halfway.")
            method = gr.Radio(["slerp", "lerp"], value="slerp", label="Path",
                              info="slerp follows the sphere random z's live on; lerp a straight line.")
            steps = gr.Slider(2, 32, 10, step=1, label="Steps", info="Pictures along the path (2 to 32).")
            gr.Markdown("The strip and the GIF follow the Explore tab's model; press Interpolate after changing "
                        "anything here.", elem_classes="hint")
            go = gr.Button("Interpolate", variant="primary")
        with gr.Column(scale=2):
            strip = gr.Image(label="Strip: start on the left, end on the right", format="png", type="filepath",
                             interactive=False, elem_classes="crisp strip", buttons=["download"], height=170,
                             elem_id="interp-strip")
            gr.Slider(0, 1, 0, step=0.001, label="Position along the path", elem_id="interp-pos",
                      interactive=True, info="0 is the start, 1 the end. Your browser draws every point in "
                                             "between while you drag, not only the strip's steps.")
            with gr.Row():
                path_live = live_view(ctx, "interp-live")
                gif = gr.Image(label="Animation (right-click or download to save)", type="filepath", format="gif",
                               interactive=False, buttons=["download"], height=280)

    def interpolate_controls(name):
        """The class pickers for the Explore tab's model (hidden for unconditional models)."""
        try:
            m = r.models.get(name)
        except Exception:
            return [gr.Markdown("Pick a model on the Explore tab first."), gr.Row(visible=False),
                    gr.Row(visible=False), gr.skip(), gr.skip()]
        ch = list(m.class_names)
        vis = bool(m.num_classes)
        note = f"Model: **{name}** (chosen on the Explore tab)."
        if m.is_points:
            note += " It is a 2-D toy model that draws points, not pictures: there is nothing to interpolate here."
        # the same class at both ends, so a two-seeds path changes only z; pick another "To class" to morph
        if not vis:   # the pickers keep their old choices, hidden (emptied ones refuse their own stale value)
            return [gr.Markdown(note), gr.Row(visible=False), gr.Row(visible=False), gr.skip(), gr.skip()]
        return [gr.Markdown(note), gr.Row(visible=True), gr.Row(visible=True),
                gr.Dropdown(choices=ch, value=ch[0]), gr.Dropdown(choices=ch, value=ch[0])]

    controls = [model_note, class_row, class_opts, from_cls, to_cls]

    @guard
    def interpolate(st, seeds_text, current, a, b, hold_v, morph_v, method_v, steps_v):
        """A path through the seeds (and from one class to another): the strip and a looping GIF."""
        if st is None:
            raise ExplorerError("Pick a model on the Explore tab first")
        name = st["model"]
        m = r.models.get(name)
        if m.is_points:
            return gr.skip(), gr.skip(), gr.skip()   # the note says why: a 2-D model draws points, not pictures
        if hold_v and m.num_classes:  # class to class at one z: the first point (or the Explore z)
            zs = [st["z"] if current else r.seed_z(name, parse_seeds(seeds_text, least=1)[0])] * 2
        else:
            zs = [r.seed_z(name, s) for s in parse_seeds(seeds_text)]
            if current:
                zs[0] = st["z"]
        labels = None
        if m.num_classes:
            a = 0 if a is None else a
            b = a if b is None else b
            labels = [a] + [a] * (len(zs) - 2) + [b]
        where = "explore-z" if current else "seeds-" + "-".join(map(str, parse_seeds(seeds_text, least=1)))
        classes = f"-class-{m.class_names[labels[0]]}-to-{m.class_names[labels[-1]]}" if labels else ""
        img, gif_path, _ = r.interpolate(name, zs, labels, steps_v, method_v, class_blend=bool(morph_v),
                                         gif_name=f"{name}-{where}{classes}-{method_v}.gif")
        return r.save(img), gif_path, path_state(m, zs, labels, bool(morph_v), method_v)

    def path_state(m, zs, labels, blend: bool, method_v: str) -> str:
        """The position slider's live view: the path's points and classes, drawn in the page at any position
        (explorer/web/live.js computes the point as Renderer.interpolate does; the codes stay put)."""
        c = m.cfg
        codes = m.sample_codes(1, 0)
        return json.dumps({
            "kind": "path", "model": m.name, "zs": [[float(v) for v in z] for z in zs], "method": method_v,
            "anchors": [[float(j == k) for j in range(m.num_classes)] for k in labels] if labels else None,
            "blend": blend, "t": 0.0, "label": None, "num_classes": m.num_classes, "cat_codes": c.cat_codes,
            "cont_codes": c.cont_codes, "cat": int(codes[0, :c.cat_codes].argmax()) if c.cat_codes else None,
            "cont": [float(v) for v in codes[0, c.cat_codes:]] if codes is not None else [],
            "draw": ctx.draw_plan(m.name)})

    inputs = [explore["state"], seeds, use_current, from_cls, to_cls, hold, morph, method, steps]
    check = validator(None, parse_seeds, None, None, None, None, None, None, None)
    go.click(interpolate, inputs, [strip, gif, path_live], api_name="interpolate", validator=check)
    # a new model (and the first paint) draws the default path at once instead of an empty tab; it waits for
    # Explore's own select_model, which fills the state the path reads
    explore["after_model"].append(((interpolate_controls, explore["model"], controls),
                                   (interpolate, inputs, [strip, gif, path_live])))
