"""`eval` for translators, on held-out pictures, judged by a faces classifier where the data has attributes.

pix2pix (paired): L1 between output and the true picture, and per attribute the agreement between the judge's
reading of the true picture and of the output (did the drawing's smile, beard, hair colour come through?).

CycleGAN (unpaired, A: without an attribute, B: with it): A -> B adds the attribute on what share of pictures,
B -> A removes it on what share, and every other attribute is kept on what share (the judge's reading of input
and output agree); the cycle reconstruction L1 both ways and the identity L1 (a picture already in the target
domain should pass through unchanged).

L1 is the mean absolute difference of pixels in [0, 1] (0: identical, 1: black against white).
"""
from __future__ import annotations

import torch

from explorer.metrics.evaluate import _batched, _load_judge, real_test_data
from explorer.metrics.frechet import fd_between
from explorer.models.translation import Translator

TRANSLATION_JUDGE = "faces-attributes-eval"


def _l1(x: torch.Tensor, y: torch.Tensor) -> float:
    return round(((x - y).abs().mean() / 2).item(), 5)


def _as_float(t: torch.Tensor) -> torch.Tensor:
    return t.float().div(127.5).sub(1.0) if t.dtype == torch.uint8 else t.float()


@torch.no_grad()
def evaluate_translator(model: Translator, checkpoints=None, data_root=None, n: int = 500,
                        judge: str | None = None) -> dict:
    data = real_test_data(model.meta, data_root)
    n_a, n_b = min(n, data.a.shape[0]), min(n, data.x.shape[0])
    a, b = _as_float(data.a[:n_a]), _as_float(data.x[:n_b])
    forward = lambda x: _batched(lambda t: model.translate(t, "forward"), x, 250)  # noqa: E731
    result: dict = {"model": model.name, "method": model.method, "pictures": n_a,
                    "domains": list(model.domains)}
    judge = judge or model.meta.get("train", {}).get("judge")
    net = names = None
    if judge and list(data.info.attribute_names):
        net, jmeta = _load_judge(judge, checkpoints)
        if list(jmeta.get("attributes") or []) == list(data.info.attribute_names):
            names, result["judge"] = list(jmeta["attributes"]), judge
    read = (lambda x: _batched(net, x).gt(0)) if names else None  # noqa: E731
    if model.method == "pix2pix":
        out = forward(a)
        result["l1"] = _l1(out, b[:n_a])
        result["l1_input"] = _l1(a, b[:n_a])        # how far the input itself is from the truth, for scale
        if names:
            truth, got = read(b[:n_a]), read(out)
            agree = (truth == got).float().mean(0)
            result["attribute_agreement"] = {k: round(v, 4) for k, v in zip(names, agree.tolist())}
            result["attribute_agreement_min"] = round(agree.min().item(), 4)
            f_out, f_true = _batched(net.features, out).numpy(), _batched(net.features, b[:n_a]).numpy()
            result["frechet_distance"] = round(fd_between(f_out, f_true), 4)
            half = n_a // 2
            result["frechet_distance_real_vs_real"] = round(fd_between(f_true[:half], f_true[half:2 * half]), 4)
        return result
    back = lambda x: _batched(lambda t: model.translate(t, "back"), x, 250)  # noqa: E731
    ab, ba = forward(a), back(b)
    result["pictures_b"] = n_b
    result["cycle_l1"] = {"a_to_b_to_a": _l1(back(ab), a), "b_to_a_to_b": _l1(forward(ba), b)}
    result["identity_l1"] = {"forward_on_b": _l1(forward(b), b), "back_on_a": _l1(back(a), a)}
    result["change_l1"] = {"a_to_b": _l1(ab, a), "b_to_a": _l1(ba, b)}
    attribute = data.info.options.get("attribute")
    if names and attribute in names:
        k = names.index(attribute)
        in_a, out_ab, in_b, out_ba = read(a), read(ab), read(b), read(ba)
        result["attribute"] = attribute
        result["added"] = round(out_ab[:, k].float().mean().item(), 4)          # A -> B: now has it
        result["removed"] = round((~out_ba[:, k]).float().mean().item(), 4)     # B -> A: no longer has it
        keep = {}
        for j, name in enumerate(names):
            if j != k:
                both = torch.cat([in_a[:, j] == out_ab[:, j], in_b[:, j] == out_ba[:, j]]).float().mean()
                keep[name] = round(both.item(), 4)
        result["others_kept"] = keep
        result["others_kept_min"] = min(keep.values())
        others = [j for j in range(len(names)) if j != k]
        all_kept = torch.cat([(in_a[:, others] == out_ab[:, others]).all(1), (in_b[:, others] == out_ba[:, others]).all(1)])
        result["others_kept_all"] = round(all_kept.float().mean().item(), 4)   # every other attribute at once
        result["judge_on_inputs"] = {"a_has": round(in_a[:, k].float().mean().item(), 4),
                                     "b_has": round(in_b[:, k].float().mean().item(), 4)}
    return result
