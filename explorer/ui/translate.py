"""Translate tab: a picture through pix2pix (a sketch in, a face out) or CycleGAN (add or remove sunglasses)."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from explorer.checks import check_whole
from explorer.errors import ConfigError, DataError
from explorer.render import grid
from explorer.ui.common import AppContext, explainer, guarded

HELP = """
**Image-to-image translation**: the generator's input is a picture, not a z.

- **pix2pix** (Isola et al. 2017) learnt from exact pairs (here every face was also drawn as a line
  drawing). Its generator is a **U-Net**: it squeezes the picture down to 1 x 1 and back, and skip
  connections carry the drawing's lines straight to the output. Its critic, a **PatchGAN**, scores every
  patch of the *drawing beside the output* ("is this face right for this drawing?"), and an L1 term pulls
  the output towards the true face. Its only noise is dropout: *noise variations* turns it on (as the
  paper does at test time) and shows how little it changes - the lesson of the paper.
- **CycleGAN** (Zhu et al. 2017) had no pairs: only faces without sunglasses and faces with them. Two
  generators learn the two ways, each with its own critic, and a face sent there and back must come home
  (the **cycle** term), which keeps the person while the sunglasses change. *Sent back* shows the round trip.

**Draw** a face on the white pad (black lines: a head, eyes, a mouth; try sunglasses or a beard), take a
**held-out** picture the model never saw (and *Draw over it* to change it), or **upload** one (its centre square
is used). The table shows what the faces judge reads in the input and the output.
"""

SOURCES = ["Held-out picture", "Draw", "Upload"]
PAD = 256      # the drawing pad, in pixels (8 x a 32 px picture)


def blank_pad() -> np.ndarray:
    return np.full((PAD, PAD, 3), 255, np.uint8)


def build(ctx: AppContext):
    desk = ctx.services.translation
    guard = guarded(ctx)
    explainer(HELP)
    names = desk.names()
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model = gr.Dropdown(names, value=names[0] if names else None, label="Translator",
                                elem_id="translate-model",
                                info="pix2pix (paired) or CycleGAN (unpaired) models in the checkpoints folder.")
            about = gr.Markdown(elem_id="translate-about")
            direction = gr.Radio([], label="Direction", elem_id="translate-direction",
                                 info="CycleGAN learnt both ways; pix2pix one.")
            source = gr.Radio(SOURCES, value="Held-out picture", label="Picture from", elem_id="translate-source",
                              info="A test picture the model never trained on, your drawing, or an upload "
                                   "(PNG or JPEG, at most 5 MB).")
            with gr.Row() as held_row:
                held = gr.Number(0, label="Which held-out picture", precision=0, minimum=0, maximum=99_999,
                                 info="0 to 99,999.", elem_id="translate-held")
                held_pic = gr.Image(label="The picture", type="numpy", interactive=False, height=140,
                                    elem_classes="crisp", elem_id="translate-held-pic")
            draw_over = gr.Button("Draw over it", size="sm", elem_id="translate-draw-over")
            pad = gr.Sketchpad(blank_pad(), label="Draw a face (black lines on white)", canvas_size=(PAD, PAD),
                               height=300, visible=False, layers=False, elem_id="translate-pad",
                               brush=gr.Brush(default_size=5, colors=["#000000", "#afafaf", "#ffffff"],
                                              color_mode="fixed"))
            upload = gr.Image(label="Upload a picture", type="filepath", sources=["upload", "clipboard"],
                              visible=False, height=240, elem_id="translate-upload")
            variations = gr.Checkbox(False, label="Noise variations (pix2pix)", elem_id="translate-variations",
                                     info="Also translate with dropout on, for 4 noise seeds.")
            go = gr.Button("Translate", variant="primary", elem_id="translate-run")
        with gr.Column(scale=2, min_width=360):
            with gr.Row():
                seen = gr.Image(label="What the model sees", type="pil", interactive=False, height=180,
                                elem_classes="crisp", elem_id="translate-seen")
                output = gr.Image(label="Output", type="pil", interactive=False, height=180,
                                  elem_classes="crisp", elem_id="translate-output")
                third = gr.Image(label="True picture / sent back", type="pil", interactive=False, height=180,
                                 elem_classes="crisp", elem_id="translate-third")
            noisy = gr.Image(label="Noise variations (dropout on, seeds 0-3)", type="pil", interactive=False,
                             height=120, elem_classes="crisp", visible=False, elem_id="translate-noisy")
            verdict = gr.Markdown(elem_id="translate-verdict")
            glance = gr.Image(label="At a glance: 8 held-out inputs, their outputs below (and the way back)",
                              type="pil", interactive=False, elem_classes="crisp", elem_id="translate-glance")
            table = gr.Dataframe(label="What the faces judge reads (probability of each attribute)",
                                 elem_id="translate-table", wrap=True)

    @guard
    def translate_pick(name):
        """A translator picked: what it is, its directions, the sources that suit it."""
        if not name:          # no translator in the folder: the tab says so, nothing to refuse
            return (gr.skip(),) * 5
        t = desk.get(name)
        dirs = desk.directions(name)
        sources = SOURCES if t.method == "pix2pix" else [s for s in SOURCES if s != "Draw"]
        return (desk.describe(name), gr.Radio(choices=dirs, value=dirs[0][1], visible=len(dirs) > 1),
                gr.Radio(choices=sources, value="Held-out picture"),
                gr.Checkbox(visible=t.method == "pix2pix", value=False),
                gr.Button(visible=t.method == "pix2pix"))

    model.change(translate_pick, model, [about, direction, source, variations, draw_over],
                 api_name="translate_pick")

    def show_source(choice, name):
        drawable = bool(name) and name in desk.names() and desk.get(name).method == "pix2pix"
        return (gr.Row(visible=choice == "Held-out picture"),
                gr.Button(visible=choice == "Held-out picture" and drawable),
                gr.Sketchpad(visible=choice == "Draw"), gr.Image(visible=choice == "Upload"))

    source.change(show_source, [source, model], [held_row, draw_over, pad, upload], api_name="translate_source",
                  api_visibility="undocumented")

    @guard
    def translate_held_out(name, k, d):
        if not name:
            return None
        return desk.held_out(name, k, d or "forward")["input"]

    gr.on([held.submit, direction.change, model.change], translate_held_out, [model, held, direction], held_pic,
          api_name="translate_held_out")

    @guard
    def translate_glance(name, d):
        """Eight held-out inputs through the model, the way it was picked."""
        if not name:
            return None
        return desk.glance(name, d or "forward")

    gr.on([direction.change, model.change], translate_glance, [model, direction], glance,
          api_name="translate_glance")

    @guard
    def to_pad(name, k, d):
        """The held-out picture onto the drawing pad (8x, nearest), to draw over it."""
        pic = desk.held_out(name, k, d or "forward")["input"]
        big = np.kron(pic, np.ones((PAD // pic.shape[0], PAD // pic.shape[1], 1), np.uint8))
        return big, gr.Radio(value="Draw")

    draw_over.click(to_pad, [model, held, direction], [pad, source], api_name="translate_draw_over")

    @guard
    def translate(name, d, choice, k, pad_v, upload_v, var):
        """The chosen picture through the translator; a table of the judge's readings of input and output."""
        t = desk.get(name)
        d = d or "forward"
        truth = None
        if choice == "Held-out picture":
            k = check_whole(0 if k is None else k, 0, 99_999, "the held-out picture")
            ex = desk.held_out(name, k, d)
            picture, truth = ex["input"], ex["truth"]
        elif choice == "Draw":
            picture = (pad_v or {}).get("composite") if isinstance(pad_v, dict) else pad_v
            if picture is None or not isinstance(picture, np.ndarray) or picture.size == 0:
                raise DataError("the pad is empty: draw a face first")
        elif choice == "Upload":
            if not upload_v:
                raise DataError("no picture uploaded yet")
            picture = upload_v
        else:
            raise ConfigError(f"pick where the picture comes from ({', '.join(SOURCES)})")
        got = desk.translate(name, picture, d, variations=bool(var))
        sheet = lambda x: grid(x, nrow=x.shape[0], scale=4)  # noqa: E731
        if truth is not None:
            got["truth"] = desk.prepare(name, truth)
        rows = desk.readings(name, got)
        a, b = (t.domains if d == "forward" else t.domains[::-1])
        if got["back"] is not None:
            third_v, third_label = sheet(got["back"]), f"Sent back ({b} -> {a}): the cycle"
            gap = ((got["back"] - got["input"]).abs().mean() / 2).item()
            text = f"**{a} -> {b}**. The round trip comes home within {gap:.3f} mean absolute pixel difference."
        elif got.get("truth") is not None:
            third_v, third_label = sheet(got["truth"]), "The true face (never shown to the model)"
            gap = ((got["output"] - got["truth"]).abs().mean() / 2).item()
            text = f"**{a} -> {b}**. L1 to the true face: {gap:.3f} (mean absolute pixel difference, 0 to 1)."
        else:
            third_v, third_label, text = None, "True picture / sent back", f"**{a} -> {b}**."
        if got["variations"] is not None:
            spread = got["variations"].std(0).mean().item() / 2
            text += (f" With dropout on, the 4 outputs differ by {spread:.4f} on average per pixel: "
                     f"{'the noise is nearly ignored (as the paper found)' if spread < 0.02 else 'the noise matters'}.")
        frame = pd.DataFrame(rows) if rows else None
        return (sheet(got["input"]), sheet(got["output"]), gr.Image(value=third_v, label=third_label),
                gr.Image(value=sheet(got["variations"]) if got["variations"] is not None else None,
                         visible=got["variations"] is not None), text, frame)

    go.click(translate, [model, direction, source, held, pad, upload, variations],
             [seen, output, third, noisy, verdict, table], api_name="translate", concurrency_limit=4)

    def translate_load():
        names = desk.names()
        if not names:
            return (gr.Dropdown(choices=[], value=None),
                    "No translator in this checkpoints folder yet: train one with the faces-pix2pix or "
                    "faces-cyclegan-sunglasses preset (Train tab, or `python -m explorer train --preset "
                    "faces-pix2pix`).")
        return gr.Dropdown(choices=names, value=names[0]), gr.skip()

    return [(translate_load, None, [model, about],
             [(translate_pick, [model], [about, direction, source, variations, draw_over]),
              (translate_held_out, [model, held, direction], held_pic),
              (translate_glance, [model, direction], glance)])], model
