"""The Directions tab's service: per-model caches of judge, directions and gradients, and every number the
tab shows (edited strips, the side-effect meter, entanglement and correlation matrices). No gradio here."""
from __future__ import annotations

import threading

import numpy as np
import torch

from explorer.checks import check_seed, check_whole
from explorer.errors import ConfigError, ExplorerError
from explorer.latent import directions as D
from explorer.latent.edit import (METHODS_SHOWN, clamp_strength, compute_directions, cosine_matrix, get_direction,
                                  judge_directions, load_pc_names, pick_pc, probabilities, rename_pc, save_pc_names,
                                  saved_directions, with_penalty)
from explorer.latent.judges import NO_ATTRIBUTES, attribute_judge, kept
from explorer.metrics.evaluate import judge_name
from explorer.render import grid, label_rows
from explorer.services.pixels import check_z
from explorer.store.checkpoint import save_directions


class DirectionStudio:
    def __init__(self, models, checkpoints=None):
        self.models = models            # a renderer.ModelCache
        self.checkpoints = checkpoints
        self._cache: dict[str, dict] = {}
        self._lock = threading.Lock()

    def supports(self, name: str) -> bool:
        try:
            return bool(self.names(name))
        except ExplorerError:
            return False

    def names(self, name: str) -> list[str]:
        """The attributes a model can be steered by (faces: its attributes; digits: classes and strokes)."""
        return self._entry(name)["names"]

    def _entry(self, name: str) -> dict:
        model = self.models.get(name)
        with self._lock:
            if name not in self._cache:
                judge, names = attribute_judge(model, self.checkpoints)
                dirs = saved_directions(model.meta["path"], names)   # None: computed on first use
                if dirs is not None and "sefa" not in dirs:            # saved before SeFa: closed form, instant
                    try:
                        dirs["sefa"] = D.sefa_directions(model)
                    except ConfigError:
                        pass
                self._cache[name] = {"model": model, "judge": judge, "names": names, "dirs": dirs, "grads": None,
                                     "pc_names": load_pc_names(model.meta["path"])}
            return self._cache[name]

    def recompute(self, name: str, progress=None) -> str:
        e = self._entry(name)
        dirs = compute_directions(e["model"], e["judge"], e["names"], progress=progress)
        try:
            save_directions(e["model"].meta["path"], dirs, {"judge": judge_name(e["model"].meta)})
            where = "saved beside the model"
        except OSError:
            where = "kept in memory (the model folder is read-only)"
        e["dirs"], e["grads"] = dirs, None
        return f"Directions recomputed for {name} and {where}."

    def directions(self, name: str, recompute: bool = False, penalty: float = 1.0,
                   progress=None) -> tuple[dict, list[str], str]:
        """(every method's directions, the attribute names, a note): the saved ones, else computed and saved
        beside the model; penalty != 1 re-finds the penalized ones at that weight (not saved)."""
        e = self._entry(name)
        note = ""
        if recompute or e["dirs"] is None:
            note = self.recompute(name, progress)
        dirs = e["dirs"]
        if penalty != 1.0:
            dirs = with_penalty(dirs, e["model"], e["judge"], e["names"], penalty)
        return dirs, e["names"], note

    def judged(self, name: str, judge: str | None = None, penalty: float = 1.0, recompute: bool = False,
               progress=None) -> dict:
        """Every method compared at equal target change, by a judge other than the finder where there is one
        (faces: faces-attributes-eval), with each method's cosine to the gradient direction."""
        dirs, names, _ = self.directions(name, recompute, penalty, progress)
        model = self._entry(name)["model"]
        judge = judge or ("faces-attributes-eval" if model.attributes else judge_name(model.meta))
        net, judge_names = attribute_judge(model, self.checkpoints, judge=judge)
        results = judge_directions(model, dirs, net, judge_names, names)
        cosines = {n: {m: round(float(dirs[f"{m}/{n}"] @ dirs[f"gradient/{n}"]), 4)
                       for m in ("penalized", "boundary", "conditional")} for n in names}
        return {"model": model.name, "judge": judge, "penalty": penalty, "results": results, "cosines": cosines,
                "unsupervised": self.unsupervised_alignment(name)}

    def unsupervised_alignment(self, name: str) -> dict:
        """Per attribute, the PCA and the SeFa direction closest to its gradient direction and their |cosine|:
        how much of each attribute the label-free methods find on their own."""
        e = self._entry(name)
        dirs, out = self._dirs(e), {}
        for n in e["names"]:
            g = dirs[f"gradient/{n}"]
            row = {}
            for family, prefix in D.UNSUPERVISED.items():
                if family not in dirs:      # no SeFa for a generator without a linear first layer
                    continue
                cos = (dirs[family] @ g).abs()
                row[family] = {"direction": f"{prefix}{int(cos.argmax())}", "cosine": round(float(cos.max()), 4)}
            out[n] = row
        return out

    def edit_rows(self, name: str, attribute: str, method: str, strength: float, seed: int, n: int,
                  penalty: float = 1.0, z: torch.Tensor | None = None) -> dict:
        """n samples pushed along one direction: each row the sample, then 4 steps to the full strength.
        Returns the grid, the edited images, z before and after, and notes (clamping, which PC).
        `z` (rows of z, e.g. an inverted picture's) replaces the seed's samples."""
        model = self._entry(name)["model"]
        _, _, note = self.directions(name)          # found and saved beside the model on first use
        d = self.direction(name, method, attribute, penalty)
        notes = [note] if note else []
        if method in D.UNSUPERVISED:
            notes.append(f"{method} walks {self.pca_choice(name, attribute, method)}")
        strength, clamped = clamp_strength(strength)
        if clamped:
            notes.append(f"strength clamped to {strength} (edits beyond that leave the region z lives in)")
        z = model.sample_z(n, check_seed(seed)) if z is None else z
        ramp = torch.linspace(0, 1, 5)
        with torch.no_grad():   # only here: finding a direction above needs gradients
            edited = model.generate(z + strength * d)
            strip = model.generate((z[:, None] + strength * ramp[None, :, None] * d).reshape(-1, model.z_dim))
        return {"grid": grid(strip, nrow=5, scale=2), "images": edited, "z": z + strength * d, "z_before": z,
                "notes": notes}

    def _dirs(self, e: dict) -> dict:
        if e["dirs"] is None:
            e["dirs"] = compute_directions(e["model"], e["judge"], e["names"])
        return e["dirs"]

    def direction(self, name: str, method: str, attribute: str, penalty: float = 1.0) -> torch.Tensor:
        e = self._entry(name)
        if method == "penalized" and penalty != 1.0:  # other weights: instant from cached gradients
            if e["grads"] is None:
                e["grads"] = D.logit_gradients(e["model"], e["judge"])
            if attribute not in e["names"]:
                raise ConfigError(f"unknown attribute '{attribute}' (known: {', '.join(e['names'])})")
            return D.penalized_direction(e["grads"], e["names"].index(attribute), penalty, kept(e["names"], attribute))
        return get_direction(self._dirs(e), method, attribute, e["model"], e["names"], e["pc_names"])

    # ---- principal directions: found without labels, named by people ----
    def pc_count(self, name: str, family: str = "pca") -> int:
        """How many PCs (or SeFa directions) there are (before directions are computed: how many will be)."""
        e = self._entry(name)
        return D.PCA_K if e["dirs"] is None or family not in e["dirs"] else len(e["dirs"][family])

    def pc_names(self, name: str) -> dict[str, str]:
        return dict(self._entry(name)["pc_names"])

    def pca_choice(self, name: str, attribute: str, family: str = "pca") -> str:
        """Which PC (or SeFa direction) the pca (sefa) row walks for this attribute, in words."""
        e = self._entry(name)
        return pick_pc(self._dirs(e), attribute, e["names"], e["pc_names"], family)[2]

    def name_pc(self, name: str, k, label: str) -> str:
        """Give pc{k} a name (empty: clear it), saved beside the model (in memory when its folder is read-only)."""
        e = self._entry(name)
        new = rename_pc(e["pc_names"], k, label, len(self._dirs(e)["pca"]))
        try:
            save_pc_names(e["model"].meta["path"], new)
            where = "saved beside the model"
        except OSError:
            where = "kept until the app stops (the model folder is read-only)"
        e["pc_names"] = new
        k = int(k)
        said = f"pc{k} is now called '{new[f'pc{k}']}'" if f"pc{k}" in new else f"pc{k} has no name now"
        return f"{said}; {where}."

    def pc_walk(self, name: str, k, seeds: list[int], strength: float = 3.0, family: str = "pca"):
        """Each seed (a row) walked along pc{k} (SeFa: sefa{k}) from -strength to +strength in 5 steps, the
        original in the middle; and the mean change of every attribute's probability at -strength and
        +strength (64 samples), which is what a person reads to name it."""
        e = self._entry(name)
        model, judge = e["model"], e["judge"]
        if family not in D.UNSUPERVISED:
            raise ConfigError(f"unknown family of unsupervised directions '{family}' (pca, sefa)")
        k = check_whole(k, 0, self.pc_count(name, family) - 1, f"the {family} direction's number")
        prefix = D.UNSUPERVISED[family]
        d = get_direction(self._dirs(e), family, f"{prefix}{k}", model, e["names"], e["pc_names"])  # may compute
        strength, _ = clamp_strength(float(strength))
        z = torch.cat([model.sample_z(1, check_seed(s)) for s in seeds])
        steps = torch.linspace(-strength, strength, 5)
        with torch.no_grad():
            img = grid(model.generate((z[:, None] + steps[None, :, None] * d).reshape(-1, model.z_dim)), nrow=5,
                       scale=3)
        pool = model.sample_z(64, 4243)
        p0 = probabilities(model, judge, pool)
        minus = (probabilities(model, judge, pool - strength * d) - p0).mean(0)
        plus = (probabilities(model, judge, pool + strength * d) - p0).mean(0)
        effects = [{"attribute": a, f"change at -{strength:g}": round(float(m), 3),
                    f"change at +{strength:g}": round(float(p), 3)}
                   for a, m, p in zip(e["names"], minus, plus)]
        return img, effects

    def edits(self, name: str, attribute: str, methods: list[str], strength: float, seeds: list[int],
              penalty: float = 1.0, picture_z: torch.Tensor | None = None):
        """(image: a row of originals then one row per method, probabilities per method, clamped?)
        `picture_z` (1 x z_dim, e.g. an inverted picture's z) is edited in the first column, before the seeds,
        and is the face the probabilities are read from."""
        e = self._entry(name)
        model, judge = e["model"], e["judge"]
        strength, clamped = clamp_strength(float(strength))
        if not methods:
            raise ConfigError("choose at least one method")
        # pca walks the PC chosen for this attribute (pick_pc), the one the status line names
        dirs = {m: self.direction(name, m, attribute, penalty) for m in methods}
        z = torch.cat([model.sample_z(1, check_seed(s)) for s in seeds])
        if picture_z is not None:
            z = torch.cat([check_z(model, picture_z), z])
        with torch.inference_mode():
            rows, probs = [model.generate(z)], {"original": probabilities(model, judge, z)[0]}
            for m, d in dirs.items():
                rows.append(model.generate(z + strength * d))
                probs[m] = probabilities(model, judge, z[:1] + strength * d)[0]
        img = label_rows(grid(torch.cat(rows), nrow=len(z), scale=3), ["original", *dirs])
        table = [{"attribute": a, "probability": round(float(p[i]), 4), "method": k}
                 for k, p in probs.items() for i, a in enumerate(e["names"])]
        return img, table, clamped, strength

    @torch.no_grad()
    def seeds_lacking(self, name: str, attribute: str, n: int = 6, start: int = 1, scan: int = 256) -> list[int]:
        """The first n seeds from `start` whose faces the judge says lack the attribute (probability < 0.5), so
        an edit that adds it has something to add; topped up with the next seeds when too few lack it."""
        e = self._entry(name)
        if attribute not in e["names"]:
            raise ConfigError(f"unknown attribute '{attribute}' (known: {', '.join(e['names'])})")
        seeds = list(range(start, start + scan))
        z = torch.cat([e["model"].sample_z(1, s) for s in seeds])
        p = probabilities(e["model"], e["judge"], z)[:, e["names"].index(attribute)]
        lacking = [s for s, q in zip(seeds, p.tolist()) if q < 0.5][:n]
        return lacking + [s for s in seeds if s not in lacking][: n - len(lacking)]

    def entanglement(self, name: str, method: str, strength: float = 2.0, n: int = 64) -> dict:
        """Row a: mean change of every attribute's probability per unit change of a's own, along a's direction."""
        e = self._entry(name)
        model, judge = e["model"], e["judge"]
        names = e["names"]
        dirs = [self.direction(name, method, attr) for attr in names]
        z = model.sample_z(n, 4242)
        p0 = probabilities(model, judge, z)
        mat = np.zeros((len(names), len(names)))
        for a, d in enumerate(dirs):
            dp = (probabilities(model, judge, z + strength * d) - p0).mean(0).numpy()
            # a direction that barely moves its own target has no meaningful ratios: NaN, shown as blank
            mat[a] = dp / abs(dp[a]) if abs(dp[a]) > 1e-3 else np.nan
        return {"names": names, "matrix": mat}

    def data_correlation(self, name: str) -> dict:
        """The attribute correlation of the data the model was trained on (faces: re-sampled exactly)."""
        model = self.models.get(name)
        names = self.names(name)
        train = model.meta.get("train", {})
        if train.get("dataset") == "faces" and names == list(model.attributes):
            from explorer.data.faces import sample_attributes
            labels = sample_attributes(20000, train.get("data_options", {}).get("correlation", 0.0), 0)
            return {"names": names, "matrix": np.corrcoef(labels.T.astype(float))}
        e = self._entry(name)
        _, labels = D.label_samples(model, e["judge"], 4000)
        return {"names": names, "matrix": np.nan_to_num(np.corrcoef(labels.T))}

    def cosines(self, name: str, method_a: str, method_b: str) -> dict:
        e = self._entry(name)
        return {"names": e["names"], "matrix": cosine_matrix(self._dirs(e), e["names"], method_a, method_b)}

    @torch.no_grad()
    def vector_arithmetic(self, name: str, attribute: str, seed: int, scale: float = 1.0, n: int = 3000):
        """mean z of samples with the attribute minus mean z without, added to the seed's z."""
        e = self._entry(name)
        model = e["model"]
        if attribute not in e["names"]:
            raise ConfigError(f"unknown attribute '{attribute}' (known: {', '.join(e['names'])})")
        if "arith" not in e:
            e["arith"] = D.label_samples(model, e["judge"], n)
        z_all, labels = e["arith"]
        a = e["names"].index(attribute)
        has = labels[:, a] > 0.5
        if has.all() or not has.any():
            raise ConfigError(f"every sample (or none) has {attribute}: no difference of means to take")
        delta = torch.from_numpy(z_all[has].mean(0) - z_all[~has].mean(0))
        z = model.sample_z(1, check_seed(seed))
        scale, _ = clamp_strength(float(scale))
        steps = torch.linspace(0, scale, 5)[:, None]
        return grid(model.generate(z + steps * delta[None]), nrow=5, scale=3)


__all__ = ["DirectionStudio", "METHODS_SHOWN", "NO_ATTRIBUTES"]
