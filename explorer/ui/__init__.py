"""The Gradio app: one module per tab, wiring only; pixels come from explorer.services.pixels."""
from __future__ import annotations

import gradio as gr
import torch
from gradio import processing_utils

from explorer.services import Services
from explorer.ui import compare, directions, explore, interpolate, invert, playground, text, train, translate
from explorer.ui.common import AppContext, guarded
from explorer.ui.server import bound_cache, launch_limits, log_requests_refused, readable_calls, start_queue
from explorer.web import Site

CSS = """
#app-title h2 { margin: 0 0 2px 0; }
.hint p { font-size: var(--text-sm); color: var(--body-text-color-subdued); margin: 0; }
.crisp img { image-rendering: pixelated; }
.strip img { object-fit: contain !important; max-width: 100%; height: auto !important; }
#invert-face img, #translate-held-pic img { width: 112px !important; height: 112px !important; }
"""


def chain_after(dep, steps, suffix: str):
    """Run (fn, inputs, outputs) steps one after another once the event `dep` has finished."""
    for fn, inputs, outputs in steps:
        dep = dep.then(fn, inputs, outputs, api_name=f"{fn.__name__}_{suffix}", api_visibility="undocumented")
    return dep


def build_app(checkpoints=None, audience: bool = False, data_root=None, allowed_data=(),
              server_render: bool = False) -> gr.Blocks:
    """The whole explorer. `audience=True` is the participants' view: no training, no filesystem paths.
    `allowed_data`: folders (besides the data root) whose image folders the Train tab may train on.
    `server_render=True`: the page never runs the generator itself (every frame is drawn on the server)."""
    torch.set_num_threads(1)  # several small renders in parallel beat one render on two threads
    services = Services.open(checkpoints, data_root=data_root, allowed_data=allowed_data, training=not audience)
    site = Site(services.pixels.scratch / "web", lambda folder: gr.set_static_paths([folder]))
    ctx = AppContext(services, audience=audience, site=site, server_render=server_render)
    jobs = ctx.services.jobs
    names = [m["name"] for m in ctx.renderer.models.names()]
    default = "digits-cdcgan" if "digits-cdcgan" in names else (names[0] if names else None)
    # every render lands in Gradio's file cache: sweep copies older than an hour, every ten minutes
    with gr.Blocks(title="Latent Explorer", delete_cache=(600, 3600)) as demo:
        gr.Markdown("## Latent Explorer\nSee inside a GAN: every picture is drawn live from a vector z.",
                    elem_id="app-title")
        with gr.Tabs() as tabs:
            with gr.Tab("Explore", id="explore"):
                ex = explore.build(ctx, default)
            with gr.Tab("Interpolate", id="interpolate"):
                interpolate.build(ctx, ex)
            with gr.Tab("Invert", id="invert"):
                inv = invert.build(ctx, ex, tabs)
            with gr.Tab("Directions", id="directions"):
                on_load_dirs, dirs_model, dirs = directions.build(ctx)
            with gr.Tab("Playground", id="playground"):
                play = playground.build(ctx)
            with gr.Tab("Compare", id="compare"):
                on_load_compare = compare.build(ctx)
            with gr.Tab("Translate", id="translate"):
                on_load_translate, translator = translate.build(ctx)
            with gr.Tab("Text", id="text"):
                on_load_text = text.build(ctx)
            on_load_train = []
            if jobs is not None:  # participants (--audience) never see training
                with gr.Tab("Train", id="train"):
                    on_load_train = train.build(ctx, jobs, ex["model"], translator)
        train.register_api(ctx, jobs)
        take, take_outputs = dirs["take_picture"]

        def edit_in_directions(value):
            """Invert's found z into the Directions tab, which is shown; its edit follows."""
            return (*take(value), gr.Tabs(selected="directions"))

        inv["edit_directions"].click(edit_in_directions, inv["found"], [*take_outputs, tabs],
                                     api_name="edit_in_directions").success(
            *dirs["edit"], api_name="edit_picture", api_visibility="undocumented")

        @guarded(ctx)
        def render(model: str, z: list[float], label: int | None = None) -> gr.FileData:
            """The image for exactly this z (a list of z_dim floats) and class label, as a PNG."""
            r = ctx.renderer
            path = processing_utils.save_file_to_cache(r.save(r.render(model, z, label)), demo.GRADIO_CACHE)
            return gr.FileData(path=path, orig_name="render.png", mime_type="image/png")

        gr.api(render, api_name="render", concurrency_limit=4)

        @guarded(ctx)
        def render_z_file(model: str, z_file: gr.FileData) -> gr.FileData:
            """The image of a z file (.npz written by `invert --npz` or `edit --npz`: z, class, codes), as a PNG."""
            r = ctx.renderer
            path = z_file["path"] if isinstance(z_file, dict) else getattr(z_file, "path", z_file)
            png = r.save(r.render_z_file(model, path))
            return gr.FileData(path=processing_utils.save_file_to_cache(png, demo.GRADIO_CACHE),
                               orig_name="render.png", mime_type="image/png")

        gr.api(render_z_file, api_name="render_z_file", concurrency_limit=4)
        for chain in ex["after_model"]:    # e.g. Interpolate redraws its path once Explore has the new model
            chain_after(ex["model_event"], chain, "after_model")
        # a page loaded after a model was trained (in any session) lists it: the choices are read per page
        model_lists = [ex["model"], dirs_model]
        demo.load(lambda: [gr.Dropdown(choices=ctx.model_choices())] * len(model_lists), None, model_lists,
                  api_name="load_model_lists", api_visibility="undocumented")
        if default:  # first paint: the same functions as the events, chained the same way
            select, *other_loads = ex["on_load"]
            chain_after(demo.load(*select, api_name="load_select_model", api_visibility="undocumented"),
                        [step for chain in ex["after_model"] for step in chain], "on_load")
            for fn, inputs, outputs, *then in (other_loads + on_load_dirs + play["on_load"] + on_load_compare
                                                + on_load_translate + on_load_text + on_load_train):
                dep = demo.load(fn, inputs, outputs, api_name=f"load_{fn.__name__}", api_visibility="undocumented")
                chain_after(dep, then[0] if then else [], "on_load")
    bound_cache(demo)
    readable_calls(demo)
    demo.explorer_context = ctx
    demo.jobs = jobs
    return demo


__all__ = ["CSS", "build_app", "launch_limits", "log_requests_refused", "start_queue"]
