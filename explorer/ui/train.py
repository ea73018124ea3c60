"""Train tab: run a preset in a background process, watch losses and samples live, then explore the result."""
from __future__ import annotations

from dataclasses import replace

import gradio as gr

from explorer.errors import ConfigError, ExplorerError
from explorer.losses import LOSSES, Setting, all_settings, build_loss
from explorer.models import GENERATORS, TRANSLATORS
from explorer.store.card import describe
from explorer.training.diagnose import diagnose
from explorer.training.estimate import expected_seconds, seconds_per_step
from explorer.services.jobs import JobManager
from explorer.training.presets import HYPERPARAMETERS, PRESETS, custom_config, tuned_for
from explorer.ui.common import AppContext, curve_frame, explainer, guarded

HELP = """
Training plays two networks against each other. The **discriminator** (or **critic**) learns to tell real
pictures from generated ones; the **generator** learns to fool it. The curves show both losses; for
WGAN the *Wasserstein estimate* is the critic's guess of how far apart real and generated data are, and
it should fall as samples improve. The grid shows the same z's every few steps, so you watch the *same*
samples improve.

Things to look for: with the saturating BCE loss the generator can stop learning when the discriminator
wins too easily (**vanishing gradients**: D(x) near 1, D(G(z)) near 0, a flat generator loss). If the
samples start to look alike, the generator may be **collapsing** onto a few modes. Warnings appear below
the curves when the numbers show either. The job runs in its own process: close the page and come back,
it keeps going. When it finishes (or you stop it) the model appears in Explore's list (a translator:
in Translate's).

**Translation** presets (faces-pix2pix, faces-cyclegan-sunglasses) learn from two domains of pictures: the
rendered faces, or your own folder (pix2pix: `A/` and `B/` with matching file names). For CycleGAN on two
folders of your own, or CelebA split by an attribute, use the command line (`--data-path`, `--data-path-b`,
`--attribute`).
"""

DATASET_LABELS = {
    "digits": "digits (MNIST)", "fashion": "fashion (Fashion-MNIST)", "faces": "faces (synthetic, exact attributes)",
    "celeba": "celeba (a folder in CelebA's layout)", "folder": "folder (any image folder)",
    "toy2d": "toy2d (2-D points)",
    "faces-sketch": "faces-sketch (line drawing -> face, exact pairs)",
    "faces-domains": "faces-domains (faces without / with an attribute, unpaired)",
    "pairs": "pairs (your folder: A/ in, B/ out, matching names)",
    "domains": "domains (your pictures: two folders, or CelebA split by an attribute)",
}
SAMPLE_SHAPES = {"digits": (1, 28, 28), "fashion": (1, 28, 28), "faces": (3, 32, 32), "celeba": (3, 64, 64),
                 "folder": (3, 64, 64), "toy2d": (2,), "faces-sketch": (3, 32, 32), "faces-domains": (3, 32, 32),
                 "pairs": (3, 32, 32), "domains": (3, 32, 32)}
FOLDER_DATASETS = ("celeba", "folder", "pairs", "domains")
# what a translation task learns from; every other task learns from single pictures (or points)
TRANSLATION_DATA = {"pix2pix": ("faces-sketch", "pairs"), "cyclegan": ("faces-domains", "domains")}
TRANSLATION_ABOUT = {
    "pix2pix": "pix2pix (Isola et al. 2017): a U-Net turns each input into its output; a PatchGAN critic judges "
               "(input, output) pairs, and 100 x L1 to the true output keeps it faithful. Learns from exact pairs.",
    "cyclegan": "CycleGAN (Zhu et al. 2017): two generators (A -> B, B -> A), two PatchGAN critics, least squares; "
                "a picture sent there and back must come home (cycle x 10) and one already in the target domain "
                "should pass unchanged (identity). Learns from two unpaired sets. Slow on a CPU: the preset's 10,000 steps took "
                "51 minutes on 2 cores (faces-pix2pix's 12,000: 52)."}


LOSS_SETTINGS = all_settings()   # every registered loss's settings: name -> (owning loss, Setting)
SETTING_KEYS = ["dataset", "correlation", "data_path", "arch", "loss", "z_dim", "n_critic", *LOSS_SETTINGS,
                "batch_size", "lr", "beta"]   # the order of the panel's settings controls
