"""The Compare tab's service: a GAN and a VAE of the same data and z_dim, side by side, measured live.

What a course's comparison table claims (sample quality, sharpness, a bound on log p(x), an encoder from x
to z, reconstructions, disentanglement), each row computed here on the same data, with one sentence saying
why the two differ.
"""
from __future__ import annotations

import threading

import torch

from explorer.checks import check_whole
from explorer.errors import ConfigError, DataError, ExplorerError
from explorer.latent.inversion import STEPS
from explorer.metrics.evaluate import EVAL_SEED, _batched, _load_judge, generate_many, judge_name
from explorer.metrics.frechet import fd_between
from explorer.metrics.sharpness import mean_sharpness
from explorer.render import grid, label_rows
from explorer.services.pixels import check_seed
from explorer.store.checkpoint import load_encoder

N_LIVE = 1000     # pictures per side for the live figures (Frechet distance, sharpness, ELBO)
N_SHOWN = 8


class Comparison:
    """GAN vs VAE: pairs that compare like for like, and every row of the table."""

    def __init__(self, models, checkpoints, data_root, inverter):
        self.models, self.checkpoints, self.data_root = models, checkpoints, data_root
        self.inverter = inverter
        self._real: dict[tuple, torch.Tensor] = {}
        self._lock = threading.Lock()

    # ---- which models compare ----
    def _kind(self, name: str) -> str:
        return self.models.get(name).meta.get("kind", "gan")

    def _key(self, name: str) -> tuple:
        """What must match for a fair comparison: the data (name and options but the split), and z_dim."""
        m = self.models.get(name)
        train = m.meta.get("train", {})
        opts = {k: v for k, v in train.get("data_options", {}).items() if k not in ("n", "split")}
        return train.get("dataset"), tuple(sorted(opts.items())), m.z_dim, tuple(m.image_shape)

    def choices(self) -> tuple[list[str], list[str]]:
        """(GANs, VAEs) of the checkpoints folder that draw pictures."""
        gans, vaes = [], []
        for row in self.models.names():
            name = row["name"] if isinstance(row, dict) else row
            try:
                m = self.models.get(name)
            except ExplorerError:
                continue
            if m.is_points:
                continue
            (vaes if m.meta.get("kind") == "vae" else gans).append(name)
        return gans, vaes

    def partner(self, vae: str) -> str | None:
        """The GAN trained on the same data with the same z_dim (unconditional first), or None."""
        gans, _ = self.choices()
        same = [g for g in gans if self._key(g) == self._key(vae)]
        same.sort(key=lambda g: (self.models.get(g).num_classes > 0, self.models.get(g).cfg.code_dim > 0, g))
        return same[0] if same else None

    def vae_for(self, gan: str) -> str | None:
        """A VAE of the GAN's data (a pair that compares at all): one with the GAN's very terms (data options and
        z_dim) first, a plain VAE before a beta-VAE; None when no VAE here drew that data."""
        key, keys = self._key(gan), {v: self._key(v) for v in self.choices()[1]}
        same = [v for v, k in keys.items() if (k[0], k[3]) == (key[0], key[3])]      # the data and picture size

        def beta(v: str) -> float:
            return self.models.get(v).meta.get("train", {}).get("beta", 1.0)

        same.sort(key=lambda v: (keys[v] != key, beta(v) != 1.0, v))
        return same[0] if same else None

    def check_pair(self, gan: str, vae: str) -> tuple:
        if not gan or not vae:
            raise ConfigError("pick a GAN and a VAE to compare")
        if self._kind(vae) != "vae":
            raise ConfigError(f"'{vae}' is not a VAE: pick one of the VAEs (train one with the digits-vae or "
                              "faces-vae preset)")
        if self._kind(gan) == "vae":
            raise ConfigError(f"'{gan}' is a VAE: pick a GAN on the left")
        g, v = self.models.get(gan), self.models.get(vae)
        if g.is_points:
            raise ConfigError(f"'{gan}' draws 2-D points, not pictures")
        if self._key(gan)[0] != self._key(vae)[0] or g.image_shape != v.image_shape:
            raise ConfigError(f"'{gan}' and '{vae}' were trained on different data "
                              f"({self._key(gan)[0]} vs {self._key(vae)[0]}): pick a pair of the same data")
        return g, v

    def same_terms(self, gan: str, vae: str) -> str:
        """A sentence on how fair the comparison is (data options and z_dim)."""
        a, b = self._key(gan), self._key(vae)
        gaps = []
        if a[1] != b[1]:
            gaps.append(f"data options differ ({dict(a[1]) or 'none'} vs {dict(b[1]) or 'none'})")
        if a[2] != b[2]:
            gaps.append(f"z_dim differs ({a[2]} vs {b[2]})")
        return "Same data, same z_dim." if not gaps else "Not quite like for like: " + "; ".join(gaps) + "."

    # ---- the data both learnt ----
    def real(self, name: str, n: int = N_LIVE) -> torch.Tensor:
        """n held-out test pictures of the model's data, in [-1, 1] (faces: rendered; digits: MNIST's test
        split from the data folder)."""
        from explorer.metrics.evaluate import real_test_data
        m = self.models.get(name)
        key = (*self._key(name), n)
        with self._lock:
            if key not in self._real:
                train = dict(m.meta.get("train", {}))
                train["data_options"] = {k: v for k, v in train.get("data_options", {}).items() if k != "n"}
                if train.get("dataset") == "faces":     # the renderer draws only the held-out faces asked for
                    train["data_options"]["n"] = max(n, N_LIVE)
                from explorer.services.evaluation import data_root_for
                try:
                    data = real_test_data({"train": train}, data_root_for(m.meta, self.data_root))
                except ExplorerError as e:
                    raise DataError(f"the held-out pictures of {name}'s data are not here ({e})") from None
                x, _, _ = data.get_batch(torch.arange(min(n, len(data))))
                self._real[key] = x.float()
            return self._real[key]

    # ---- pictures ----
    @torch.no_grad()
    def samples(self, gan: str, vae: str, seeds: list[int]) -> tuple:
        """The same z (one per seed) through the GAN's generator and the VAE's decoder."""
        g, v = self.check_pair(gan, vae)
        z = torch.cat([g.sample_z(1, check_seed(s)) for s in seeds])
        if g.z_dim != v.z_dim:
            raise ConfigError(f"the same seeds need the same z_dim: {gan} has {g.z_dim}, {vae} {v.z_dim}")
        kw = {"labels": torch.zeros(len(z), dtype=torch.long)} if g.num_classes else {}
        codes = g.sample_codes(len(z), seeds[0])
        return grid(g.generate(z, codes=codes, **kw), nrow=len(z), scale=3), \
            grid(v.generate(z), nrow=len(z), scale=3)

    def encode(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """A VAE's z for pictures (its encoder's mean, one pass); a GAN is refused: it has no encoder of its own."""
        model = self.models.get(name)
        if model.meta.get("kind") != "vae":
            raise ConfigError(f"{name} is a GAN: it has no encoder of its own, so it cannot reconstruct a picture "
                              "in one pass. Invert the picture on the Invert tab (a search for its z) instead.")
        enc = load_encoder(model)
        if enc is None:
            raise ConfigError(f"{name} is a VAE without its encoder.safetensors: retrain or restore it")
        with torch.no_grad():
            return enc.split(enc(x))["z"]

    @torch.no_grad()
    def reconstructions(self, gan: str, vae: str, picks: list[int]) -> dict:
        """Real pictures, the VAE's reconstruction (encoder mean -> decoder), and the GAN's best one-pass try
        (its inversion encoder's guess, when it has one); pixel errors of both."""
        g, v = self.check_pair(gan, vae)
        x = self._picked(vae, picks)
        rows, names = [x, v.generate(self.encode(vae, x))], ["real", "VAE"]
        err = {"vae": float((rows[1] - x).pow(2).mean())}
        enc = load_encoder(g)
        if enc is not None and not g.num_classes and not g.cfg.code_dim:
            guess = g.generate(enc.split(enc(x))["z"])
            rows.append(guess), names.append("GAN enc.")
            err["gan_encoder"] = float((guess - x).pow(2).mean())
        return {"image": label_rows(grid(torch.cat(rows), nrow=len(x), scale=3), names), "errors": err}

    def _picked(self, name: str, picks: list[int]) -> torch.Tensor:
        real = self.real(name)
        idx = [check_whole(p, 0, len(real) - 1, "a held-out picture's number") for p in picks]
        return real[idx]

    def interpolation(self, gan: str, vae: str, a: int, b: int, steps: int = N_SHOWN, progress=None) -> dict:
        """Between two real pictures: the VAE walks between its encoder's means; the GAN between the z's that
        Invert finds for the two (its encoder's guess, then a search). Straight lines in z."""
        g, v = self.check_pair(gan, vae)
        x = self._picked(vae, [a, b])
        t = torch.linspace(0, 1, steps)[:, None]
        zv = self.encode(vae, x)
        note = ""
        if g.num_classes or g.cfg.code_dim:
            raise ConfigError(f"{gan} is conditional or has codes: compare with an unconditional GAN")
        found = []
        # from a random start (no encoder) 50 steps leave a face far off; 150 came 2-4x closer (0.08 vs 0.15)
        search = STEPS if self.inverter.has_encoder(gan) else 3 * STEPS
        for i in range(2):
            got = self.inverter.invert(gan, x[i:i + 1], search, progress=(lambda s, e, i=i: progress(i, s, e))
                                       if progress else None)
            found.append(got["result"].z)
            note = got["note"] or note
        zg = torch.cat(found)
        with torch.no_grad():
            vae_row = v.generate((1 - t) * zv[0] + t * zv[1])
            gan_row = g.generate((1 - t) * zg[0] + t * zg[1])
        blank = torch.full_like(x[:1], -1)
        top = torch.cat([x[:1], *[blank] * (steps - 2), x[1:]])
        img = label_rows(grid(torch.cat([top, vae_row, gan_row]), nrow=steps, scale=3), ["real", "VAE", "GAN"])
        return {"image": img, "note": note}

    # ---- the table ----
    @torch.no_grad()
    def table(self, gan: str, vae: str, n: int = N_LIVE) -> list[dict]:
        """Every row: what is measured, the GAN's figure, the VAE's figure, and why they differ."""
        from explorer.metrics.evaluate import evaluate_vae
        g, v = self.check_pair(gan, vae)
        n = check_whole(n, 100, 10_000, "the number of pictures")
        real = self.real(vae, n)
        judge = judge_name(v.meta) or judge_name(g.meta)
        if judge is None:
            raise DataError(f"no judge is known for {vae}'s data: the Frechet distance needs one")
        net, _ = _load_judge(judge, self.checkpoints)
        f_real = _batched(net.features, real).numpy()
        labels = torch.arange(g.num_classes).repeat(n // max(g.num_classes, 1) + 1)[:n] if g.num_classes else None
        fake_g, fake_v = generate_many(g, n, EVAL_SEED, labels), generate_many(v, n, EVAL_SEED)
        fd = {k: fd_between(_batched(net.features, f).numpy(), f_real) for k, f in (("g", fake_g), ("v", fake_v))}
        half = len(real) // 2
        floor = fd_between(f_real[:half], f_real[half:2 * half])
        sharp = {"g": mean_sharpness(fake_g), "v": mean_sharpness(fake_v), "data": mean_sharpness(real)}
        elbo = evaluate_vae(v, real, n)
        rec = self.reconstructions(gan, vae, list(range(min(N_SHOWN, len(real)))))["errors"]
        disent = {k: (m.meta.get("metrics", {}).get("eval", {}) or {}).get("disentanglement") for k, m in
                  (("g", g), ("v", v))}
        factors = bool(v.attributes)

        def dis(d):
            if not factors:
                return "no known factors"
            if not d or "mig" not in d:
                return "not measured: `eval --save`"
            return f"MIG {d['mig']:.2f}, DCI {d['dci_disentanglement']:.2f}, SAP {d['sap']:.2f}"

        return [
            {"row": f"Frechet distance on {judge}'s features (lower: closer to the data)",
             "GAN": f"{fd['g']:.1f}", "VAE": f"{fd['v']:.1f}",
             "why": f"Both sample: z ~ N(0, I) through the generator or decoder. Two halves of the real data "
                    f"score {floor:.1f}, the floor."},
            {"row": f"Sharpness: Laplacian variance of samples (data: {sharp['data']:.4f})",
             "GAN": f"{sharp['g']:.4f}", "VAE": f"{sharp['v']:.4f}",
             "why": "The VAE's pixel likelihood is best served by the average of what could be there, which is "
                    "blurred; the GAN's critic calls a blurred picture fake."},
            {"row": "Bound on log p(x) per picture (ELBO, nats)",
             "GAN": "not available", "VAE": f"{elbo['elbo_nats_per_image']:.1f}",
             "why": "A VAE is a density model: log p(x) >= ELBO = -(reconstruction + KL). A GAN defines a "
                    "sampler but no density, so it cannot say how likely a picture is."},
            {"row": "An encoder: z from a picture",
             "GAN": "no: search (Invert)", "VAE": "yes, one pass",
             "why": "The VAE learns its encoder with its decoder; a GAN needs a separate encoder or an "
                    "optimisation to find the z of a real picture."},
            {"row": f"Reconstruction error of {N_SHOWN} held-out pictures (mean squared, pixels in [-1, 1])",
             "GAN": f"{rec['gan_encoder']:.4f} (encoder's guess)" if "gan_encoder" in rec else "no encoder",
             "VAE": f"{rec['vae']:.4f}",
             "why": "The VAE is trained to reconstruct; the GAN never saw these pictures' z, only a search or "
                    "a separately trained encoder can find one."},
            {"row": "Disentanglement against the true factors", "GAN": dis(disent["g"]), "VAE": dis(disent["v"]),
             "why": "How separately the latent dimensions carry the factors (1: one dimension each; from "
                    "`eval --save`, on the faces, whose true factors the renderer knows). A beta-VAE trades "
                    "reconstruction for this; a GAN has no term that asks for it."},
        ]
