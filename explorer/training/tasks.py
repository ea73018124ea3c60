"""What one training step does, per task. The loop sees only `step`, `nets`, `optimizers` and `preview`."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from explorer.errors import ConfigError
from explorer.registry import Registry
from explorer.losses import build_loss
from explorer.models import build_classifier, build_critic, build_generator, build_translator
from explorer.models.base import GeneratorModel
from explorer.models.conditioning import condition, random_codes
from explorer.render import grid, scatter
from explorer.store.config import TrainConfig
from explorer.training.distributed import DistInfo, wrap
from explorer.training.ema import WeightAverage

TASKS = Registry("task")   # name -> class(cfg, data, dist) with step, nets, optimizers, preview
PREVIEW_SEED = 1234  # the fixed z of every sample grid


def grad_norm(module: torch.nn.Module) -> float:
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return torch.stack(norms).norm().item() if norms else 0.0


def make_optimizer(name: str, params, lr: float, betas) -> torch.optim.Optimizer:
    if name == "adam":
        # fused: one kernel over all parameters (measured on this CPU: 14 ms a step against 56-70 ms for the
        # per-tensor loop on InfoGAN's 13M-parameter nets), the same update
        params = list(params)
        try:
            return torch.optim.Adam(params, lr=lr, betas=tuple(betas), fused=True)
        except (RuntimeError, ValueError):     # a device or dtype fused Adam does not take
            return torch.optim.Adam(params, lr=lr, betas=tuple(betas))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise ConfigError(f"unknown optimizer '{name}' (adam, rmsprop)")


def base_lrs(optimizers: dict) -> dict:
    """Each optimizer's learning rates as built (before any schedule or resumed state changes them)."""
    return {k: [g["lr"] for g in o.param_groups] for k, o in optimizers.items()}


def scale_lrs(optimizers: dict, base: dict, factor: float) -> None:
    """Set every learning rate to its base value times `factor` (the schedule is a pure function of the step,
    so a resumed run follows it exactly)."""
    for k, o in optimizers.items():
        for g, lr in zip(o.param_groups, base[k]):
            g["lr"] = lr * factor


