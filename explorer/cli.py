"""`python -m explorer ...` (also `latent-explorer ...`): models, train, sample, invert, translate, text,
interpolate, edit, directions, export, eval."""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from explorer.errors import ConfigError, ExplorerError
from explorer.latent import interpolate_path
from explorer.losses import LOSSES, all_settings
from explorer.render import grid, to_uint8
from explorer.services import Services
from explorer.services.evaluation import evaluate, inventory
from explorer.store.card import describe
from explorer.store.checkpoint import record_metrics
from explorer.training.loop import resume_config, train
from explorer.training.presets import PRESETS, custom_config, get_preset


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one readable line, not a usage block
        raise ConfigError(f"{self.prog}: {message} (see --help)")


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got '{text}'")
    return v


def _write_png(img, path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    print(f"wrote {path}", file=sys.stderr)


def _write_npz(path: str, **arrays) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    print(f"wrote {path}", file=sys.stderr)


# ---------------- subcommands ----------------

def cmd_models(args) -> int:
    found = inventory(args.checkpoints)
    if args.json:
        print(json.dumps(found))
    else:
        rows = found["models"]
        print(f"models in {found['checkpoints']}:" if rows else f"no models in {found['checkpoints']}")
        for r in rows:
            print(f"  {r['name']:<28} {r['kind']:<10} {r['summary']}")
    return 0


def training_threads() -> int:
    """torch threads for a training run when not told: one on a machine of 2 cores or fewer. Measured there
    (bench/threads.py): with anything else on the other core, a training step on 2 threads took 1.7-5x as long
    as on 1 (digits-dcgan 432 against 248 ms beside another run; 1,254 against 306 ms with both cores busy).
    Larger machines keep torch's own choice (not measured here)."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else torch.get_num_threads()


def cmd_train(args) -> int:
    if args.out is None:
        args.out = str(Path("runs") / args.preset) if args.preset else None
    if args.out is None:
        raise ConfigError("train needs --preset NAME (or --resume with --out DIR)")
    if args.resume and not (Path(args.out) / "state.pt").is_file():
        if not args.preset:
            raise ConfigError(f"nothing to resume in {args.out} (no checkpoint yet) and no --preset to start from")
        print(f"note: no checkpoint in {args.out} yet: starting the run fresh", file=sys.stderr)
        args.resume = False
    if args.resume:
        cfg = resume_config(args.out, args.steps)
        if args.preset and args.preset in PRESETS and get_preset(args.preset).task != cfg.task:
            raise ConfigError(f"{args.out} was not trained with preset '{args.preset}'")
    else:
        if not args.preset:
            raise ConfigError("train needs --preset NAME (see `python -m explorer train --list`)")
        cfg = custom_config(args.preset, steps=args.steps, seed=args.seed, batch_size=args.batch_size, lr=args.lr,
                            dataset=args.dataset, data_path=args.data_path, correlation=args.correlation,
                            arch=args.arch, loss=args.loss, z_dim=args.z_dim, n_critic=args.n_critic,
                            critic_norm=args.critic_norm, ema_decay=args.ema_decay, beta=args.beta,
                            data_path_b=args.data_path_b, attribute=args.attribute,
                            attribute_match=args.attribute_match,
                            **{k: getattr(args, k) for k in all_settings()})
    torch.set_num_threads(args.threads or training_threads())
    command = "python -m explorer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = train(cfg, args.out, data_root=args.data_root, resume=args.resume, progress=not args.quiet,
                   device=args.device, command=command)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the run
        print(json.dumps(result) if args.json else f"{result['state']} at step {result['step']}: {result['out']}")
    return 0


def _services(args) -> Services:
    """The services the app uses, over --checkpoints; here a model may also be named by its folder."""
    return Services.open(args.checkpoints, training=False, allow_paths=True)


def cmd_sample(args) -> int:
    renderer = _services(args).pixels
    if args.sweep_code is not None:
        if not args.out:
            raise ConfigError("--sweep-code needs --out FILE.png")
        _write_png(renderer.code_figure(args.model, args.sweep_code, args.seed), args.out)
        return 0
    if not args.out and not args.npz:
        raise ConfigError("sample needs --out FILE.png and/or --npz FILE.npz")
    given = _z_file(args, renderer.models.get(args.model))
    got = renderer.samples(args.model, args.n, args.seed, args.label, args.code, args.truncation, given=given)
    lab, cod = (None if got[k] is None else got[k].numpy() for k in ("labels", "codes"))
    if args.npz:
        if renderer.models.get(args.model).is_points:
            _write_npz(args.npz, points=got["x"].numpy().astype("float32"), z=got["z"].numpy(), labels=lab)
        else:
            _write_npz(args.npz, images=to_uint8(got["x"]), z=got["z"].numpy(), labels=lab, codes=cod)
    if args.out:
        _write_png(got["picture"], args.out)
    return 0


def cmd_interpolate(args) -> int:
    """Two seeds (and two classes, blended) through the renderer's interpolation, as the Interpolate tab draws."""
    renderer = _services(args).pixels
    model = renderer.models.get(args.model)
    labels = None
    if model.num_classes:
        a = args.from_label if args.from_label is not None else 0
        labels = [a, args.to_label if args.to_label is not None else a]
    elif args.from_label is not None or args.to_label is not None:
        raise ConfigError(f"model '{model.name}' is not conditional: --from-label/--to-label do not apply")
    if not (args.out or args.gif or args.npz):
        raise ConfigError("interpolate needs --out FILE.png, --gif FILE.gif and/or --npz FILE.npz")
    ends = [renderer.seed_z(args.model, args.from_seed), renderer.seed_z(args.model, args.to_seed)]
    _, gif, x = renderer.interpolate(args.model, ends, labels, args.steps, args.method, class_blend=True,
                                     max_steps=256)
    if args.out:
        _write_png(grid(x, nrow=args.steps, scale=2), args.out)
    if args.gif:
        Path(args.gif).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gif, args.gif)
        print(f"wrote {args.gif}", file=sys.stderr)
    if args.npz:
        z = interpolate_path(torch.tensor(ends), args.steps, args.method)
        shown = None if labels is None else torch.where(torch.linspace(0, 1, args.steps) < 0.5, *labels)
        _write_npz(args.npz, images=to_uint8(x), z=z.numpy(), labels=None if shown is None else shown.numpy())
    return 0


