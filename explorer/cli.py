"""`python -m explorer ...` (also `latent-explorer ...`): models, train, sample, interpolate, eval."""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from pathlib import Path

from explorer.errors import ConfigError, ExplorerError
from explorer.losses import LOSSES, all_settings
from explorer.services.pixels import Renderer, check_label


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
    import numpy as np
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    print(f"wrote {path}", file=sys.stderr)


# ---------------- subcommands ----------------

def cmd_models(args) -> int:
    from explorer.store.checkpoint import checkpoints_dir, list_model_names, read_config
    root = checkpoints_dir(args.checkpoints)
    rows = []
    for name in list_model_names(root):
        try:
            cfg = read_config(root / name)
            rows.append({"name": name, "kind": cfg.get("kind"), "summary": cfg.get("summary", ""),
                         "classes": cfg.get("class_names", []), "attributes": cfg.get("attributes", [])})
        except ExplorerError as e:
            rows.append({"name": name, "kind": "broken", "summary": str(e)})
    if args.json:
        print(json.dumps({"checkpoints": str(root), "models": rows}))
    else:
        print(f"models in {root}:" if rows else f"no models in {root}")
        for r in rows:
            print(f"  {r['name']:<28} {r['kind']:<10} {r['summary']}")
    return 0


def cmd_train(args) -> int:
    from explorer.training.loop import resume_config, train
    from explorer.training.presets import custom_config, get_preset
    if args.out is None:
        args.out = str(Path("runs") / args.preset) if args.preset else None
    if args.out is None:
        raise ConfigError("train needs --preset NAME (or --resume with --out DIR)")
    if args.resume:
        cfg = resume_config(args.out, args.steps)
        if args.preset and args.preset in _presets() and get_preset(args.preset).task != cfg.task:
            raise ConfigError(f"{args.out} was not trained with preset '{args.preset}'")
    else:
        if not args.preset:
            raise ConfigError("train needs --preset NAME (see `python -m explorer train --list`)")
        cfg = custom_config(args.preset, steps=args.steps, seed=args.seed, batch_size=args.batch_size, lr=args.lr,
                            dataset=args.dataset, data_path=args.data_path, correlation=args.correlation,
                            arch=args.arch, loss=args.loss, z_dim=args.z_dim, n_critic=args.n_critic,
                            **{k: getattr(args, k) for k in all_settings()})
    command = "python -m explorer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = train(cfg, args.out, data_root=args.data_root, resume=args.resume, progress=not args.quiet,
                   device=args.device, command=command)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the run
        print(json.dumps(result) if args.json else f"{result['state']} at step {result['step']}: {result['out']}")
    return 0


def _presets():
    from explorer.training.presets import PRESETS
    return PRESETS


def _renderer(args) -> Renderer:
    """The service the app draws with; here a model may also be named by its folder."""
    return Renderer(args.checkpoints, allow_paths=True)


def _load(args):
    return _renderer(args).models.get(args.model)


def _labels(model, label, n):
    import torch
    if model.num_classes == 0:
        if label is not None:
            raise ConfigError(f"model '{model.name}' is not conditional: --label does not apply")
        return None
    if label is None:
        return torch.arange(n) % model.num_classes
    return torch.full((n,), check_label(model, label), dtype=torch.long)   # the app's own check and words


def _codes(model, code, n, seed):
    if model.cfg.cat_codes == 0:
        if code is not None:
            raise ConfigError(f"model '{model.name}' has no categorical code: --code does not apply")
        return model.sample_codes(n, seed)
    if code is not None and not 0 <= code < model.cfg.cat_codes:
        raise ConfigError(f"--code must be in 0..{model.cfg.cat_codes - 1}")
    return model.sample_codes(n, seed, cat=code)


def cmd_sample(args) -> int:
    import torch
    from explorer.latent import truncate
    from explorer.render import grid, scatter, to_uint8
    renderer = _renderer(args)
    model = renderer.models.get(args.model)
    if args.sweep_code is not None:
        if not args.out:
            raise ConfigError("--sweep-code needs --out FILE.png")
        _write_png(renderer.code_figure(args.model, args.sweep_code, args.seed), args.out)
        return 0
    z = truncate(model.sample_z(args.n, args.seed), args.truncation, args.seed)
    labels, codes = _labels(model, args.label, args.n), _codes(model, args.code, args.n, args.seed)
    with torch.no_grad():
        x = model.generate(z, labels, codes)
    lab = None if labels is None else labels.numpy()
    cod = None if codes is None else codes.numpy()
    if model.is_points:
        if args.npz:
            _write_npz(args.npz, points=x.numpy().astype("float32"), z=z.numpy(), labels=lab)
        if args.out:
            _write_png(scatter(x.numpy()), args.out)
    else:
        if args.npz:
            _write_npz(args.npz, images=to_uint8(x), z=z.numpy(), labels=lab, codes=cod)
        if args.out:
            _write_png(grid(x, nrow=min(args.n, 10 if model.num_classes == 10 else 8), scale=2), args.out)
    if not args.out and not args.npz:
        raise ConfigError("sample needs --out FILE.png and/or --npz FILE.npz")
    return 0


