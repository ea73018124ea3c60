"""The command line as a user types it: the core workflow on real MNIST, and every bad input."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """A conditional DCGAN and a digit classifier, trained a few steps on real MNIST through the CLI."""
    from conftest import SHARED_DATA
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"MNIST not found at {SHARED_DATA} (CI provides ../shared/data)")
    ck = tmp_path_factory.mktemp("ck")
    run = ck / "x"
    p = run_cli("train", "--preset", "digits-cdcgan", "--data-root", SHARED_DATA, "--steps", 4, "--out", run,
                "--quiet", "--batch-size", 16)
    assert p.returncode == 0, p.stderr
    p = run_cli("train", "--preset", "digits-classifier", "--data-root", SHARED_DATA, "--steps", 3,
                "--out", ck / "digits-classifier", "--quiet")
    assert p.returncode == 0, p.stderr
    return ck, run


def test_sample_writes_the_npz_the_design_promises(workflow, tmp_path):
    ck, run = workflow
    p = run_cli("sample", "--model", run, "--label", 3, "--n", 5, "--seed", 7, "--npz", tmp_path / "s.npz",
                "--out", tmp_path / "s.png")
    assert p.returncode == 0, p.stderr
    f = np.load(tmp_path / "s.npz")
    assert f["images"].dtype == np.uint8 and f["images"].shape == (5, 28, 28, 1)
    assert f["z"].dtype == np.float32 and f["z"].shape == (5, 64)
    assert (f["labels"] == 3).all()
    assert Image.open(tmp_path / "s.png").size[0] > 28
    again = tmp_path / "t.npz"
    run_cli("sample", "--model", run, "--label", 3, "--n", 5, "--seed", 7, "--npz", again)
    assert np.array_equal(np.load(again)["images"], f["images"])  # seeds reproduce pixels


def test_eval_json_reports_frechet_distance_and_class_agreement(workflow):
    ck, run = workflow
    p = run_cli("eval", "--model", run, "--checkpoints", ck, "--json", "--n", 200)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)  # one JSON object and nothing else on stdout
    assert out["judge"] == "digits-classifier"
    assert out["frechet_distance"] >= 0 and 0 <= out["class_agreement"] <= 1
    assert len(out["class_histogram"]) == 10


def test_eval_of_an_infogan_measures_its_codes_and_puts_their_sweeps_in_the_card(workflow):
    from conftest import SHARED_DATA
    ck, _ = workflow
    run = ck / "info"
    p = run_cli("train", "--preset", "digits-infogan", "--data-root", SHARED_DATA, "--steps", 3, "--out", run,
                "--quiet", "--batch-size", 16)
    assert p.returncode == 0, p.stderr
    p = run_cli("eval", "--model", run, "--checkpoints", ck, "--json", "--n", 200, "--save")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert 0.1 <= out["categorical_code_accuracy"] <= 1  # a one-to-one matching is right at least by chance
    assert sorted(out["categorical_code_to_class"].values()) == list(range(10))
    assert set(out["continuous_code_correlations"]) == {"c1", "c2"}
    assert all(-1 <= v <= 1 for c in out["continuous_code_correlations"].values() for v in c.values())
    assert set(out["continuous_sweep_keeps_class"]) == {"c1", "c2"}
    assert all(0 <= v <= 1 for v in out["continuous_sweep_keeps_class"].values())
    card = (run / "README.md").read_text()
    for j in (1, 2):
        w, h = Image.open(run / f"code_c{j}.png").size
        assert h > w and f"![c{j}](code_c{j}.png)" in card  # 10 code rows, 9 values across


def test_resume_continues_the_run(workflow):
    ck, run = workflow
    p = run_cli("train", "--preset", "digits-cdcgan", "--data-root", __import__("conftest").SHARED_DATA,
                "--steps", 6, "--out", run, "--resume", "--quiet")
    assert p.returncode == 0, p.stderr
    assert json.loads((run / "config.json").read_text())["provenance"]["step"] == 6
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))


def test_interpolate_between_classes(workflow, tmp_path):
    ck, run = workflow
    p = run_cli("interpolate", "--model", run, "--from-seed", 1, "--to-seed", 2, "--from-label", 3, "--to-label", 8,
                "--steps", 6, "--out", tmp_path / "i.png", "--gif", tmp_path / "i.gif", "--npz", tmp_path / "i.npz")
    assert p.returncode == 0, p.stderr
    f = np.load(tmp_path / "i.npz")
    assert f["images"].shape == (6, 28, 28, 1) and list(f["labels"]) == [3, 3, 3, 8, 8, 8]
    assert Image.open(tmp_path / "i.gif").n_frames > 6


def test_models_lists_json(workflow):
    ck, _ = workflow
    p = run_cli("models", "--json", "--checkpoints", ck)
    names = {m["name"]: m for m in json.loads(p.stdout)["models"]}
    assert names["x"]["kind"] == "gan" and names["digits-classifier"]["kind"] == "classifier"


def test_ddp_two_processes_train_one_checkpoint(tmp_path):
    """torchrun with 2 CPU processes (gloo): rank 0 alone writes, weights stay in sync (checked at the end)."""
    import os
    import subprocess
    import sys
    from conftest import ROOT
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "explorer", "train", "--preset", "toy-8gaussians-wgangp", "--steps", "30",
                        "--out", str(out), "--quiet"], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    conf = json.loads((out / "config.json").read_text())
    assert conf["provenance"]["processes"] == 2 and conf["provenance"]["step"] == 30
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [25]  # logged once (log_every 25), by rank 0 only
    p = run_cli("sample", "--model", out, "--n", 100, "--npz", tmp_path / "p.npz")
    pts = np.load(tmp_path / "p.npz")["points"]
    assert pts.shape == (100, 2) and np.isfinite(pts).all()


def torchrun_digits(out, *args) -> dict:
    """`train` under torchrun with 2 CPU processes on MNIST (skipped without it): the run's config.json."""
    import os
    import subprocess
    import sys
    from conftest import ROOT, SHARED_DATA
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"MNIST not found at {SHARED_DATA} (CI provides ../shared/data)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "explorer", "train", *map(str, args), "--data-root", str(SHARED_DATA), "--out", str(out),
                        "--quiet"], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads((out / "config.json").read_text())


