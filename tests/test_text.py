"""Text to image (issue 21): the captions, the vocabulary and its parser, AttnGAN trained tiny, its eval, the
`text` CLI and the Text tab's service."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from conftest import assert_one_line_error, run_cli
from explorer.data import load_dataset
from explorer.data.captions import EXAMPLES, captions_for, check_caption_data, read_statements, vocabulary
from explorer.data.faces import ATTRIBUTES, sample_attributes
from explorer.errors import CheckpointError, ConfigError, DataError
from explorer.models import ModelConfig
from explorer.models.text import attend, word_mask, word_match_scores
from explorer.store.checkpoint import load_text_model
from explorer.store.config import TrainConfig
from explorer.training.attngan import stated_loss
from explorer.training.loop import resume_config, train
from explorer.vocabulary import MAX_WORDS, Vocabulary

FACES = (3, 32, 32)


def tiny(**kw) -> TrainConfig:
    base = dict(task="attngan", dataset="faces-captions", data_options={"n": 64, "correlation": 0.0},
                model=ModelConfig(arch="attngan", z_dim=8, width=8, shape=FACES), steps=6, damsm_steps=3,
                batch_size=8, critic_width=8, ema_decay=0.0, log_every=1, sample_every=100, checkpoint_every=100,
                judge="judge")
    return TrainConfig(**{**base, **kw}).validated()


@pytest.fixture(scope="module")
def text_root(tmp_path_factory):
    """A tiny trained AttnGAN 'words' and an untrained attribute judge 'judge' in one checkpoints folder."""
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from ui_helpers import make_faces
    root = tmp_path_factory.mktemp("text")
    make_faces(root)
    train(tiny(attribute_weight=1.0), root / "words", data_root=root / "data", progress=False)
    return root


# ---------- sentences ----------

def test_every_composed_sentence_parses_and_says_exactly_what_the_face_is():
    attrs = sample_attributes(400, 0.0, 5)
    captions, stated = captions_for(attrs, 5)
    vocab = Vocabulary(vocabulary())
    for i, row in enumerate(captions):
        for j, sentence in enumerate(row):
            words = vocab.parse(sentence)
            assert 3 <= len(words) <= MAX_WORDS
            said = stated[i, j]
            assert (said != 0).sum() >= 2, sentence
            # what the sentence states is true of the face it describes
            assert all(attrs[i, k] == (said[k] > 0) for k in range(len(ATTRIBUTES)) if said[k]), sentence
            # and reading the words back gives exactly what was stated
            read = read_statements(words)
            assert [read.get(a, 0) for a in ATTRIBUTES] == said.tolist(), sentence
    flat = [s for row in captions for s in row]
    assert len(set(flat)) > 0.9 * len(flat)         # wording varies: templates, order, synonyms
    assert any(s.startswith("someone") for s in flat) and any(", " in s for s in flat)


def test_the_same_seed_gives_the_same_sentences():
    attrs = sample_attributes(30, 0.0, 2)
    assert captions_for(attrs, 2)[0] == captions_for(attrs, 2)[0]
    assert captions_for(attrs, 2)[0] != captions_for(attrs, 3)[0]


def test_reading_typed_sentences():
    assert read_statements("a smiling face with long blond hair and sunglasses") == {
        "Smiling": 1, "Long_Hair": 1, "Blond_Hair": 1, "Sunglasses": 1}
    assert read_statements("Someone in a red hat, NOT smiling, with a beard.") == {
        "Hat": 1, "Smiling": -1, "Beard": 1}
    assert read_statements("a person with no hat and dark glasses") == {"Hat": -1, "Sunglasses": 1}
    assert read_statements("a bald person") == {"Long_Hair": -1, "Blond_Hair": -1}


@pytest.mark.parametrize("sentence, fragments", [
    ("", ["empty"]),
    ("   ,,, !! ", ["empty"]),
    ("a smiling fase", ["'fase'", "face"]),
    ("a face with purple hare and a moustache", ["these words", "'hare'", "'moustache'", "hair"]),
    (" ".join(["face"] * 1000), ["too long"]),
    (" ".join(["face"] * (MAX_WORDS + 1)), [f"{MAX_WORDS + 1} words", f"at most {MAX_WORDS}"]),
    (None, ["text"]),
    (42, ["text"]),
])
def test_bad_sentences_are_refused_readably(sentence, fragments):
    with pytest.raises(DataError) as e:
        Vocabulary(vocabulary()).parse(sentence)
    for f in fragments:
        assert f in str(e.value)


def test_case_and_punctuation_do_not_matter():
    v = Vocabulary(vocabulary())
    a, la = v.encode(["A Smiling face, with SUNGLASSES!"])
    b, lb = v.encode(["a smiling face with sunglasses"])
    assert torch.equal(a, b) and la.tolist() == lb.tolist() == [5]
    assert v.decode(a[0], int(la[0])) == "a smiling face with sunglasses"
    with pytest.raises(ConfigError):
        Vocabulary(["face", "<pad>"])         # padding must be word 0
    with pytest.raises(ConfigError):
        Vocabulary(["<pad>", "face"], unattended=["with"])
    v = Vocabulary(vocabulary(), ["a", "with"])
    ids, lengths = v.encode(["a face with a hat"])
    assert v.attention_mask(ids, lengths)[0, :6].tolist() == [True, False, True, True, False, True]


def test_the_captions_dataset_and_who_may_train_on_it(tmp_path):
    data = load_dataset("faces-captions", root=tmp_path, split="test", n=20)
    x, y, attrs, ids, lengths, stated = data.get_batch(torch.arange(5))
    assert x.shape == (5, *FACES) and ids.shape == (5, MAX_WORDS) and lengths.min() >= 3
    assert (ids[torch.arange(MAX_WORDS)[None, :] >= lengths[:, None]] == 0).all()     # padded with word 0
    assert stated.shape == (5, len(ATTRIBUTES))
    plain = load_dataset("faces", root=tmp_path, split="test", n=20)
    assert torch.equal(plain.x, data.x)            # the faces dataset's own faces
    check_caption_data("attngan", "faces-captions")
    with pytest.raises(ConfigError, match="sentences"):
        check_caption_data("attngan", "faces")
    with pytest.raises(ConfigError, match="attngan"):
        check_caption_data("gan", "faces-captions")
    with pytest.raises(ConfigError, match="damsm-steps"):
        tiny(damsm_steps=-1)
    with pytest.raises(ConfigError, match="damsm-weight"):
        tiny(damsm_weight=-1)
    for bad in (-1, float("nan"), True, "1"):
        with pytest.raises(ConfigError, match="attribute-weight"):
            tiny(attribute_weight=bad)
    with pytest.raises(ConfigError, match="attngan architecture"):
        tiny(model=ModelConfig(arch="dcgan", shape=FACES))


# ---------- the model's pieces ----------

def test_word_matching_equals_the_papers_loop():
    """DAMSM's word-level score, vectorised, against the paper's definition written out one pair at a time."""
    torch.manual_seed(0)
    b, d, r = 4, 6, 5
    regions, words = torch.randn(b, d, r), torch.randn(b, d, 7)
    lengths = torch.tensor([7, 3, 5, 1])
    got = word_match_scores(regions, words, lengths)
    for i in range(b):
        for j in range(b):
            e = words[j, :, :int(lengths[j])]                       # D x n
            s = torch.softmax(e.t() @ regions[i], dim=0)            # n x R, normalised over the words
            a = torch.softmax(4.0 * s, dim=1)                       # each word over the regions
            c = regions[i] @ a.t()                                  # D x n
            rel = torch.nn.functional.cosine_similarity(c, e, dim=0)
            want = torch.log(torch.exp(5.0 * rel).sum()) / 5.0
            assert torch.allclose(got[i, j], want, atol=1e-5)


def test_the_attribute_head_is_asked_only_what_a_sentence_states():
    logits = torch.tensor([[3.0, -3.0, 0.0], [0.0, 0.0, 5.0]])
    stated = torch.tensor([[1, -1, 0], [0, 0, -1]])
    base = stated_loss(logits, stated)
    unsaid = logits.clone()
    unsaid[0, 2], unsaid[1, 0] = -9.0, 9.0                       # unsaid attributes: anything goes
    assert torch.equal(stated_loss(unsaid, stated), base)
    wrong = logits.clone()
    wrong[0, 1] = 3.0                                           # "not smiling", and the head sees a smile
    assert stated_loss(wrong, stated) > base + 0.9          # (3.05 - 0.05) / 3 more
    expected = (F.softplus(torch.tensor(-3.0)) * 2 + F.softplus(torch.tensor(5.0))) / 3
    assert torch.isclose(base, expected)
    assert stated_loss(logits, torch.zeros_like(stated)) == 0      # a sentence stating nothing asks nothing


def test_attention_never_falls_on_padding():
    torch.manual_seed(1)
    lengths = torch.tensor([2, 4])
    ctx, a = attend(torch.randn(2, 3, 10), torch.randn(2, 3, 4), word_mask(lengths, 4))
    assert a.shape == (2, 4, 10) and ctx.shape == (2, 3, 10)
    assert torch.allclose(a.sum(1), torch.ones(2, 10))
    assert (a[0, 2:] == 0).all()


def test_damsm_learns_to_match_pictures_with_their_sentences(tmp_path):
    """120 DAMSM steps on rendered faces: the sentence-level matching loss falls well below chance (here it went
    from 6.4 over the first 10 steps to 4.2 over the last 10; chance, 2 ln 16, is 5.5)."""
    cfg = tiny(steps=121, damsm_steps=120, batch_size=16, data_options={"n": 256, "correlation": 0.0}, log_every=1,
               attribute_weight=1.0)
    train(cfg, tmp_path / "run", data_root=tmp_path / "data", progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    loss = [r["damsm_sentence"] for r in log if "damsm_sentence" in r]
    chance = 2 * np.log(16)
    assert len(loss) == 120
    assert np.mean(loss[:10]) > 0.9 * chance
    assert np.mean(loss[-10:]) < 0.85 * chance
    # the attribute read-outs learn what the faces are and what the sentences state (chance: ln 2 = 0.69; here,
    # over the first and the last 20 steps, the picture's fell from 0.65 to 0.24, the sentence's from 0.68 to 0.59)
    seen, said = ([r[key] for r in log if key in r] for key in ("attr_image", "attr_text"))
    assert np.mean(seen[:20]) > 0.5 and np.mean(seen[-20:]) < 0.5 * np.mean(seen[:20])
    assert np.mean(said[:20]) > 0.6 and np.mean(said[-20:]) < 0.92 * np.mean(said[:20])


# ---------- training, checkpoint, resume ----------

def test_a_tiny_attngan_trains_saves_and_loads(text_root):
    run = text_root / "words"
    conf = json.loads((run / "config.json").read_text())
    assert conf["kind"] == "text" and conf["vocabulary"][0] == "<pad>" and "sunglasses" in conf["vocabulary"]
    assert "with" in conf["unattended_words"] and "hat" not in conf["unattended_words"]
    for f in ("generator", "critic", "critic_low", "text_encoder", "image_encoder"):
        assert (run / f"{f}.safetensors").is_file(), f
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "damsm_word" in log[0] and "damsm_g" in log[-1] and "d_wrong" in log[-1]
    assert np.isfinite(log[-1]["attr_d"]) and np.isfinite(log[-1]["attr_g"])      # the attribute head trained
    assert np.isfinite(log[0]["attr_text"]) and np.isfinite(log[0]["attr_image"])  # and DAMSM's read-outs
    critic = load_file(run / "critic.safetensors")
    assert critic["attributes.weight"].shape[0] == len(ATTRIBUTES)
    assert "AttnGAN" in (run / "README.md").read_text()
    m = load_text_model(run)
    got = m.draw(EXAMPLES[:2], m.sample_z(2, 0))
    assert got["images"].shape == (2, *FACES) and got["low"].shape == (2, 3, 16, 16)
    assert got["attention"].shape[:2] == (2, MAX_WORDS) and got["attention"].shape[2:] == (32, 32)
    # each region's attention: at most 1 over the words (the rest went to the "no word" slot), none on words that
    # name no part of a picture, none on padding
    assert (got["attention"].sum(1) <= 1 + 1e-5).all() and got["attention"].sum(1).mean() > 0.01
    words = got["words"][0]
    assert words[:2] == ["a", "smiling"]
    for t, w in enumerate(words):
        assert (got["attention"][0, t].abs().sum() == 0) == (w in m.vocab.unattended), w
    assert all((got["attention"][i, len(w):] == 0).all() for i, w in enumerate(got["words"]))
    plain = m.draw("a person", m.sample_z(1, 0))          # nothing to attend to: the no-word slot takes it all
    assert torch.isfinite(plain["images"]).all() and (plain["attention"] == 0).all()
    again = m.draw(EXAMPLES[:2], m.sample_z(2, 0))
    assert torch.equal(got["images"], again["images"])        # a sentence and a seed always draw the same picture
    other = m.draw(EXAMPLES[2:4], m.sample_z(2, 0))
    assert not torch.equal(got["images"], other["images"])    # and the words matter


def test_resume_continues_exactly(tmp_path):
    cfg = tiny(steps=6, damsm_steps=3, attribute_weight=1.0)
    train(cfg, tmp_path / "straight", data_root=tmp_path / "data", progress=False)
    train(cfg.replace(steps=2), tmp_path / "split", data_root=tmp_path / "data", progress=False)   # inside DAMSM
    train(resume_config(tmp_path / "split", steps=4), tmp_path / "split", data_root=tmp_path / "data", resume=True,
          progress=False)
    train(resume_config(tmp_path / "split", steps=6), tmp_path / "split", data_root=tmp_path / "data", resume=True,
          progress=False)
    for name in ("generator", "critic", "critic_low", "text_encoder", "image_encoder", "attribute_heads"):
        wa = load_file(tmp_path / "straight" / f"{name}.safetensors")
        wb = load_file(tmp_path / "split" / f"{name}.safetensors")
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name


def test_a_damaged_text_model_is_refused(tmp_path, text_root):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(text_root / "words", bad)
    conf = json.loads((bad / "config.json").read_text())
    conf["vocabulary"] = ["face", "<pad>"]
    (bad / "config.json").write_text(json.dumps(conf))
    with pytest.raises(CheckpointError, match="vocabulary"):
        load_text_model(bad)
    conf["vocabulary"] = conf["vocabulary"][::-1] + ["extra"]
    (bad / "config.json").write_text(json.dumps(conf))
    with pytest.raises(CheckpointError):
        load_text_model(bad)              # a vocabulary of another size does not fit the text encoder
    with pytest.raises(CheckpointError, match="not a text-to-image model"):
        load_text_model(text_root / "judge")


# ---------- the service, eval and the CLI ----------

def test_the_text_desk_draws_reads_and_compares(text_root):
    from explorer.services.text import TextDesk
    desk = TextDesk(text_root)
    assert desk.names() == ["words"]
    got = desk.draw("words", "someone in a red hat, not smiling, with a beard", seed=5, n=3)
    assert got["seeds"] == [5, 6, 7] and got["images"].shape == (3, *FACES)
    assert got["attention"].shape == (3, len(got["words"]), 32, 32)
    assert got["asks"] == {"Hat": 1, "Smiling": -1, "Beard": 1}
    rows = {r["attribute"]: r for r in desk.agreement(got)}
    assert rows["Hat"]["the sentence says"] == "yes" and rows["Wide_Face"]["samples that agree"] == "(not said)"
    assert desk.attention_sheet(got, 2).size[0] > 96
    assert desk.change(None, got) is None
    blue = desk.draw("words", "someone in a blue hat, not smiling, with a beard", seed=5, n=3)
    change = desk.change(got, blue)
    assert change is not None and change["before"].startswith("someone in a red hat") and change["mean"] > 0
    assert desk.change(got, desk.draw("words", "someone in a blue hat", seed=6, n=3)) is None   # other seeds
    with pytest.raises(DataError, match="'moustache'"):
        desk.draw("words", "a face with a moustache")
    with pytest.raises(ConfigError, match="number of samples"):
        desk.draw("words", "a face", n=17)
    with pytest.raises(ConfigError, match="seed"):
        desk.draw("words", "a face", seed=float("nan"))
    with pytest.raises(ConfigError, match="Pick"):
        desk.draw("", "a face")


def test_eval_measures_what_the_sentences_ask(text_root):
    from explorer.services.evaluation import evaluate
    r = evaluate(str(text_root / "words"), checkpoints=text_root, data_root=text_root / "data", n=60, save=True)
    assert r["captions"] == 60 and r["judge"] == "judge"
    assert set(r["attribute_agreement"]) <= set(ATTRIBUTES) and len(r["attribute_agreement"]) >= 5
    assert all(0 <= v["agreement"] <= 1 for v in r["attribute_agreement"].values())
    assert 0 <= r["r_precision"] <= 1 and r["frechet_distance"] > 0
    mass = r["attention_mass"]
    assert mass and all(0 <= v["inside"] <= 1 and 0 < v["region_share"] < 1 for v in mass.values())
    changes = r["one_word_change"]
    assert {v["attribute"] for v in changes.values()} == {"Hat", "Sunglasses", "Smiling", "Beard"}
    assert all(0 <= v["inside"] <= 1 and v["mean_change"] >= 0 for v in changes.values())
    # --save: the figures in config.json, the card reads them and shows one sentence's attention maps
    card = (text_root / "words" / "README.md").read_text()
    assert "## Text to image" in card and "r_precision" in card and "![attention](attention.png)" in card
    assert (text_root / "words" / "attention.png").is_file()


def test_the_renderers_regions_sit_where_the_words_point():
    from explorer.metrics.text import attribute_regions
    m = attribute_regions(32, n=60)
    rows = lambda k: np.flatnonzero(m[k].any(1))  # noqa: E731
    assert rows("Hat").mean() < 12 and rows("Beard").mean() > 18          # hat on top, beard at the jaw
    assert 12 <= rows("Sunglasses").mean() <= 17 and 18 <= rows("Smiling").mean() <= 23
    assert m["Smiling"].sum() < m["Beard"].sum() < m["Hat"].sum()


def test_the_text_cli_writes_pictures_and_refuses_unknown_words(text_root, tmp_path):
    out, att, npz = tmp_path / "s.png", tmp_path / "a.png", tmp_path / "s.npz"
    p = run_cli("text", "--model", "words", "--checkpoints", text_root, "--caption", EXAMPLES[0], "--n", 3,
                "--seed", 4, "--out", out, "--attention", att, "--npz", npz)
    assert p.returncode == 0, p.stderr
    assert out.is_file() and att.is_file()
    z = np.load(npz)
    assert z["images"].shape == (3, 32, 32, 3) and z["images"].dtype == np.uint8
    assert list(z["captions"]) == [EXAMPLES[0]] * 3 and z["z"].shape == (3, 8)
    assert z["attention"].shape == (3, len(EXAMPLES[0].split()), 32, 32)
    bad = tmp_path / "bad.png"
    p = run_cli("text", "--model", "words", "--checkpoints", text_root, "--caption", "a face with a monocle",
                "--out", bad)
    assert_one_line_error(p, "'monocle'", "try")
    assert not bad.exists()
    assert_one_line_error(run_cli("text", "--model", "judge", "--checkpoints", text_root, "--caption", "a face",
                                  "--out", bad), "classifier model, not one of the text-to-image models")
    assert_one_line_error(run_cli("text", "--model", "words", "--checkpoints", text_root, "--caption", "a face"),
                          "--out")


DDP_SCRIPT = """
import sys
from pathlib import Path
from explorer.models import ModelConfig
from explorer.store.config import TrainConfig
from explorer.training.loop import train
out = Path(sys.argv[1])
cfg = TrainConfig(task="attngan", dataset="faces-captions", data_options={"n": 32, "correlation": 0.0},
                  model=ModelConfig(arch="attngan", z_dim=8, width=8, shape=(3, 32, 32)), steps=4, damsm_steps=2,
                  batch_size=4, critic_width=8, ema_decay=0.0, log_every=1, sample_every=100, checkpoint_every=3,
                  attribute_weight=1.0)
