"""The words a text-to-image model reads: a fixed vocabulary (saved with the model), and the one door a typed
sentence goes through before any model sees it."""
from __future__ import annotations

import difflib
import re

import torch

from explorer.errors import ConfigError, DataError

MAX_WORDS = 40        # longest sentence a model reads (the caption composer's longest is 31 words)
PAD = "<pad>"         # word id 0: padding after the last word


def words_of(text: str) -> list[str]:
    """Lower-case words, punctuation and digits dropped."""
    return re.findall(r"[a-z]+", text.lower())


class Vocabulary:
    """Word <-> id, fixed; id 0 is padding. parse() is the one door a typed sentence goes through."""

    def __init__(self, words, unattended=()):
        words = tuple(words)
        if not words or words[0] != PAD or len(set(words)) != len(words):
            raise ConfigError("a vocabulary starts with the padding word and holds each word once")
        self.words = words
        self.ids = {w: i for i, w in enumerate(words)}
        if not set(unattended) <= set(words[1:]):
            raise ConfigError("the unattended words must be words of the vocabulary")
        self.unattended = tuple(w for w in words if w in set(unattended))
        self.unattended_ids = torch.tensor([self.ids[w] for w in self.unattended], dtype=torch.long)

    def attention_mask(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """B x T, True where the generator's regions must not attend: padding and the unattended words."""
        pad = torch.arange(ids.shape[1], device=ids.device)[None, :] >= lengths[:, None]
        return pad | torch.isin(ids, self.unattended_ids.to(ids.device))

    def __len__(self) -> int:
        return len(self.words)

    def nearest(self, word: str, n: int = 4) -> list[str]:
        close = difflib.get_close_matches(word, self.words[1:], n=n, cutoff=0.5)
        return close or difflib.get_close_matches(word, self.words[1:], n=n, cutoff=0.0)

    def parse(self, sentence) -> list[str]:
        """The sentence's words (lower case, punctuation dropped); refuses what a model cannot read, naming the
        nearest known words for each unknown one."""
        if not isinstance(sentence, str):
            raise DataError(f"a caption is text; got {type(sentence).__name__}")
        if len(sentence) > 20 * MAX_WORDS:
            raise DataError(f"the caption is too long ({len(sentence):,} characters): at most {MAX_WORDS} words")
        words = words_of(sentence)
        if not words:
            raise DataError("the caption is empty: type a sentence, e.g. \"a smiling face with long blond hair and "
                            "sunglasses\"")
        if len(words) > MAX_WORDS:
            raise DataError(f"the caption has {len(words)} words; at most {MAX_WORDS}")
        unknown = [w for w in dict.fromkeys(words) if w not in self.ids]
        if unknown:
            hints = "; ".join(f"'{w}': try {', '.join(self.nearest(w))}" for w in unknown[:5])
            raise DataError(f"{'this word is' if len(unknown) == 1 else 'these words are'} not in the model's "
                            f"vocabulary of {len(self) - 1} words ({hints})")
        return words

    def encode(self, sentences) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids n x MAX_WORDS int64, lengths n) for checked sentences."""
        return self.encode_words([self.parse(s) for s in sentences])

    def encode_words(self, parsed) -> tuple[torch.Tensor, torch.Tensor]:
        """The same for sentences already parsed (lists of known words)."""
        rows = [[self.ids[w] for w in words] for words in parsed]
        ids = torch.zeros(len(rows), MAX_WORDS, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
        return ids, torch.tensor([len(r) for r in rows], dtype=torch.long)

    def decode(self, ids, length: int) -> str:
        return " ".join(self.words[int(i)] for i in ids[:length])
