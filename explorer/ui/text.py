"""Text tab: type a sentence, see the faces an AttnGAN draws for it, and which word drew which pixels."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from explorer.checks import check_seed, check_whole
from explorer.services.text import MAX_SAMPLES
from explorer.ui.common import AppContext, explainer, guarded

HELP = """
**Text to image** with an attentional GAN (AttnGAN, Xu et al. 2018), scaled to 32 x 32 faces.

- A **text encoder** (a bidirectional GRU) turns the sentence into one feature per word and one for the whole
  sentence. It was trained first, with an image encoder, to match picture regions with words (**DAMSM**).
- The generator's **first stage** draws a 16 x 16 face from z and the sentence feature (through *conditioning
  augmentation*, a little Gaussian around it). Its **second stage** works at 32 x 32, and there every region
  **attends over the words**: each word's **attention map** below is how much of each region's attention that
  word got. "hat" should light up the top of the head, "sunglasses" the eyes, "beard" the jaw.
- It learnt from sentences the project composed from each training face's exact attributes, so the table can
  say exactly what the sentence asked for and what the independent faces judge reads in each sample.

**Try**: draw a sentence, then **change one word** ("red hat" -> "blue hat", "smiling" -> "not smiling") and
draw again: *What changed* shows where the pixels moved (same seeds), which should be the region the word
names. Only the model's words are read (listed under *Words it knows*); a word outside them is refused with the
nearest known ones.
"""


def build(ctx: AppContext):
    from explorer.data.captions import EXAMPLES
    desk = ctx.services.text
    guard = guarded(ctx)
    explainer(HELP)
    names = desk.names()
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model = gr.Dropdown(names, value=names[0] if names else None, label="Text-to-image model",
                                elem_id="text-model", info="AttnGAN models in the checkpoints folder.")
            about = gr.Markdown(elem_id="text-about")
            caption = gr.Textbox(EXAMPLES[0], label="Sentence", lines=1, max_lines=1, max_length=800,
                                 elem_id="text-caption",
                                 info="Describe a face: hair (long, short, blond, black, bald), hat and its colour, "
                                      "sunglasses, smiling or not, beard, wide or narrow face, background colour. "
                                      "Press Enter or Draw.")
            gr.Examples([[e] for e in EXAMPLES], inputs=[caption], label="Example sentences")
            with gr.Row():
                seed = gr.Number(0, label="First seed", precision=0, minimum=0, maximum=2**32 - 1,
                                 elem_id="text-seed", info="Sample i is drawn from seed + i (the same z as "
                                                           "everywhere else in the app).")
                n = gr.Slider(1, 16, value=8, step=1, label="Samples", elem_id="text-n",
                              info="How many seeds to draw the sentence with.")
            go = gr.Button("Draw", variant="primary", elem_id="text-draw")
            with gr.Accordion("Words it knows", open=False):
                words = gr.Markdown(elem_id="text-words")
        with gr.Column(scale=2, min_width=360):
            samples = gr.Image(label="Samples (seeds left to right)", type="pil", interactive=False,
                               elem_classes="crisp", elem_id="text-samples")
            verdict = gr.Markdown(elem_id="text-verdict")
            table = gr.Dataframe(label="What the sentence asks, and what the faces judge reads in the samples",
                                 elem_id="text-table", wrap=True)
            which = gr.Slider(1, 8, value=1, step=1, label="Sample for the attention maps", elem_id="text-which",
                              info="Which sample's attention to show, counted from the left.")
            attention = gr.Image(label="Each word's attention over the 32 x 32 picture (bright: the regions that "
                                       "attended to it most; each map scaled to its own peak)",
                                 type="pil", interactive=False, elem_id="text-attention")
            changed = gr.Image(label="What changed since the last sentence (same seeds; white: a change of 0.3 or "
                                     "more, 0 to 1)",
                               type="pil", interactive=False, visible=False, elem_classes="crisp",
                               elem_id="text-change")
    last = gr.State(None)     # the last draw on this page: model, seeds, sentence, pictures

    @guard
    def text_pick(name):
        """A model picked: what it is and the words it reads."""
        if not name:
            return gr.skip(), gr.skip()
        vocab = desk.vocabulary(name)
        return desk.describe(name), f"{len(vocab)} words: " + ", ".join(vocab)

    model.change(text_pick, model, [about, words], api_name="text_pick")

    @guard
    def text_draw(name, sentence, first_seed, count, pick, before):
        """The sentence drawn with seeds first_seed .. first_seed + count - 1; the judge's readings; the chosen
        sample's attention per word; and what changed since the last sentence (same model and seeds)."""
        if not name and not desk.names():    # no model in the folder: the tab says so, nothing to refuse
            return (gr.skip(),) * 7
        got = desk.draw(name, sentence, first_seed, count)
        k = min(check_whole(1 if pick is None else pick, 1, MAX_SAMPLES, "the sample"), len(got["seeds"])) - 1
        rows = desk.agreement(got)
        asked = [r for r in rows if r["the sentence says"] != "-"]
        text = f"**\"{' '.join(got['words'])}\"**, seeds {got['seeds'][0]} to {got['seeds'][-1]}."
        if asked:
            text += " The sentence asks about " + ", ".join(
                f"{r['attribute']} ({r['the sentence says']}: {r['samples that agree']} samples agree)" for r in asked)
            text += "."
        elif rows:
            text += " The sentence names none of the seven attributes; the table shows what the judge reads anyway."
        change = desk.change(before, got)
        if change is not None:
            text += (f"\n\nSince \"{change['before']}\": the pictures changed by {change['mean']:.3f} on average per "
                     f"pixel (0 to 1).")
        keep = {k2: got[k2] for k2 in ("model", "seeds", "caption", "images")}
        return (desk.sheet(got), text, pd.DataFrame(rows) if rows else None,
                gr.Slider(maximum=len(got["seeds"]), value=k + 1), desk.attention_sheet(got, k),
                gr.Image(value=change["sheet"] if change else None, visible=change is not None), keep)

    gr.on([go.click, caption.submit], text_draw, [model, caption, seed, n, which, last],
          [samples, verdict, table, which, attention, changed, last], api_name="text_draw", concurrency_limit=4)

    @guard
    def text_attention(name, sentence, first_seed, count, pick):
        """The attention maps of sample `pick` (1-based) of the sentence as drawn."""
        if not name and not desk.names():
            return gr.skip()
        count = check_whole(8 if count is None else count, 1, MAX_SAMPLES, "the number of samples")
        k = min(check_whole(1 if pick is None else pick, 1, MAX_SAMPLES, "the sample"), count) - 1
        seed = (check_seed(first_seed) + k) % 2**32          # sample k is drawn from seed + k: draw it alone
        return desk.attention_sheet(desk.draw(name, sentence, seed, 1), 0)

    which.input(text_attention, [model, caption, seed, n, which], attention, api_name="text_attention",
                trigger_mode="always_last")

    def text_load():
        names = desk.names()
        if not names:
            return (gr.Dropdown(choices=[], value=None),
                    "No text-to-image model in this checkpoints folder yet: train one with `python -m explorer "
                    "train --preset faces-attngan` (about an hour and a half on a laptop CPU).")
        return gr.Dropdown(choices=names, value=names[0]), gr.skip()

    return [(text_load, None, [model, about],
             [(text_pick, [model], [about, words]),
              (text_draw, [model, caption, seed, n, which, last],
               [samples, verdict, table, which, attention, changed, last])])]