def dcgan_init(module: torch.nn.Module) -> None:
    """DCGAN paper init: conv weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            # a spectrally normalised layer keeps its weight before normalisation as `original`
            w = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            torch.nn.init.normal_(w, 0.0, 0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)


JUDGE_SOFTENING = 10.0  # attribute_match with a judge: its logits are divided by this before the sigmoid


@TASKS.register("gan")
class GANTask:
    """n_critic critic steps, then one generator step; the loss object owns all GAN-specific math."""

    rng: torch.Generator | None = None   # where a step's z comes from (None: torch's global stream); see use_rng

    def __init__(self, cfg: TrainConfig, data, dist: DistInfo):
        self.cfg, self.data, self.dist = cfg, data, dist
        mc = cfg.model
        if mc.num_classes and mc.num_classes != len(data.info.class_names):
            raise ConfigError(f"a conditional model needs a dataset with {mc.num_classes} classes; "
                              f"'{cfg.dataset}' has {len(data.info.class_names)}")
        g, d = build_generator(mc), build_critic(mc)
        if mc.arch in ("dcgan", "infogan"):
            dcgan_init(g), dcgan_init(d)
        self.G, self.D = g.to(dist.device), d.to(dist.device)
        self.loss = build_loss(cfg.loss, **cfg.loss_options)
        # real and fake in one critic pass where nothing mixes a batch's samples (no BatchNorm) and no class or
        # attribute head reuses a batch's own pass (see _head_logits)
        self.loss.score_together = self.D.cls is None and self.D.attr is None and not any(
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in self.D.modules())
        dflt = self.loss.defaults
        opt = cfg.optimizer or dflt.optimizer
        betas = cfg.betas or dflt.betas
        self.n_critic = cfg.n_critic or dflt.n_critic
        g_params, d_params = self.optimized_params()
        self.opt_g = make_optimizer(opt, g_params, cfg.lr_g or dflt.lr, betas)
        self.opt_d = make_optimizer(opt, d_params, cfg.lr_d or dflt.lr, betas)
        self.g, self.d = wrap(self.G, dist), wrap(self.D, dist, some_unused=mc.code_dim > 0)
        self.samples_per_step = cfg.batch_size * self.n_critic
        # image generators are drawn from their weights' moving average; 2-D point toys from the weights
        self.ema = WeightAverage(self.G, cfg.ema_decay) if cfg.ema_decay and len(mc.shape) == 3 else None
        # attribute_match: moving (rates, co-occurrences) of the real pictures and of the samples, as read by the
        # critic's attribute head or, without one, by the frozen judge
        self.real_attr = self.fake_attr = None
        if mc.attributes and mc.attributes != data.attrs.shape[1]:
            raise ConfigError(f"the critic's attribute head reads {mc.attributes} attributes; '{cfg.dataset}' has "
                              f"{data.attrs.shape[1]}" + ("" if data.attrs.shape[1] else " (set attributes to 0)"))
        self.reader = None
        if cfg.attribute_match and not mc.attributes:
            self.reader = self._attribute_judge(cfg, data)

    def _attribute_judge(self, cfg: TrainConfig, data) -> torch.nn.Module:
        """The frozen judge that reads attributes for attribute_match: it must read the data's attributes."""
        from explorer.store.checkpoint import load_classifier
        if not cfg.judge:
            raise ConfigError("attribute-match reads attributes with the critic's attribute head or the run's judge: "
                              "set one")
        net, conf = load_classifier(cfg.judge)
        names, want = tuple(conf.get("attributes") or ()), tuple(data.info.attribute_names)
        if not want or names != want:
            raise ConfigError(f"attribute-match: the judge '{cfg.judge}' reads {', '.join(names) or 'no attributes'}; "
                              f"'{cfg.dataset}' has {', '.join(want) or 'none'}")
        return net.requires_grad_(False).to(self.dist.device)

    def optimized_params(self) -> tuple[list, list]:
        """(what the generator's optimizer updates, what the critic's optimizer updates)."""
        return list(self.G.parameters()), list(self.D.parameters())

    def use_rng(self, gen: torch.Generator) -> None:
        """Draw every step's z, and the loss's own random numbers, from `gen`: a run with its own stream can
        train in a thread beside another (the Playground's pair). Seeded as torch.manual_seed would seed the
        global stream, it draws the same numbers."""
        self.rng = self.loss.rng = gen

    @property
    def nets(self) -> dict:
        """What a checkpoint holds. With an average, generator.safetensors is the average (what every reader of a
        model draws with) and generator_raw.safetensors the weights that train (what a resumed run continues)."""
        if self.ema is None:
            return {"generator": self.G, "critic": self.D}
        return {"generator": self.ema.avg, "generator_raw": self.G, "critic": self.D}

    @property
    def optimizers(self) -> dict:
        return {"g": self.opt_g, "d": self.opt_d}

    def shown_generator(self) -> torch.nn.Module:
        """The generator a preview and a checkpoint show: the average, its BatchNorm statistics recomputed."""
        if self.ema is None:
            return self.G
        return self.ema.refresh(self._random_inputs, seed=PREVIEW_SEED)

    def prepare_save(self) -> None:
        self.shown_generator()

    def extra_state(self) -> dict:
        st = {"ema": self.ema.state()} if self.ema is not None else {}
        for key, stats in (("real_attributes", self.real_attr), ("sample_attributes", self.fake_attr)):
            if stats is not None:
                st[key] = [t.cpu() for t in stats]
        return st

    def load_extra_state(self, st: dict) -> None:
        if self.ema is not None:
            self.ema.load_state(st.get("ema") or {})
        if st.get("real_attributes") is not None:
            self.real_attr = tuple(t.to(self.dist.device) for t in st["real_attributes"])
        if st.get("sample_attributes") is not None:
            self.fake_attr = tuple(t.to(self.dist.device) for t in st["sample_attributes"])

    def _random_inputs(self, n: int) -> tuple:
        """(z, condition) for n samples: random classes for a conditional model, random codes for an InfoGAN."""
        dev, mc = self.dist.device, self.cfg.model
        y = torch.randint(0, max(mc.num_classes, 1), (n,), device=dev)
        return torch.randn(n, mc.z_dim, device=dev), self._cond(y)

    def _cond(self, y: torch.Tensor) -> torch.Tensor | None:
        """What the generator sees beside z: the class one-hot (conditional) and codes (InfoGAN)."""
        return condition(self.cfg.model, y.shape[0], labels=y if self.cfg.model.num_classes else None,
                         codes=self.sample_codes(y.shape[0]), device=self.dist.device)

    def sample_codes(self, n: int) -> torch.Tensor | None:
        return None

    def info_loss(self, fake: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor | None:
        """InfoGAN's weighted information term, added to the generator's loss; None for a plain GAN."""
        return None

    def _head(self, critic_side: bool) -> dict:
        """The critic's arguments that also return its class or attribute head's logits. The attribute head is a
        probe on the critic's side: it learns to read the features without teaching them, so the critic learns
        from its score as without the head (sharing them, it outran the generator: FD 903 where the plain recipe
        had 407 at 3,000 steps)."""
        if self.D.cls is not None:
            return {"with_class": True}
        return {"with_attributes": True, "probe": critic_side}

    def _scorer(self, cond, seen: list, critic_side: bool = False):
        """The critic as a loss sees it (pictures -> scores); with a class or attribute head, each call's head
        logits are kept in `seen` so the head's terms reuse the loss's own forward pass."""
        if self.D.cls is None and self.D.attr is None:
            return lambda t: self.d(t, cond)
        head = self._head(critic_side)

        def score(t):
            s, logits = self.d(t, cond, **head)
            seen.append((t, logits))
            return s
        return score

    def _head_logits(self, seen: list, x: torch.Tensor, cond, critic_side: bool = False) -> torch.Tensor:
        """The class or attribute head's logits for x: from `seen`, or a forward of their own for a loss that never
        scored x itself."""
        for t, logits in seen:
            if t is x:
                return logits
        return self.d(x, cond, **self._head(critic_side))[1]

    @staticmethod
    def _attribute_stats(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rates, co-occurrences) of attribute probabilities p (N x A): their mean and their mean outer product."""
        return p.mean(0), p.T @ p / p.shape[0]

    def _attribute_head_real(self, logits: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
        """The attribute head's loss on real pictures, against soft targets (0.1 / 0.9: its probabilities stay off
        0 and 1, where the generator's term would have no slope); updates the real pictures' moving statistics."""
        loss = F.binary_cross_entropy_with_logits(logits, 0.1 + 0.8 * attrs.float())
        if self.cfg.attribute_match:
            self._real_attribute_stats(logits.detach())
        return loss

    def _real_attribute_stats(self, logits: torch.Tensor) -> None:
        now = self._attribute_stats(torch.sigmoid(logits))
        if self.real_attr is None:
            self.real_attr = now
        else:   # a moving average over about a hundred batches: the statistics of one batch are noisy
            self.real_attr = tuple(0.99 * old + 0.01 * new for old, new in zip(self.real_attr, now))

    def _judge_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The judge's attribute logits, softened (/ JUDGE_SOFTENING): a sure judge's probabilities sit at 0 or 1,
        where they have no slope for the generator to follow."""
        return self.reader(x) / JUDGE_SOFTENING

    @staticmethod
    def _correlations(rates: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Pairwise correlations (A x A) of attributes from their (rates, co-occurrences)."""
        cov = second - torch.outer(rates, rates)
        sd = cov.diagonal().clamp(min=1e-6).sqrt()
        return cov / torch.outer(sd, sd)

    def _attribute_match(self, logits: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The generator's attribute term and the squared gaps it closes: between its samples' attribute rates and
        pairwise correlations and the real pictures' (a generator that ties two independent attributes pays).
        A correlation from one batch of 64 is off by about 0.13, so the gaps are measured on a moving average of
        the samples' statistics; the term is each gap (held fixed) times the batch's own statistic, whose slope is
        that of half the squared gap, without one batch's noise in the gap."""
        rates, second = self._attribute_stats(torch.sigmoid(logits))
        now = (rates.detach(), second.detach())
        self.fake_attr = now if self.fake_attr is None else \
            tuple(0.95 * old + 0.05 * new for old, new in zip(self.fake_attr, now))
        real_rates, real_second = self.real_attr
        rate_gap = self.fake_attr[0] - real_rates
        corr_gap = self._correlations(*self.fake_attr) - self._correlations(real_rates, real_second)
        upper = torch.triu(torch.ones_like(corr_gap, dtype=torch.bool), diagonal=1)
        term = (rate_gap * rates).sum() + (corr_gap * self._correlations(rates, second))[upper].sum()
        return term, ((rate_gap ** 2).sum() + (corr_gap[upper] ** 2).sum()).item()

    def critic_step(self, next_batch, measure: bool, keep_fake: bool = False):
        """One critic update on a real batch and fresh fakes; returns (fake, cond, loss_d, stats).
        keep_fake=True keeps the fakes' graph so a generator step can reuse them."""
        dev = self.dist.device
        x, y, attrs = next_batch()
        x, cond = x.to(dev), self._cond(y.to(dev))
        with torch.set_grad_enabled(keep_fake):
            fake = self.g(torch.randn(x.shape[0], self.cfg.model.z_dim, device=dev, generator=self.rng), cond)
        seen: list = []
        loss_d, stats = self.loss.critic_loss(self._scorer(cond, seen, critic_side=True), x, fake.detach())
        if self.D.cls is not None:   # AC-GAN: the critic also learns to name the real pictures' classes
            ce = F.cross_entropy(self._head_logits(seen, x, cond, critic_side=True), y.to(dev))
            loss_d = loss_d + self.cfg.class_weight * ce
            stats["class_d"] = ce.item()
        if self.D.attr is not None:   # the critic also learns to read the real pictures' attributes
            bce = self._attribute_head_real(self._head_logits(seen, x, cond, critic_side=True), attrs.to(dev))
            loss_d = loss_d + bce
            stats["attributes_d"] = bce.item()
        if self.reader is not None and keep_fake:   # once a generator step: the judge's reading of real pictures
            with torch.no_grad():
                self._real_attribute_stats(self._judge_logits(x))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if measure:
            stats["grad_norm_d"] = grad_norm(self.D)
        self.opt_d.step()
        self.loss.after_critic_step(self.D)
        return fake, cond, loss_d, stats

    def generator_step(self, fake: torch.Tensor, cond: torch.Tensor | None, measure: bool):
        """One generator update on fakes made with grad, scored by the current critic; returns (loss_g, stats)."""
        seen: list = []
        loss_g, stats = self.loss.generator_loss(self._scorer(cond, seen), fake)
        if self.D.cls is not None:   # AC-GAN: fakes the critic names as their own class
            ce = F.cross_entropy(self._head_logits(seen, fake, cond), cond[:, :self.cfg.model.num_classes].argmax(1))
            loss_g = loss_g + self.cfg.class_weight * ce
            stats["class_g"] = ce.item()
        if self.cfg.attribute_match and self.real_attr is not None:
            logits = self._judge_logits(fake) if self.reader is not None else self._head_logits(seen, fake, cond)
            term, gap = self._attribute_match(logits)
            loss_g = loss_g + self.cfg.attribute_match * term
            stats["attribute_gap_g"] = gap
        info = self.info_loss(fake, cond)
        if info is not None:
            stats["info_g"] = info.item()
            loss_g = loss_g + info
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        if measure:
            stats["grad_norm_g"] = grad_norm(self.G)
            # spread of the batch's samples: a collapsing generator makes them alike (mode collapse)
            stats["diversity"] = fake.detach().flatten(1).std(0).mean().item()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update()
        return loss_g, stats

    def step(self, next_batch, measure: bool) -> dict:
        for i in range(self.n_critic):
            # the last critic batch's fakes also serve the generator step (as pytorch/examples/dcgan)
            fake, cond, loss_d, stats = self.critic_step(next_batch, measure, keep_fake=i == self.n_critic - 1)
        loss_g, g_stats = self.generator_step(fake, cond, measure)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), **stats, **g_stats}

    @torch.no_grad()
    def preview(self):
        """Samples on a fixed z (a grid; classes across for conditional models; a scatter for 2-D points)."""
        mc = self.cfg.model
        shown = self.shown_generator()
        was_training = shown.training
        model = GeneratorModel(shown, mc)  # switches G to eval mode until the finally below
        try:
            if len(mc.shape) == 1:
                z = model.sample_z(1000, PREVIEW_SEED).to(self.dist.device)
                pts = model.generate(z).cpu().numpy()
                real = self.data.x[:1000].numpy()
                return scatter(pts, real)
            cols = mc.num_classes or mc.cat_codes  # one column per class / categorical code value
            if cols:
                rows = 8
                z = model.sample_z(rows, PREVIEW_SEED).repeat_interleave(cols, 0).to(self.dist.device)
                k = torch.arange(cols).repeat(rows)
                if mc.num_classes:
                    imgs = model.generate(z, k.to(self.dist.device), model.sample_codes(len(k), PREVIEW_SEED))
                else:
                    codes = torch.cat([model.sample_codes(1, PREVIEW_SEED + r, cat=c) for r in range(rows)
                                       for c in range(cols)])
                    imgs = model.generate(z, None, codes.to(self.dist.device))
                return grid(imgs, nrow=cols, scale=2)
            imgs = model.generate(model.sample_z(64, PREVIEW_SEED).to(self.dist.device))
            return grid(imgs, nrow=8, scale=2)
        finally:
            shown.train(was_training)


