"""Image-to-image translators, scaled from the papers to 32/64 px.

    unet     pix2pix's generator (Isola et al. 2017): an encoder-decoder down to 1 x 1 whose mirrored layers are
             joined by skip connections, with dropout in the first decoder layers as its only noise
    resnet   CycleGAN's generator (Zhu et al. 2017): stride-2 convolutions down to 16 x 16, residual blocks,
             transposed convolutions back (reflection padding, instance norm)
    PatchCritic  the PatchGAN discriminator: a grid of real/fake scores, one per overlapping patch

A translator is built from the same ModelConfig as every generator (shape: the pictures' C x H x W, width: the
first layer's channels, depth: residual blocks); z_dim is not used. Instance norm throughout: pix2pix's batch
norm at batch size 1 is instance norm, and a picture translated alone then gets the same result as in a batch.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from explorer.errors import ConfigError
from explorer.models.base import TRANSLATORS, ModelConfig

def _norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=True)


def _check_shape(cfg: ModelConfig) -> tuple[int, int]:
    if len(cfg.shape) != 3 or cfg.shape[1] != cfg.shape[2] or cfg.shape[1] not in (32, 64):
        raise ConfigError(f"a translator works on square 32 or 64 px pictures, got shape {tuple(cfg.shape)}")
    return cfg.shape[0], cfg.shape[1]


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int, norm: bool):
        super().__init__()
        self.body = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm),
                                  _norm(cout) if norm else nn.Identity())

    def forward(self, x):
        return self.body(x)


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int, dropout: bool):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), _norm(cout),
                                  nn.Dropout(0.5) if dropout else nn.Identity())

    def forward(self, x):
        return self.body(x)


@TRANSLATORS.register("unet")
class UNetGenerator(nn.Module):
    """x (C x S x S in [-1, 1]) -> a picture of the same shape. log2(S) stride-2 convolutions take it to 1 x 1
    (channels: width, 2 width, 4 width, then 4 width), the decoder mirrors them, and decoder layer i also sees
    encoder layer n - i (the skips carry the input's edges straight to the output). Dropout 0.5 in the three
    innermost decoder layers, as the paper's noise (it keeps it on at test time; `translate` can too)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, s = _check_shape(cfg)
        n, w = int(math.log2(s)), cfg.width
        chans = [min(w * 2 ** i, 4 * w) for i in range(n)]           # encoder outputs, outermost first
        self.first = nn.Conv2d(c, chans[0], 4, 2, 1)
        self.downs = nn.ModuleList(_Down(chans[i - 1], chans[i], norm=i < n - 1) for i in range(1, n))
        ups = []
        for i in range(n - 1, 0, -1):                                 # innermost first
            cin = chans[i] if i == n - 1 else 2 * chans[i]
            ups.append(_Up(cin, chans[i - 1], dropout=i >= n - 3))
        self.ups = nn.ModuleList(ups)
        self.last = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * chans[0], c, 4, 2, 1), nn.Tanh())

    def forward(self, x: torch.Tensor, cond=None) -> torch.Tensor:
        skips = [self.first(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for up in self.ups:
            h = torch.cat([up(h), skips.pop()], 1)
        return self.last(h)


class _Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), _norm(c), nn.ReLU(True),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), _norm(c))

    def forward(self, x):
        return x + self.body(x)


@TRANSLATORS.register("resnet")
class ResNetGenerator(nn.Module):
    """CycleGAN's generator: c7s1-w, stride-2 convolutions down to 16 x 16 (one at 32 px, two at 64 px), `depth`
    residual blocks there, as many transposed convolutions back, c7s1-C, tanh.

    The paper goes down twice at 128 and 256 px, so its blocks work at 32 x 32 or 64 x 64, where a mouth or an
    eye still spans several cells. At 32 px two steps down would leave 8 x 8, a mouth under one cell: a first
    run that way (5,000 steps) drew noisy, blurred faces that lost their smile (kept on 51 %). Stopping at
    16 x 16 keeps the parts' scale; at width 24 it costs the same arithmetic as 8 x 8 at four times the channels."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, s = _check_shape(cfg)
        w, n = cfg.width, max(1, int(math.log2(s)) - 4)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(c, w, 7, bias=False), _norm(w), nn.ReLU(True)]
        for i in range(n):
            layers += [nn.Conv2d(w * 2 ** i, w * 2 ** (i + 1), 3, 2, 1, bias=False), _norm(w * 2 ** (i + 1)),
                       nn.ReLU(True)]
        layers += [_Residual(w * 2 ** n) for _ in range(cfg.depth)]
        for i in range(n, 0, -1):
            layers += [nn.ConvTranspose2d(w * 2 ** i, w * 2 ** (i - 1), 3, 2, 1, output_padding=1, bias=False),
                       _norm(w * 2 ** (i - 1)), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, c, 7), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, cond=None) -> torch.Tensor:
        return self.main(x)


class PatchCritic(nn.Module):
    """PatchGAN at this scale: conv 4x4 stride 2 (width), conv 4x4 stride 1 (2 width, instance norm), conv 4x4
    to one score per patch. Each score sees a 16 x 16 patch (a quarter of a 32 px picture's area); it judges
    texture and local structure, and the L1 or cycle term takes care of the whole."""

    def __init__(self, in_channels: int, width: int = 64):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 1, 1, bias=False), _norm(2 * width), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * width, 1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class Translator:
    """What the UI and CLI talk to: one or two trained translation nets and their names.
    directions: "forward" (A -> B) always, "back" (B -> A) for a CycleGAN."""

    def __init__(self, nets: dict[str, nn.Module], cfg: ModelConfig, domains: tuple[str, str], name: str = "",
                 meta: dict | None = None):
        self.nets = {k: v.eval() for k, v in nets.items()}
        self.cfg, self.domains, self.name, self.meta = cfg, tuple(domains), name, meta or {}
        self.shape = tuple(cfg.shape)
        self.method = self.meta.get("train", {}).get("task", "")
        self.attributes = tuple(self.meta.get("attributes", ()))

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(self.nets)

    def direction_label(self, direction: str) -> str:
        a, b = self.domains
        return f"{a} -> {b}" if direction == "forward" else f"{b} -> {a}"

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "forward", noise_seed: int | None = None) -> torch.Tensor:
        """Pictures (N x C x S x S in [-1, 1]) translated. noise_seed: keep dropout on with that seed (pix2pix's
        noise at test time: outputs for different seeds show how much the noise changes); None: deterministic."""
        if direction not in self.nets:
            raise ConfigError(f"'{self.name}' translates {' and '.join(self.directions)}, not '{direction}'")
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            raise ConfigError(f"'{self.name}' translates pictures of shape {self.shape}, got {tuple(x.shape[1:])}")
        net = self.nets[direction]
        drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
        if noise_seed is None or not drops:
            return net(x)
        try:
            for m in drops:
                m.train()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(noise_seed)
                return net(x)
        finally:
            for m in drops:
                m.eval()
