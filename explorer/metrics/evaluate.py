"""`eval`: measure a checkpoint with the project's own judges. Returns plain dicts (JSON-ready)."""
from __future__ import annotations

import numpy as np
import torch

from explorer.errors import CheckpointError, DataError
from explorer.metrics.coverage import mode_coverage
from explorer.metrics.frechet import fd_between
from explorer.models.base import GeneratorModel

DEFAULT_JUDGES = {"digits": "digits-classifier", "faces": "faces-attributes"}
EVAL_JUDGES = {"faces": "faces-attributes-eval"}   # an independently built judge, for labelling a GAN's samples
EVAL_SEED = 20240


@torch.no_grad()
def _batched(fn, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch]) for i in range(0, x.shape[0], batch)])


@torch.no_grad()
def generate_many(model: GeneratorModel, n: int, seed: int, labels=None, batch: int = 500) -> torch.Tensor:
    z = model.sample_z(n, seed)
    codes = model.sample_codes(n, seed)
    out = []
    for i in range(0, n, batch):
        lab = None if labels is None else labels[i:i + batch]
        cod = None if codes is None else codes[i:i + batch]
        out.append(model.generate(z[i:i + batch], lab, cod))
    return torch.cat(out)


def judge_name(meta: dict) -> str | None:
    train = meta.get("train", {})
    return train.get("judge") or DEFAULT_JUDGES.get(train.get("dataset"))


def _load_judge(name: str, checkpoints):
    from explorer.store.checkpoint import load_classifier
    try:
        return load_classifier(name, checkpoints)
    except CheckpointError as e:
        raise CheckpointError(f"eval needs the judge '{name}' ({e}); train it with "
                              f"`python -m explorer train --preset {name} --out <checkpoints>/{name}`") from None


def real_test_data(meta: dict, data_root):
    from explorer.data import load_dataset
    train = meta["train"]
    return load_dataset(train["dataset"], root=data_root, split="test", **train.get("data_options", {}))


def evaluate_generator(model: GeneratorModel, checkpoints=None, data_root=None, n: int = 5000,
                       judge: str | None = None) -> dict:
    meta = model.meta
    if model.is_points:
        return _evaluate_points(model, meta, n)
    judge = judge or judge_name(meta)
    if judge is None:
        raise DataError(f"no judge is known for dataset '{meta['train']['dataset']}': pass --judge NAME")
    net, jmeta = _load_judge(judge, checkpoints)
    real = real_test_data(meta, data_root)
    n_real = min(n, len(real))
    x_real, y_real, a_real = real.get_batch(torch.arange(n_real))
    result: dict = {"model": model.name, "judge": judge, "samples": n, "real_samples": n_real}
    labels = None
    if model.num_classes:
        labels = torch.arange(model.num_classes).repeat_interleave(int(np.ceil(n / model.num_classes)))[:n]
    fake = generate_many(model, n, EVAL_SEED, labels)
    f_fake, f_real = _batched(net.features, fake).numpy(), _batched(net.features, x_real).numpy()
    result["frechet_distance"] = round(fd_between(f_fake, f_real), 4)
    # a floor for FD: two halves of the real data score this much from sampling noise alone
    half = n_real // 2
    result["frechet_distance_real_vs_real"] = round(fd_between(f_real[:half], f_real[half:2 * half]), 4)
    from explorer.metrics.sharpness import mean_sharpness    # blur: a VAE's samples score below the data's
    result["sharpness"] = {"samples": round(mean_sharpness(fake), 5), "data": round(mean_sharpness(x_real), 5)}
    logits = _batched(net, fake)
    if jmeta.get("class_names"):
        pred = logits.argmax(1)
        hist = torch.bincount(pred, minlength=logits.shape[1]).float() / n
        result["class_histogram"] = [round(v, 4) for v in hist.tolist()]
        if labels is not None:
            # per spec: 100 samples per class when n = 1000; we use n samples spread evenly over the classes
            result["class_agreement"] = round((pred == labels).float().mean().item(), 4)
    if model.cfg.code_dim and jmeta.get("class_names"):
        result.update(_evaluate_codes(model, net))
    if jmeta.get("attributes"):
        names = jmeta["attributes"]
        rate_fake = (logits > 0).float().mean(0)
        rate_real = a_real.float().mean(0) if a_real.shape[1] == len(names) else _batched(net, x_real).gt(0).float().mean(0)
        result["attribute_rates"] = {k: {"samples": round(f, 4), "data": round(r, 4), "diff": round(f - r, 4)}
                                     for k, f, r in zip(names, rate_fake.tolist(), rate_real.tolist())}
        result["attribute_max_abs_diff"] = round((rate_fake - rate_real).abs().max().item(), 4)
        # rates can match while the joint is wrong: the generator may tie attributes the data keeps apart
        real_labels = a_real if a_real.shape[1] == len(names) else _batched(net, x_real).gt(0)
        c_fake, c_real = label_correlation(logits > 0), label_correlation(real_labels)
        gap = (c_fake - c_real).abs().fill_diagonal_(0)
        i, j = divmod(int(gap.argmax()), len(names))
        result["attribute_correlation_max_abs_diff"] = {
            "pair": [names[i], names[j]], "samples": round(c_fake[i, j].item(), 4),
            "data": round(c_real[i, j].item(), 4), "diff": round(gap[i, j].item(), 4)}
    if model.meta.get("kind") == "vae":
        result.update(evaluate_vae(model, x_real))
    if jmeta.get("attributes") and a_real.shape[1] == len(jmeta["attributes"]):
        labeller, label = net, judge
        other = EVAL_JUDGES.get(meta["train"].get("dataset"))
        if model.meta.get("kind") != "vae" and other and other != judge:
            # a GAN's samples are labelled by a judge other than the one its directions were found with
            try:
                found, lmeta = _load_judge(other, checkpoints)
                if lmeta.get("attributes") == jmeta["attributes"]:
                    labeller, label = found, other
            except CheckpointError:
                pass
        result["disentanglement"] = latent_disentanglement(model, labeller, x_real, a_real, jmeta["attributes"],
                                                           label)
    return result


