"""Invert tab: draw or upload a picture, watch the generator find it, then open the found z in Explore."""
from __future__ import annotations

import threading

import gradio as gr
import numpy as np

from explorer.checks import check_whole
from explorer.errors import ConfigError, DataError, ExplorerError
from explorer.render import grid
from explorer.services.inversion import MAX_STEPS
from explorer.services.pixels import public_message
from explorer.ui.common import AppContext, curve_frame, explainer, refused

HELP = """
**Inversion** runs the generator backwards: given a picture, find the z (and class, codes) whose picture
matches it. First the model's **encoder** makes a guess in one pass (it was trained on the generator's own
samples); then the search moves z step by step to bring the picture closer (the curve), matching pixels and
what the judge sees, while a prior term keeps z where random z's live.

**Digits**: draw a thick white digit on the black pad (or upload a photo of one: dark ink on light paper is
turned round). It is prepared as MNIST was: its bounding box scaled into 20 x 20, centred by its mass in 28 x
28. *What the model sees* shows the result. **Faces**: upload a picture (the centre square is used) or take a
held-out face the generator never saw.

**Open in Explore** puts the found z (and class, codes) into the sliders. **Edit in Directions** pushes it
along every attribute by every method, with the side-effect meter reading your picture (models Directions
can steer: faces-dcgan and digits-dcgan, not the conditional or InfoGAN ones). The lesson of the literature: edits
of an inverted z work less well the further that z is from where N(0, I) puts its z's (shown below the
result, in standard deviations); a picture the generator cannot draw gives a z far out, and a close match.

The model is the one picked on the Explore tab.
"""

SOURCES = ["Draw", "Upload", "Held-out face"]