VAE_ABOUT = ("A VAE: an encoder and a decoder (the DCGAN generator) trained together to minimise reconstruction "
             "+ beta x KL, no critic. beta 1 is a plain VAE; a beta-VAE (beta > 1) presses each z dimension "
             "towards N(0, I) harder, which tends to separate the factors (disentangle) at a cost in sharpness.")


def shown_settings(preset: str) -> dict:
    """The values a preset runs with, as the panel shows them (defaults resolved from the loss)."""
    cfg = PRESETS[preset]
    out = {"dataset": cfg.dataset, "correlation": cfg.data_options.get("correlation", 0.8),
           "batch_size": cfg.batch_size, "lr": None, "arch": cfg.model.arch, "loss": cfg.loss,
           "z_dim": cfg.model.z_dim, "n_critic": None, **{k: s.default for k, (_, s) in LOSS_SETTINGS.items()}}
    out["beta"] = cfg.beta
    if cfg.task == "vae":
        out["lr"] = cfg.lr_g or 5e-4
    elif cfg.task != "classifier":
        loss = build_loss(cfg.loss, **cfg.loss_options)
        out.update(lr=cfg.lr_g or loss.defaults.lr, n_critic=cfg.n_critic or loss.defaults.n_critic,
                   **{s.name: getattr(loss, s.name) for s in loss.settings})
    else:
        out["lr"] = cfg.lr_d or 1e-3
    return out


def loss_tuning(preset: str, loss: str, arch: str | None = None, dataset: str | None = None) -> tuple:
    """(n_critic, learning rate, a sentence) a GAN preset's net trains with under `loss`: the preset's own when it
    is the preset's loss, else those of a preset tuned for this net with it (see tuned_for), else the loss's."""
    cfg, sh = PRESETS[preset], shown_settings(preset)
    if loss == cfg.loss:
        return sh["n_critic"], sh["lr"], ""
    cfg = cfg.replace(model=replace(cfg.model, arch=arch or cfg.model.arch), dataset=dataset or cfg.dataset)
    source, tuned = tuned_for(cfg, loss)
    d = LOSSES[loss].defaults
    n, rate = tuned.get("n_critic") or d.n_critic, tuned.get("lr_g") or d.lr
    if source:
        return n, rate, (f"\n\nThis net's tuning for it, from preset **{source}**: n_critic {n}, learning rate "
                         f"{rate:g}.")
    return n, rate, f"\n\nNo preset tunes this net for it: the loss's defaults, n_critic {n}, learning rate {rate:g}."


ARCH_LABELS = {"dcgan": "dcgan (DCGAN convolutions)", "infogan": "infogan (InfoGAN's MNIST net)",
               "unet": "unet (pix2pix's U-Net)", "resnet": "resnet (CycleGAN's residual generator)",
               "mlp": "mlp (fully connected)"}


def arch_choices(task: str = "gan") -> list[tuple[str, str]]:
    """Every registered architecture of the preset's kind (generators, or translators for pix2pix / CycleGAN),
    so any preset's own can be shown and started."""
    names = TRANSLATORS if task in TRANSLATION_DATA else GENERATORS
    return [(ARCH_LABELS.get(name, name), name) for name in sorted(names)]


def loss_control(setting: Setting, value, visible: bool):
    """A checkbox for an on/off setting, a number box within its range for the others."""
    if isinstance(setting.default, bool):
        return gr.Checkbox(value, label=setting.label, info=setting.help, visible=visible)
    return gr.Number(value, minimum=setting.low, maximum=setting.high, label=setting.label, info=setting.help,
                     visible=visible)


def control_update(setting: Setting, **changes):
    return gr.Checkbox(**changes) if isinstance(setting.default, bool) else gr.Number(**changes)


def dataset_choices(preset: str, fashion_here: bool) -> list[tuple[str, str]]:
    """Datasets whose samples fit the preset's model (fashion only when its files are on this machine)."""
    task = PRESETS[preset].task
    if task in TRANSLATION_DATA:
        return [(DATASET_LABELS[n], n) for n in TRANSLATION_DATA[task]]
    two_domain = {n for names in TRANSLATION_DATA.values() for n in names}
    shape = SAMPLE_SHAPES.get(PRESETS[preset].dataset)
    names = [n for n, sh in SAMPLE_SHAPES.items() if sh == shape and (n != "fashion" or fashion_here)
             and n not in two_domain]
    if task == "classifier":
        names = [n for n in names if n != "toy2d"]
    return [(DATASET_LABELS[n], n) for n in names]