def cmd_interpolate(args) -> int:
    """Two seeds (and two classes, blended) through the renderer's interpolation, as the Interpolate tab draws."""
    import shutil
    import torch
    from explorer.latent import interpolate_path
    from explorer.render import grid, to_uint8
    renderer = _renderer(args)
    model = renderer.models.get(args.model)
    if model.is_points:
        raise ConfigError("interpolate draws images; for a 2-D model use `sample`")
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
    from explorer.metrics.evaluate import evaluate_classifier_checkpoint, evaluate_generator
    from explorer.store.checkpoint import read_config, resolve_model_dir
    model_dir = resolve_model_dir(args.model, args.checkpoints)
    cfg = read_config(model_dir)
    data_root = args.data_root or os.environ.get("LATENT_EXPLORER_DATA") or _recorded_data_root(cfg)
    if cfg.get("kind") == "classifier":
        result = evaluate_classifier_checkpoint(str(model_dir), args.checkpoints, data_root)
    else:
        from explorer.store.checkpoint import load_generator
        model = load_generator(str(model_dir), args.checkpoints)
        result = evaluate_generator(model, args.checkpoints, data_root, n=args.n, judge=args.judge)
    if args.save:
        from explorer.store.card import model_card
        from explorer.store.checkpoint import write_json
        cfg["metrics"] = {**cfg.get("metrics", {}), "eval": result}
        write_json(model_dir / "config.json", cfg)
        if cfg.get("kind") != "classifier":  # InfoGAN: the card's code sweeps
            from explorer.store.card import code_sweep_file
            for j in range(model.cfg.cont_codes):
                _write_png(Renderer(allow_paths=True).code_figure(str(model_dir), j, 0), model_dir / code_sweep_file(j))
        (model_dir / "README.md").write_text(model_card({**cfg, "name": cfg.get("name") or model_dir.name}))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>32}: {v}")
    return 0


def _directions(model, args):
    """(the model's directions, the attribute names): precomputed, or computed and saved beside it on first use."""
    from explorer.latent.edit import compute_directions, saved_directions
    from explorer.latent.judges import attribute_judge
    from explorer.metrics.evaluate import judge_name
    from explorer.store.checkpoint import save_directions
    net, names = attribute_judge(model, args.checkpoints)
    model_dir = Path(model.meta["path"])
    found = None if getattr(args, "recompute", False) else saved_directions(model_dir, names)
    if found is not None:
        return found, names
    judge = judge_name(model.meta)
    print(f"computing directions for {model.name} with judge {judge} ...", file=sys.stderr)
    dirs = compute_directions(model, net, names,
                              progress=lambda f, msg: print(f"  {f:4.0%} {msg}", file=sys.stderr))
    try:
        save_directions(model_dir, dirs, {"judge": judge})
    except OSError as e:
        print(f"note: could not save directions beside the model ({e.strerror})", file=sys.stderr)
    return dirs, names


def cmd_edit(args) -> int:
    import torch
    from explorer.latent.edit import clamp_strength, get_direction, load_pc_names, pick_pc
    from explorer.render import grid, to_uint8
    model = _load(args)
    dirs, names = _penalized_at(model, args, *_directions(model, args))
    pc_names = load_pc_names(model.meta["path"])
    d = get_direction(dirs, args.method, args.attribute, model, names, pc_names)
    if args.method == "pca":
        print(f"note: pca walks {pick_pc(dirs, args.attribute, names, pc_names)[2]}", file=sys.stderr)
    strength, clamped = clamp_strength(args.strength)
    if clamped:
        print(f"note: strength clamped to {strength} (edits beyond that leave the region z lives in)",
              file=sys.stderr)
    z = model.sample_z(args.n, args.seed)
    ramp = torch.linspace(0, 1, 5)  # each row: the sample, then 4 steps toward the full strength
    with torch.no_grad():
        edited = model.generate(z + strength * d)
        strip = model.generate((z[:, None] + strength * ramp[None, :, None] * d).reshape(-1, model.z_dim))
    if args.npz:
        _write_npz(args.npz, images=to_uint8(edited), z=(z + strength * d).numpy(), z_before=z.numpy())
    if args.out:
        _write_png(grid(strip, nrow=5, scale=2), args.out)
    if not (args.out or args.npz):
        raise ConfigError("edit needs --out FILE.png and/or --npz FILE.npz")
    return 0


