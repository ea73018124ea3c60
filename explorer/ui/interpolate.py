"""Interpolate tab: walk between latent points (and classes), as a strip and an animated GIF."""
from __future__ import annotations

import gradio as gr

from explorer.errors import ConfigError
from explorer.ui.common import AppContext, explainer, guarded

HELP = """
Pick two (or more) points in z and the generator draws the pictures in between. If the pictures change
smoothly, nearby points in z mean similar pictures: the generator has learned a continuous space rather
than memorising examples.

**lerp** walks a straight line. **slerp** walks along the sphere where random z's actually live (a
straight line's middle is unusually close to the origin, so its pictures can look faded or generic).

For a **conditional** model you can keep z fixed and change the class: the *style* (slant, thickness,
pose) stays while the content changes. Tick *morph classes* to blend the class input smoothly instead
of switching halfway.
"""


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in str(text).replace(";", ",").split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"seeds must be whole numbers separated by commas, got '{text}'") from None
    if not 2 <= len(seeds) <= 8:
        raise ConfigError("give between 2 and 8 seeds")
    return seeds


def build(ctx: AppContext, explore: dict):
    r = ctx.renderer
    guard = guarded(ctx)
    explainer(HELP)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            seeds = gr.Textbox("1, 2", label="Seeds along the path",
                               info="Two or more seeds separated by commas; the path passes through each in turn.")
            use_current = gr.Checkbox(False, label="Start from the Explore tab's current z",
                                      info="Replaces the first seed with the z your sliders have made.")
            with gr.Row():
                from_cls = gr.Dropdown([], type="index", label="From class", visible=False,
                                       info="Conditional models: the class at the start.")
                to_cls = gr.Dropdown([], type="index", label="To class", visible=False,
                                     info="The class at the end (same as start: only z moves).")
            morph = gr.Checkbox(True, label="Morph classes", visible=False,
                                info="Blend the class input smoothly rather than switching halfway.")
            method = gr.Radio(["slerp", "lerp"], value="slerp", label="Path",
                              info="slerp follows the sphere random z's live on; lerp a straight line.")
            steps = gr.Slider(2, 32, 10, step=1, label="Steps", info="Pictures along the path (2 to 32).")
            go = gr.Button("Interpolate", variant="primary")
        with gr.Column(scale=2):
            strip = gr.Image(label="Strip", format="png", type="filepath", interactive=False)
            gif = gr.Image(label="Animation (right-click or download to save)", type="filepath", format="gif",
                           interactive=False, buttons=["download"], height=280)

    def class_controls(name):
        try:
            m = r.models.get(name)
        except Exception:
            return [gr.Dropdown(visible=False)] * 2 + [gr.Checkbox(visible=False)]
        ch = list(m.class_names)
        vis = bool(m.num_classes)
        return [gr.Dropdown(choices=ch, value=ch[0] if vis else None, visible=vis),
                gr.Dropdown(choices=ch, value=ch[-1] if vis else None, visible=vis), gr.Checkbox(visible=vis)]

    explore["model"].change(class_controls, explore["model"], [from_cls, to_cls, morph], api_name=False)
    explore["on_load"].append((class_controls, explore["model"], [from_cls, to_cls, morph]))

    @guard
    def interpolate(st, seeds_text, current, a, b, morph_v, method_v, steps_v):
        if st is None:
            raise gr.Error("Pick a model on the Explore tab first")
        name = st["model"]
        zs = [r.seed_z(name, s) for s in parse_seeds(seeds_text)]
        if current:
            zs[0] = st["z"]
        m = r.models.get(name)
        labels = None
        if m.num_classes:
            a = 0 if a is None else a
            b = a if b is None else b
            labels = [a] + [a] * (len(zs) - 2) + [b]
        img, gif_path, _ = r.interpolate(name, zs, labels, int(steps_v), method_v, class_blend=bool(morph_v))
        return r.save(img), gif_path

    go.click(interpolate, [explore["state"], seeds, use_current, from_cls, to_cls, morph, method, steps],
             [strip, gif], api_name="interpolate")