def build(ctx: AppContext, jobs: JobManager, explore_model: gr.Dropdown, translator: gr.Dropdown | None = None):
    from explorer.data.digits import files_present
    guard = guarded(ctx)
    explainer(HELP)
    # encoders: `train` (a generator's); AttnGAN (an hour and a half here): `train --preset faces-attngan`
    names = sorted(n for n in PRESETS if PRESETS[n].task not in ("encoder", "attngan"))
    fashion_here = files_present("FashionMNIST", jobs.data_root)
    first = "toy-8gaussians-bce"
    sh = shown_settings(first)
    with gr.Row():
        with gr.Column(scale=1, min_width=340):
            preset = gr.Dropdown([(f"{n}: {describe(PRESETS[n])}", n) for n in names], value=first,
                                 label="Preset", info="A starting point: data, architecture and loss in one choice. "
                                 "Change any of it below.")
            loss_help = gr.Markdown(LOSSES[sh["loss"]].about)
            name = gr.Textbox("my-model", label="Name", info="The new model's folder name in the checkpoints folder.",
                              elem_id="train-name")
            steps = gr.Number(2000, precision=0, label="Steps",
                              info="Generator steps (classifiers: optimizer steps).")
            with gr.Accordion("Data", open=False):
                dataset = gr.Dropdown(dataset_choices(first, fashion_here), value=sh["dataset"], label="Dataset",
                                      info="Datasets whose pictures fit this preset's model. Fashion-MNIST appears "
                                           "when its files are in the data folder.")
                corr = gr.Slider(0, 0.95, sh["correlation"], step=0.05, label="Attribute correlation (faces)",
                                 info="0 = independent attributes; 0.8 = beards come with wide faces, hats with "
                                      "sunglasses (entangled).", visible=sh["dataset"] == "faces")
                folder = gr.Textbox(label="Image folder on this server", visible=False,
                                    info="celeba / folder: a folder inside the data folder (or one the host allowed "
                                         "with --allow-data); other places are refused. Empty: celeba looks in "
                                         "<data folder>/celeba.")
            with gr.Accordion("Model and loss", open=False):
                with gr.Row():
                    arch = gr.Dropdown(arch_choices(), value=sh["arch"], label="Architecture",
                                       info="dcgan: convolutions (images); infogan: the InfoGAN paper's MNIST net "
                                            "(convolutions, 28x28); mlp: fully connected (images or points).")
                    loss = gr.Dropdown([(cls.title, k) for k, cls in LOSSES.items()], value=sh["loss"],
                                       label="Loss", info="Each loss shows its own settings below.")
                with gr.Row():
                    z_dim = gr.Number(sh["z_dim"], precision=0, minimum=1, maximum=1024, label="z_dim",
                                      info=HYPERPARAMETERS["z_dim"])
                    n_critic = gr.Number(sh["n_critic"], precision=0, minimum=1, maximum=100, label="n_critic",
                                         info=HYPERPARAMETERS["n_critic"])
                # one control per setting of every registered loss, shown while its loss is chosen
                loss_controls = [loss_control(s, sh[k], owner == sh["loss"]) for k, (owner, s) in LOSS_SETTINGS.items()]
                with gr.Row():
                    batch = gr.Number(sh["batch_size"], precision=0, minimum=1, maximum=4096, label="Batch size",
                                      info="Samples per step.")
                    lr = gr.Number(sh["lr"], minimum=1e-7, maximum=0.1, label="Learning rate",
                                   info="Both networks. Shown: the preset's (or the loss's default).")
                beta = gr.Number(sh["beta"], minimum=0.01, maximum=1000, label="beta (VAE presets)",
                                 visible=PRESETS[first].task == "vae", elem_id="train-beta",
                                 info="Weight of the KL term: 1 is a plain VAE, 4 the beta-VAE preset's.")
            with gr.Row():
                start = gr.Button("Start", variant="primary")
                stop = gr.Button("Stop")
                resume = gr.Button("Resume")
            estimate = gr.Markdown("", elem_id="train-estimate")
            status = gr.Markdown("No job yet.")
        with gr.Column(scale=2):
            samples = gr.Image(label="Samples on a fixed z", type="pil", interactive=False, elem_classes="crisp",
                               elem_id="train-samples")
            curves = gr.LinePlot(x="step", y="value", color="series", label="Losses", color_title="")   # no height: it would clip the legend
            warnings = gr.Markdown()
    raw = gr.JSON(visible=False)
    settings = [dataset, corr, folder, arch, loss, z_dim, n_critic, *loss_controls, batch, lr, beta]

    def on_preset(p):
        cfg, sh = PRESETS.get(p), shown_settings(p)
        gan, vae = cfg.task not in ("classifier", "vae", *TRANSLATION_DATA), cfg.task == "vae"
        text = LOSSES[cfg.loss].about if gan else VAE_ABOUT if vae else TRANSLATION_ABOUT.get(cfg.task) or \
            "A classifier (cross-entropy), the judge of a dataset."
        return (text, gr.Dropdown(choices=dataset_choices(p, fashion_here), value=sh["dataset"]),
                gr.Slider(value=sh["correlation"], visible=sh["dataset"] == "faces"),
                gr.Textbox(visible=sh["dataset"] in FOLDER_DATASETS),
                gr.Dropdown(choices=arch_choices(cfg.task), value=sh["arch"], interactive=gan),
                gr.Dropdown(value=sh["loss"], interactive=gan),
                gr.Number(value=sh["z_dim"], interactive=gan or vae), gr.Number(value=sh["n_critic"], interactive=gan),
                *(control_update(s, value=sh[k], visible=gan and owner == sh["loss"])
                  for k, (owner, s) in LOSS_SETTINGS.items()),
                gr.Number(value=sh["batch_size"]), gr.Number(value=sh["lr"]), gr.Number(value=sh["beta"], visible=vae))

    preset.change(on_preset, preset, [loss_help, *settings], api_name="preset_info")

    def on_loss(p, lo, a, ds):
        n, rate, note = loss_tuning(p, lo, a, ds)
        return (LOSSES[lo].about + note, gr.Number(value=n),
                *(control_update(s, visible=owner == lo) for owner, s in LOSS_SETTINGS.values()),
                gr.Number(value=rate))

    loss.input(on_loss, [preset, loss, arch, dataset], [loss_help, n_critic, *loss_controls, lr],
               api_name="loss_info")
    dataset.input(lambda d: (gr.Slider(visible=d == "faces"), gr.Textbox(visible=d in FOLDER_DATASETS)),
                  dataset, [corr, folder], api_name="dataset_info")

    def choices_from(p, *values) -> dict:
        """Only what differs from what the preset shows, so untouched settings keep the preset's own tuning."""
        sh = {**shown_settings(p), "data_path": None}
        got = dict(zip(SETTING_KEYS, values))
        if got["dataset"] not in FOLDER_DATASETS or not (got["data_path"] or "").strip():
            got["data_path"] = None   # celeba without a folder: <data root>/celeba, as the CLI does
        if got["dataset"] != "faces":
            got["correlation"] = None
        loss_v = got["loss"] or sh["loss"]
        for k, (owner, _) in LOSS_SETTINGS.items():   # a loss's own settings count only for that loss
            if loss_v != owner:
                got[k] = None
        task = PRESETS[p].task
        if task in ("classifier", "vae", *TRANSLATION_DATA):
            for k in ("arch", "loss", "n_critic", *LOSS_SETTINGS, *(("z_dim",) if task != "vae" else ())):
                got[k] = None
        if task != "vae":
            got["beta"] = None
        out = {}
        for k, v in got.items():
            if v is None or v == "" or v == sh.get(k):
                continue
            out[k] = int(v) if k in ("z_dim", "n_critic", "batch_size") else v
        return out

    @guard
    def start_ui(p, n, s, *values):
        return jobs.start(p, _int(s), n, **choices_from(p, *values))

    @guard
    def resume_ui(p, n, s):
        return jobs.start(p, _int(s), n, resume=True)

    def estimate_ui(p, n, *values):
        """The expected duration of the settings as they stand, measured here on a few steps."""
        try:
            cfg = custom_config(p, steps=_int(n), **choices_from(p, *values))
            per_step = seconds_per_step(cfg)
        except ExplorerError as e:
            return f"Expected duration: none until the settings are fixed ({e})."
        total = expected_seconds(cfg)
        return (f"Expected duration here: **about {_duration(total)}** ({per_step:.3g} s a step, measured on this "
                f"machine just now; loading the data comes on top).")

    # the last change wins: choosing a preset changes a dozen controls, and only their final values are timed
    gr.on([preset.change, steps.change, *(c.change for c in settings)], estimate_ui, [preset, steps, *settings],
          estimate, api_name="train_estimate", show_progress="hidden", trigger_mode="always_last",
          concurrency_limit=1, concurrency_id="train-estimate")

    start.click(start_ui, [preset, name, steps, *settings], raw, api_name="train_start_custom")
    resume.click(resume_ui, [preset, name, steps], raw, api_name="train_resume")
    stop.click(lambda: jobs.stop(), None, raw, api_name="train_stop_button")

    last_state = gr.State("idle")

    def tick(prev):
        st = jobs.status()
        hist = st.get("history", [])
        rows = [{"step": h["step"], "value": h[k], "series": k} for h in hist
                for k in ("loss_d", "loss_g", "wasserstein", "gp", "loss", "reconstruction", "kl", "l1", "cycle_a",
                          "cycle_b") if k in h]
        done = min(100.0, 100 * st.get("step", 0) / max(st.get("total_steps") or 1, 1))
        eta = st.get("eta_s")
        bar = "█" * round(done / 5) + "░" * (20 - round(done / 5))
        text = {"idle": "No job yet."}.get(st["state"]) or (
            f"**{st.get('name')}**: {st['state']}, step {st.get('step', 0)} / {st.get('total_steps')}\n\n"
            f"`{bar}` {done:.0f}%" + (f", about {_duration(eta)} left" if eta and st["state"] == "running" else "")
            + (f"\n\n{st['error']}" if st.get("error") else ""))
        warn = "\n\n".join(f"⚠ {w}" for w in diagnose(hist))
        ended = st["state"] in ("finished", "stopped") and prev != st["state"]
        # jobs.status() above re-read the folder when it saw the job end (a retrained model is loaded afresh)
        models = gr.Dropdown(choices=ctx.model_choices()) if ended else gr.skip()
        translators = gr.Dropdown(choices=ctx.services.translation.refresh()) if ended else gr.skip()
        return text, curve_frame(rows), jobs.samples_image(), warn, \
            st["state"], models, translators

    timer = gr.Timer(2.0)
    timer.tick(tick, last_state, [status, curves, samples, warnings, last_state, explore_model,
                                  translator or gr.State()],
               api_name="train_tick", show_progress="hidden")
    return [(estimate_ui, [preset, steps, *settings], [estimate])]


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {s:02d} s" if m else f"{s} s")


def _int(v) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ConfigError(f"steps must be a positive integer, got {v!r}") from None


def register_api(ctx: AppContext, jobs: JobManager | None) -> None:
    """/train_start, /train_status, /train_stop; in audience mode they exist but refuse to run."""
    guard = guarded(ctx)

    def need_jobs() -> JobManager:
        if jobs is None:
            raise ConfigError("training is disabled on this server (audience mode)")
        return jobs

    @guard
    def train_start(preset: str, steps: int, name: str) -> dict:
        """Start a training job writing <checkpoints>/<name>/; one job at a time."""
        return need_jobs().start(preset, _int(steps), name)

    @guard
    def train_status() -> dict:
        """The job's state (idle, running, finished, failed, stopped), step, total_steps, name and latest metrics."""
        st = need_jobs().status()
        return {k: v for k, v in st.items() if k != "history"}

    @guard
    def train_stop() -> dict:
        """Stop the running job; it saves a checkpoint first."""
        st = need_jobs().stop()
        return {k: v for k, v in st.items() if k != "history"}

    gr.api(train_start, api_name="train_start")
    gr.api(train_status, api_name="train_status")
    gr.api(train_stop, api_name="train_stop")


__all__ = ["LOSSES", "build", "register_api"]
