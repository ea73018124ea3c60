"""Model cards: a one-line summary and a README for every checkpoint folder."""
from __future__ import annotations

import json
import re

from explorer.losses import LOSSES
from explorer.store.config import TrainConfig

DATA_NAMES = {"digits": "MNIST digits", "fashion": "Fashion-MNIST", "faces": "synthetic faces",
              "celeba": "CelebA-layout faces", "folder": "an image folder", "toy2d": "2-D toy points",
              "faces-sketch": "synthetic faces from line drawings", "pairs": "paired image folders",
              "domains": "two unpaired picture sets", "faces-captions": "synthetic faces"}


def _loss_title(name: str) -> str:
    return LOSSES[name].title if name in LOSSES else name


def describe(cfg: TrainConfig) -> str:
    """One line a model picker can show."""
    data = DATA_NAMES.get(cfg.dataset, cfg.dataset)
    opts = cfg.data_options
    if "distribution" in opts:
        data = f"{opts['distribution']} 2-D points"
    if "correlation" in opts:
        data += f" (attribute correlation {opts['correlation']})"
    if cfg.task == "classifier":
        return f"{cfg.classifier_arch} classifier for {data}, {cfg.steps} steps"
    if cfg.task == "encoder":
        return f"encoder (inversion) for {cfg.generator}, {cfg.steps} steps on its samples"
    m = cfg.model
    if cfg.task == "pix2pix":
        return f"pix2pix (U-Net + PatchGAN) on {data}, L1 x {cfg.l1_weight:g}, {cfg.steps} steps"
    if cfg.task == "cyclegan":
        if cfg.dataset == "faces-domains":
            data = f"synthetic faces without / with {opts.get('attribute', 'Sunglasses')}"
        return f"CycleGAN (ResNet, {m.depth} blocks + PatchGAN) on {data}, cycle x {cfg.cycle_weight:g}, {cfg.steps} steps"
    if cfg.task == "attngan":
        return (f"AttnGAN (text to image: 16 px stage, 32 px attention stage, DAMSM) on {data} with sentences, "
                f"z_dim {m.z_dim}, {cfg.steps} steps")
    if cfg.task == "vae":
        kind = "VAE" if cfg.beta == 1 else f"beta-VAE (beta {cfg.beta:g})"
        return f"{kind} on {data}, DCGAN decoder, z_dim {m.z_dim}, {cfg.steps} steps"
    kind = {"dcgan": "DCGAN", "mlp": "MLP GAN", "infogan": "DCGAN (InfoGAN paper net)"}.get(m.arch, m.arch)
    if m.num_classes:
        kind = "conditional " + kind
    if m.code_dim:
        kind = "InfoGAN (the paper's MNIST net)" if m.arch == "infogan" else "InfoGAN " + kind
    matched = f", attribute matching x {cfg.attribute_match:g}" if cfg.attribute_match else ""
    return f"{kind} on {data}, {_loss_title(cfg.loss)} loss{matched}, z_dim {m.z_dim}, {cfg.steps} steps"