DISENTANGLEMENT_N = 2000   # pictures scored by MIG, DCI and SAP (the tree ensembles of DCI grow with it)


@torch.no_grad()
def latent_disentanglement(model: GeneratorModel, judge, x_real: torch.Tensor, a_real: torch.Tensor,
                           names, judge_label: str = "the judge") -> dict:
    """MIG, DCI and SAP of the model's latent against the pictures' factors: for a VAE, its encoder's mean on
    real pictures with their true attributes; for a GAN, z (and codes) of its samples labelled by the judge."""
    from explorer.metrics.disentanglement import disentanglement
    if model.meta.get("kind") == "vae":
        from explorer.store.checkpoint import load_encoder
        enc = load_encoder(model)
        x, a = x_real[:DISENTANGLEMENT_N], a_real[:DISENTANGLEMENT_N]
        codes = _batched(lambda t: enc.split(enc(t))["z"], x)
        source = f"encoder means of {len(x)} real test pictures, true attributes"
    else:
        n = DISENTANGLEMENT_N
        z, c = model.sample_z(n, EVAL_SEED + 2), model.sample_codes(n, EVAL_SEED + 2)
        labels = torch.arange(n) % model.num_classes if model.num_classes else None
        imgs = torch.cat([model.generate(z[i:i + 500], None if labels is None else labels[i:i + 500],
                                         None if c is None else c[i:i + 500]) for i in range(0, n, 500)])
        a = (_batched(judge, imgs) > 0).long()
        codes = z if c is None else torch.cat([z, c], 1)
        source = f"z{' and codes' if c is not None else ''} of {n} samples, attributes by {judge_label}"
    try:
        return {"source": source, **disentanglement(codes.numpy(), a.long().numpy(), names)}
    except DataError as e:     # e.g. a barely trained GAN whose samples the judge finds all alike
        return {"source": source, "not_scored": str(e)}


@torch.no_grad()
def evaluate_vae(model: GeneratorModel, x: torch.Tensor, n: int = 2000) -> dict:
    """A VAE's bound on log p(x) (the ELBO, nats per picture, Bernoulli pixels, one z draw per picture with a
    fixed seed), its two terms, and the pixel error of reconstructing real test pictures through the mean."""
    from explorer.store.checkpoint import load_encoder
    from explorer.training.tasks import decoder_logits, vae_terms
    enc = load_encoder(model)
    if enc is None:
        raise CheckpointError(f"{model.name} is a VAE without its encoder.safetensors: retrain or restore it")
    x = x[:n]
    g = torch.Generator().manual_seed(EVAL_SEED)
    recon, kl, err = [], [], []
    for i in range(0, len(x), 500):
        xb = x[i:i + 500]
        parts = enc.split(enc(xb))
        mu, logvar = parts["z"], parts["logvar"].clamp(-12, 12)
        z = mu + torch.randn(mu.shape, generator=g) * torch.exp(0.5 * logvar)
        r, k = vae_terms(decoder_logits(model.net, z), xb, mu, logvar)
        recon.append(r), kl.append(k)
        err.append((model.net(mu) - xb).pow(2).flatten(1).mean(1))
    recon, kl, err = torch.cat(recon), torch.cat(kl), torch.cat(err)
    return {"elbo_nats_per_image": round(-(recon + kl).mean().item(), 3),
            "reconstruction_nats": round(recon.mean().item(), 3), "kl_nats": round(kl.mean().item(), 3),
            "reconstruction_mse": round(err.mean().item(), 5), "vae_test_pictures": len(x)}


