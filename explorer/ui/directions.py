"""Directions tab: push faces (or digits) along named attributes, several methods side by side, side effects shown."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from explorer.errors import ConfigError
from explorer.services.directions import METHODS_SHOWN, NO_ATTRIBUTES
from explorer.services.pixels import check_seed
from explorer.ui.common import AppContext, NewestWins, explainer, guarded, validator
from explorer.ui.interpolate import parse_seeds

HELP = """
A **direction** is an arrow in z-space: walking along it should change one thing about the picture, say
*add sunglasses*. Each row of the picture is the same faces (top row) pushed the same distance along a
direction found by a different method:

- **gradient**: follow the judge classifier's "sunglasses" score uphill. Simple, but if sunglasses and
  hats went together in the training data, the arrow also adds hats: it is **entangled**.
- **penalized**: the same, minus a penalty for changing any other attribute (the weight sets how much).
- **boundary**: a straight line fitted between samples the judge says have / lack the attribute.
- **conditional**: that boundary with the other attributes' boundaries projected out, so moving along it
  leaves them alone: **disentangled**.
- **pca**: directions of largest variation, found without labels: walk them in *Unsupervised directions*
  below and name what they do.
- **sefa**: also found without labels, in closed form (SeFa, Shen & Zhou 2021): the directions of z that the
  generator's first layer stretches most, read off its weights with no samples at all. The pca and sefa
  rows walk whichever of their directions lies closest to the attribute's gradient direction.

Digits models have no labelled attributes, so they are steered by the digit classifier's *is it a 3?*
score for each class and by two things measured from the pixels: stroke **Thick**ness and **Slant**.

**Your own picture**: invert it on the Invert tab, then *Edit in Directions*: it is edited in the first
column, before the seeds, and the meter reads it. Edits of an inverted z behave less cleanly the further that
z is from where random z's live (the note says how far).

