"""AttnGAN (Xu et al. 2018), scaled to 32 x 32 faces: text encoder, attentional generator, per-stage critics,
and DAMSM, the image and text encoders trained to match image regions with words.

    words, sentence = TextEncoder(ids, lengths)            B x D x T, B x D   (bidirectional GRU)
    c = mu + sigma * eps, (mu, log sigma^2) = CA(sentence)   conditioning augmentation
    stage 0: [z, c] -> 16 x 16 features h0 -> a 16 x 16 picture
    stage 1: h0 up to 32 x 32 -> each region attends over the words (word-context vectors) -> [h, context]
             -> residual blocks -> the 32 x 32 picture; the attention maps (one per word) are what the Text tab shows
    critics: one per stage, each with an unconditional score and a score given the sentence
    DAMSM: ImageEncoder gives 8 x 8 region features and one global feature in the text encoder's space; the
           word-level and sentence-level matching losses train both encoders, and later score the generator.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TEXT_DIM = 64      # word / sentence / region feature size (DAMSM's common space)
EMBED_DIM = 48     # word embedding size
COND_DIM = 32      # conditioning augmentation's output
GAMMA1, GAMMA2, GAMMA3 = 4.0, 5.0, 10.0   # DAMSM's attention sharpness, word aggregation, softmax scale (paper)


class TextEncoder(nn.Module):
    """Word ids -> one feature per word (B x D x T) and one for the sentence (B x D): a bidirectional GRU."""

    def __init__(self, vocab_size: int, dim: int = TEXT_DIM, embed: int = EMBED_DIM):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.rnn = nn.GRU(embed, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor):
        b, t = ids.shape
        emb = self.embed(ids)
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.cpu().clamp(min=1), batch_first=True,
                                                   enforce_sorted=False)
        out, h = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)
        return out.transpose(1, 2), h.transpose(0, 1).reshape(b, -1)


def word_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """B x T, True where there is no word (padding)."""
    return torch.arange(t, device=lengths.device)[None, :] >= lengths[:, None]


class ImageEncoder(nn.Module):
    """DAMSM's image side: a 32 x 32 picture -> region features B x D x 8 x 8 and a global feature B x D."""

    def __init__(self, dim: int = TEXT_DIM, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),      # 16
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True))  # 8
        self.regions = nn.Conv2d(4 * w, dim, 1)
        self.tail = nn.Sequential(nn.Conv2d(4 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),
                                  nn.Flatten(), nn.Linear(4 * w * 16, dim))

    def forward(self, x: torch.Tensor):
        h = self.body(x)
        return self.regions(h), self.tail(h)


def attend(query: torch.Tensor, words: torch.Tensor, mask: torch.Tensor | None, sharpness: float = 1.0):
    """Each of N query vectors (B x C x N) attends over T words (B x C x T): returns the context (B x C x N)
    and the attention (B x T x N; over the words, each column sums to 1)."""
    s = sharpness * torch.bmm(query.transpose(1, 2), words)            # B x N x T
    if mask is not None:
        s = s.masked_fill(mask[:, None, :], float("-inf"))
    a = torch.softmax(s, dim=2)
    return torch.bmm(words, a.transpose(1, 2)), a.transpose(1, 2)


class _Up(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(True))


class _Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True),
                               nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return torch.relu(x + self.f(x))