def label_correlation(labels: torch.Tensor) -> torch.Tensor:
    """A x A correlation of binary labels (N x A); an attribute that never varies correlates with nothing."""
    a = labels.double()
    a = a - a.mean(0)
    sd = a.pow(2).mean(0).sqrt()
    c = (a.T @ a) / len(a) / (sd[:, None] * sd[None, :]).clamp_min(1e-12)
    c[sd < 1e-9] = 0
    c[:, sd < 1e-9] = 0
    return c.fill_diagonal_(1)


@torch.no_grad()
def _evaluate_codes(model: GeneratorModel, judge, n: int = 2000) -> dict:
    """InfoGAN: does the categorical code pick the digit, and do the continuous codes set slant and width?"""
    from scipy.optimize import linear_sum_assignment
    from explorer.metrics.strokes import slant, thickness, width_within
    mc, out = model.cfg, {}
    z = model.sample_z(n, EVAL_SEED + 1)
    codes = model.sample_codes(n, EVAL_SEED + 1)
    imgs = torch.cat([model.generate(z[i:i + 500], None, codes[i:i + 500]) for i in range(0, n, 500)])
    if mc.cat_codes:
        cat = codes[:, :mc.cat_codes].argmax(1)
        pred = _batched(judge, imgs).argmax(1)
        k = max(mc.cat_codes, int(pred.max()) + 1)
        counts = torch.zeros(mc.cat_codes, k)
        counts.index_put_((cat, pred), torch.ones(n), accumulate=True)
        rows, cols = linear_sum_assignment(-counts.numpy())  # best one-to-one code -> class matching
        out["categorical_code_accuracy"] = round(float(counts.numpy()[rows, cols].sum() / n), 4)
        out["categorical_code_to_class"] = {int(r): int(c) for r, c in zip(rows, cols)}
        out.update(_sweeps_keep_class(model, judge, out["categorical_code_to_class"]))
    feats = {"slant": slant(imgs).numpy(), "thickness": thickness(imgs).numpy()}
    if mc.cat_codes:   # a 1 is narrower than a 0 whatever the codes say: width counts against its own digit's
        feats["width"] = width_within(imgs, codes[:, :mc.cat_codes].argmax(1)).numpy()
    out["continuous_code_correlations"] = {
        f"c{j + 1}": {name: round(float(np.corrcoef(codes[:, mc.cat_codes + j].numpy(), f)[0, 1]), 4)
                      for name, f in feats.items()}
        for j in range(mc.cont_codes)}
    return out


def _sweeps_keep_class(model: GeneratorModel, judge, code_to_class: dict, n_z: int = 50, values: int = 9) -> dict:
    """InfoGAN: sweep each continuous code over [-2, 2] (the Explore tab's range, twice the trained one) for
    every categorical value and n_z latents; the share of pictures the judge still reads as the class the
    categorical value stands for (the one-to-one matching above). 1.0: a sweep changes style, never the digit."""
    mc, out = model.cfg, {}
    z = model.sample_z(n_z, EVAL_SEED + 2)
    for j in range(mc.cont_codes):
        kept = total = 0
        for cat in range(mc.cat_codes):
            codes = model.sample_codes(n_z * values, EVAL_SEED + 2, cat=cat)
            codes[:, mc.cat_codes:] = 0.0
            codes[:, mc.cat_codes + j] = torch.linspace(-2, 2, values).repeat(n_z)
            imgs = model.generate(z.repeat_interleave(values, 0), None, codes)
            pred = _batched(judge, imgs).argmax(1)
            kept += int((pred == code_to_class[cat]).sum())
            total += len(pred)
        out.setdefault("continuous_sweep_keeps_class", {})[f"c{j + 1}"] = round(kept / total, 4)
    return out


def _evaluate_points(model: GeneratorModel, meta: dict, n: int) -> dict:
    from explorer.data.toy2d import TOY_MODES
    dist = meta["train"]["data_options"].get("distribution")
    pts = generate_many(model, n, EVAL_SEED).numpy()
    result = {"model": model.name, "distribution": dist, "samples": n}
    centres, std = TOY_MODES.get(dist, (None, None))
    if centres is not None:
        result.update(mode_coverage(pts, np.asarray(centres), std))
    return result


def evaluate_classifier_checkpoint(name, checkpoints=None, data_root=None) -> dict:
    from explorer.metrics.accuracy import evaluate_classifier
    net, meta = _load_judge(name, checkpoints)
    test = real_test_data(meta, data_root)
    return {"model": meta["path"].rstrip("/").split("/")[-1], "test_samples": len(test),
            **evaluate_classifier(net, test, multilabel=not meta.get("class_names"))}