@TASKS.register("infogan")
class InfoGANTask(GANTask):
    """InfoGAN (Chen et al. 2016): loss = GAN loss + lambda * information loss, where the critic's Q head
    must recover the codes the generator was given (a lower bound on their mutual information).

    The Q head learns with the generator: one optimizer (the generator's rate) minimises the information
    loss over G and Q together, while the shared critic body learns only from the GAN loss. Training the body
    on the information loss as well lets G and Q agree on codes the critic does not care about (stroke
    style): on MNIST the categorical code then stayed near 33% digit agreement instead of becoming the digit.
    """

    def __init__(self, cfg: TrainConfig, data, dist: DistInfo):
        if cfg.model.code_dim == 0:
            raise ConfigError("an InfoGAN needs codes: set cat_codes and/or cont_codes in the model config")
        super().__init__(cfg, data, dist)

    def optimized_params(self) -> tuple[list, list]:
        q = list(self.D.q.parameters())
        q_ids = {id(p) for p in q}
        return list(self.G.parameters()) + q, [p for p in self.D.parameters() if id(p) not in q_ids]

    def sample_codes(self, n: int) -> torch.Tensor:
        return random_codes(self.cfg.model, n, self.dist.device)

    def finish(self) -> dict:
        """align_codes: turn the continuous codes of every copy of the generator (and the Q head's reading of
        them) so c1 follows slant and c2 width, fitted on the samples the model is drawn with; returns what
        the fit measured, for the run's metrics."""
        if not self.cfg.align_codes:
            return {}
        from explorer.training.codes import first_layer, fit_turn, stroke_readings, turn_codes
        fit = fit_turn(*stroke_readings(self.shown_generator(), self.cfg))
        q_out = [m for m in self.D.q.modules() if isinstance(m, torch.nn.Linear)][-1]
        start = self.cfg.model.z_dim + self.cfg.model.num_classes + self.cfg.model.cat_codes
        turn_codes(first_layer(self.G), q_out, fit["rotation"], start)
        if self.ema is not None:
            turn_codes(first_layer(self.ema.avg), None, fit["rotation"], start)
            self.ema.load_state(self.ema.state())     # its BatchNorm statistics are measured again before saving
        # Adam's moments for the turned weights are not turned with them (a resumed run starts from them as kept)
        return {"code_alignment": {k: v for k, v in fit.items() if k != "rotation"}}

    def info_loss(self, fake, cond):
        mc = self.cfg.model
        codes = cond[:, mc.num_classes:]
        _, q = self.d(fake, cond, with_q=True)
        loss = fake.new_zeros(())
        if mc.cat_codes:   # cross-entropy of the categorical code
            loss = loss + self.cfg.info_lambda * F.cross_entropy(q[:, :mc.cat_codes], codes[:, :mc.cat_codes].argmax(1))
        if mc.cont_codes:  # squared error = a fixed-variance Gaussian log-likelihood, up to scale and constant
            err = F.mse_loss(q[:, mc.cat_codes:], codes[:, mc.cat_codes:], reduction="none").sum(1).mean()
            loss = loss + self.cfg.info_lambda_cont * err
        return loss


