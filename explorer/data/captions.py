"""Sentences about the rendered faces, composed from their exact attributes and nuisance, for text-to-image.

Each face gets CAPTIONS_PER_FACE sentences, each stating a random subset of its seven attributes (present or
absent) and sometimes its hair colour, hat colour or background, in varied order, templates and synonyms:

    "a smiling face with long blond hair and sunglasses"
    "someone in a red hat, not smiling, with a beard"

What a sentence states is kept beside it (`stated`: +1 present, -1 absent, 0 unsaid, per attribute), so an
evaluation knows the exact answer a caption asks for. The vocabulary (`vocabulary()`: every word any template can
produce) is saved with a trained model; explorer.vocabulary's `parse` turns a typed sentence into words and
refuses words outside it with the nearest known ones; `read_statements` reads what a typed sentence asks for.
"""
from __future__ import annotations

import colorsys
import re
from pathlib import Path

import numpy as np
import torch

from explorer.data import DATASETS
from explorer.data.base import DatasetInfo, TensorData
from explorer.errors import ConfigError
from explorer.vocabulary import MAX_WORDS, PAD, Vocabulary, words_of

CAPTIONS_PER_FACE = 3
STATE_P = 0.6         # each attribute is stated with this probability (at least two per sentence)
BACKGROUND_P = 0.35   # ... the background colour with this one

DARK_NAMES = ("black", "brown", "brown", "auburn")          # explorer.data.faces.DARK_HAIR, in order
BLOND_WORDS = ("blond", "blonde", "golden", "fair")
DARK_WORDS = ("dark",)                                       # any hair that is not blond
HAT_NAMES = ("blue", "green", "purple", "red", "teal", "orange")   # explorer.data.faces.HATS, in order
HUE_NAMES = ((0.04, "red"), (0.11, "orange"), (0.19, "yellow"), (0.45, "green"), (0.53, "teal"), (0.72, "blue"),
             (0.83, "purple"), (0.93, "pink"), (1.01, "red"))

SUBJECT_NOUNS = ("face", "person", "man or woman")
SUBJECTS = ("someone", "a portrait of someone")

# Per attribute: phrases after "with" (nouns), phrases that stand alone (clauses) and adjectives before the
# subject's noun, for the attribute present (True) and absent (False). {hat} is the hat's colour word or nothing.
PHRASES = {
    "Sunglasses": {
        True: {"noun": ("sunglasses", "dark glasses", "shades"),
               "clause": ("wearing sunglasses", "in sunglasses", "wearing shades"), "adj": ()},
        False: {"noun": ("no sunglasses", "no glasses"),
                "clause": ("not wearing sunglasses", "without sunglasses", "without glasses"), "adj": ()},
    },
    "Smiling": {
        True: {"noun": ("a smile", "a big smile", "a grin"), "clause": ("smiling", "grinning", "laughing"),
               "adj": ("smiling", "happy")},
        False: {"noun": ("a straight face", "no smile"), "clause": ("not smiling", "looking serious", "unsmiling"),
                "adj": ("serious", "unsmiling")},
    },
    "Beard": {
        True: {"noun": ("a beard", "a full beard"), "clause": ("bearded",), "adj": ("bearded",)},
        False: {"noun": ("no beard",), "clause": ("clean shaven", "beardless", "without a beard"),
                "adj": ("beardless", "clean shaven")},
    },
    "Hat": {
        True: {"noun": ("a {hat} hat", "a {hat} cap", "a hat"),
               "clause": ("wearing a {hat} hat", "in a {hat} hat", "wearing a {hat} cap"), "adj": ()},
        False: {"noun": ("no hat",), "clause": ("without a hat", "bareheaded", "not wearing a hat"), "adj": ()},
    },
    "Wide_Face": {
        True: {"noun": ("a wide face", "a broad face", "a round face"), "clause": ("wide faced", "broad faced"),
               "adj": ()},
        False: {"noun": ("a narrow face", "a thin face", "a slim face"), "clause": ("narrow faced", "thin faced"),
                "adj": ()},
    },
}
LONG_WORDS = {True: ("long",), False: ("short", "cropped")}
BALD = {"noun": ("a bald head", "a shaved head", "no hair"), "clause": ("bald",), "adj": ("bald",)}
BACKGROUND = {"noun": ("a {bg} background", "a {bg} backdrop"),
              "clause": ("on a {bg} background", "in front of a {bg} wall", "against a {bg} backdrop")}