class AttnGenerator(nn.Module):
    """z and a sentence's features -> pictures at 16 x 16 and 32 x 32 (and the 32 x 32 stage's attention)."""

    def __init__(self, z_dim: int, width: int = 32, dim: int = TEXT_DIM, cond: int = COND_DIM):
        super().__init__()
        g = width
        self.z_dim = z_dim
        self.ca = nn.Linear(dim, 2 * cond)                     # conditioning augmentation: mean, log-variance
        self.fc = nn.Sequential(nn.Linear(z_dim + cond, 4 * g * 16, bias=False), nn.BatchNorm1d(4 * g * 16),
                                nn.ReLU(True))
        self.stage0 = nn.Sequential(_Up(4 * g, 2 * g), _Up(2 * g, g))          # 4 -> 8 -> 16
        self.img0 = nn.Sequential(nn.Conv2d(g, 3, 3, 1, 1), nn.Tanh())
        self.up1 = _Up(g, g)                                                    # 16 -> 32
        self.word_proj = nn.Conv1d(dim, g, 1, bias=False)                       # words into the regions' space
        self.null = nn.Parameter(torch.zeros(1, g, 1))     # a "no word" slot: a region may attend to no word
        self.stage1 = nn.Sequential(nn.Conv2d(2 * g, g, 3, 1, 1, bias=False), nn.BatchNorm2d(g), nn.ReLU(True),
                                    _Residual(g), _Residual(g))
        self.img1 = nn.Sequential(nn.Conv2d(g, 3, 3, 1, 1), nn.Tanh())

    def augment(self, sentence: torch.Tensor, noise: torch.Tensor | None = None):
        """(c, mu, logvar): c = mu + sigma * noise (noise: standard normal, drawn when not given; zeros: the mean)."""
        mu, logvar = self.ca(sentence).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        noise = torch.randn_like(mu) if noise is None else noise
        return mu + noise * torch.exp(0.5 * logvar), mu, logvar

    def forward(self, z, sentence, words, mask, ca_noise=None):
        """-> (picture 16 x 16, picture 32 x 32, attention B x T x 32 x 32, mu, logvar). mask (B x T): words
        no region attends to (padding, unattended words); what a region gives no word goes to the null slot, so a
        word's map shows only the regions that chose it."""
        c, mu, logvar = self.augment(sentence, ca_noise)
        h = self.fc(torch.cat([z, c], 1)).view(z.shape[0], -1, 4, 4)
        h0 = self.stage0(h)
        h1 = self.up1(h0)
        b, ch, hh, ww = h1.shape
        slots = torch.cat([self.null.expand(b, -1, -1), self.word_proj(words)], 2)
        context, attn = attend(h1.flatten(2), slots, F.pad(mask, (1, 0), value=False))
        h1 = self.stage1(torch.cat([h1, context.view(b, ch, hh, ww)], 1))
        return self.img0(h0), self.img1(h1), attn[:, 1:].reshape(b, -1, hh, ww), mu, logvar


class AttributeHeads(nn.Module):
    """DAMSM's attribute read-outs: a linear map from the sentence feature to what the sentence states, and one
    from the picture's global feature to the face's attributes. Trained beside DAMSM, they make both encoders
    carry every attribute (without them a linear read of the sentence feature told "smiling" from "not smiling" on
    75-95 % of sentences, every other attribute on 100 %, and the generator drew Smiling as stated on 82 %)."""

    def __init__(self, attributes: int, dim: int = TEXT_DIM):
        super().__init__()
        self.text, self.image = nn.Linear(dim, attributes), nn.Linear(dim, attributes)

    def forward(self, sentence: torch.Tensor, global_feat: torch.Tensor):
        return self.text(sentence), self.image(global_feat)


class StageCritic(nn.Module):
    """One stage's critic: pictures at `size` -> (unconditional logits, logits given the sentence). With
    `attributes` > 0 it also has an attribute head (TAC-GAN, Dash et al. 2017): a logit per attribute."""

    def __init__(self, size: int, width: int = 32, dim: int = TEXT_DIM, attributes: int = 0):
        super().__init__()
        w, layers, c, s = width, [], 3, size
        while s > 4:
            out = w if c == 3 else 2 * c
            layers += [nn.Conv2d(c, out, 4, 2, 1, bias=c != 3)]
            layers += [nn.LeakyReLU(0.2, True)] if c == 3 else [nn.BatchNorm2d(out), nn.LeakyReLU(0.2, True)]
            c, s = out, s // 2
        self.body = nn.Sequential(*layers)                     # -> c x 4 x 4
        self.uncond = nn.Conv2d(c, 1, 4)
        self.joint = nn.Sequential(nn.Conv2d(c + dim, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c),
                                   nn.LeakyReLU(0.2, True), nn.Conv2d(c, 1, 4))
        self.attributes = nn.Conv2d(c, attributes, 4) if attributes else None

    def features(self, x):
        return self.body(x)

    def scores(self, h, sentence):
        cond = sentence[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        return self.uncond(h).flatten(), self.joint(torch.cat([h, cond], 1)).flatten()

    def forward(self, x, sentence, wrong: torch.Tensor | None = None, attributes: bool = False):
        """(unconditional, given the sentence) logits; with `wrong` sentences also the logits given those; with
        `attributes` also the attribute head's N x A logits (last)."""
        h = self.features(x)
        out = self.scores(h, sentence)
        if wrong is not None:
            out += (self.scores(h, wrong)[1],)
        if attributes:
            if self.attributes is None:
                raise ValueError("this critic has no attribute head")
            out += (self.attributes(h).flatten(1),)
        return out


def _cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).t()