@TASKS.register("classifier")
class ClassifierTask:
    """A judge: softmax over classes, or independent sigmoids over binary attributes."""

    def __init__(self, cfg: TrainConfig, data, dist: DistInfo):
        self.cfg, self.data, self.dist = cfg, data, dist
        info = data.info
        self.multilabel = not info.class_names
        n_out = len(info.attribute_names) if self.multilabel else len(info.class_names)
        if n_out == 0:
            raise ConfigError(f"dataset '{cfg.dataset}' has neither classes nor attributes to learn")
        self.C = build_classifier(cfg.classifier_arch, info.shape, n_out, cfg.classifier_width).to(dist.device)
        self.opt = make_optimizer(cfg.optimizer or "adam", self.C.parameters(), cfg.lr_d or 1e-3,
                                  cfg.betas or (0.9, 0.999))
        self.c = wrap(self.C, dist)
        self.samples_per_step = cfg.batch_size

    @property
    def nets(self) -> dict:
        return {"classifier": self.C}

    @property
    def optimizers(self) -> dict:
        return {"c": self.opt}

    def _loss(self, logits, y, a):
        if self.multilabel:
            return F.binary_cross_entropy_with_logits(logits, a), ((logits > 0).float() == a).float().mean()
        return F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()

    def step(self, next_batch, measure: bool) -> dict:
        x, y, a = (t.to(self.dist.device) for t in next_batch())
        loss, acc = self._loss(self.c(x), y, a)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        stats = {"loss": loss.item(), "accuracy": acc.item()}
        if measure:
            stats["grad_norm"] = grad_norm(self.C)
        self.opt.step()
        return stats

    @torch.no_grad()
    def preview(self):
        x, _, _ = self.data.get_batch(torch.arange(min(64, len(self.data))))
        return grid(x, nrow=8, scale=2)