def test_ddp_two_processes_train_an_infogan_whose_q_head_sits_out_the_critic_step(tmp_path):
    """The Q head gets no gradient in the critic's backward; DDP must be told, or the second step fails."""
    conf = torchrun_digits(tmp_path / "ddp-info", "--preset", "digits-infogan", "--steps", 4, "--batch-size", 8)
    assert conf["provenance"]["processes"] == 2 and conf["provenance"]["step"] == 4


def test_ddp_two_processes_train_a_vae(tmp_path):
    """A VAE under torchrun: encoder and decoder in one DDP module, both saved once, in sync, and loadable."""
    out = tmp_path / "ddp-vae"
    conf = torchrun_digits(out, "--preset", "digits-vae", "--steps", 4, "--batch-size", 8, "--beta", 2)
    assert conf["provenance"]["processes"] == 2 and conf["kind"] == "vae" and conf["train"]["beta"] == 2
    run_cli("sample", "--model", out, "--n", 4, "--npz", tmp_path / "v.npz")
    assert np.load(tmp_path / "v.npz")["images"].shape == (4, 28, 28, 1)


@pytest.mark.parametrize("args,fragment", [
    (["train", "--preset", "nope"], "unknown preset 'nope'"),
    (["train", "--preset", "digits-dcgan", "--steps", "0"], "positive integer"),
    (["train", "--preset", "digits-dcgan", "--steps", "-3"], "positive integer"),
    (["train", "--preset", "digits-dcgan", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["sample", "--model", "no-such-model", "--out", "x.png"], "unknown model 'no-such-model'"),
    (["eval", "--model", "no-such-model"], "unknown model"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_command_lines_fail_in_one_line(args, fragment, tmp_path):
    assert_one_line_error(run_cli(*args, "--out", tmp_path / "o") if args[0] == "train" else run_cli(*args), fragment)


def test_missing_data_root_says_where_it_looked(tmp_path):
    p = run_cli("train", "--preset", "digits-dcgan", "--data-root", tmp_path / "nowhere", "--out", tmp_path / "o",
                env={"LATENT_EXPLORER_OFFLINE": "1"})
    assert_one_line_error(p, "nowhere", "--data-root")
    assert not (tmp_path / "o" / "config.json").exists()


def test_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    p = run_cli("train", "--preset", "folder-dcgan", "--data-path", tmp_path / "empty", "--out", tmp_path / "o")
    assert_one_line_error(p, "no images")


def test_malformed_celeba_attribute_file(tmp_path):
    root = tmp_path / "celeb"
    (root / "img_align_celeba").mkdir(parents=True)
    Image.new("RGB", (89, 109), "gray").save(root / "img_align_celeba" / "000001.jpg")
    (root / "list_attr_celeba.txt").write_text("1\nSmiling Young\n000001.jpg 1\n")  # 2 names, 1 value
    p = run_cli("train", "--preset", "celeba-dcgan", "--data-path", root, "--out", tmp_path / "o")
    assert_one_line_error(p, "list_attr_celeba.txt")


def test_no_command_and_train_without_preset(tmp_path):
    assert_one_line_error(run_cli(), "required")
    assert_one_line_error(run_cli("train", "--out", tmp_path / "o"), "--preset")


def test_train_takes_a_loss_and_its_hyperparameters(tmp_path):
    out = tmp_path / "custom"
    p = run_cli("train", "--preset", "toy-8gaussians-bce", "--loss", "wgangp", "--gp-lambda", 2, "--n-critic", 2,
                "--z-dim", 3, "--steps", 3, "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["loss"], train["loss_options"], train["n_critic"], train["model"]["z_dim"]) == \
        ("wgangp", {"gp_lambda": 2.0}, 2, 3)
    assert_one_line_error(run_cli("train", "--preset", "toy-8gaussians-bce", "--clip", 0.1, "--out", tmp_path / "x"),
                          "clip is a setting of the wgan loss")
    assert_one_line_error(run_cli("train", "--preset", "digits-classifier", "--z-dim", 8, "--out", tmp_path / "y"),
                          "trains a classifier")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    p = run_cli("train", "--preset", "toy-8gaussians-bce", "--loss", "hinge", "--critic-norm", "spectral",
                "--ema-decay", 0.9, "--steps", 2, "--out", tmp_path / "sn", "--quiet")
    assert p.returncode == 0, p.stderr
    train = json.loads((tmp_path / "sn" / "config.json").read_text())["train"]
    assert (train["loss"], train["model"]["critic_norm"], train["ema_decay"]) == ("hinge", "spectral", 0.9)
    assert_one_line_error(run_cli("train", "--preset", "toy-8gaussians-bce", "--critic-norm", "group",
                                  "--out", tmp_path / "z"), "critic-norm must be one of batch, layer, spectral, none")


def test_resume_on_a_folder_with_no_checkpoint_yet_starts_fresh_with_a_note(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("train", "--preset", "toy-8gaussians-bce", "--steps", 5, "--out", out, "--resume", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "no checkpoint in" in proc.stderr and "starting the run fresh" in proc.stderr
    assert (out / "state.pt").is_file()
    assert_one_line_error(run_cli("train", "--out", tmp_path / "empty", "--resume"), "nothing to resume")


def test_training_takes_one_thread_on_a_small_machine_unless_told(tmp_path, monkeypatch):
    import torch
    from explorer import cli
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    assert cli.training_threads() == 1
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 16)
    assert cli.training_threads() == torch.get_num_threads()
    p = run_cli("train", "--preset", "toy-8gaussians-bce", "--steps", 2, "--threads", 2, "--out", tmp_path / "t",
                "--quiet")
    assert p.returncode == 0, p.stderr
    machine = json.loads((tmp_path / "t" / "config.json").read_text())["provenance"]["machine"]
    assert "2 CPU threads" in machine
    assert_one_line_error(run_cli("train", "--preset", "toy-8gaussians-bce", "--threads", 0, "--out", tmp_path / "u"),
                          "threads")
