"""Disentanglement scored against known factors: MIG, DCI and SAP between latent codes and ground truth.

`codes` is N x D (a latent per picture), `factors` N x K (each factor a small whole number: the faces' seven
attributes are 0/1). Every score is in [0, 1]; 1 means each factor lives in one code dimension of its own.

- MIG (Chen et al. 2018): per factor, the gap between the two code dimensions that know most about it (mutual
  information, the codes cut into equal-width bins), divided by the factor's entropy; averaged over factors.
- DCI (Eastwood & Williams 2018): a predictor per factor (gradient-boosted trees, as disentanglement_lib)
  gives an importance matrix R (D x K). Disentanglement: 1 minus each dimension's entropy over factors (base
  K), weighted by the dimension's share of importance; completeness: 1 minus each factor's entropy over
  dimensions (base D), averaged; informativeness: the predictors' accuracy on held-out codes.
- SAP (Kumar et al. 2018): per factor, how well each single dimension predicts it (the best threshold's
  held-out accuracy, the score of a one-feature linear classifier), and the gap between the best two
  dimensions; averaged over factors.
"""
from __future__ import annotations

import numpy as np

from explorer.errors import DataError

BINS = 20          # MIG's discretisation of each code dimension, as disentanglement_lib
TRAIN_SHARE = 0.8  # DCI and SAP fit on the first 80% of the pictures and score on the rest


def _check(codes, factors) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise DataError(f"codes (N x D) and factors (N x K) must pair one row per picture, got shapes "
                        f"{codes.shape} and {factors.shape}")
    if len(codes) < 20:
        raise DataError(f"disentanglement needs at least 20 pictures, got {len(codes)}")
    if not np.isfinite(codes).all():
        raise DataError("the codes hold NaN or infinity")
    if not np.array_equal(factors, np.round(factors)) or factors.min() < 0:
        raise DataError("factors must be whole numbers >= 0 (a class, or 0/1 for an attribute)")
    return codes, factors.astype(np.int64)


def discretize(codes: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each dimension cut into `bins` equal-width bins between its own min and max: N x D bin numbers."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins)
        out[:, j] = np.digitize(codes[:, j], edges[1:-1])
    return out


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats between two whole-number sequences, from their joint histogram."""
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def entropy(a: np.ndarray) -> float:
    """H(a) in nats of a whole-number sequence."""
    p = np.bincount(a) / len(a)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def mean_scored(per: list) -> float:
    """The mean of the factors that could be scored (None: a factor that never varies), or a readable refusal."""
    scored = [p for p in per if p is not None]
    if not scored:
        raise DataError("no factor varies among these pictures: nothing to score")
    return float(np.mean(scored))


def mig(codes, factors) -> dict:
    """Mutual information gap: {"mig", "per_factor"}; a factor that never varies has no entropy and is skipped."""
    codes, factors = _check(codes, factors)
    binned = discretize(codes)
    per = []
    for k in range(factors.shape[1]):
        h = entropy(factors[:, k])
        if h <= 0:
            per.append(None)
            continue
        mi = sorted((mutual_information(binned[:, j], factors[:, k]) for j in range(codes.shape[1])), reverse=True)
        per.append((mi[0] - (mi[1] if len(mi) > 1 else 0.0)) / h)
    return {"mig": mean_scored(per), "per_factor": per}


def dci_from_importance(r: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (D code dimensions x K factors, >= 0)."""
    r = np.abs(np.asarray(r, dtype=np.float64))
    d, k = r.shape
    total = r.sum()
    if total <= 0:
        return 0.0, 0.0

    def one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:   # rows of p sum to 1
        if base < 2:
            return np.ones(len(p))
        logs = np.log(np.where(p > 0, p, 1.0)) / np.log(base)
        return 1.0 + (p * logs).sum(1)

    rows = r.sum(1)
    p_code = r / np.where(rows > 0, rows, 1.0)[:, None]
    disent = float((one_minus_entropy(p_code, k) * rows / total).sum())
    cols = r.sum(0)
    p_factor = (r / np.where(cols > 0, cols, 1.0)[None, :]).T
    complete = float(one_minus_entropy(p_factor, d)[cols > 0].mean()) if (cols > 0).any() else 0.0
    return disent, complete


def dci(codes, factors, seed: int = 0, trees: int = 40) -> dict:
    """{"disentanglement", "completeness", "informativeness", "importance"} with gradient-boosted trees."""
    from sklearn.ensemble import GradientBoostingClassifier
    codes, factors = _check(codes, factors)
    cut = int(len(codes) * TRAIN_SHARE)
    r = np.zeros((codes.shape[1], factors.shape[1]))
    acc = []
    for k in range(factors.shape[1]):
        y = factors[:, k]
        if len(np.unique(y[:cut])) < 2:     # nothing to learn: the factor never varies in the fitting part
            continue
        clf = GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=seed).fit(codes[:cut], y[:cut])
        r[:, k] = clf.feature_importances_
        acc.append(float((clf.predict(codes[cut:]) == y[cut:]).mean()))
    informativeness = mean_scored(acc)      # refuses when no factor varied
    d, c = dci_from_importance(r)
    return {"disentanglement": d, "completeness": c, "informativeness": informativeness,
            "importance": r.round(4).tolist()}