@TASKS.register("encoder")
class EncoderTask:
    """An encoder for a trained generator, learnt on the generator's own samples (the generator stays fixed):
    for x = G(z, c), E(x) should give back z (squared error), the class and the categorical code
    (cross-entropy) and the continuous codes (squared error), and G fed E's guess should redraw x
    (pixel_weight x squared error in pixels). At the end it is published beside its generator."""

    def __init__(self, cfg: TrainConfig, data, dist: DistInfo):
        from explorer.models import Encoder
        from explorer.store.checkpoint import load_generator
        self.cfg, self.dist = cfg, dist
        self.model = load_generator(cfg.generator)
        self.gcfg = self.model.cfg
        if tuple(self.gcfg.shape) != tuple(cfg.model.shape) or len(self.gcfg.shape) != 3:
            raise ConfigError(f"an encoder inverts image generators whose pictures match its dataset: "
                              f"'{cfg.generator}' draws {tuple(self.gcfg.shape)}, the dataset holds "
                              f"{tuple(cfg.model.shape)}")
        self.G = self.model.net.to(dist.device).eval().requires_grad_(False)
        self.E = Encoder(self.gcfg, cfg.model.width).to(dist.device)
        self.opt = make_optimizer(cfg.optimizer or "adam", self.E.parameters(), cfg.lr_g or 1e-3,
                                  cfg.betas or (0.9, 0.999))
        self.e = wrap(self.E, dist)
        self.samples_per_step = cfg.batch_size

    @property
    def nets(self) -> dict:
        return {"encoder": self.E}

    @property
    def optimizers(self) -> dict:
        return {"e": self.opt}

    @torch.no_grad()
    def draw(self, n: int, seed: int | None = None):
        """n of the generator's pictures with what made them: (x, z, labels or None, codes or None)."""
        g, dev = self.gcfg, self.dist.device
        if seed is None:
            z = torch.randn(n, g.z_dim, device=dev)
            labels = torch.randint(0, g.num_classes, (n,), device=dev) if g.num_classes else None
            codes = random_codes(g, n, dev)
        else:
            z = self.model.sample_z(n, seed).to(dev)
            labels = torch.arange(n, device=dev) % g.num_classes if g.num_classes else None
            codes = self.model.sample_codes(n, seed)
            codes = codes.to(dev) if codes is not None else None
        return self.G(z, condition(g, n, labels=labels, codes=codes, device=dev)), z, labels, codes

    def guess_condition(self, parts: dict, n: int) -> torch.Tensor | None:
        """What the generator sees beside z, from the encoder's output (softmax of its logits: differentiable)."""
        codes = [F.softmax(parts["cat_logits"], 1)] if parts["cat_logits"] is not None else []
        codes += [parts["cont"]] if parts["cont"] is not None else []
        weights = F.softmax(parts["class_logits"], 1) if parts["class_logits"] is not None else None
        return condition(self.gcfg, n, codes=torch.cat(codes, 1) if codes else None, class_weights=weights,
                         device=self.dist.device)

    def step(self, next_batch, measure: bool) -> dict:
        n, g = self.cfg.batch_size, self.gcfg
        x, z, labels, codes = self.draw(n)
        parts = self.E.split(self.e(x))
        loss_z = F.mse_loss(parts["z"], z)
        loss, stats = loss_z, {"z_error": loss_z.item()}
        if labels is not None:
            loss = loss + F.cross_entropy(parts["class_logits"], labels)
            stats["class_accuracy"] = (parts["class_logits"].argmax(1) == labels).float().mean().item()
        if g.cat_codes:
            target = codes[:, :g.cat_codes].argmax(1)
            loss = loss + F.cross_entropy(parts["cat_logits"], target)
            stats["code_accuracy"] = (parts["cat_logits"].argmax(1) == target).float().mean().item()
        if g.cont_codes:
            loss = loss + F.mse_loss(parts["cont"], codes[:, g.cat_codes:])
        if self.cfg.pixel_weight:
            redrawn = self.G(parts["z"], self.guess_condition(parts, n))
            loss_px = F.mse_loss(redrawn, x)
            loss = loss + self.cfg.pixel_weight * loss_px
            stats["pixel_error"] = loss_px.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if measure:
            stats["grad_norm"] = grad_norm(self.E)
        self.opt.step()
        return {"loss": loss.item(), **stats}

    @torch.no_grad()
    def preview(self):
        """Top row: the generator's pictures on a fixed z; below: the generator redrawing the encoder's guess."""
        was_training = self.E.training
        self.E.eval()
        try:
            x, *_ = self.draw(8, PREVIEW_SEED)
            parts = self.E.split(self.E(x))
            redrawn = self.G(parts["z"], self.guess_condition(parts, 8))
            return grid(torch.cat([x, redrawn]), nrow=8, scale=2)
        finally:
            self.E.train(was_training)

    def publish(self, out, metrics: dict) -> None:
        """Put the finished encoder beside its generator (encoder.safetensors, named in its config.json)."""
        from explorer.store.checkpoint import attach_encoder
        attach_encoder(self.model.meta["path"], out, self.cfg.model.width, metrics)