def _compact(obj) -> str:
    """Indented JSON with short lists kept on one line."""
    text = json.dumps(obj, indent=2)
    return re.sub(r"\[\s*([^\[\]{}]*?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


def model_card(conf: dict) -> str:
    """README.md for a checkpoint folder, rebuilt from its config.json."""
    prov, metrics = conf.get("provenance", {}), conf.get("metrics", {})
    cmd = prov.get("command") or "python -m explorer train ..."
    lines = [f"# {conf.get('name') or 'Model'}", "", conf.get("summary", ""), "",
             "![samples](samples.png)", "",
             "## Data", f"- dataset: `{conf['dataset']['name']}`, sample shape {conf['dataset']['shape']}, "
             f"options {json.dumps(conf['dataset'].get('options', {}))}"]
    if conf.get("class_names"):
        lines.append(f"- classes: {', '.join(conf['class_names'])}")
    if conf.get("attributes"):
        lines.append(f"- attributes: {', '.join(conf['attributes'])}")
    lines += ["", "## How it was made", f"- command: `{cmd}`",
              f"- steps: {prov.get('step')}, wall time {prov.get('wall_time_s')} s on {prov.get('machine')} "
              f"({prov.get('processes', 1)} process(es))", f"- saved: {prov.get('saved')}", "",
              "## Metrics", f"As printed by `python -m explorer eval --model {conf.get('name') or 'NAME'} --json`:",
              "", "```json", _compact({k: v for k, v in metrics.items() if k != "directions"}) if metrics
              else "(none yet)", "```", ""]
    if metrics.get("directions"):
        lines += directions_section(metrics["directions"])
    lines += codes_section(conf)
    if (conf.get("onnx") or {}).get("file"):
        lines += ["## In the browser", f"`{conf['onnx']['file']}` is the generator as an ONNX graph whose weights "
                  f"are read from `{conf['onnx']['weights']}`; the explorer's page runs it with onnxruntime-web "
                  "after checking it against torch (max difference <= 1e-4). Rewritten by `python -m explorer "
                  f"export --model {conf.get('name') or 'NAME'}`.", ""]
    if conf.get("kind") == "vae":
        lines += vae_section(conf)
    if conf.get("kind") == "translator":
        lines += translator_section(conf)
    if conf.get("kind") == "text":
        lines += text_section(conf)
    lines += encoder_section(conf.get("encoder"))
    if conf.get("notes"):
        lines += ["## Notes", conf["notes"], ""]
    return "\n".join(lines)


def vae_section(conf: dict) -> list[str]:
    """What a VAE's figures mean, for a reader who knows GANs."""
    beta = conf.get("train", {}).get("beta", 1.0)
    return ["## Reading a VAE's figures",
            f"Trained to minimise reconstruction + {beta:g} x KL per picture: the reconstruction is the pixels' "
            "Bernoulli negative log-likelihood (pixels in [0, 1]) and the KL measures how far the encoder's "
            "posterior strays from N(0, I). `elbo_nats_per_image` is minus their sum with the KL weighed 1: a "
            "lower bound on log p(x), which a GAN cannot give. `sharpness` is the mean Laplacian variance of the "
            "samples beside the data's (a VAE's samples blur). `disentanglement` scores the encoder's means on "
            "held-out pictures against their true factors (faces). The Compare tab shows all of it beside the "
            "GAN of the same data.", ""]


def translator_section(conf: dict) -> list[str]:
    """What a translator's files and figures are."""
    a, b = (conf.get("domains") or ["A", "B"])[:2]
    cyc = conf.get("train", {}).get("task") == "cyclegan"
    files = ("`generator.safetensors` (A -> B), `generator_back.safetensors` (B -> A), `critic.safetensors` "
             "(judges B), `critic_back.safetensors` (judges A)") if cyc else \
        "`generator.safetensors` (the U-Net) and `critic.safetensors` (the PatchGAN on input and output side by side)"
    figures = ("`added` / `removed`: the share of held-out pictures on which the judge reads the attribute after "
               "A -> B / no longer reads it after B -> A; `others_kept`: the share on which every other attribute "
               "reads the same in input and output; `cycle_l1`: a picture sent there and back against itself; "
               "`identity_l1`: a picture already in the target domain against its translation; `change_l1`: how "
               "much a translation changes its input.") if cyc else \
        ("`l1`: output against the true picture; `l1_input`: the input against it, for scale; "
         "`attribute_agreement`: the share of held-out inputs on which the judge reads each attribute the same in "
         "the output and in the true picture; `frechet_distance` on the judge's features, beside two real halves'.")
    lines = ["## Translation", f"Translates *{a}* -> *{b}*" + (" and back" if cyc else "") + f". Files: {files}. "
             "Explore it in the Translate tab, or `python -m explorer translate --model "
             f"{conf.get('name') or 'NAME'} --seed 0 --n 8 --out FILE.png`.", "",
             f"Figures (L1: mean absolute pixel difference, pixels in [0, 1]): {figures}", ""]
    return lines + baseline_section(conf)


ATTENTION_FIGURE = "attention.png"   # written beside a text model's card by `eval --save`


def text_section(conf: dict) -> list[str]:
    """A text-to-image model: its files, how to read its figures, and one sentence's attention maps."""
    name = conf.get("name") or "NAME"
    ev = (conf.get("metrics") or {}).get("eval") or {}
    lines = ["## Text to image",
             f"Draws a face from a sentence of its {len(conf.get('vocabulary') or ()) - 1} words (`vocabulary` in "
             "config.json; regions do not attend to `unattended_words`). Files: `generator.safetensors` (both "
             "stages), `text_encoder.safetensors` (DAMSM's bidirectional GRU, which the generator reads), "
             "`image_encoder.safetensors` (DAMSM's picture side, for R-precision). Explore it in the Text tab, or "
             f"`python -m explorer text --model {name} --caption \"...\" --out FILE.png --attention FILE.png`.", "",
             "`samples.png`: one row per example sentence (explorer.data.captions.EXAMPLES), 8 seeds across.", "",
             "Figures (`eval`, on held-out sentences composed from held-out faces): `attribute_agreement`, per "
             "attribute, the share of the captions stating it (present or absent) on whose picture the judge "
             "reads it so; `r_precision`, the share of pictures whose own caption outscores 99 captions stating "
             "something else (DAMSM's sentence-level cosine); `attention_mass`, per word naming a region, the "
             "share of its attention inside the region the renderer draws for it (`inside`) against the region's "
             "share of the picture (`region_share`: what attention spread evenly gives); `one_word_change`, for "
             "two sentences differing in one attribute's words drawn with the same seeds, the share of the change "
             "inside that region.", ""]
    if ev:
        lines += [f"The first example sentence, seed {ev.get('figure_seed', 0)}: the sample, then each word's "
                  "attention over it (each map scaled to its own peak; words that name nothing are blank):", "",
                  f"![attention]({ATTENTION_FIGURE})", ""]
    return lines


def baseline_section(conf: dict) -> list[str]:
    """The CycleGAN beside what a user would otherwise try: a GAN's feature direction on the same faces."""
    metrics = conf.get("metrics") or {}
    base, ev = metrics.get("direction_baseline"), metrics.get("eval") or {}
    if not base:
        return []
    lines = ["## Beside a feature direction", f"The same {base['pictures']} held-out faces each way, inverted into "
             f"`{base['gan']}` (its encoder's guess, then {base['search_steps']} search steps) and pushed along its "
             f"{base['attribute']} direction, at the smallest strength where the judge reads the attribute added "
             "(or removed) on >= 90 % of them (the last tried, 8, when none does). *Others kept*: the share of "
             "faces on which each other attribute reads as in the input, the worst attribute; *all kept*: the "
             "share on which all of them do (`python bench/translation.py --baseline "
             f"{base['gan']} --save`). The inversion alone keeps all others on "
             f"{base['inversion_others_kept']['added']:.1%} / {base['inversion_others_kept']['removed']:.1%}.", "",
             "| method | add: strength | added | others kept (worst) | all kept | remove: strength | removed | "
             "others kept (worst) | all kept |", "|---|---|---|---|---|---|---|---|---|"]
    if ev.get("added") is not None:
        worst, every = ev.get("others_kept_min", 0), ev.get("others_kept_all")
        every = "-" if every is None else f"{every:.1%}"
        lines.append(f"| this CycleGAN (both ways together) | - | {ev['added']:.1%} | {worst:.1%} | {every} | - | "
                     f"{ev['removed']:.1%} | {worst:.1%} | {every} |")
    for method, row in base["methods"].items():
        cells = []
        for key in ("added", "removed"):
            r = row.get(key, {})
            cells.append(f"{r.get('strength', '-')} | {r.get('rate', 0):.1%} | {r.get('others_kept_min', 0):.1%} | "
                         f"{r.get('others_kept_all', 0):.1%}")
        lines.append(f"| {base['gan']} {method} | " + " | ".join(cells) + " |")
    return lines + [""]


def encoder_section(enc: dict | None) -> list[str]:
    """The card's lines on the encoder that inverts this generator (Invert: a picture in, its z out)."""
    if not enc:
        return []
    if enc.get("logvar"):
        return ["## Encoder", f"`{enc['file']}` is the VAE's own encoder, trained with the decoder: it maps a "
                "picture to the posterior's mean (this model's z) and log-variance in one pass. Invert uses the "
                "mean as its first guess; Explore, Interpolate and Directions explore the decoder as a generator.",
                ""]
    m = enc.get("metrics", {})
    figures = ", ".join(f"{k.replace('_', ' ')} {m[k]:.4g}" for k in ("z_error", "pixel_error", "class_accuracy",
                                                                         "code_accuracy") if k in m)
    lines = ["## Encoder (inversion)",
             f"`{enc['file']}` maps a picture to this generator's z in one pass: the first guess of Invert, "
             "which then optimises z from it.",
             f"- trained by: `{enc.get('command') or 'python -m explorer train --preset ...'}`, "
             f"{enc.get('steps')} steps in {(enc.get('wall_time_s') or 0) / 60:.1f} min, on the generator's own samples"]
    if figures:
        lines.append(f"- at the end of training (one batch of the generator's samples): {figures}")
    if enc.get("inversion"):
        lines += [f"- {line}" for line in enc["inversion"]]
    return lines + [""]


def code_sweep_file(j: int) -> str:
    """Where `eval --save` writes continuous code j's sweep (the card shows it)."""
    return f"code_c{j + 1}.png"


def codes_section(conf: dict) -> list[str]:
    """InfoGAN: the classic figure, one per continuous code (written beside the card by `eval --save`)."""
    codes = conf.get("codes") or {}
    if not codes.get("continuous"):
        return []
    ev = (conf.get("metrics") or {}).get("eval", {})
    lines = ["## Codes", "Each row fixes the categorical code (0 at the top); across, one continuous code goes from "
             "-2 to 2 (training saw -1 to 1) with z and the other codes fixed. Made by "
             f"`python -m explorer sample --model {conf.get('name') or 'NAME'} --sweep-code J --out FILE.png` (J = 0 for c1).", ""]
    for j in range(codes["continuous"]):
        corr = ev.get("continuous_code_correlations", {}).get(f"c{j + 1}")
        kept = ev.get("continuous_sweep_keeps_class", {}).get(f"c{j + 1}")
        said = "" if not corr else " (correlation with " + ", ".join(f"{k} {v:+.2f}" for k, v in corr.items()) + ")"
        if kept is not None:
            said += f"; along the sweep the judge reads the row's digit on {kept:.1%} of pictures"
        lines += [f"c{j + 1}{said}:", "", f"![c{j + 1}]({code_sweep_file(j)})", ""]
    return lines


def directions_section(d: dict) -> list[str]:
    """The card's table of `directions --json` (written there by `directions --save`)."""
    f = lambda v, fmt="{:.3f}": "-" if v is None else fmt.format(v)  # noqa: E731
    lines = ["## Feature directions",
             f"As printed by `python -m explorer directions --model {d['model']} --json`, judged by "
             f"`{d['judge']}` on seeds whose target probability starts below 0.2: each method at the strength "
             "where the mean target probability passes 0.8 (never: not within strength 8), and the side effect "
             "there, the mean |change| of the other attributes' probabilities (for a digit class: of Thick and "
             "Slanted only). The last column is what a step of the same length in a random direction changes "
             "(the mean over 8 of them): the floor any edit that long pays, so a side effect near it is no "
             "longer entanglement the method could remove, only the cost of moving.", "",
             "| attribute | method | strength to flip | target before | target after | side effect | random step |",
             "|---|---|---|---|---|---|---|"]
    for r in d["results"]:
        lines.append(f"| {r['attribute']} | {r['method']} | {f(r['strength_to_flip'], '{:g}')} | "
                     f"{f(r['target_before'])} | {f(r['target_after'])} | {f(r['side_effect'])} | "
                     f"{f(r.get('random_side_effect'))} |")
    if d.get("unsupervised"):
        lines += ["", "Found without labels: the PCA (GANSpace) and SeFa direction closest to each attribute's "
                  "gradient direction, and |cosine| with it (1: the label-free method found the attribute on its "
                  "own):", "", "| attribute | pca | sefa |", "|---|---|---|"]
        for a, row in d["unsupervised"].items():
            lines.append(f"| {a} | " + " | ".join(f"{row[m]['direction']} ({row[m]['cosine']:.2f})" if m in row
                                                   else "-" for m in ("pca", "sefa")) + " |")
    if d.get("cosines"):
        methods = list(next(iter(d["cosines"].values())))
        lines += ["", "Cosine similarity of each method's direction with the gradient direction:", "",
                  "| attribute | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for a, row in d["cosines"].items():
            lines.append(f"| {a} | " + " | ".join(f"{row[m]:.2f}" for m in methods) + " |")
    return lines + [""]
