"""Warnings a teacher wants to point at, read from the metrics history of a GAN run (pure functions)."""
from __future__ import annotations

import numpy as np


def diagnose(history: list[dict], window: int = 20) -> list[str]:
    """Plain-words warnings about the recent window of logged metrics (empty when all looks healthy)."""
    if len(history) < window:
        return []
    recent = history[-window:]
    out = []

    def series(key):
        vals = [h[key] for h in recent if key in h]
        return np.array(vals) if len(vals) == len(recent) else None

    d_real, d_fake, loss_g = series("d_real"), series("d_fake"), series("loss_g")
    grad_g = series("grad_norm_g")
    if d_real is not None and d_fake is not None and d_real.max() <= 1.0 and d_fake.min() >= 0.0:
        if d_real.mean() > 0.95 and d_fake.mean() < 0.05:
            flat = loss_g is not None and np.ptp(loss_g) < 0.05 * (abs(loss_g.mean()) + 1e-6)
            tiny = grad_g is not None and grad_g.mean() < 1e-3
            if flat or tiny:
                out.append("Vanishing gradients: D(x) is near 1 and D(G(z)) near 0, so the discriminator wins "
                           "every round, and the generator's loss has gone flat: it gets almost no signal. "
                           "The non-saturating loss or a WGAN critic avoids this.")
            else:
                out.append("The discriminator is winning easily (D(x) ~ 1, D(G(z)) ~ 0): watch for the "
                           "generator's loss going flat (vanishing gradients).")
    div_all = [h["diversity"] for h in history if "diversity" in h]
    if len(div_all) >= 2 * window:
        peak = max(div_all[: -window // 2])
        now = float(np.mean(div_all[-window // 2:]))
        if peak > 0 and now < 0.5 * peak:
            out.append(f"Sample diversity fell to {now / peak:.0%} of its peak: possible mode collapse "
                       f"(the generator is producing a few look-alike samples).")
    return out
