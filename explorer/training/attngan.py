"""AttnGAN's training task (Xu et al. 2018, scaled down): DAMSM first, then the attentional GAN.

Steps 1..damsm_steps train DAMSM (the text encoder and the image encoder) to match each real picture's regions
with its sentence's words; after that both are frozen, the text encoder feeds the generator (word features for
the attention stage, the sentence feature for conditioning augmentation), and the image encoder scores the
generator's pictures against their sentences (the DAMSM loss, weighted by damsm_weight). Each stage's critic
judges its pictures unconditionally and given the sentence; given a wrong sentence, a real picture is fake. A
mode-seeking term (Mao et al. 2019, weighted by mode_seeking_weight) keeps two z's given one sentence apart.
With attribute_weight > 0 the attributes are taught twice: during DAMSM, linear heads on the sentence feature
and on the picture's global feature learn what the sentence states and what the face is (so both encoders carry
every attribute); in the GAN, the 32 x 32 critic has an attribute head (TAC-GAN, Dash et al. 2017), which
learns each real face's attributes, and the generator is asked, through it, for the attributes its sentence
states (present or absent; an unsaid attribute asks nothing).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.errors import ConfigError
from explorer.models.text import AttnGenerator, AttributeHeads, ImageEncoder, StageCritic, TextEncoder, damsm_loss
from explorer.render import grid
from explorer.store.config import TrainConfig
from explorer.training.distributed import DistInfo, wrap
from explorer.training.tasks import PREVIEW_SEED, TASKS, dcgan_init, grad_norm, make_optimizer


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def stated_loss(logits: torch.Tensor, stated: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of attribute logits (N x A) against what the sentences state (+1 / -1; 0 unsaid, left out),
    averaged over the stated entries."""
    said = (stated != 0).float()
    bce = F.binary_cross_entropy_with_logits(logits, (stated > 0).float(), reduction="none")
    return (bce * said).sum() / said.sum().clamp(min=1.0)


def same_meaning(stated: torch.Tensor) -> torch.Tensor:
    """B x B: True where two sentences state the same attributes the same way (not a wrong match for DAMSM)."""
    return (stated[:, None, :] == stated[None, :, :]).all(2)


def kl_term(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)), averaged over the batch: conditioning augmentation's smoothness term."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()