FILLERS = ("a", "an", "with", "and", "of")
# words that name no part of a picture: the generator's regions do not attend to them (they attend to a learnt
# "no word" slot instead), so each region's attention goes to the words that say what to draw there
UNATTENDED = ("a", "an", "and", "with", "of", "or", "in", "on", "someone", "person", "man", "woman", "portrait")


def vocabulary() -> tuple[str, ...]:
    """Every word the composer can write, sorted, after PAD (id 0)."""
    words: set[str] = set(FILLERS)
    texts = [*SUBJECT_NOUNS, *SUBJECTS, *DARK_NAMES, *BLOND_WORDS, *DARK_WORDS, *HAT_NAMES,
             *(n for _, n in HUE_NAMES), "hair", "haired", *BALD["noun"], *BALD["clause"], *BALD["adj"],
             *LONG_WORDS[True], *LONG_WORDS[False], *BACKGROUND["noun"], *BACKGROUND["clause"]]
    for by_value in PHRASES.values():
        for forms in by_value.values():
            for phrases in forms.values():
                texts.extend(phrases)
    for t in texts:
        words.update(words_of(t.replace("{hat}", "").replace("{bg}", "")))
    return (PAD, *sorted(words))


def _hue_name(rgb: np.ndarray) -> str:
    h, _, _ = colorsys.rgb_to_hsv(*(np.asarray(rgb, dtype=float) / 255.0))
    return next(name for top, name in HUE_NAMES if h < top)


def face_facts(attrs: np.ndarray, stream: int) -> list[dict]:
    """Per face of a rendered set (attributes n x A, the renderer's seed stream): what a sentence can say
    besides its attributes (hair colour word, bald, hat colour, background colour), from the renderer's own
    nuisance draws."""
    from explorer.data.faces import CHUNK, DARK_HAIR, HATS, _nuisance
    facts, chunk, f = [], -1, None
    for i, a in enumerate(np.asarray(attrs).astype(bool)):
        if i // CHUNK != chunk:
            chunk = i // CHUNK
            f = _nuisance(stream, chunk)
        j = i % CHUNK
        long_hair, blond = a[4], a[5]
        dark = int(np.argmin(np.abs(DARK_HAIR - f["beard_bald"][j]).sum(1)))
        facts.append({
            "bald": bool(f["bald"][j]) and not long_hair and not blond,
            "dark_name": DARK_NAMES[dark],
            "hat": HAT_NAMES[int(np.argmin(np.abs(HATS - f["hat"][j]).sum(1)))],
            "background": _hue_name(f["background"][j]),
        })
    return facts