train(cfg, out, data_root=out.parent / "data", progress=False)
"""


def test_attngan_trains_under_torchrun(tmp_path):
    """Two CPU processes (gloo), through DAMSM and into the GAN: every net stays in sync (the loop checks at the
    end) and rank 0 alone writes one loadable model."""
    import os
    import subprocess
    import sys
    from conftest import ROOT
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(script), str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=300,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    assert conf["provenance"]["processes"] == 2 and conf["provenance"]["step"] == 4 and conf["kind"] == "text"
    m = load_text_model(tmp_path / "run")
    assert m.draw("a face", m.sample_z(1, 0))["images"].shape == (1, *FACES)


def test_in_audience_mode_the_text_tab_names_no_folder(text_root):
    """A participant's text_draw: the samples, the attention sheet and the change sheet come back as ~cache
    tokens, never as the server's folders, and a refused word says so in a sentence."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from test_server import _urls, join
    from ui_helpers import launch
    demo, url = launch(text_root, audience=True)
    try:
        folders = {demo.GRADIO_CACHE, str(text_root), str(text_root.resolve())}
        first = join(url, demo, "text_draw", ["words", EXAMPLES[0], 0, 4, 1, None])
        assert json.loads(first.strip().splitlines()[-1][5:])["success"] is True
        for folder in folders:
            assert folder not in first
        pictures = _urls(first)
        assert pictures and all("~cache/" in u for u in pictures)
        refused = join(url, demo, "text_draw", ["words", "a face with a monocle", 0, 4, 1, None])
        assert "'monocle': try" in refused and not any(f in refused for f in folders)
    finally:
        demo.close()