@TASKS.register("attngan")
class AttnGANTask:
    def __init__(self, cfg: TrainConfig, data, dist: DistInfo):
        if not hasattr(data, "tokens"):
            raise ConfigError(f"AttnGAN learns from pictures with sentences (faces-captions); '{cfg.dataset}' has "
                              f"no sentences")
        mc = cfg.model
        if tuple(mc.shape) != (3, 32, 32):
            raise ConfigError(f"AttnGAN here draws 32 x 32 colour pictures; the model's shape is {tuple(mc.shape)}")
        self.cfg, self.data, self.dist = cfg, data, dist
        dev = dist.device
        self.T = TextEncoder(len(data.vocab)).to(dev)
        self.I = ImageEncoder().to(dev)
        self.G = AttnGenerator(mc.z_dim, mc.width).to(dev)
        n_attr = data.attrs.shape[1] if cfg.attribute_weight > 0 else 0
        self.D0 = StageCritic(16, cfg.critic_width).to(dev)
        self.D1 = StageCritic(32, cfg.critic_width, attributes=n_attr).to(dev)
        for net in (self.G, self.D0, self.D1):
            dcgan_init(net)
        self.H = AttributeHeads(n_attr).to(dev) if n_attr else None
        betas = cfg.betas or (0.5, 0.999)
        self.damsm_params = [p for net in (self.T, self.I, self.H) if net is not None for p in net.parameters()]
        self.opt_damsm = make_optimizer("adam", self.damsm_params, cfg.lr_damsm, betas)
        self.opt_g = make_optimizer("adam", self.G.parameters(), cfg.lr_g or 2e-4, betas)
        self.opt_d = make_optimizer("adam", list(self.D0.parameters()) + list(self.D1.parameters()),
                                    cfg.lr_d or 2e-4, betas)
        self.g, self.d0, self.d1 = wrap(self.G, dist), wrap(self.D0, dist), wrap(self.D1, dist)
        self.t, self.i = wrap(self.T, dist), wrap(self.I, dist)
        self.h = wrap(self.H, dist) if self.H is not None else None
        self.done = 0                       # steps taken (the phase depends on it; saved with the run)
        self.samples_per_step = cfg.batch_size

    @property
    def nets(self) -> dict:
        nets = {"generator": self.G, "critic": self.D1, "critic_low": self.D0, "text_encoder": self.T,
                "image_encoder": self.I}
        return nets if self.H is None else {**nets, "attribute_heads": self.H}

    @property
    def optimizers(self) -> dict:
        return {"damsm": self.opt_damsm, "g": self.opt_g, "d": self.opt_d}

    def extra_state(self) -> dict:
        return {"done": torch.tensor(self.done)}

    def load_extra_state(self, st: dict) -> None:
        self.done = int(st.get("done", 0))

    def step(self, next_batch, measure: bool) -> dict:
        self.done += 1
        if self.done <= self.cfg.damsm_steps:
            return self.damsm_step(next_batch, measure)
        return self.gan_step(next_batch, measure)

    def damsm_step(self, next_batch, measure: bool) -> dict:
        dev = self.dist.device
        x, _, attrs, ids, lengths, stated = next_batch()
        x, ids, lengths, stated = x.to(dev), ids.to(dev), lengths.to(dev), stated.to(dev)
        self.T.train(), self.I.train()
        words, sentence = self.t(ids, lengths)
        regions, global_feat = self.i(x)
        word, sent = damsm_loss(regions, global_feat, words, sentence, lengths, same_meaning(stated))
        loss = word + sent
        stats = {"damsm_word": word.item(), "damsm_sentence": sent.item()}
        if self.h is not None:
            said, seen = self.h(sentence, global_feat)
            attr_text = stated_loss(said, stated)
            attr_image = F.binary_cross_entropy_with_logits(seen, attrs.to(dev).float())
            loss = loss + self.cfg.attribute_weight * (attr_text + attr_image)
            stats.update(attr_text=attr_text.item(), attr_image=attr_image.item())
        self.opt_damsm.zero_grad(set_to_none=True)
        loss.backward()
        if measure:
            stats["grad_norm_damsm"] = grad_norm(self.T) + grad_norm(self.I)
        torch.nn.utils.clip_grad_norm_(self.damsm_params, 1.0)
        self.opt_damsm.step()
        return stats

    def _text(self, ids, lengths):
        """The frozen text encoder's (words, sentence, attention mask: padding and unattended words)."""
        self.T.eval().requires_grad_(False)
        with torch.no_grad():
            words, sentence = self.T(ids, lengths)
        return words, sentence, self.data.vocab.attention_mask(ids, lengths)

    def gan_step(self, next_batch, measure: bool) -> dict:
        dev, cfg = self.dist.device, self.cfg
        x, _, attrs, ids, lengths, stated = next_batch()
        x, ids, lengths, stated = x.to(dev), ids.to(dev), lengths.to(dev), stated.to(dev)
        words, sentence, mask = self._text(ids, lengths)
        heads = cfg.attribute_weight > 0
        self.I.eval().requires_grad_(False)
        # the fakes: the first half's sentences twice, each with two z's, so the mode-seeking term can ask that
        # two z's given one sentence draw two different pictures (without it every seed drew the same face)
        half = x.shape[0] // 2
        pair = lambda t: torch.cat([t[:half], t[:half]])  # noqa: E731
        f_words, f_sentence, f_mask, f_lengths, f_stated = (pair(t) for t in (words, sentence, mask, lengths, stated))
        z = torch.randn(2 * half, cfg.model.z_dim, device=dev)
        fake0, fake1, _, mu, logvar = self.g(z, f_sentence, f_words, f_mask)
        reals = (F.avg_pool2d(x, 2), x)
        wrong = sentence.roll(1, 0)       # each real picture with another picture's sentence
        loss_d, stats = 0.0, {}
        for k, (d, real, fake) in enumerate(zip((self.d0, self.d1), reals, (fake0, fake1))):
            u_real, c_real, c_wrong, *a_real = d(real, sentence, wrong, attributes=heads and k == 1)
            u_fake, c_fake = d(fake.detach(), f_sentence)
            loss_d = loss_d + _bce(u_real, 1) + _bce(u_fake, 0) + _bce(c_real, 1) \
                + 0.5 * (_bce(c_fake, 0) + _bce(c_wrong, 0))
            if a_real:                      # the head learns every attribute of the real faces
                attr_d = F.binary_cross_entropy_with_logits(a_real[0], attrs.to(dev).float())
                loss_d = loss_d + cfg.attribute_weight * attr_d
                stats["attr_d"] = attr_d.item()
            if k == 1:
                stats.update(d_real=torch.sigmoid(c_real).mean().item(), d_fake=torch.sigmoid(c_fake).mean().item(),
                             d_wrong=torch.sigmoid(c_wrong).mean().item())
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if measure:
            stats["grad_norm_d"] = grad_norm(self.D0) + grad_norm(self.D1)
        self.opt_d.step()

        for net in (self.D0, self.D1):
            net.requires_grad_(False)
        gan, attr_g = 0.0, None
        for net, fake in ((self.D0, fake0), (self.D1, fake1)):
            # unwrapped: a frozen critic syncs nothing
            u, c, *a = net(fake, f_sentence, attributes=heads and net is self.D1)
            gan = gan + _bce(u, 1) + _bce(c, 1)
            if a:
                attr_g = stated_loss(a[0], f_stated)
                stats["attr_g"] = attr_g.item()
        for net in (self.D0, self.D1):
            net.requires_grad_(True)
        regions, global_feat = self.I(fake1)
        word, sent = damsm_loss(regions, global_feat, f_words, f_sentence, f_lengths, same_meaning(f_stated))
        kl = kl_term(mu, logvar)
        # mode seeking (Mao et al. 2019): pictures apart in proportion to their z's, for one sentence
        spread = (fake1[:half] - fake1[half:]).abs().mean() / (z[:half] - z[half:]).abs().mean()
        seek = 1.0 / (spread + 1e-5)
        loss_g = gan + cfg.damsm_weight * (word + sent) + cfg.kl_weight * kl + cfg.mode_seeking_weight * seek
        if attr_g is not None:
            loss_g = loss_g + cfg.attribute_weight * attr_g
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        if measure:
            stats["grad_norm_g"] = grad_norm(self.G)
            stats["diversity"] = fake1.detach().flatten(1).std(0).mean().item()
        self.opt_g.step()
        return {"loss_d": float(loss_d.item()), "loss_g": loss_g.item(), "gan_g": float(gan.item()),
                "damsm_g": (word + sent).item(), "kl": kl.item(), "seed_spread": spread.item(), **stats}

    @torch.no_grad()
    def preview(self):
        """A row per example sentence (explorer.data.captions.EXAMPLES), 8 seeds across."""
        from explorer.data.captions import EXAMPLES
        dev = self.dist.device
        was = self.G.training
        self.G.eval(), self.T.eval()
        try:
            ids, lengths = self.data.vocab.encode(EXAMPLES)
            ids, lengths = ids.to(dev), lengths.to(dev)
            words, sentence = self.T(ids, lengths)
            mask = self.data.vocab.attention_mask(ids, lengths)
            n = 8
            rows = []
            g = torch.Generator().manual_seed(PREVIEW_SEED)
            z = torch.randn(n, self.cfg.model.z_dim, generator=g).to(dev)
            for r in range(len(EXAMPLES)):
                rep = lambda t: t[r:r + 1].expand(n, *t.shape[1:])  # noqa: E731
                _, img, _, _, _ = self.G(z, rep(sentence), rep(words), rep(mask),
                                         ca_noise=torch.zeros(n, self.G.ca.out_features // 2, device=dev))
                rows.append(img)
            return grid(torch.cat(rows), nrow=n, scale=2)
        finally:
            self.G.train(was)