def cmd_eval(args) -> int:
    result = evaluate(args.model, args.checkpoints, args.data_root, n=args.n, judge=args.judge, save=args.save)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>32}: {v}")
    return 0


def cmd_export(args) -> int:
    from explorer.store.portable import export_model
    verdict = export_model(args.model, args.checkpoints)
    if not verdict.ok:
        raise ConfigError(f"wrote generator.onnx but it fails the load check: {verdict.note}")
    print(f"exported {args.model}: {verdict.note}")
    return 0


def _progress(f: float, msg: str) -> None:
    print(f"  {f:4.0%} {msg}", file=sys.stderr)


def cmd_edit(args) -> int:
    if not (args.out or args.npz):
        raise ConfigError("edit needs --out FILE.png and/or --npz FILE.npz")
    services = _services(args)
    given = _z_file(args, services.pixels.models.get(args.model))
    got = services.directions.edit_rows(args.model, args.attribute, args.method, args.strength, args.seed, args.n,
                                        args.penalty, z=None if given is None else given["z"])
    for note in got["notes"]:
        print(f"note: {note}", file=sys.stderr)
    if args.npz:
        _write_npz(args.npz, images=to_uint8(got["images"]), z=got["z"].numpy(), z_before=got["z_before"].numpy())
    if args.out:
        _write_png(got["grid"], args.out)
    return 0