def vae_encoder_width(mc) -> int:
    """A VAE's encoder: half the decoder's base width (at 64, 2.5 MB of weights; at full width it was 10 MB)."""
    return max(1, mc.width // 2)


class _VAENets(torch.nn.Module):
    """Encoder and decoder as one module (one DDP wrapper): x -> (decoder logits, posterior mean, log-variance).
    The decoder is a DCGAN generator ending in tanh: tanh(a) = 2 sigmoid(2a) - 1, so 2a are the logits of the
    pixels' Bernoulli likelihood and the picture the generator draws is exactly that likelihood's mean."""

    def __init__(self, encoder: torch.nn.Module, decoder: torch.nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor):
        parts = self.encoder.split(self.encoder(x))
        mu, logvar = parts["z"], parts["logvar"].clamp(-12, 12)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)     # the reparameterisation trick
        return decoder_logits(self.decoder, z), mu, logvar


def decoder_logits(decoder: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The pixels' Bernoulli logits from a DCGAN generator used as a VAE's decoder: twice its pre-tanh output."""
    return 2 * decoder.main[:-1](z[:, :, None, None])


def vae_terms(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor):
    """Per-picture (reconstruction, KL) in nats: the Bernoulli negative log-likelihood of the pixels (mapped to
    [0, 1]) and KL(q(z|x) || N(0, I)); their sum is minus the ELBO, a bound on -log p(x)."""
    recon = F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return recon, kl


@TASKS.register("vae")
class VAETask:
    """A variational autoencoder (Kingma & Welling 2014) whose decoder is the DCGAN generator, so what it learns
    is explored like any generator; with beta > 1 a beta-VAE (Higgins et al. 2017). Loss per picture:
    reconstruction + beta x KL; the encoder is saved beside the decoder and serves inversion too."""

    def __init__(self, cfg: TrainConfig, data, dist: DistInfo):
        from explorer.models import Encoder
        self.cfg, self.data, self.dist = cfg, data, dist
        mc = cfg.model
        self.G, self.E = build_generator(mc), Encoder(mc, vae_encoder_width(mc), logvar=True)
        dcgan_init(self.G)
        self.G, self.E = self.G.to(dist.device), self.E.to(dist.device)
        self.both = _VAENets(self.E, self.G)
        self.opt = make_optimizer(cfg.optimizer or "adam", self.both.parameters(), cfg.lr_g or 5e-4,
                                  cfg.betas or (0.9, 0.999))
        self.vae = wrap(self.both, dist)
        self.samples_per_step = cfg.batch_size

    @property
    def nets(self) -> dict:
        return {"generator": self.G, "encoder": self.E}

    @property
    def optimizers(self) -> dict:
        return {"vae": self.opt}

    def step(self, next_batch, measure: bool) -> dict:
        x = next_batch()[0].to(self.dist.device)
        logits, mu, logvar = self.vae(x)
        recon, kl = vae_terms(logits, x, mu, logvar)
        recon, kl = recon.mean(), kl.mean()
        loss = recon + self.cfg.beta * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        stats = {"loss": loss.item(), "reconstruction": recon.item(), "kl": kl.item(),
                 "elbo": -(recon + kl).item()}
        if measure:
            stats["grad_norm"] = grad_norm(self.both)
            # dimensions the encoder uses: a posterior mean that varies across pictures (Burda et al.'s count)
            stats["active_dims"] = float((mu.detach().var(0) > 0.01).sum().item())
        self.opt.step()
        return stats

    @torch.no_grad()
    def preview(self):
        """Rows: real pictures, their reconstructions (posterior means decoded), then samples from N(0, I)."""
        was_training = self.both.training
        self.both.eval()
        try:
            x = self.data.get_batch(torch.arange(min(16, len(self.data))))[0].to(self.dist.device)
            mu = self.E.split(self.E(x))["z"]
            model = GeneratorModel(self.G, self.cfg.model)
            samples = model.generate(model.sample_z(16, PREVIEW_SEED).to(self.dist.device))
            return grid(torch.cat([x, self.G(mu), samples]), nrow=8, scale=2)
        finally:
            self.both.train(was_training)


# ---------- image-to-image translation ----------

def _two_domains(cfg: TrainConfig, data, task: str, kind: str) -> None:
    from explorer.data.translation import is_two_domain
    if not is_two_domain(data) or data.info.kind != kind:
        raise ConfigError(f"{task} learns from {kind} pictures; '{cfg.dataset}' holds "
                          f"{data.info.kind if is_two_domain(data) else 'single'} pictures")


def _translation_preview(rows: list[torch.Tensor]):
    return grid(torch.cat(rows), nrow=rows[0].shape[0], scale=2)


@TASKS.register("pix2pix")
class Pix2PixTask:
    """pix2pix (Isola et al. 2017): a U-Net G maps A to B; a PatchGAN D judges (A, B) pairs side by side, so it
    asks "is this output right for this input?"; G's loss = cGAN + l1_weight x L1(G(A), B) (the paper's 100)."""

    def __init__(self, cfg: TrainConfig, data, dist: DistInfo):
        from explorer.models.translation import PatchCritic
        _two_domains(cfg, data, "pix2pix", "paired")
        self.cfg, self.data, self.dist = cfg, data, dist
        c = cfg.model.shape[0]
        self.G = build_translator(cfg.model).to(dist.device)
        self.D = PatchCritic(2 * c, cfg.critic_width).to(dist.device)
        dcgan_init(self.G), dcgan_init(self.D)
        self.loss = build_loss(cfg.loss, **cfg.loss_options)
        dflt = self.loss.defaults
        betas = cfg.betas or dflt.betas
        self.opt_g = make_optimizer(cfg.optimizer or dflt.optimizer, self.G.parameters(), cfg.lr_g or dflt.lr, betas)
        self.opt_d = make_optimizer(cfg.optimizer or dflt.optimizer, self.D.parameters(), cfg.lr_d or dflt.lr, betas)
        self.g, self.d = wrap(self.G, dist), wrap(self.D, dist)
        self.samples_per_step = cfg.batch_size

    @property
    def nets(self) -> dict:
        return {"generator": self.G, "critic": self.D}

    @property
    def optimizers(self) -> dict:
        return {"g": self.opt_g, "d": self.opt_d}

    def step(self, next_batch, measure: bool) -> dict:
        dev = self.dist.device
        b, _, _, a = next_batch()
        a, b = a.to(dev), b.to(dev)
        fake = self.g(a)
        pair = lambda out, d=self.d: d(torch.cat([a, out], 1))   # noqa: E731  D sees the input beside the output
        loss_d, stats = self.loss.critic_loss(pair, b, fake.detach())
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if measure:
            stats["grad_norm_d"] = grad_norm(self.D)
        self.opt_d.step()
        # the generator's turn: D frozen, called unwrapped (under torchrun its DDP wrapper would wait for
        # gradients that a frozen D never produces)
        self.D.requires_grad_(False)
        gan, g_stats = self.loss.generator_loss(lambda out: pair(out, self.D), fake)
        self.D.requires_grad_(True)
        l1 = F.l1_loss(fake, b)
        loss_g = gan + self.cfg.l1_weight * l1
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        if measure:
            g_stats["grad_norm_g"] = grad_norm(self.G)
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "gan_g": gan.item(), "l1": l1.item(),
                **stats, **g_stats}

    @torch.no_grad()
    def preview(self):
        """Rows: inputs, outputs, the true pictures (the first 8 training pairs)."""
        was = self.G.training
        self.G.eval()
        try:
            b, _, _, a = self.data.get_batch(torch.arange(min(8, len(self.data))))
            a, b = a.to(self.dist.device), b.to(self.dist.device)
            return _translation_preview([a, self.G(a), b])
        finally:
            self.G.train(was)


class HistoryPool:
    """CycleGAN's image buffer (Shrivastava et al. 2017): D sees, for half of each batch on average, fakes
    from earlier generators, so it does not chase only the latest one. Its contents are training state."""

    def __init__(self, size: int):
        self.size, self.images = size, []

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        out = []
        for img in fakes.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(()).item() < 0.5:           # the global RNG: saved and restored with the run
                k = int(torch.randint(0, self.size, ()).item())
                out.append(self.images[k].clone())
                self.images[k] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)

    def state(self) -> torch.Tensor | None:
        return torch.stack(self.images).cpu() if self.images else None

    def load(self, t: torch.Tensor | None, device) -> None:
        self.images = [] if t is None else [i.to(device) for i in t]


@TASKS.register("cyclegan")
class CycleGANTask:
    """CycleGAN (Zhu et al. 2017): G: A -> B and F: B -> A with critics D_B and D_A (PatchGAN, least squares).
    G and F minimise L_GAN(G, D_B) + L_GAN(F, D_A) + cycle_weight (|F(G(a)) - a| + |G(F(b)) - b|)
    + identity_weight x cycle_weight (|G(b) - b| + |F(a) - a|); each critic sees real pictures and fakes from a
    history pool of pool_size. Saved as generator (G), generator_back (F), critic (D_B), critic_back (D_A)."""

    def __init__(self, cfg: TrainConfig, data, dist: DistInfo):
        from itertools import chain
        from explorer.models.translation import PatchCritic
        _two_domains(cfg, data, "CycleGAN", "unpaired")
        self.cfg, self.data, self.dist = cfg, data, dist
        c, dev = cfg.model.shape[0], dist.device
        self.G, self.F = build_translator(cfg.model).to(dev), build_translator(cfg.model).to(dev)
        self.D_b, self.D_a = PatchCritic(c, cfg.critic_width).to(dev), PatchCritic(c, cfg.critic_width).to(dev)
        for net in (self.G, self.F, self.D_b, self.D_a):
            dcgan_init(net)
        self.loss = build_loss(cfg.loss, **cfg.loss_options)
        dflt = self.loss.defaults
        opt, betas = cfg.optimizer or dflt.optimizer, cfg.betas or dflt.betas
        self.opt_g = make_optimizer(opt, chain(self.G.parameters(), self.F.parameters()), cfg.lr_g or dflt.lr, betas)
        self.opt_d = make_optimizer(opt, chain(self.D_b.parameters(), self.D_a.parameters()), cfg.lr_d or dflt.lr,
                                    betas)
        self.g, self.f = wrap(self.G, dist), wrap(self.F, dist)
        self.d_b, self.d_a = wrap(self.D_b, dist), wrap(self.D_a, dist)
        self.pool_b, self.pool_a = HistoryPool(cfg.pool_size), HistoryPool(cfg.pool_size)
        self.samples_per_step = cfg.batch_size

    @property
    def nets(self) -> dict:
        return {"generator": self.G, "generator_back": self.F, "critic": self.D_b, "critic_back": self.D_a}

    @property
    def optimizers(self) -> dict:
        return {"g": self.opt_g, "d": self.opt_d}

    def extra_state(self) -> dict:
        return {"pool_b": self.pool_b.state(), "pool_a": self.pool_a.state()}

    def load_extra_state(self, st: dict) -> None:
        self.pool_b.load(st.get("pool_b"), self.dist.device)
        self.pool_a.load(st.get("pool_a"), self.dist.device)

    def step(self, next_batch, measure: bool) -> dict:
        dev, cfg = self.dist.device, self.cfg
        b, _, _, a = next_batch()
        a, b = a.to(dev), b.to(dev)
        # generators: the critics only score here
        for d in (self.D_b, self.D_a):
            d.requires_grad_(False)
        fake_b, fake_a = self.g(a), self.f(b)
        cycle_a, cycle_b = F.l1_loss(self.f(fake_b), a), F.l1_loss(self.g(fake_a), b)
        gan_b, sb = self.loss.generator_loss(self.D_b, fake_b)     # unwrapped: a frozen D syncs nothing
        gan_a, _ = self.loss.generator_loss(self.D_a, fake_a)
        loss_g = gan_b + gan_a + cfg.cycle_weight * (cycle_a + cycle_b)
        identity = torch.zeros((), device=dev)
        if cfg.identity_weight:
            identity = F.l1_loss(self.g(b), b) + F.l1_loss(self.f(a), a)
            loss_g = loss_g + cfg.identity_weight * cfg.cycle_weight * identity
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        stats = {}
        if measure:
            stats["grad_norm_g"] = grad_norm(self.G)
        self.opt_g.step()
        for d in (self.D_b, self.D_a):
            d.requires_grad_(True)
        # critics: real pictures against fakes from the history pools
        loss_db, st_b = self.loss.critic_loss(self.d_b, b, self.pool_b.query(fake_b))
        loss_da, _ = self.loss.critic_loss(self.d_a, a, self.pool_a.query(fake_a))
        self.opt_d.zero_grad(set_to_none=True)
        (loss_db + loss_da).backward()
        if measure:
            stats["grad_norm_d"] = grad_norm(self.D_b)
        self.opt_d.step()
        return {"loss_g": loss_g.item(), "loss_d": (loss_db + loss_da).item(), "gan_g": (gan_b + gan_a).item(),
                "cycle_a": cycle_a.item(), "cycle_b": cycle_b.item(), "identity": identity.item(),
                "d_real": st_b["d_real"], "d_fake": st_b["d_fake"], "d_fake_g": sb["d_fake_g"], **stats}

    @torch.no_grad()
    def preview(self):
        """Rows: A, G(A), F(G(A)), then B, F(B), G(F(B)) (the first 8 of each domain)."""
        was = self.G.training
        self.G.eval(), self.F.eval()
        try:
            b, _, _, a = self.data.get_batch(torch.arange(min(8, len(self.data))))
            a, b = a.to(self.dist.device), b.to(self.dist.device)
            gb, fa = self.G(a), self.F(b)
            return _translation_preview([a, gb, self.F(gb), b, fa, self.G(fa)])
        finally:
            self.G.train(was), self.F.train(was)


# tasks in their own modules register on import (they import this module's helpers, so they come last)
from explorer.training import attngan  # noqa: E402,F401
