"""Shared wiring for the tabs: the app context, error translation and small layout helpers."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import gradio as gr

from explorer.errors import ExplorerError
from explorer.services import Services
from explorer.services.pixels import Renderer, public_message


@dataclass
class AppContext:
    services: Services
    audience: bool = False    # participants' view: no training, no filesystem paths

    @property
    def renderer(self) -> Renderer:
        return self.services.pixels

    def model_choices(self, refresh: bool = False) -> list[tuple[str, str]]:
        """(label, name) for every generator; refresh=True reads the folder now instead of on its schedule."""
        models = self.renderer.models
        return [(f"{m['name']}: {m['summary']}", m["name"]) for m in (models.refresh() if refresh else models.names())]


def guarded(ctx: AppContext):
    """Decorator: the user's mistakes (ExplorerError) become a readable gr.Error; the server keeps serving."""
    def deco(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except ExplorerError as e:
                raise gr.Error(public_message(e, ctx.renderer.models.root, ctx.audience), print_exception=False)
        return inner
    return deco


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