def _z_file(args, model):
    """--z FILE.npz (what `invert` writes) read for `model`, or None when not given."""
    if not getattr(args, "z", None):
        return None
    from explorer.services.inversion import load_z_file
    return load_z_file(args.z, model)


def cmd_invert(args) -> int:
    """A picture in, its z out: the encoder's guess, then the search from it (as the app's Invert step)."""
    from explorer.services.inversion import save_z_file
    if not (args.out or args.npz):
        raise ConfigError("invert needs --out FILE.png and/or --npz FILE.npz")
    services = _services(args)
    last = [0.0]

    def progress(step, error):
        if not args.quiet and (step == args.steps or time.monotonic() - last[0] > 1):
            last[0] = time.monotonic()
            print(f"  step {step}/{args.steps}: pixel error {error:.4f}", file=sys.stderr)

    got = services.inversion.invert(args.model, args.image, args.steps, progress=progress)
    r = got["result"]
    if got["note"]:
        print(f"note: {got['note']}", file=sys.stderr)
    found = f", class {services.pixels.models.get(args.model).class_names[r.label]}" if r.label is not None else ""
    print(f"{got['model']}: pixel error {r.guess_error:.4f} (encoder) -> {r.error:.4f} after {args.steps} steps"
          f"{found}; |z| is {r.prior_distance:.1f} standard deviations from where N(0, I) puts it", file=sys.stderr)
    if args.npz:
        save_z_file(args.npz, got["model"], r)
    if args.out:   # what the model saw, the encoder's guess, the result
        _write_png(grid(torch.cat([got["input"], r.guess, r.image]), nrow=3, scale=4), args.out)
    return 0


def cmd_translate(args) -> int:
    """Pictures through a pix2pix or CycleGAN translator (as the app's Translate tab): a file, or held-out
    pictures of the model's own data (seeds S .. S + N - 1). Nothing is written when a picture is refused."""
    from explorer.services.translation import Translation
    if not (args.out or args.npz):
        raise ConfigError("translate needs --out FILE.png and/or --npz FILE.npz")
    if args.n < 1 or args.n > 64:
        raise ConfigError(f"--n must be from 1 to 64 pictures, got {args.n}")
    desk = Translation(args.checkpoints, allow_paths=True)
    direction = "back" if args.reverse else "forward"
    if args.image is not None:
        if args.seed is not None or args.n != 1:
            raise ConfigError("give either --image FILE or held-out pictures (--seed S --n N), not both")
        pictures = [args.image]
    else:
        seed = 0 if args.seed is None else args.seed
        pictures = [desk.held_out(args.model, seed + i, direction)["input"] for i in range(args.n)]
    got = [desk.translate(args.model, p, direction, variations=args.variations) for p in pictures]
    both = {k: None if got[0][k] is None else torch.cat([g[k] for g in got]) for k in got[0]}
    t = desk.get(args.model)
    print(f"{t.name}: {t.direction_label(direction)}, {len(got)} picture(s)", file=sys.stderr)
    if args.npz:
        _write_npz(args.npz, **{k: None if v is None else to_uint8(v) for k, v in both.items()})
    if args.out:   # one row per picture: input, output, then the way back (CycleGAN) or the noise variations
        _write_png(desk.sheet(got[0]) if len(got) == 1 else desk.rows(got), args.out)
    return 0