def compose(a: np.ndarray, facts: dict, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """One sentence about a face (attributes a in ATTRIBUTES order) and what it states: A values of
    +1 (said present), -1 (said absent) or 0 (not said)."""
    from explorer.data.faces import ATTRIBUTES
    a = np.asarray(a).astype(bool)
    k = {name: i for i, name in enumerate(ATTRIBUTES)}
    stated = np.zeros(len(ATTRIBUTES), dtype=np.int8)
    say = rng.random(len(ATTRIBUTES)) < STATE_P
    while say.sum() < 2:
        say[rng.integers(len(ATTRIBUTES))] = True
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    items: list[dict] = []    # each: {"noun": [...], "clause": [...], "adj": [...]}
    for name, by_value in PHRASES.items():
        if say[k[name]]:
            v = bool(a[k[name]])
            stated[k[name]] = 1 if v else -1
            hat = pick((facts["hat"], facts["hat"], "")) if name == "Hat" else ""
            items.append({f: [p.replace("{hat}", hat).replace("  ", " ") for p in ps]
                          for f, ps in by_value[v].items()})
    say_long, say_blond = say[k["Long_Hair"]], say[k["Blond_Hair"]]
    if say_long or say_blond:
        long_hair, blond = bool(a[k["Long_Hair"]]), bool(a[k["Blond_Hair"]])
        stated[k["Long_Hair"]] = (1 if long_hair else -1) if say_long else 0
        stated[k["Blond_Hair"]] = (1 if blond else -1) if say_blond else 0
        if facts["bald"]:       # bald says both: short, and not blond
            stated[k["Long_Hair"]], stated[k["Blond_Hair"]] = -1, -1
            items.append({f: list(v) for f, v in BALD.items()})
        else:
            colour = pick(BLOND_WORDS) if blond else pick((facts["dark_name"], facts["dark_name"], *DARK_WORDS))
            length = pick(LONG_WORDS[long_hair])
            hair = " ".join(w for w, s in ((length, say_long), (colour, say_blond)) if s)
            items.append({"noun": [f"{hair} hair"], "clause": [f"{hair} haired"] if " " not in hair else [],
                          "adj": [colour] if say_blond and not say_long and blond else []})
    if rng.random() < BACKGROUND_P:
        items.append({f: [p.replace("{bg}", facts["background"]) for p in ps] for f, ps in BACKGROUND.items()})
    order = rng.permutation(len(items))
    adjective, nouns, clauses = None, [], []
    for j in order:
        forms = items[j]
        choices = [f for f in ("noun", "clause", "adj") if forms.get(f)]
        if adjective is not None and "adj" in choices:
            choices.remove("adj")
        form = pick(choices)
        phrase = pick(forms[form])
        if form == "adj":
            adjective = phrase
        else:
            (nouns if form == "noun" else clauses).append(phrase)
    if adjective is None and rng.random() < 0.4:
        subject = pick(SUBJECTS)
    else:
        noun = pick(SUBJECT_NOUNS)
        head = f"{adjective} {noun}" if adjective else noun
        subject = f"{'an' if head[0] in 'aeiou' else 'a'} {head}"
        if rng.random() < 0.2:
            subject = f"a portrait of {subject}"
    parts = []
    if nouns:
        parts.append("with " + (nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]))
    parts = clauses + parts if rng.random() < 0.5 else parts + clauses
    sentence = subject + (("," if parts[0] in clauses else "") + " " + ", ".join(parts) if parts else "")
    return re.sub(r"\ba (?=[aeiou])", "an ", sentence), stated


class CaptionData(TensorData):
    """Faces (x, attrs as TensorData) with CAPTIONS_PER_FACE sentences each: `tokens` n x K x MAX_WORDS,
    `lengths` n x K, `stated` n x K x A, `captions` (the text). get_batch returns (x, y, attrs, tokens, lengths,
    stated), one of each face's sentences drawn with torch's global random state (saved with a run)."""

    def __init__(self, x, attrs, captions: list[list[str]], stated: np.ndarray, vocab: Vocabulary,
                 info: DatasetInfo):
        super().__init__(x, None, attrs, info)
        self.captions, self.vocab = captions, vocab
        flat = [s for per_face in captions for s in per_face]
        tokens, lengths = vocab.encode(flat)
        k = len(captions[0])
        self.tokens = tokens.view(len(captions), k, MAX_WORDS)
        self.lengths = lengths.view(len(captions), k)
        self.stated = torch.from_numpy(np.ascontiguousarray(stated))

    def get_batch(self, idx: torch.Tensor):
        x, y, attrs = super().get_batch(idx)
        j = torch.randint(0, self.tokens.shape[1], (len(idx),))
        return x, y, attrs, self.tokens[idx, j], self.lengths[idx, j], self.stated[idx, j]

    def __getitem__(self, i: int):
        return tuple(t[0] for t in self.get_batch(torch.tensor([i])))


CAPTION_DATASETS = ("faces-captions",)


def check_caption_data(task: str, dataset: str) -> None:
    """Text-to-image learns from pictures with sentences, and only it does; checked from the names alone."""
    if task == "attngan" and dataset not in CAPTION_DATASETS:
        raise ConfigError(f"attngan learns from pictures with sentences ({', '.join(CAPTION_DATASETS)}); "
                          f"'{dataset}' has none")
    if task != "attngan" and dataset in CAPTION_DATASETS:
        raise ConfigError(f"'{dataset}' holds pictures with sentences, for the attngan task, not a {task} task")