def _penalized_at(model, args, dirs, names):
    """(dirs, names) with the penalized directions re-found at --penalty when it is not the saved weight 1."""
    from explorer.latent.edit import with_penalty
    from explorer.latent.judges import attribute_judge
    if args.penalty == 1.0:
        return dirs, names
    finder, _ = attribute_judge(model, args.checkpoints)
    return with_penalty(dirs, model, finder, names, args.penalty), names


def cmd_directions(args) -> int:
    from explorer.latent.edit import judge_directions
    from explorer.latent.judges import attribute_judge
    from explorer.metrics.evaluate import judge_name
    if args.save and args.penalty != 1.0:
        raise ConfigError("--save writes the card's table, which is at penalty weight 1: drop --penalty or --save")
    model = _load(args)
    dirs, names = _penalized_at(model, args, *_directions(model, args))
    # faces: judged by a second, differently built classifier; digits: there is one digit judge
    judge = args.judge or ("faces-attributes-eval" if model.attributes else judge_name(model.meta))
    net, judge_names = attribute_judge(model, args.checkpoints, judge=judge)
    results = judge_directions(model, dirs, net, judge_names, names)
    cosines = {n: {m: round(float(dirs[f"{m}/{n}"] @ dirs[f"gradient/{n}"]), 4)
                   for m in ("penalized", "boundary", "conditional")} for n in names}
    out = {"model": model.name, "judge": judge, "penalty": args.penalty, "results": results, "cosines": cosines}
    if args.save:
        from explorer.store.card import model_card
        from explorer.store.checkpoint import read_config, write_json
        model_dir = Path(model.meta["path"])
        cfg = read_config(model_dir)
        cfg["metrics"] = {**cfg.get("metrics", {}), "directions": out}
        write_json(model_dir / "config.json", cfg)
        (model_dir / "README.md").write_text(model_card({**cfg, "name": cfg.get("name") or model_dir.name}))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{'attribute':<12} {'method':<12} {'strength':>8} {'before':>7} {'after':>7} {'side effect':>11} "
              f"{'random step':>11}")
        def f(v):
            return "-" if v is None else f"{v:.3g}"
        for r in results:
            print(f"{r['attribute']:<12} {r['method']:<12} {f(r['strength_to_flip']):>8} {f(r['target_before']):>7} "
                  f"{f(r['target_after']):>7} {f(r['side_effect']):>11} {f(r.get('random_side_effect')):>11}"
                  + (f"  ({r['note']})" if "note" in r else ""))
    return 0


def _recorded_data_root(cfg: dict):
    """Fall back to the data root the model was trained with, when it still exists on this machine."""
    root = cfg.get("provenance", {}).get("data_root")
    return root if root and Path(root).is_dir() else None


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
    s.add_argument("--data-path", help="celeba/folder presets: the image folder")
    s.add_argument("--arch", help="generator/critic family: dcgan, mlp, or infogan (InfoGAN's MNIST nets, 28x28 only)")
    s.add_argument("--loss", help="; ".join(f"{k}: {cls.title}" for k, cls in LOSSES.items()))
    s.add_argument("--z-dim", type=positive_int, help="latent size")
    s.add_argument("--n-critic", type=positive_int, help="critic steps per generator step")
    for key, (owner, setting) in all_settings().items():   # each loss's own settings, from its description
        if isinstance(setting.default, bool):
            s.add_argument(setting.flag, action="store_true", default=None, help=setting.help)
        else:
            s.add_argument(setting.flag, type=finite_float, help=setting.help)
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
    s.set_defaults(func=cmd_sample)

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
                   help="gradient, penalized, boundary, conditional or pca (--attribute pcK, a name given to a "
                        "PC in the Directions tab, or an attribute: then the PC closest to it)")
    s.add_argument("--strength", type=finite_float, default=3.0, help="distance to move in z (clamped to +-10)")
    s.add_argument("--penalty", type=finite_float, default=1.0, help="penalty weight of the penalized method")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--n", type=positive_int, default=8)
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

    s = sub.add_parser("eval", help="measure a model with the project's judges")
    model_args(s)
    s.add_argument("--data-root")
    s.add_argument("--judge", help="classifier checkpoint to judge with (default from the model's config)")
    s.add_argument("--n", type=positive_int, default=5000, help="generated samples")
    s.add_argument("--save", action="store_true", help="record the metrics in the model's config.json and card")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "list", False):
            from explorer.store.card import describe
            for name, cfg in sorted(_presets().items()):
                print(f"{name:<26} {describe(cfg)}")
            return 0
        return args.func(args)
    except ExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