def cmd_text(args) -> int:
    """A sentence through a text-to-image model (as the app's Text tab): N samples (seeds S .. S + N - 1) and,
    with --attention, each word's attention map over the first sample. Nothing is written when it is refused."""
    from explorer.services.text import MAX_SAMPLES, TextDesk
    if not (args.out or args.npz or args.attention):
        raise ConfigError("text needs --out FILE.png, --attention FILE.png and/or --npz FILE.npz")
    if not 1 <= args.n <= MAX_SAMPLES:
        raise ConfigError(f"--n must be from 1 to {MAX_SAMPLES} samples, got {args.n}")
    desk = TextDesk(args.checkpoints, allow_paths=True)
    got = desk.draw(args.model, args.caption, args.seed, args.n)
    print(f"{got['model']}: \"{' '.join(got['words'])}\", seeds {got['seeds'][0]}..{got['seeds'][-1]}",
          file=sys.stderr)
    for row in desk.agreement(got):
        if row["the sentence says"] != "-":
            print(f"  {row['attribute']}: said {row['the sentence says']}, the judge agrees on "
                  f"{row['samples that agree']}", file=sys.stderr)
    if args.npz:
        m = desk.get(args.model)
        _write_npz(args.npz, images=to_uint8(got["images"]), captions=np.array([args.caption] * len(got["seeds"])),
                   z=torch.cat([m.sample_z(1, s) for s in got["seeds"]]).numpy(),
                   attention=got["attention"].numpy().astype(np.float32), words=np.array(got["words"]))
    if args.out:
        _write_png(desk.sheet(got), args.out)
    if args.attention:
        _write_png(desk.attention_sheet(got, 0), args.attention)
    return 0


def cmd_directions(args) -> int:
    if args.save and args.penalty != 1.0:
        raise ConfigError("--save writes the card's table, which is at penalty weight 1: drop --penalty or --save")
    studio = _services(args).directions
    out = studio.judged(args.model, args.judge, args.penalty, args.recompute, progress=_progress)
    if args.save:
        record_metrics(studio.models.get(args.model).meta["path"], "directions", out)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{'attribute':<12} {'method':<12} {'strength':>8} {'before':>7} {'after':>7} {'side effect':>11} "
              f"{'random step':>11}")
        def f(v):
            return "-" if v is None else f"{v:.3g}"
        for r in out["results"]:
            print(f"{r['attribute']:<12} {r['method']:<12} {f(r['strength_to_flip']):>8} {f(r['target_before']):>7} "
                  f"{f(r['target_after']):>7} {f(r['side_effect']):>11} {f(r.get('random_side_effect')):>11}"
                  + (f"  ({r['note']})" if "note" in r else ""))
    return 0


# ---------------- parser ----------------