def captions_for(attrs: np.ndarray, stream: int, k: int = CAPTIONS_PER_FACE) -> tuple[list[list[str]], np.ndarray]:
    """k sentences per face of a rendered set and what each states (n x k x A), deterministic in the stream."""
    facts = face_facts(attrs, stream)
    rng = np.random.default_rng([stream, 7])
    captions, stated = [], np.zeros((len(facts), k, attrs.shape[1]), dtype=np.int8)
    for i, (a, f) in enumerate(zip(attrs, facts)):
        row = []
        for j in range(k):
            s, st = compose(a, f, rng)
            row.append(s)
            stated[i, j] = st
        captions.append(row)
    return captions, stated


@DATASETS.register("faces-captions")
def faces_captions(root: Path, where: str, split: str = "train", image_size: int = 32, correlation: float = 0.0,
                   n: int | None = None, seed: int = 0) -> CaptionData:
    """The faces dataset's own faces (same split, seed and cache), each with CAPTIONS_PER_FACE sentences."""
    from explorer.data.faces import load_faces
    faces = load_faces(root, split, image_size, correlation, n, seed)
    stream = 2 * seed + (split == "test")          # the stream load_faces rendered with
    captions, stated = captions_for(faces.attrs.numpy().astype(np.uint8), stream)
    info = DatasetInfo("faces-captions", "image", faces.info.shape, (), faces.info.attribute_names,
                       options={**faces.info.options})
    return CaptionData(faces.x, faces.attrs, captions, stated, Vocabulary(vocabulary(), UNATTENDED), info)


# the sentences of every training preview and of the Text tab's examples: one attribute changed at a time
EXAMPLES = (
    "a smiling face with long blond hair and sunglasses",
    "someone in a red hat, not smiling, with a beard",
    "a person with short black hair and a wide face",
    "a bald man or woman with a beard, wearing sunglasses",
    "a smiling person with long brown hair and no hat",
    "a serious face with long blond hair and no sunglasses",
    "someone in a blue hat, smiling, with a narrow face",
    "a bearded person with a green cap, on a yellow background",
)


# What a typed sentence asks for, read with the composer's own phrases: (attribute, +1 or -1, word sequences),
# the negative ones first, so "no hat" is read as no hat and never again as a hat.
_READINGS = (
    ("Sunglasses", -1, ("no sunglasses", "no glasses", "without sunglasses", "without glasses",
                        "not wearing sunglasses", "not wearing glasses", "not wearing shades", "no shades")),
    ("Sunglasses", 1, ("sunglasses", "dark glasses", "glasses", "shades")),
    ("Smiling", -1, ("not smiling", "no smile", "straight face", "serious", "unsmiling")),
    ("Smiling", 1, ("smiling", "smile", "grin", "grinning", "laughing", "happy")),
    ("Beard", -1, ("no beard", "without a beard", "beardless", "clean shaven")),
    ("Beard", 1, ("beard", "bearded")),
    ("Hat", -1, ("no hat", "without a hat", "not wearing a hat", "bareheaded", "no cap", "without a cap")),
    ("Hat", 1, ("hat", "cap")),
    ("Wide_Face", -1, ("narrow face", "thin face", "slim face", "narrow faced", "thin faced", "narrow", "slim")),
    ("Wide_Face", 1, ("wide face", "broad face", "round face", "wide faced", "broad faced", "wide", "broad")),
    ("Long_Hair", -1, ("short", "cropped", "bald", "shaved head", "no hair")),
    ("Long_Hair", 1, ("long",)),
    ("Blond_Hair", -1, ("bald", "shaved head", "no hair", *(f"{c} hair" for c in (*DARK_NAMES, *DARK_WORDS)),
                        *(f"{c} haired" for c in (*DARK_NAMES, *DARK_WORDS)))),
    ("Blond_Hair", 1, BLOND_WORDS),
)


def read_statements(words) -> dict[str, int]:
    """What a sentence (a string or its parsed words) says about each attribute: +1 present, -1 absent; an
    attribute it does not mention is left out. "thin" on its own counts as a thin face."""
    words = words_of(words) if isinstance(words, str) else list(words)
    text = " " + " ".join(words) + " "
    out: dict[str, int] = {}
    for attribute, value, phrases in _READINGS:     # an attribute's negative phrases come before its positive ones
        if attribute not in out and any(f" {p} " in text for p in phrases):
            out[attribute] = value
    return out