The bar chart is the *side-effect meter*: every attribute's probability for the first edited face. The
matrices compare what each edit changes (rows: the attribute pushed) with how the attributes were
correlated in the data: entangled edits copy the data's correlations.
"""


MAX_FACES = 8   # pictures per row of the edit strip: the seeds, and an inverted picture before them

SHORT = {"original": "orig", "gradient": "grad", "penalized": "pen", "boundary": "bnd", "conditional": "cond",
         "pca": "pca", "sefa": "sefa"}


def bar_label(attribute: str, method: str) -> str:
    return f"{attribute} · {SHORT.get(method, method)}"


def meter_frame(table: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """The side-effect meter's bars, one per (attribute, method), side by side: Gradio's BarPlot stacks bars
    that share an x value, which would add probabilities up, so each bar gets its own x label ("Smiling ·
    grad") and the labels are ordered attribute by attribute. Returns (frame, the x order)."""
    df = pd.DataFrame(table)
    df["bar"] = [bar_label(a, m) for a, m in zip(df["attribute"], df["method"])]
    attrs = list(dict.fromkeys(df["attribute"]))
    order = df.assign(a=df["attribute"].map(attrs.index)).sort_values("a", kind="stable")["bar"].tolist()
    return df, order


def meter_order(names: list[str]) -> list[str]:
    """Every bar the meter can show for a model, attribute by attribute. It is set when the model changes and
    never together with the bars: in Gradio 6.31 a BarPlot update carrying both a new `sort` and new data
    draws the previous data (the meter then lagged one edit behind the pictures)."""
    return [bar_label(a, m) for a in names for m in ("original", *METHODS_SHOWN)]


HEAT_NEG, HEAT_POS = np.array([33, 102, 172]), np.array([178, 24, 43])   # blue below 0, red above: a diverging map


def heat_colour(v: float, scale: float) -> str:
    """CSS for one matrix cell: white at 0, deeper blue or red towards -scale and +scale; blank cells stay white."""
    if not np.isfinite(v):
        return ""
    t = min(abs(v) / scale, 1.0)
    rgb = (255 * (1 - t) + (HEAT_POS if v > 0 else HEAT_NEG) * t).round().astype(int)
    ink = "white" if t > 0.6 else "black"
    return f"background-color: rgb({rgb[0]}, {rgb[1]}, {rgb[2]}); color: {ink}"


def _matrix_frame(m: dict):
    """A matrix as a heatmap table centred on 0 (a pandas Styler, which gr.Dataframe draws with its colours)."""
    # float64 before rounding: a float32 0.66 is shown as 0.6600000262260437
    values = np.asarray(m["matrix"], dtype=np.float64).round(2)
    df = pd.DataFrame(values, columns=m["names"], index=m["names"]).reset_index(names="edited")
    scale = max(1.0, float(np.nanmax(np.abs(values)))) if np.isfinite(values).any() else 1.0
    return df.style.map(lambda v: heat_colour(v, scale), subset=list(m["names"])).format(
        "{:.2f}", subset=list(m["names"]), na_rep="")


def build(ctx: AppContext):
    studio = ctx.services.directions
    guard = guarded(ctx)
    newest = NewestWins()     # the strip's edits: the newest of a page's shows (see NewestWins)
    explainer(HELP)
    attr_models = [m["name"] for m in ctx.renderer.models.names() if studio.supports(m["name"])]
    default = "faces-dcgan" if "faces-dcgan" in attr_models else (attr_models[0] if attr_models else None)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model = gr.Dropdown(ctx.model_choices(), value=default, label="Model",
                                info="Faces models steer by their attributes; unconditional digits models by "
                                     "digit class, stroke thickness and slant.")
            note = gr.Markdown("" if default else NO_ATTRIBUTES)
            attribute = gr.Dropdown([], label="Attribute", info="What to add (positive strength) or remove.")
            methods = gr.CheckboxGroup(list(METHODS_SHOWN), value=["gradient", "penalized", "conditional"],
                                       label="Methods", info="One row of edited pictures per method.")
            strength = gr.Slider(-6, 6, 3, step=0.25, label="Strength",
                                 info="How far to move along each (unit-length) direction in z.")
            penalty = gr.Slider(0, 20, 1, step=0.5, label="Penalty weight (penalized)",
                                info="How much changing the other attributes costs the penalized method.")
            seeds = gr.Textbox("1, 2, 3, 4, 5, 6", label="Seeds",
                               info="The pictures to edit (2 to 8 seeds). Picking an attribute fills in the first "
                                    "seeds whose faces lack it, so there is something to add; type your own after.")
            recompute = gr.Button("Recompute directions", size="sm", visible=not ctx.audience)
            picture = gr.State(None)    # an inverted picture's z ({"model", "z", "prior"}), edited before the seeds
            with gr.Row(visible=False) as picture_row:
                picture_note = gr.Markdown(elem_id="direction-picture-note")
                forget = gr.Button("Forget my picture", size="sm", scale=0, min_width=150)
            status = gr.Markdown()
        with gr.Column(scale=2):
            strips = gr.Image(label="Top: originals. Then one row per method, named on the left.", format="png",
                              type="pil", interactive=False, elem_classes="crisp", elem_id="direction-edits")
            meter = gr.BarPlot(x="bar", y="probability", color="method", label="Side-effect meter "
                               "(first face): every attribute's probability, one bar per method",
                               x_title="attribute · method", y_lim=[0, 1], x_label_angle=-60, height=400,
                               colors_in_legend=[],  # the labels name the methods; a legend would be clipped
                               sort=meter_order(studio.names(default)) if default else None, elem_id="meter")
    with gr.Accordion("Entanglement: what each edit changes, against the data's correlations", open=False):
        matrix_method = gr.Radio(["gradient", "penalized", "boundary", "conditional"], value="gradient",
                                 label="Method for the entanglement matrix",
                                 info="Row: attribute edited; column: change of each attribute per unit of "
                                      "the target's change.")
        cos_method = gr.Radio(["penalized", "boundary", "conditional"], value="conditional",
                              label="Compare the gradient directions with",
                              info="Cosine similarity of each attribute's gradient direction (rows) with this "
                                   "method's directions (columns): 1 on the diagonal means the methods agree.")
        show = gr.Button("Compute matrices", size="sm")
        matrices_hint = gr.Markdown("*Press **Compute matrices** to fill the three tables: red above 0, blue "
                                    "below, white near 0.*")
        ent = gr.Dataframe(label="Entanglement matrix", visible=False, elem_id="entanglement")
        corr = gr.Dataframe(label="Attribute correlation in the training data", visible=False, elem_id="correlation")
        cos = gr.Dataframe(label="Cosine similarity of directions: gradient (rows) vs the chosen method (columns)",
                           visible=False)
    with gr.Accordion("Unsupervised directions (pca, sefa): see what each does, then name it",
                      open=False) as pc_box:
        gr.Markdown("Two ways to find directions without any labels, so they come unnamed. **PCA** (GANSpace): "
                    "the directions along which the generator's early layer varies most over many samples. "
                    "**SeFa**: the directions of z that the first layer's weights stretch most, in closed form "
                    "from the weights alone. Walk one (each row: a seed from -strength to +strength, the "
                    "original in the middle), read what the judge sees change, and give a PC a name. A PC "
                    "named after an attribute (say *Smiling*) is the one the **pca** row above walks for it; "
                    "otherwise the pca and sefa rows walk the direction closest to the attribute's gradient.")
        with gr.Row():
            family = gr.Radio([("PCA (samples' variation)", "pca"), ("SeFa (first layer's weights)", "sefa")],
                              value="pca", label="Found by", elem_id="unsupervised-family",
                              info="Names are given to PCA's directions; SeFa's are walked by number.")
            pc = gr.Slider(0, 9, 0, step=1, label="Direction number",
                           info="0 varies (or stretches) most, 9 least of those kept.")
            pc_strength = gr.Slider(0.5, 6, 3, step=0.5, label="Strength", info="How far each way.")
        with gr.Row():
            pc_label = gr.Textbox(label="Name", max_length=40, scale=3, interactive=not ctx.audience,
                                  info="The instructor names them on this server." if ctx.audience else
                                       "What walking along it changes; saved beside the model. Empty: clear.")
            pc_save = gr.Button("Save name", scale=1, size="md", visible=not ctx.audience)
        pc_status = gr.Markdown()
        with gr.Row():
            pc_img = gr.Image(label="-strength ... original ... +strength", type="pil", interactive=False,
                              elem_classes="crisp", elem_id="pc-walk", scale=2)
            pc_effects = gr.Dataframe(label="Mean change of each attribute's probability (64 samples)", scale=1)
    with gr.Accordion("Vector arithmetic", open=False):
        gr.Markdown("Mean z of samples *with* the attribute minus mean z of those *without*, added in five "
                    "steps to one face: the oldest way to find a direction.")
        with gr.Row():
            arith_seed = gr.Number(7, label="Seed", info="The face to add the difference to (picking an "
                                   "attribute picks a face without it).")
            arith_scale = gr.Slider(0, 6, 3, step=0.5, label="Scale", info="How many times the difference.")
            arith_go = gr.Button("Add the difference")
        arith = gr.Image(label="0 ... scale x (mean with - mean without)", type="pil", interactive=False,
                         elem_classes="crisp")

    def attributes_for(name):
        if not name or not studio.supports(name):
            return gr.Dropdown(choices=[], value=None), NO_ATTRIBUTES, gr.Slider(), "", gr.BarPlot()
        names = studio.names(name)
        return (gr.Dropdown(choices=names, value=names[0]), "",
                gr.Slider(maximum=studio.pc_count(name) - 1, value=0), pc_label_of(name, 0),
                gr.BarPlot(sort=meter_order(names)))   # the order only: the bars come with the edit

    model_outputs = [attribute, note, pc, pc_label, meter]

    @guard
    def seeds_for(name, attr):
        """Seeds whose faces lack the attribute: the edit strip's six and the vector-arithmetic face."""
        if not name or not attr or not studio.supports(name):
            return gr.skip(), gr.skip()
        found = studio.seeds_lacking(name, attr, n=7)
        return ", ".join(map(str, found[:6])), found[6]

    @guard
    def edit(name, attr, meths, s, w, seeds_text, pic=None, request: gr.Request = None):
        if not name or not attr:
            raise ConfigError(NO_ATTRIBUTES)
        z = pic["z"] if pic and pic["model"] == name else None     # the picture belongs to one model
        seeds_list = parse_seeds(seeds_text)[: MAX_FACES - 1] if z is not None else parse_seeds(seeds_text)
        ticket = newest.start(request)
        img, table, clamped, used = studio.edits(name, attr, meths, s, seeds_list, w, picture_z=z)
        if not newest.current(ticket):     # a later edit of this page started meanwhile: its strip shows
            return gr.skip(), gr.skip(), gr.skip()
        msg = f"Strength clamped to {used:g}: beyond that z leaves the region the generator knows." if clamped else ""
        for fam in ("pca", "sefa"):
            if fam in meths:
                msg = " ".join([msg, f"The {fam} row walks {studio.pca_choice(name, attr, fam)}."]).strip()
        if pic and z is None:
            msg = " ".join([msg, f"Your picture was found by {pic['model']}, so it is not edited here."]).strip()
        return img, meter_frame(table)[0], msg

    def edit_if_steerable(name, attr, meths, s, w, seeds_text, pic=None, request: gr.Request = None):
        """The edit that follows a model change or page load: a model without attributes already says so in
        its note, so nothing pops up as an error."""
        if not name or not attr or not studio.supports(name):
            return gr.skip(), gr.skip(), gr.skip()
        return edit(name, attr, meths, s, w, seeds_text, pic, request)

    edit_inputs = [model, attribute, methods, strength, penalty, seeds, picture]
    edit_outputs = [strips, meter, status]
    check_seeds = validator(None, None, None, None, None, parse_seeds)
    # a new model or a picked attribute: seeds that lack it, then the edit (one chain, so the edit sees them)
    follow_ups = [(seeds_for, [model, attribute], [seeds, arith_seed]),
                  (edit_if_steerable, edit_inputs, edit_outputs)]
    model.change(guard(attributes_for), model, model_outputs, api_name="direction_attributes").then(
        seeds_for, [model, attribute], [seeds, arith_seed], api_name="direction_seeds_for_model").then(
        edit_if_steerable, edit_inputs, edit_outputs, api_name="edit_for_model", api_visibility="undocumented")
    attribute.input(seeds_for, [model, attribute], [seeds, arith_seed], api_name="direction_seeds").then(
        edit, edit_inputs, edit_outputs, api_name="edit_for_attribute", api_visibility="undocumented")
    gr.on([methods.change, strength.release, penalty.release, seeds.submit], edit, edit_inputs,
          [strips, meter, status], api_name="edit", trigger_mode="always_last", validator=check_seeds)

    def instructor_only(what):
        if ctx.audience:   # participants share one server: what is saved beside a model is the instructor's
            raise ConfigError(f"{what} is off on this server (audience mode)")

    @guard
    def redo(name, progress=gr.Progress()):
        instructor_only("recomputing directions")
        return studio.recompute(name, progress=lambda f, msg: progress(f, desc=msg))

    recompute.click(redo, model, status, api_name="recompute_directions")

    @guard
    def matrices(name, method, other):
        if not name:
            raise ConfigError(NO_ATTRIBUTES)
        return (gr.Markdown(visible=False),
                *(gr.Dataframe(_matrix_frame(m), visible=True) for m in (
                    studio.entanglement(name, method), studio.data_correlation(name),
                    studio.cosines(name, "gradient", other))))

    show.click(matrices, [model, matrix_method, cos_method], [matrices_hint, ent, corr, cos], api_name="entanglement")

    def pc_label_of(name, k, fam="pca"):
        if fam != "pca":
            return ""
        return studio.pc_names(name).get(f"pc{int(k)}", "") if name and studio.supports(name) else ""

    def steerable(name):
        if not name or not studio.supports(name):
            raise ConfigError(NO_ATTRIBUTES)
        return name

    @guard
    def walk_pc(name, k, s, seeds_text, fam="pca"):
        img, effects = studio.pc_walk(steerable(name), k, parse_seeds(seeds_text), s, fam or "pca")
        return img, pd.DataFrame(effects), pc_label_of(name, k, fam or "pca")

    gr.on([pc_box.expand, pc.release, pc_strength.release, family.input], walk_pc,
          [model, pc, pc_strength, seeds, family], [pc_img, pc_effects, pc_label], api_name="walk_pc",
          trigger_mode="always_last", validator=validator(None, None, None, parse_seeds, None))

    @guard
    def save_pc(name, k, label, fam="pca"):
        instructor_only("naming principal directions")
        if fam == "sefa":
            raise ConfigError("names are given to PCA's directions: pick PCA under Found by, or walk SeFa's by "
                              "number (sefa0, sefa1, ... in the CLI's edit)")
        return studio.name_pc(steerable(name), k, label)

    gr.on([pc_save.click, pc_label.submit], save_pc, [model, pc, pc_label, family], pc_status, api_name="name_pc")

    @guard
    def arithmetic(name, attr, seed, scale):
        if not name or not attr:
            raise ConfigError(NO_ATTRIBUTES)
        return studio.vector_arithmetic(name, attr, seed, scale)

    arith_go.click(arithmetic, [model, attribute, arith_seed, arith_scale], arith, api_name="vector_arithmetic",
                   validator=validator(None, None, check_seed, None))
    def take_picture(value):
        """An inverted picture (from the Invert tab) to edit: the model switched to its model, the attribute
        list for it, the note beside it. Refused for a model Directions cannot steer."""
        if not value:
            raise gr.Error("Invert a picture first", print_exception=False)
        name = value["model"]
        if not studio.supports(name):
            raise gr.Error(f"{name} cannot be steered on the Directions tab (it steers unconditional, code-free "
                           "models: faces-dcgan, digits-dcgan). Invert the picture with one of those.",
                           print_exception=False)
        names = studio.names(name)
        far = value.get("prior", 0.0)
        lesson = ("typical of a random z, so edits should behave as they do on samples" if far < 2 else
                  "further out than random z's, so expect edits to behave less cleanly than on samples: the "
                  "generator's directions were found where random z's live")
        note = (f"**Editing your picture** (first column; the meter reads it). Its z is {far:.1f} standard "
                f"deviations from where N(0, I) puts z: {lesson}.")
        return (gr.Dropdown(value=name), gr.Dropdown(choices=names, value=names[0]), {"model": name, "z": value["z"],
                "prior": far}, note, gr.Row(visible=True), gr.BarPlot(sort=meter_order(names)))

    def forget_picture():
        return None, gr.Row(visible=False)

    forget.click(forget_picture, None, [picture, picture_row], api_name="forget_picture",
                 api_visibility="undocumented").then(
        edit_if_steerable, edit_inputs, edit_outputs, api_name="edit_after_forget", api_visibility="undocumented")
    handle = {"take_picture": (take_picture, [model, attribute, picture, picture_note, picture_row, meter]),
              "edit": (edit_if_steerable, edit_inputs, edit_outputs)}
    return [(attributes_for, model, model_outputs, follow_ups)], model, handle