def build(ctx: AppContext, explore: dict, tabs):
    inv, r = ctx.services.inversion, ctx.renderer
    explainer(HELP)
    found = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model_note = gr.Markdown("Pick a model on the Explore tab first.")
            source = gr.Radio(SOURCES, value="Draw", label="Picture from",
                              info="Draw a digit, upload a PNG or JPEG (at most 5 MB), or take a face the "
                                   "generator never saw.")
            sketch = gr.Sketchpad(np.zeros((280, 280, 3), np.uint8), label="Draw a digit (thick, white)", canvas_size=(280, 280), height=300,
                                  brush=gr.Brush(default_size=26, colors=["#ffffff"], color_mode="fixed"),
                                  layers=False, elem_id="invert-sketch")
            upload = gr.Image(label="Upload a picture", type="filepath", sources=["upload", "clipboard"],
                              visible=False, height=240, elem_id="invert-upload")
            with gr.Row(visible=False) as face_row:
                face_seed = gr.Number(1, label="Which held-out face", precision=0, minimum=0, maximum=99_999,
                                      info="Which of the renderer's test faces (0 to 99,999).")
                face = gr.Image(label="The face", type="numpy", interactive=False, height=140,
                                elem_classes="crisp", elem_id="invert-face")
            steps = gr.Slider(0, 500, 50, step=10, label="Search steps",
                              info="After the encoder's guess; 0 shows the guess alone.")
            go = gr.Button("Invert", variant="primary", elem_id="invert-run")
        with gr.Column(scale=2, min_width=360):
            with gr.Row():
                seen = gr.Image(label="What the model sees", type="pil", interactive=False, height=180,
                                elem_classes="crisp", elem_id="invert-seen")
                guess = gr.Image(label="Encoder's guess", type="pil", interactive=False, height=180,
                                 elem_classes="crisp", elem_id="invert-guess")
                result = gr.Image(label="After the search", type="pil", interactive=False, height=180,
                                  elem_classes="crisp", elem_id="invert-result")
            curve = gr.LinePlot(None, x="step", y="value", color="series", label="Pixel error while searching",
                                x_title="step", y_title="mean squared error", elem_id="invert-curve")
            verdict = gr.Markdown(elem_id="invert-verdict")
            with gr.Row():
                open_explore = gr.Button("Open in Explore", elem_id="invert-open")
                edit_directions = gr.Button("Edit in Directions", elem_id="invert-edit")

    def show_source(choice):
        return [gr.Sketchpad(visible=choice == "Draw"), gr.Image(visible=choice == "Upload"),
                gr.Row(visible=choice == "Held-out face")]

    source.change(show_source, source, [sketch, upload, face_row], api_name="invert_source",
                  api_visibility="undocumented")

    def held_out_face(st, k):
        if st is None:
            return gr.skip()
        try:
            return inv.held_out_face(st["model"], k)
        except ExplorerError as e:
            raise gr.Error(public_message(e, r.models.root, ctx.audience), print_exception=False) from None

    gr.on([face_seed.submit, source.change], held_out_face, [explore["state"], face_seed], face,
          api_name="held_out_face")

    def model_changed(st):
        if st is None:
            return "Pick a model on the Explore tab first.", gr.Radio()
        name = st["model"]
        m = r.models.get(name)
        if m.is_points:
            return f"**{name}** draws 2-D points: nothing to invert. Pick an image model on Explore.", gr.Radio()
        how = "its encoder's guess, then the search" if inv.has_encoder(name) else \
            "no encoder yet: the search starts from a random z (slower, often a worse match)"
        faces = m.image_shape[0] == 3
        return (f"Inverting **{name}** ({how}).", gr.Radio(value="Held-out face" if faces else "Draw"))

    explore["after_model"].append([(model_changed, [explore["state"]], [model_note, source]),
                                   (held_out_face, [explore["state"], face_seed], face)])

    def invert(st, choice, sketch_v, upload_v, face_v, steps_v):
        """Find the z of a picture; the curve and the pictures update while the search runs."""
        try:
            if st is None:
                raise ConfigError("Pick a model on the Explore tab first")
            steps_n = check_whole(steps_v, 0, MAX_STEPS, "the number of steps")
            picture = {"Draw": (sketch_v or {}).get("composite") if isinstance(sketch_v, dict) else sketch_v,
                       "Upload": upload_v, "Held-out face": face_v}.get(choice)
            if picture is None or (isinstance(picture, np.ndarray) and picture.size == 0):
                raise DataError({"Draw": "the pad is empty: draw a digit first",
                                 "Upload": "no picture uploaded yet",
                                 "Held-out face": "no held-out face yet: enter its number"}.get(choice, "no picture"))
            name = st["model"]
            target = inv.prepare(name, picture)
        except ExplorerError as e:
            message = public_message(e, r.models.root, ctx.audience)
            refused.info("refused invert: %s", message)
            raise gr.Error(message, print_exception=False) from None
        shown = grid(target, nrow=1, scale=4)
        points, box = [], {}

        def work():
            try:
                box["out"] = inv.invert(name, target, steps_n, progress=lambda s, e: points.append((s, e)))
            except Exception as err:   # shown to the person; the server keeps serving
                box["error"] = err

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        yield shown, None, None, None, "Searching…", None
        while worker.is_alive():
            worker.join(0.3)
            if points:
                rows = [{"step": s, "value": e, "series": "best match"} for s, e in points]
                # the picture again, unchanged (an empty diff), not gr.skip(): a skip after a picture empties the
                # value the page holds (see explorer.ui.playground._frames); the others have had no value yet
                yield shown, gr.skip(), gr.skip(), curve_frame(rows), \
                    f"Searching… step {points[-1][0]} of {steps_n}", gr.skip()
        if "error" in box:
            if not isinstance(box["error"], ExplorerError):
                raise box["error"]            # a bug: Gradio reports it, the log keeps its traceback
            raise gr.Error(public_message(box["error"], r.models.root, ctx.audience), print_exception=False)
        got = box["out"]
        res = got["result"]
        m = r.models.get(name)
        rows = [{"step": s, "value": e, "series": "best match"} for s, e in res.curve]
        cls = f" Class found: **{m.class_names[res.label]}**." if res.label is not None else ""
        far = res.prior_distance
        lesson = ("typical of a random z: edits should behave as on samples" if far < 2 else
                  "further out than random z's usually are: edits may behave less cleanly than on samples")
        note = f"\n\n*{got['note']}*" if got["note"] else ""
        start = "the random start" if got["note"] else "the encoder's guess"
        higher = (" (higher: the search also matches what the judge sees in the picture, and trades a little "
                  "pixel error for it)") if res.error > res.guess_error + 1e-6 else ""
        text = (f"Pixel error {res.guess_error:.4f} from {start}, **{res.error:.4f}** after "
                f"{steps_n} steps{higher}.{cls} |z| is {far:.1f} standard deviations from where N(0, I) puts z: {lesson}."
                f"{note}")
        value = {"model": name, "z": [float(v) for v in res.z[0]], "label": res.label, "prior": round(far, 2),
                 "codes": None if res.codes is None else [float(v) for v in res.codes[0]]}
        yield (shown, grid(res.guess, nrow=1, scale=4), grid(res.image, nrow=1, scale=4), curve_frame(rows), text,
               value)

    go.click(invert, [explore["state"], source, sketch, upload, face, steps],
             [seen, guess, result, curve, verdict, found], api_name="invert", concurrency_limit=2)

    def open_in_explore(st, value, dim):
        """The found z (class, codes) into Explore's sliders, and Explore shown."""
        try:
            if not value:
                raise ConfigError("Invert a picture first")
            if st is None or value["model"] != st["model"]:
                raise ConfigError("The Explore tab's model changed since this search: invert again")
        except ExplorerError as e:
            raise gr.Error(str(e), print_exception=False) from None
        m = r.models.get(st["model"])
        codes = value["codes"] or []
        cat = int(np.argmax(codes[:m.cfg.cat_codes])) if m.cfg.cat_codes else None
        cont = [float(v) for v in codes[m.cfg.cat_codes:]]
        new = {**st, "z": value["z"], "label": value["label"], "cat": cat, "cont": cont}
        return [new, explore["draw"](new), explore["draw_strip"](new, dim),
                gr.Dropdown(value=m.class_names[value["label"]]) if value["label"] is not None else gr.skip(),
                gr.Dropdown(value=explore["code_names"](m)[cat]) if cat is not None else gr.skip(),
                *[gr.Slider(value=cont[i]) if i < len(cont) else gr.skip() for i in range(2)],
                *explore["sliders_for"](new), gr.Tabs(selected="explore")]

    open_explore.click(open_in_explore, [explore["state"], found, explore["sweep_dim"]],
                       [explore["state"], explore["live"], explore["strip"], explore["label"], explore["cat"],
                        *explore["cont"], *explore["sliders"], tabs], api_name="open_in_explore")
    return {"found": found, "edit_directions": edit_directions}