def word_match_scores(regions: torch.Tensor, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """DAMSM's word-level relevance R(Q_i, D_j) for every picture i and sentence j: each word of sentence j
    attends over picture i's regions (word-normalised similarities, sharpened by GAMMA1), its context is compared
    with the word by cosine, and the words are pooled by log-sum-exp (GAMMA2). regions B x D x R, words B x D x T
    -> B x B (rows: pictures, columns: sentences)."""
    t = int(lengths.max())
    words = words[:, :, :t]
    pad = word_mask(lengths, t)                                           # B x T (sentences)
    s = torch.einsum("jdt,idr->ijtr", words, regions)                    # B x B x T x R
    s = torch.softmax(s.masked_fill(pad[None, :, :, None], float("-inf")), dim=2)   # over the words (s-bar)
    s = s.masked_fill(pad[None, :, :, None], 0.0)
    a = torch.softmax(GAMMA1 * s, dim=3)                                  # each word over the regions
    context = torch.einsum("ijtr,idr->ijdt", a, regions)                  # B x B x D x T
    r = F.cosine_similarity(context, words[None], dim=2)                  # B x B x T
    r = (GAMMA2 * r).masked_fill(pad[None], float("-inf"))
    return torch.logsumexp(r, dim=2) / GAMMA2


def damsm_loss(regions, global_feat, words, sentence, lengths, same: torch.Tensor | None = None):
    """(word-level loss, sentence-level loss): cross-entropies of matching each picture to its own sentence and
    each sentence to its own picture among the batch's (GAMMA3 x relevance as logits). `same` (B x B, True where
    two sentences say the same thing) masks pairs that are not really wrong."""
    target = torch.arange(regions.shape[0], device=regions.device)
    word_r = GAMMA3 * word_match_scores(regions.flatten(2), words, lengths)
    sent_r = GAMMA3 * _cosine_matrix(global_feat, sentence)
    if same is not None:
        off = same & ~torch.eye(len(target), dtype=torch.bool, device=regions.device)
        word_r, sent_r = word_r.masked_fill(off, float("-inf")), sent_r.masked_fill(off, float("-inf"))
    word = F.cross_entropy(word_r, target) + F.cross_entropy(word_r.t(), target)
    sent = F.cross_entropy(sent_r, target) + F.cross_entropy(sent_r.t(), target)
    return word, sent


class TextToImage:
    """What the Text tab, the `text` CLI and `eval` talk to: a trained AttnGAN with its vocabulary.

    draw(captions, z) -> {"images": N x 3 x 32 x 32, "low": N x 3 x 16 x 16 (the first stage), "attention":
    N x T x 32 x 32 (each word's share of every region's attention; unattended words and padding 0), "words":
    the parsed words per caption}.
    Conditioning augmentation draws at its mean, so the same sentence and z always give the same picture."""

    def __init__(self, generator: AttnGenerator, text: TextEncoder, image: ImageEncoder | None, vocab, cfg,
                 attributes=(), name: str = "", meta: dict | None = None):
        self.G, self.T = generator.eval(), text.eval()
        self.I = image.eval() if image is not None else None
        self.vocab, self.cfg, self.name, self.meta = vocab, cfg, name, meta or {}
        self.z_dim = cfg.z_dim
        self.image_shape = tuple(cfg.shape)
        self.attributes = tuple(attributes)

    def sample_z(self, n: int, seed: int) -> torch.Tensor:
        """The same latents as every other generator's for a seed (numpy's RandomState, standard normal)."""
        import numpy as np
        z = np.random.RandomState(seed % 2**32).standard_normal((n, self.z_dim))
        return torch.from_numpy(z.astype("float32"))

    @torch.no_grad()
    def encode_text(self, captions):
        """(words B x D x T, sentence B x D, attention mask B x T, parsed words per caption)."""
        parsed = [self.vocab.parse(c) for c in captions]
        ids, lengths = self.vocab.encode_words(parsed)
        words, sentence = self.T(ids, lengths)
        return words, sentence, self.vocab.attention_mask(ids, lengths), parsed

    @torch.no_grad()
    def draw(self, captions, z: torch.Tensor) -> dict:
        captions = [captions] if isinstance(captions, str) else list(captions)
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (n, {self.z_dim}), got {tuple(z.shape)}")
        if len(captions) == 1 and z.shape[0] > 1:
            captions = captions * z.shape[0]
        if len(captions) != z.shape[0]:
            raise ValueError(f"{len(captions)} captions for {z.shape[0]} latents")
        words, sentence, mask, parsed = self.encode_text(captions)
        noise = torch.zeros(z.shape[0], self.G.ca.out_features // 2)
        low, images, attention, _, _ = self.G(z, sentence, words, mask, ca_noise=noise)
        return {"images": images, "low": low, "attention": attention, "words": parsed, "sentence": sentence}

    @torch.no_grad()
    def match(self, images: torch.Tensor, captions) -> torch.Tensor:
        """DAMSM's sentence-level match: cosine between each picture's global feature and each caption's
        sentence feature, N x M (what R-precision ranks by)."""
        if self.I is None:
            raise ValueError(f"'{self.name}' has no DAMSM image encoder (image_encoder.safetensors)")
        _, sentence, _, _ = self.encode_text(captions)
        _, global_feat = self.I(images)
        return _cosine_matrix(global_feat, sentence)
