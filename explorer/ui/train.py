"""Train tab: run a preset in a background process, watch losses and samples live, then explore the result."""
from __future__ import annotations

import gradio as gr

from explorer.errors import ConfigError
from explorer.losses import LOSSES
from explorer.training.card import describe
from explorer.training.diagnose import diagnose
from explorer.training.jobs import JobManager
from explorer.training.presets import PRESETS
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
it keeps going. When it finishes (or you stop it) the model appears in Explore's list.
"""

LOSS_HELP = {
    "bce": "**BCE** (Goodfellow 2014): D outputs a probability; Adam lr 2e-4, betas (0.5, 0.999), 1 D step per "
           "G step. The non-saturating G loss -log D(G(z)) keeps gradients alive when D wins.",
    "wgan": "**WGAN, weight clipping** (Arjovsky 2017): a critic scores realness without a sigmoid; RMSprop lr "
            "5e-5; clip c = 0.01 keeps it roughly 1-Lipschitz; n_critic = 5 critic steps per G step.",
    "wgangp": "**WGAN-GP** (Gulrajani 2017): clipping replaced by a gradient penalty, lambda = 10, on random "
              "interpolates; Adam lr 1e-4, betas (0, 0.9); n_critic = 5; no BatchNorm in the critic.",
}


def build(ctx: AppContext, jobs: JobManager, explore_model: gr.Dropdown):
    guard = guarded(ctx)
    explainer(HELP)
    names = sorted(PRESETS)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            preset = gr.Dropdown([(f"{n}: {describe(PRESETS[n])}", n) for n in names], value="toy-8gaussians-bce",
                                 label="Preset", info="What to train: data, architecture and loss in one choice.")
            loss_help = gr.Markdown(LOSS_HELP["bce"])
            name = gr.Textbox("my-model", label="Name", info="The new model's folder name in the checkpoints folder.")
            steps = gr.Number(2000, precision=0, minimum=1, label="Steps",
                              info="Generator steps (classifiers: optimizer steps).")
            with gr.Accordion("Settings", open=False):
                batch = gr.Number(None, precision=0, label="Batch size", info="Empty: the preset's (64 for images).")
                lr = gr.Number(None, label="Learning rate", info="Empty: the loss's default (see above).")
                corr = gr.Slider(0, 0.95, 0.8, step=0.05, label="Attribute correlation (faces presets)",
                                 info="0 = independent attributes; 0.8 = beards come with wide faces, hats with "
                                      "sunglasses (entangled).")
            with gr.Row():
                start = gr.Button("Start", variant="primary")
                stop = gr.Button("Stop")
                resume = gr.Button("Resume")
            status = gr.Markdown("No job yet.")
        with gr.Column(scale=2):
            samples = gr.Image(label="Samples on a fixed z", type="pil", interactive=False, elem_classes="crisp")
            curves = gr.LinePlot(x="step", y="value", color="series", label="Losses", height=260)
            warnings = gr.Markdown()
    raw = gr.JSON(visible=False)

    def show_loss(p):
        cfg = PRESETS.get(p)
        return LOSS_HELP.get(cfg.loss, "") if cfg and cfg.task != "classifier" else "A classifier (cross-entropy)."

    preset.change(show_loss, preset, loss_help, api_name="preset_info")

    def overrides(p, batch_v, lr_v, corr_v) -> dict:
        out = {}
        if batch_v:
            out["batch_size"] = int(batch_v)
        if lr_v:
            out["lr_g"] = out["lr_d"] = float(lr_v)
        cfg = PRESETS.get(p)
        if cfg is not None and "correlation" in cfg.data_options:
            out["data_options"] = {**cfg.data_options, "correlation": float(corr_v)}
        return out

    @guard
    def start_ui(p, n, s, batch_v, lr_v, corr_v):
        return jobs.start(p, _int(s), n, **overrides(p, batch_v, lr_v, corr_v))

    @guard
    def resume_ui(p, n, s):
        return jobs.start(p, _int(s), n, resume=True)

    start.click(start_ui, [preset, name, steps, batch, lr, corr], raw, api_name="train_start_custom")
    resume.click(resume_ui, [preset, name, steps], raw, api_name="train_resume")
    stop.click(lambda: jobs.stop(), None, raw, api_name="train_stop_button")

    last_state = gr.State("idle")

    def tick(prev):
        st = jobs.status()
        hist = st.get("history", [])
        rows = [{"step": h["step"], "value": h[k], "series": k} for h in hist
                for k in ("loss_d", "loss_g", "wasserstein", "gp", "loss") if k in h]
        done = 100 * st.get("step", 0) / max(st.get("total_steps") or 1, 1)
        eta = st.get("eta_s")
        text = {"idle": "No job yet."}.get(st["state"]) or (
            f"**{st.get('name')}**: {st['state']}, step {st.get('step', 0)} / {st.get('total_steps')} "
            f"({done:.0f}%)" + (f", about {eta:.0f} s left" if eta and st["state"] == "running" else "")
            + (f"\n\n{st['error']}" if st.get("error") else ""))
        warn = "\n\n".join(f"⚠ {w}" for w in diagnose(hist))
        ended = st["state"] in ("finished", "stopped") and prev != st["state"]
        models = gr.Dropdown(choices=ctx.model_choices()) if ended else gr.skip()
        return text, curve_frame(rows), jobs.samples_image(), warn, \
            st["state"], models

    timer = gr.Timer(2.0)
    timer.tick(tick, last_state, [status, curves, samples, warnings, last_state, explore_model],
               api_name="train_tick", show_progress="hidden")


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
