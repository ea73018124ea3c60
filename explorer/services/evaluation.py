"""Measuring models and listing what a checkpoints folder holds: what `eval` and `models` do."""
from __future__ import annotations

import os
from pathlib import Path

from explorer.errors import ExplorerError
from explorer.metrics.evaluate import evaluate_classifier_checkpoint, evaluate_generator
from explorer.services.pixels import Renderer
from explorer.store.card import code_sweep_file
from explorer.store.checkpoint import (checkpoints_dir, list_model_names, read_config, record_metrics,
                                       resolve_model_dir)


def inventory(checkpoints=None) -> dict:
    """Every model folder with its kind, summary, classes and attributes; a broken one says why."""
    root = checkpoints_dir(checkpoints)
    rows = []
    for name in list_model_names(root):
        try:
            cfg = read_config(root / name)
            rows.append({"name": name, "kind": cfg.get("kind"), "summary": cfg.get("summary", ""),
                         "classes": cfg.get("class_names", []), "attributes": cfg.get("attributes", [])})
        except ExplorerError as e:
            rows.append({"name": name, "kind": "broken", "summary": str(e)})
    return {"checkpoints": str(root), "models": rows}


def _recorded_data_root(cfg: dict):
    """The data root the model was trained with, when it still exists on this machine."""
    root = cfg.get("provenance", {}).get("data_root")
    return root if root and Path(root).is_dir() else None


def data_root_for(cfg: dict, data_root=None):
    """The data root to read a model's held-out data from: the one given, else $LATENT_EXPLORER_DATA, else the
    one it was trained with when that folder is still on this machine."""
    return data_root or os.environ.get("LATENT_EXPLORER_DATA") or _recorded_data_root(cfg)


def evaluate(model: str, checkpoints=None, data_root=None, n: int | None = None, judge: str | None = None,
             save: bool = False) -> dict:
    """A generator's metrics from the project's judges (n samples, default 5,000), a translator's on n held-out
    inputs (default 500), or a classifier's test accuracy. save=True records them in config.json and the card,
    with an InfoGAN's code figures beside it."""
    model_dir = resolve_model_dir(model, checkpoints)
    cfg = read_config(model_dir)
    data_root = data_root_for(cfg, data_root)
    if cfg.get("kind") == "classifier":
        result = evaluate_classifier_checkpoint(str(model_dir), checkpoints, data_root)
    elif cfg.get("kind") == "translator":
        from explorer.metrics.translation import evaluate_translator
        from explorer.store.checkpoint import load_translator
        result = evaluate_translator(load_translator(model_dir), checkpoints, data_root, n=n or 500, judge=judge)
    elif cfg.get("kind") == "text":
        from explorer.metrics.text import evaluate_text_model
        from explorer.store.checkpoint import load_text_model
        result = evaluate_text_model(load_text_model(model_dir), checkpoints, data_root, n=n or 1000, judge=judge)
        if save:   # the card shows one sentence's attention maps
            from explorer.data.captions import EXAMPLES
            from explorer.services.text import TextDesk
            from explorer.store.card import ATTENTION_FIGURE
            desk = TextDesk(model_dir.parent, allow_paths=True)
            result["figure_seed"] = 0
            desk.attention_sheet(desk.draw(str(model_dir), EXAMPLES[0], 0, 1), 0).save(model_dir / ATTENTION_FIGURE)
    else:
        renderer = Renderer(checkpoints, allow_paths=True)   # loads the model once, for the metrics and figures
        model = renderer.models.get(str(model_dir))
        result = evaluate_generator(model, checkpoints, data_root, n=n or 5000, judge=judge)
        if save:   # an InfoGAN's card shows its code figures
            for j in range(model.cfg.cont_codes):
                renderer.code_figure(str(model_dir), j, 0).save(model_dir / code_sweep_file(j))
    if save:
        record_metrics(model_dir, "eval", result)
    return result
