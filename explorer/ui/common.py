"""Shared wiring for the tabs: the app context, error translation and small layout helpers."""
from __future__ import annotations

import base64
import functools
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import gradio as gr

from explorer.errors import ExplorerError
from explorer.services import Services
from explorer.services.pixels import Renderer, public_message
from explorer.web import LIVE_JS

refused = logging.getLogger("explorer.requests")   # the user's mistakes, one line each (explorer.ui.server)


@dataclass
class AppContext:
    services: Services
    audience: bool = False    # participants' view: no training, no filesystem paths
    site: object = None       # explorer.web.Site: the files the page fetches (None: everything drawn on the server)
    server_render: bool = False   # --server-render: the page never draws the generator itself

    def draw_plan(self, name: str) -> dict:
        """Where the live view draws `name`: {"where": "browser", URLs of the runtime, graph and weights} or
        {"where": "server", "why": a sentence for the page}."""
        if self.server_render:
            return {"where": "server", "why": "the app was started with --server-render."}
        if self.site is None or self.site.problems:
            return {"where": "server", "why": "the in-page renderer's files are missing or damaged "
                    f"({'; '.join(self.site.problems) if self.site else 'not set up'})."}
        found = self.renderer.portable(name)
        if not found["ok"]:
            return {"where": "server", "why": public_message(ValueError(found["note"]), self.renderer.models.root,
                                                            self.audience)}
        from explorer.store.portable import ONNX_FILE, WEIGHTS_FILE
        folder = found["folder"]
        return {"where": "browser", "runtime": self.site.runtime_url, "graph": self.site.url(folder / ONNX_FILE),
                "weights": self.site.url(folder / WEIGHTS_FILE), "weights_name": WEIGHTS_FILE}

    @property
    def renderer(self) -> Renderer:
        return self.services.pixels

    def model_choices(self, refresh: bool = False) -> list[tuple[str, str]]:
        """(label, name) for every generator; refresh=True reads the folder now instead of on its schedule."""
        models = self.renderer.models
        good = models.refresh() if refresh else models.names()
        # a damaged folder is listed too, with why: choosing it says so again instead of it silently missing
        damaged = [(f"{m['name']}: DAMAGED, {public_message(ValueError(m['reason']), models.root, self.audience)}",
                    m["name"]) for m in models.damaged]
        return [(f"{m['name']}: {m['summary']}", m["name"]) for m in good] + damaged


def guarded(ctx: AppContext):
    """Decorator: the user's mistakes (ExplorerError) become a readable gr.Error, logged as one line with no
    traceback; the server keeps serving."""
    def deco(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except ExplorerError as e:
                message = public_message(e, ctx.renderer.models.root, ctx.audience)
                refused.info("refused %s: %s", fn.__name__, message)
                raise gr.Error(message, print_exception=False) from None
        return inner
    return deco


class NewestWins:
    """For events that write the same outputs: per browser session, the call that started last is the one whose
    result shows. An older call that ends after a newer one (the page-load edit computing a model's directions
    for seconds while the user already asked for another edit) leaves the outputs alone instead of overwriting
    the newer result. `start(request)` takes a ticket when a call begins; `current(ticket)` says whether it is
    still the session's newest when it ends."""
    SESSIONS = 10_000     # sessions remembered; the oldest are forgotten past that

    def __init__(self):
        self._lock = threading.Lock()
        self._newest: OrderedDict = OrderedDict()

    def start(self, request) -> tuple:
        key = getattr(request, "session_hash", None)
        with self._lock:
            n = self._newest.pop(key, 0) + 1
            self._newest[key] = n
            while len(self._newest) > self.SESSIONS:
                self._newest.popitem(last=False)
        return key, n

    def current(self, ticket: tuple) -> bool:
        key, n = ticket
        with self._lock:
            return self._newest.get(key, n) == n


def validator(*rules):
    """An event's `validator=`: one rule per input (None: anything goes), each a check that raises ExplorerError.
    Gradio runs it before the event and, when a rule refuses, shows the message beside that input and leaves
    every output as it was (a plain gr.Error would put red "Error" badges over the picture and the sliders).
    The same check runs inside the service, so the API refuses the same values with the same words."""
    def validate(*values):
        out = []
        for rule, value in zip(rules, values):
            try:
                if rule is not None:
                    rule(value)
                out.append(gr.validate(True, ""))
            except ExplorerError as e:
                refused.info("refused a value: %s", e)
                out.append(gr.validate(False, str(e)))
        return out + [gr.validate(True, "")] * (len(values) - len(out))
    return validate


def explainer(text: str) -> None:
    with gr.Accordion("What am I seeing?", open=False):
        gr.Markdown(text)


def curve_frame(rows: list[dict]):
    """Rows of {step, value, series} as a typed DataFrame for gr.LinePlot, or None when there are none yet.
    (A LinePlot whose first value is an empty frame never draws lines afterwards, in Gradio 6.31: its axes
    update but its marks stay empty. Starting from None avoids that.)"""
    if not rows:
        return None
    import pandas as pd
    df = pd.DataFrame(rows, columns=["step", "value", "series"])
    return df.astype({"step": "int64", "value": "float64", "series": "object"})


LIVE_TEMPLATE = """<div class="live-view">
  <canvas class="live" width="28" height="28" aria-label="The generated image, drawn live"></canvas>
  <div class="live-foot"><span class="live-status">Starting the live view…</span>
  <a class="live-save" href="#" download="latent-explorer.png">Save picture</a></div>
</div>"""
LIVE_CSS = """
.live-view { display: flex; flex-direction: column; gap: 4px; }
canvas.live { width: 100%; height: var(--live-height, 250px); object-fit: contain; image-rendering: pixelated; }
.live-foot { display: flex; justify-content: space-between; gap: 8px; font-size: var(--text-sm);
             color: var(--body-text-color-subdued); }
"""


def frame_for(ctx: AppContext):
    """A live view's server path, called by the page once per animation frame while a slider moves when it
    cannot draw itself: one POST, the picture back as base64 PNG, no state round trip, no file."""
    def frame(req: dict) -> dict:
        try:
            if not isinstance(req, dict):
                raise ExplorerError("expected {model, z, label, class_weights, cat, cont}")
            png = ctx.renderer.frame(req.get("model"), req.get("z"), req.get("label"), req.get("cat"),
                                     req.get("cont"), req.get("class_weights"))
        except ExplorerError as e:
            return {"error": public_message(e, ctx.renderer.models.root, ctx.audience)}
        return {"png": base64.b64encode(png).decode("ascii")}
    return frame


def live_view(ctx: AppContext, elem_id: str) -> gr.HTML:
    """A canvas the page draws the generator on (explorer/web/live.js); its value is the view's state as JSON,
    sent by the server whenever it changes it. Its server function `frame` is the fallback path."""
    runtime = ctx.site.runtime_url if ctx.site is not None and not ctx.site.problems else None
    return gr.HTML("", html_template=LIVE_TEMPLATE, css_template=LIVE_CSS, js_on_load=LIVE_JS,
                   head=f'<script src="{runtime}ort.wasm.min.js"></script>' if runtime else None,
                   server_functions=[frame_for(ctx)], elem_id=elem_id, padding=False)
