"""The Gradio app: one module per tab, wiring only; pixels come from explorer.services.pixels."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import gradio as gr
import torch
from PIL import Image
from gradio import processing_utils
from gradio.route_utils import FnIndexInferError

from explorer.services import Services
from explorer.services.pixels import sweep_folder
from explorer.ui import directions, explore, interpolate, playground, train
from explorer.ui.common import AppContext, guarded
from explorer.web import Site

CSS = """
#app-title h2 { margin: 0 0 2px 0; }
.hint p { font-size: var(--text-sm); color: var(--body-text-color-subdued); margin: 0; }
.crisp img { image-rendering: pixelated; }
.strip img { object-fit: contain !important; max-width: 100%; height: auto !important; }
"""


def _unknown_endpoint(request, exc):
    """An API name that does not exist: a 404 with a sentence (Gradio answers 500 and logs a traceback)."""
    from fastapi.responses import JSONResponse
    return JSONResponse({"error": f"no such API endpoint ({str(exc).rsplit(':', 1)[-1].strip()}); "
                                  "the page's 'Use via API' link lists them"}, status_code=404)


def launch_limits() -> dict:
    """What demo.launch gets besides host and port: uploads are refused above a few MB (Gradio's own default is
    no limit, so anyone reaching the port could fill the disk; nothing in the app uploads more than one
    picture), and an unknown API name gets a 404 with a sentence. A fresh dict each time: Gradio writes into
    app_kwargs when it builds the app."""
    return {"max_file_size": "5mb", "app_kwargs": {"exception_handlers": {FnIndexInferError: _unknown_endpoint}}}


Image.MAX_IMAGE_PIXELS = 16_000_000   # Pillow refuses bigger pictures before decoding them (a decompression bomb)

CACHE_SWEEP_S = 10            # Gradio's file cache is swept this often, by age and by count:
CACHE_MAX_AGE_S = 1800
CACHE_MAX_FILES = 2000

QUEUE_IDLE_POLL_S = 0.005      # how often an idle queue looks for work (Gradio: 1 ms)
PROGRESS_POLL_S = 0.05         # how often progress bars are refreshed (Gradio: 10 ms, even with none shown)


def start_queue(demo: gr.Blocks, concurrency: int = 2) -> gr.Blocks:
    """demo.queue(...) with gentler idle polls. Gradio's queue wakes every 1 ms while it has nothing to do and
    its progress loop every 10 ms, about 6 % of a core here with no page open; slider moves no longer travel
    through the queue (the page draws them), so 5 ms and 50 ms cost nothing a user sees and leave the CPU to
    the work. (Private attributes of Gradio 6's queue: left alone if a later Gradio renames them.)"""
    demo.queue(default_concurrency_limit=concurrency)
    queue = getattr(demo, "_queue", None)
    for attr, floor in (("sleep_when_free", QUEUE_IDLE_POLL_S), ("progress_update_sleep_when_free", PROGRESS_POLL_S)):
        if isinstance(getattr(queue, attr, None), float):
            setattr(queue, attr, max(getattr(queue, attr), floor))
    if queue is not None and hasattr(queue, "send_message") and hasattr(queue, "pending_messages_per_session"):
        keep_message_boxes(queue)
    return demo


def keep_message_boxes(queue) -> None:
    """Gradio 6.31 keeps each session's message box in an LRU of 2,000 that evicts by age of creation; every
    API call (/call/..., gradio_client) is a new session, so after 2,000 of them a long-open page's box is
    evicted, and the next status message for its queued event raises KeyError inside the queue's processing
    loop, which stops the queue for good: every later event gets 503 (found by bench/soak.py at about 9,000
    requests). A missing box is made again instead, and the page's stream picks it up."""
    from asyncio import Queue as AsyncQueue
    send = queue.send_message

    def send_message(event, message):
        boxes = queue.pending_messages_per_session
        if getattr(event, "alive", True) and event.session_hash not in boxes:
            boxes[event.session_hash] = AsyncQueue()
        send(event, message)

    queue.send_message = send_message


def bound_cache(folder: str) -> None:
    """A background sweep of Gradio's file cache (every picture an event returns lands there): Gradio only
    removes files older than its delete_cache age, so under load the folder grew without bound."""
    def sweep_forever():
        while True:
            time.sleep(CACHE_SWEEP_S)
            if Path(folder).is_dir():
                sweep_folder(Path(folder), CACHE_MAX_AGE_S, CACHE_MAX_FILES)
    threading.Thread(target=sweep_forever, daemon=True, name="latent-explorer-cache-bound").start()


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
        with gr.Tabs():
            with gr.Tab("Explore", id="explore"):
                ex = explore.build(ctx, default)
            with gr.Tab("Interpolate", id="interpolate"):
                interpolate.build(ctx, ex)
            with gr.Tab("Directions", id="directions"):
                on_load_dirs, dirs_model = directions.build(ctx)
            with gr.Tab("Playground", id="playground"):
                play = playground.build(ctx)
            if jobs is not None:  # participants (--audience) never see training
                with gr.Tab("Train", id="train"):
                    train.build(ctx, jobs, ex["model"])
        train.register_api(ctx, jobs)

        @guarded(ctx)
        def render(model: str, z: list[float], label: int | None = None) -> gr.FileData:
            """The image for exactly this z (a list of z_dim floats) and class label, as a PNG."""
            r = ctx.renderer
            path = processing_utils.save_file_to_cache(r.save(r.render(model, z, label)), demo.GRADIO_CACHE)
            return gr.FileData(path=path, orig_name="render.png", mime_type="image/png")

        gr.api(render, api_name="render", concurrency_limit=4)
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
            for fn, inputs, outputs, *then in other_loads + on_load_dirs + play["on_load"]:
                dep = demo.load(fn, inputs, outputs, api_name=f"load_{fn.__name__}", api_visibility="undocumented")
                chain_after(dep, then[0] if then else [], "on_load")
    bound_cache(demo.GRADIO_CACHE)
    demo.explorer_context = ctx
    demo.jobs = jobs
    return demo


