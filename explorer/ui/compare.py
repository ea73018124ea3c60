"""Compare tab: a GAN and a VAE of the same data side by side, the course's comparison table measured live."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from explorer.errors import ConfigError
from explorer.ui.common import AppContext, explainer, guarded, validator
from explorer.ui.interpolate import parse_seeds

HELP = """
A **GAN** learns to draw by fooling a critic; a **VAE** (variational autoencoder) learns an **encoder**
(picture -> z) and a **decoder** (z -> picture) together, asking that a picture survive the round trip and
that the encoder's z's look like N(0, I). Here both drew the same data with the same length of z, and the
VAE's decoder has the GAN generator's architecture, so what differs is how they were trained.

- **Samples from the same seeds**: the same z through each. The VAE's are blurrier: its loss is best met
  by the average of what could be there; the GAN's critic calls a blurred picture fake.
- **Reconstructions**: real pictures the models never trained on, through the VAE's encoder and decoder
  (one pass), and through the GAN's separately trained inversion encoder where it has one.
- **Interpolation between two real pictures**: the VAE walks between its encoder's z's; the GAN between
  the z's Invert finds for the two pictures (its encoder's guess, then a search).
- **The table**: each row measured now on held-out data, with a sentence on why the two differ. Only the
  VAE bounds log p(x) (the ELBO); only the GAN draws sharp pictures. *Disentanglement* (MIG, DCI, SAP:
  how separately the z dimensions carry the true factors of the faces) comes from `eval --save`; a
  **beta-VAE** (beta > 1 weighs the KL term up) is the classic way to buy it, paid for in sharpness.
"""


def build(ctx: AppContext):
    cmp = ctx.services.compare
    guard = guarded(ctx)
    explainer(HELP)
    gans, vaes = cmp.choices()      # as the page opens; each page load reads the folder again
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            first = vaes[0] if vaes else None
            gan = gr.Dropdown(gans, value=(cmp.partner(first) if first else None) or (gans[0] if gans else None),
                              label="GAN", elem_id="compare-gan",
                              info="Picking a VAE picks its GAN; a GAN of other data picks a VAE of its data.")
            vae = gr.Dropdown(vaes, value=first, label="VAE", elem_id="compare-vae",
                              info="A VAE (train one with the digits-vae, faces-vae or faces-betavae preset).")
            terms = gr.Markdown(elem_id="compare-terms")
            seeds = gr.Textbox("1, 2, 3, 4, 5, 6, 7, 8", label="Seeds for the samples",
                               info="2 to 8 seeds, separated by commas: the same z for both models.")
            with gr.Row():
                pic_a = gr.Number(0, label="Interpolate from picture", precision=0, minimum=0, maximum=999,
                                  info="Held-out picture number (0-999).")
                pic_b = gr.Number(1, label="to picture", precision=0, minimum=0, maximum=999,
                                  info="Another held-out picture.")
            go = gr.Button("Compare", variant="primary", elem_id="compare-run")
            status = gr.Markdown(elem_id="compare-status")
        with gr.Column(scale=2, min_width=360):
            gan_samples = gr.Image(label="GAN samples", type="pil", interactive=False, elem_classes="crisp",
                                   elem_id="compare-gan-samples", height=130)
            vae_samples = gr.Image(label="VAE samples (the same z)", type="pil", interactive=False,
                                   elem_classes="crisp", elem_id="compare-vae-samples", height=130)
            recon = gr.Image(label="Reconstructions of held-out pictures", type="pil", interactive=False,
                             elem_classes="crisp", elem_id="compare-recon")
            path = gr.Image(label="Between two held-out pictures", type="pil", interactive=False,
                            elem_classes="crisp", elem_id="compare-path")
    table = gr.Dataframe(label="GAN vs VAE, measured now (1,000 pictures each)", wrap=True, max_height=900,
                         elem_id="compare-table", column_widths=["28%", "14%", "14%", "44%"])

    def load():
        gans, vaes = cmp.choices()
        first_vae = vaes[0] if vaes else None
        partner = cmp.partner(first_vae) if first_vae else None
        note = "" if vaes else ("No VAE in this checkpoints folder yet: train one with the digits-vae or faces-vae "
                                "preset (Train tab or `python -m explorer train --preset digits-vae`).")
        return (gr.Dropdown(choices=gans, value=partner or (gans[0] if gans else None)),
                gr.Dropdown(choices=vaes, value=first_vae), note)

    def pick_vae(v, g):
        """A VAE picked: its GAN (same data, same z_dim) beside it, and how like-for-like they are."""
        if not v:
            return gr.skip(), ""
        partner = cmp.partner(v)
        g = partner or g
        return gr.Dropdown(value=g), describe_terms(g, v)

    def pick_gan(g, v):
        """A GAN picked: the VAE stays if the pair compares, else a VAE of the GAN's data takes its place."""
        if g and v:
            try:
                cmp.check_pair(g, v)
            except ConfigError:
                other = cmp.vae_for(g)
                if other:
                    return gr.Dropdown(value=other), describe_terms(g, other)
        return gr.skip(), describe_terms(g, v)

    def describe_terms(g, v):
        try:
            cmp.check_pair(g, v)
            return cmp.same_terms(g, v)
        except ConfigError as e:
            return f"**{e}**"

    @guard
    def compare(g, v, seeds_text, a, b, progress=gr.Progress()):
        cmp.check_pair(g, v)
        progress(0.05, desc="samples from the same seeds")
        sg, sv = cmp.samples(g, v, parse_seeds(seeds_text))
        progress(0.15, desc="reconstructions")
        rec = cmp.reconstructions(g, v, list(range(8)))
        progress(0.3, desc="finding the two pictures' z for the GAN (Invert)")
        walk = cmp.interpolation(g, v, a, b)
        progress(0.5, desc="measuring 1,000 samples of each")
        rows = cmp.table(g, v)
        frame = pd.DataFrame(rows).rename(columns={"row": "measured", "why": "why they differ"})
        note = " ".join(filter(None, [cmp.same_terms(g, v), walk["note"]]))
        return sg, sv, rec["image"], walk["image"], frame, note

    vae.input(pick_vae, [vae, gan], [gan, terms], api_name="compare_pick_vae")
    gan.input(pick_gan, [gan, vae], [vae, terms], api_name="compare_pick_gan")
    go.click(compare, [gan, vae, seeds, pic_a, pic_b],
             [gan_samples, vae_samples, recon, path, table, status], api_name="compare",
             validator=validator(None, None, parse_seeds, None, None), concurrency_limit=2)
    return [(load, None, [gan, vae, status])]
