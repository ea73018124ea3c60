"""A judge's accuracy on a labelled dataset."""
from __future__ import annotations

import numpy as np
import torch


def evaluate_classifier(net: torch.nn.Module, data, multilabel: bool, batch: int = 500) -> dict:
    """Accuracy on a dataset: overall, and per attribute for multi-label judges."""
    net.eval()
    correct, n = None, 0
    with torch.no_grad():
        for i in range(0, len(data), batch):
            x, y, a = data.get_batch(torch.arange(i, min(i + batch, len(data))))
            logits = net(x)
            hit = ((logits > 0).float() == a).float().sum(0) if multilabel else (logits.argmax(1) == y).float().sum()
            correct = hit if correct is None else correct + hit
            n += x.shape[0]
    acc = (correct / n).cpu().numpy()
    if multilabel:
        names = data.info.attribute_names
        return {"accuracy_mean": float(acc.mean()), "accuracy_min": float(acc.min()),
                "accuracy": {k: round(float(v), 4) for k, v in zip(names, acc)}}
    return {"accuracy": float(np.asarray(acc))}