def threshold_accuracy(x_train, y_train, x_test, y_test) -> float:
    """Held-out accuracy of the best one-feature classifier fitted on the training part: for a 0/1 factor a
    threshold (either side), for a factor of several values each bin between thresholds takes its majority."""
    values = np.unique(y_train)
    if len(values) < 2:
        return float((y_test == values[0]).mean())
    if len(values) == 2:
        order = np.argsort(x_train)
        xs, ys = x_train[order], (y_train[order] == values[1]).astype(np.float64)
        # predicting values[1] above a threshold between xs[i-1] and xs[i]: correct = zeros below + ones above
        ones_above = ys[::-1].cumsum()[::-1]
        zeros_below = np.concatenate([[0.0], (1 - ys).cumsum()[:-1]])
        up = zeros_below + ones_above
        down = len(ys) - up
        i_up, i_down = int(up.argmax()), int(down.argmax())
        use_up = up[i_up] >= down[i_down]
        i = i_up if use_up else i_down
        t = xs[i] if i == 0 else (xs[i - 1] + xs[i]) / 2
        above = x_test >= t if i > 0 else np.ones(len(x_test), bool)
        pred = np.where(above == use_up, values[1], values[0])
        return float((pred == y_test).mean())
    # several values: bins of the training feature, each predicting its most common value
    edges = np.quantile(x_train, np.linspace(0, 1, 2 * len(values) + 1)[1:-1])
    tr, te = np.digitize(x_train, edges), np.digitize(x_test, edges)
    major = {b: np.bincount(y_train[tr == b]).argmax() for b in np.unique(tr)}
    fallback = np.bincount(y_train).argmax()
    pred = np.array([major.get(b, fallback) for b in te])
    return float((pred == y_test).mean())


def sap(codes, factors) -> dict:
    """Separated attribute predictability: {"sap", "per_factor", "scores" (D x K held-out accuracies)}.
    Each accuracy is rescaled so that always guessing the commonest value scores 0 and a perfect guess 1."""
    codes, factors = _check(codes, factors)
    cut = int(len(codes) * TRAIN_SHARE)
    s = np.zeros((codes.shape[1], factors.shape[1]))
    per = []
    for k in range(factors.shape[1]):
        y = factors[:, k]
        base = np.bincount(y[cut:]).max() / (len(y) - cut)
        if len(np.unique(y[:cut])) < 2 or base >= 1:
            per.append(None)
            continue
        for j in range(codes.shape[1]):
            a = threshold_accuracy(codes[:cut, j], y[:cut], codes[cut:, j], y[cut:])
            s[j, k] = max(0.0, (a - base) / (1 - base))
        top = np.sort(s[:, k])[::-1]
        per.append(float(top[0] - (top[1] if len(top) > 1 else 0.0)))
    return {"sap": mean_scored(per), "per_factor": per, "scores": s.round(4).tolist()}


def disentanglement(codes, factors, names=None) -> dict:
    """All three, rounded, with per-factor MIG and SAP named (JSON-ready): what `eval` and the cards report."""
    m, d, s = mig(codes, factors), dci(codes, factors), sap(codes, factors)
    names = list(names) if names is not None else [f"factor {k}" for k in range(np.shape(factors)[1])]
    rnd = lambda v: None if v is None else round(v, 4)   # noqa: E731
    return {"mig": round(m["mig"], 4), "dci_disentanglement": round(d["disentanglement"], 4),
            "dci_completeness": round(d["completeness"], 4), "dci_informativeness": round(d["informativeness"], 4),
            "sap": round(s["sap"], 4),
            "per_factor": {n: {"mig": rnd(a), "sap": rnd(b)} for n, a, b in zip(names, m["per_factor"],
                                                                                s["per_factor"])}}