def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="explorer", description="Latent Explorer: see inside a GAN.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, required=True)

    def model_args(sp):
        sp.add_argument("--model", required=True, help="model name in the checkpoints folder, or a model folder")
        sp.add_argument("--checkpoints", help="folder of models (default $LATENT_EXPLORER_CHECKPOINTS or ./checkpoints)")

    s = sub.add_parser("models", help="list the models in the checkpoints folder")
    s.add_argument("--json", action="store_true")
    s.add_argument("--checkpoints")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("train", help="train a preset (see --list)")
    s.add_argument("--preset")
    s.add_argument("--list", action="store_true", help="list the presets and exit")
    s.add_argument("--steps", type=positive_int, help="total generator (or classifier) steps")
    s.add_argument("--out", help="run folder (default runs/PRESET)")
    s.add_argument("--data-root", help="where datasets live (default $LATENT_EXPLORER_DATA or ~/.cache/latent-explorer)")
    s.add_argument("--resume", action="store_true", help="continue the run in --out to --steps")
    s.add_argument("--seed", type=int)
    s.add_argument("--batch-size", type=positive_int)
    s.add_argument("--lr", type=finite_float, help="learning rate for both networks")
    s.add_argument("--correlation", type=finite_float, help="faces presets: attribute correlation in [0, 1)")
    s.add_argument("--dataset", help="train the preset's model on another dataset of the same shape "
                   "(e.g. fashion for a digits preset)")
    s.add_argument("--data-path", help="celeba/folder: the image folder; pairs: the folder holding A/ and B/; "
                   "domains: domain A's folder (or a CelebA folder, with --attribute)")
    s.add_argument("--data-path-b", help="domains (CycleGAN on your pictures): domain B's folder")
    s.add_argument("--attribute", help="faces-domains / domains: the attribute that splits A (without) from B "
                   "(with), e.g. Sunglasses, or Eyeglasses for CelebA")
    s.add_argument("--arch", help="generator/critic family: dcgan, mlp, or infogan (InfoGAN's MNIST nets, 28x28 only)")
    s.add_argument("--loss", help="; ".join(f"{k}: {cls.title}" for k, cls in LOSSES.items()))
    s.add_argument("--z-dim", type=positive_int, help="latent size")
    s.add_argument("--n-critic", type=positive_int, help="critic steps per generator step")
    s.add_argument("--critic-norm", help="the critic's normalisation: batch, layer, spectral (Miyato et al. 2018) "
                   "or none (default: the preset's; a gradient penalty needs one that is not batch)")
    s.add_argument("--ema-decay", type=finite_float, help="image GANs: draw samples from this moving average of "
                   "the generator's weights (default 0.999; 0: the raw weights)")
    s.add_argument("--attribute-match", type=finite_float,
                   help="faces-dcgan-independent: weight of the generator's term that matches its samples' attribute "
                        "rates and pairwise correlations, as the preset's judge reads them, to the data's (default 4; "
                        "0: off)")
    s.add_argument("--beta", type=finite_float, help="VAE presets: weight of the KL term (1: a plain VAE, > 1: a "
                   "beta-VAE, which trades sharpness for disentangled dimensions)")
    for key, (owner, setting) in all_settings().items():   # each loss's own settings, from its description
        if isinstance(setting.default, bool):
            s.add_argument(setting.flag, action="store_true", default=None, help=setting.help)
        else:
            s.add_argument(setting.flag, type=finite_float, help=setting.help)
    s.add_argument("--threads", type=positive_int, help="torch threads for this run (default: 1 on a machine of "
                   "2 cores or fewer, where a second thread slows a step down as soon as anything else runs; "
                   "else torch's own choice)")
    s.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a model")
    model_args(s)
    s.add_argument("--n", type=positive_int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--label", type=int, help="class index for conditional models")
    s.add_argument("--code", type=int, help="InfoGAN: fix the categorical code to this value (which digit each value "
                   "draws is the model's own choice: its card lists eval's code-to-class matching)")
    s.add_argument("--truncation", type=finite_float, help="redraw z entries beyond this magnitude")
    s.add_argument("--sweep-code", type=int, help="InfoGAN: grid of categorical codes (rows) by continuous code "
                   "J from -2 to 2 (columns)")
    s.add_argument("--out", help="PNG grid")
    s.add_argument("--npz", help="NPZ with images (uint8 NxHxWxC), z, labels / points")
    s.add_argument("--z", help="draw these z (an .npz from invert) instead of the seed's")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("invert", help="find the z that draws a picture (then sample or edit it with --z)")
    model_args(s)
    s.add_argument("--image", required=True, help="a PNG/JPEG: a digit (white on black or black on white) or a face")
    s.add_argument("--steps", type=int, default=50, help="search steps after the encoder's guess (0..1000)")
    s.add_argument("--npz", help="write the found z (and class, codes) here, for sample/edit --z")
    s.add_argument("--out", help="PNG: what the model saw, the encoder's guess, the result")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_invert)

    s = sub.add_parser("translate", help="pictures through a pix2pix or CycleGAN translator")
    model_args(s)
    s.add_argument("--image", help="a PNG/JPEG (the centre square is used), e.g. a line drawing for faces-pix2pix")
    s.add_argument("--seed", type=int, help="instead of --image: held-out picture S of the model's own data "
                   "(never trained on; default 0)")
    s.add_argument("--n", type=int, default=1, help="with --seed: N held-out pictures, S to S + N - 1 (1-64)")
    s.add_argument("--reverse", action="store_true", help="CycleGAN: B -> A (e.g. take the sunglasses off)")
    s.add_argument("--variations", action="store_true", help="pix2pix: also 4 outputs with its dropout noise on")
    s.add_argument("--out", help="PNG, a row per picture: input, output, and the way back (CycleGAN) or the "
                   "noise variations (pix2pix)")
    s.add_argument("--npz", help="NPZ with input, output (uint8 N x H x W x C), back, variations")
    s.set_defaults(func=cmd_translate)

    s = sub.add_parser("text", help="draw pictures from a sentence (a text-to-image model, e.g. faces-attngan)")
    model_args(s)
    s.add_argument("--caption", required=True, help='the sentence, e.g. "a smiling face with long blond hair and '
                   'sunglasses" (words the model knows; an unknown word is refused with the nearest known ones)')
    s.add_argument("--n", type=int, default=8, help="samples, one per seed S .. S + N - 1 (1-16; default 8)")
    s.add_argument("--seed", type=int, default=0, help="the first sample's seed (default 0)")
    s.add_argument("--out", help="PNG: the samples in a row")
    s.add_argument("--attention", help="PNG: the first sample, then each word's attention map laid over it")
    s.add_argument("--npz", help="NPZ with images (uint8 N x H x W x 3), captions, z, attention (N x words x H x W) "
                   "and words")
    s.set_defaults(func=cmd_text)

    s = sub.add_parser("interpolate", help="walk between two latent points (and classes)")
    model_args(s)
    s.add_argument("--from-seed", type=int, required=True)
    s.add_argument("--to-seed", type=int, required=True)
    s.add_argument("--from-label", type=int)
    s.add_argument("--to-label", type=int)
    s.add_argument("--steps", type=positive_int, default=8)
    s.add_argument("--method", choices=["slerp", "lerp"], default="slerp")
    s.add_argument("--out")
    s.add_argument("--gif")
    s.add_argument("--npz")
    s.set_defaults(func=cmd_interpolate)

    s = sub.add_parser("edit", help="push samples along an attribute direction")
    model_args(s)
    s.add_argument("--attribute", required=True)
    s.add_argument("--method", required=True,
                   help="gradient, penalized, boundary, conditional, pca (--attribute pcK, a name given to a "
                        "PC in the Directions tab, or an attribute: then the PC closest to it) or sefa (SeFa's "
                        "closed-form directions: --attribute sefaK, or an attribute: the closest)")
    s.add_argument("--strength", type=finite_float, default=3.0, help="distance to move in z (clamped to +-10)")
    s.add_argument("--penalty", type=finite_float, default=1.0, help="penalty weight of the penalized method")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--n", type=positive_int, default=8)
    s.add_argument("--z", help="edit these z (an .npz from invert) instead of the seed's samples")
    s.add_argument("--out")
    s.add_argument("--npz")
    s.set_defaults(func=cmd_edit)

    s = sub.add_parser("directions", help="compare direction methods at equal target change")
    model_args(s)
    s.add_argument("--judge", help="the judge of the edits (default: faces-attributes-eval for faces, a judge "
                   "other than the one that found them; the digit classifier for digits)")
    s.add_argument("--recompute", action="store_true", help="recompute and save the model's directions")
    s.add_argument("--penalty", type=finite_float, default=1.0,
                   help="penalty weight of the penalized method (default 1, the saved directions' weight)")
    s.add_argument("--save", action="store_true", help="also write the table into the model's card")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_directions)

    s = sub.add_parser("export", help="write generator.onnx (the page draws with it) for an existing model")
    model_args(s)
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("eval", help="measure a model with the project's judges")
    model_args(s)
    s.add_argument("--data-root")
    s.add_argument("--judge", help="classifier checkpoint to judge with (default from the model's config)")
    s.add_argument("--n", type=positive_int, help="generated samples (default 5,000), or a translator's held-out "
                   "inputs (default 500)")
    s.add_argument("--save", action="store_true", help="record the metrics in the model's config.json and card")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "list", False):
            for name, cfg in sorted(PRESETS.items()):
                print(f"{name:<26} {describe(cfg)}")
            return 0
        return args.func(args)
    except ExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
