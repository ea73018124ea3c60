"""The training panel's API as a script or the browser uses it."""
import os
import signal
import time

import pytest

from ui_helpers import launch, make_model

PRESET = "toy-8gaussians-bce"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from gradio_client import Client
    root = tmp_path_factory.mktemp("ck")
    make_model(root / "plain", 0)
    demo, url = launch(root)
    yield demo, Client(url, verbose=False), root
    if demo.jobs.running():
        demo.jobs._proc.kill()
    demo.close()


def wait(client, pred, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        st = client.predict(api_name="/train_status")
        if pred(st):
            return st
        time.sleep(0.3)
    raise AssertionError(client.predict(api_name="/train_status"))


def test_start_watch_stop_resume_and_explore(app):
    from gradio_client.exceptions import AppError
    demo, client, root = app
    assert client.predict(api_name="/train_status")["state"] == "idle"
    st = client.predict(PRESET, 100000, "panel-job", api_name="/train_start")
    assert st["state"] == "running" and st["name"] == "panel-job"
    st = wait(client, lambda s: s["step"] >= 50)
    assert st["total_steps"] == 100000 and "loss_d" in st["metrics"]
    with pytest.raises(AppError, match="already running"):
        client.predict(PRESET, 10, "second", api_name="/train_start")
    st = client.predict(api_name="/train_stop")
    assert st["state"] == "stopped"
    names = [m["name"] for m in demo.explorer_context.renderer.models.names()]
    assert "panel-job" in names                                    # in Explore's list, no restart
    step = st["step"]
    client.predict(PRESET, "panel-job", step + 25, api_name="/train_resume")
    st = wait(client, lambda s: s["state"] in ("finished", "failed"))
    assert st["state"] == "finished" and st["step"] == step + 25
    img = client.predict("panel-job", [0.1, -0.2], None, api_name="/render")  # and it renders
    assert os.path.getsize(img) > 0


@pytest.mark.parametrize("name", ["", "../up", "a/b", "plain"])
def test_bad_or_taken_names_are_refused(app, name):
    from gradio_client.exceptions import AppError
    _, client, _ = app
    with pytest.raises(AppError):
        client.predict(PRESET, 10, name, api_name="/train_start")


def test_killed_job_leaves_the_server_up(app):
    demo, client, root = app
    client.predict(PRESET, 100000, "doomed", api_name="/train_start")
    wait(client, lambda s: s["step"] >= 30)
    os.kill(demo.jobs._proc.pid, signal.SIGKILL)
    demo.jobs._proc.join(10)
    assert client.predict(api_name="/train_status")["state"] == "failed"
    assert os.path.getsize(client.predict("plain", [0.0] * 64, None, api_name="/render")) > 0


def test_audience_mode_hides_training_and_refuses_its_api(tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    make_model(tmp_path / "plain", 0)
    demo, url = launch(tmp_path, audience=True)
    try:
        tabs = [c.get("props", {}).get("label") for c in demo.config["components"] if c.get("type") == "tabitem"]
        assert "Train" not in tabs
        with pytest.raises(AppError, match="audience"):
            Client(url, verbose=False).predict(PRESET, 10, "x", api_name="/train_start")
        assert not (tmp_path / "x").exists()
    finally:
        demo.close()


def test_the_panels_own_settings_reach_the_run(app):
    """Loss, its hyperparameters and z_dim changed in the panel land in the job's config; the rest stays the preset's."""
    import json
    demo, client, root = app
    from explorer.ui.train import shown_settings
    sh = shown_settings(PRESET)
    values = [sh["dataset"], sh["correlation"], "", sh["arch"], "wgangp", 3, 2, sh["clip"], 1.5, False,
              sh["batch_size"], sh["lr"], sh["beta"]]
    client.predict(PRESET, "custom-job", 40, *values, api_name="/train_start_custom")
    st = wait(client, lambda s: s["state"] in ("finished", "failed"))
    assert st["state"] == "finished", st
    train = json.loads((root / "custom-job" / "config.json").read_text())["train"]
    assert (train["loss"], train["loss_options"], train["n_critic"], train["model"]["z_dim"]) == \
        ("wgangp", {"gp_lambda": 1.5}, 2, 3)
    assert train["batch_size"] == 256 and train["data_options"] == {"distribution": "8gaussians"}


def test_an_image_folder_is_accepted_only_inside_the_allowed_roots(tmp_path):
    from explorer.errors import ConfigError
    from explorer.services.jobs import JobManager
    data, allowed, outside = tmp_path / "data", tmp_path / "class-photos", tmp_path / "private"
    for d in (data / "celeba", allowed / "week1", outside):
        d.mkdir(parents=True)
    (data / "escape").symlink_to(outside)
    jobs = JobManager(tmp_path / "ck", data_root=data, allowed_roots=[allowed])
    assert jobs.check_folder(str(data / "celeba")) == str((data / "celeba").resolve())
    assert jobs.check_folder(str(allowed / "week1")) == str((allowed / "week1").resolve())
    for bad, fragment in ((str(outside), "outside the folders"), (str(data / "escape"), "outside the folders"),
                          (str(data / "celeba" / ".." / ".." / "private"), "outside the folders"),
                          (str(data / "missing"), "does not exist"), ("", "give the image folder")):
        with pytest.raises(ConfigError, match=fragment):
            jobs.check_folder(bad)
    with pytest.raises(ConfigError, match="outside the folders"):
        jobs.start("celeba-dcgan", 10, "sneaky", data_path=str(outside))
    assert not (tmp_path / "ck" / "sneaky").exists() and not jobs.running()


def test_fashion_is_offered_only_when_its_files_are_there(tmp_path):
    from explorer.data.digits import files_present
    from explorer.ui.train import _duration, dataset_choices
    assert not files_present("FashionMNIST", tmp_path)
    assert [v for _, v in dataset_choices("digits-dcgan", False)] == ["digits"]
    (tmp_path / "FashionMNIST" / "raw").mkdir(parents=True)
    (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"x")
    assert files_present("FashionMNIST", tmp_path)
    assert [v for _, v in dataset_choices("digits-dcgan", True)] == ["digits", "fashion"]
    assert [v for _, v in dataset_choices("celeba-dcgan", True)] == ["celeba", "folder"]
    assert [v for _, v in dataset_choices("faces-attributes", True)] == ["faces"]
    assert (_duration(42), _duration(125), _duration(3725)) == ("42 s", "2 min 05 s", "1 h 02 min")


def test_a_vae_preset_takes_beta_and_z_dim_from_the_panel_and_ignores_gan_settings(tmp_path):
    """digits-vae with beta 6 and z_dim 8 typed in the panel: the run is a beta-VAE of that size; the GAN-only
    controls (loss, n_critic) sent along by the page do not reach it; the result is listed as a generator."""
    import json
    from gradio_client import Client
    from conftest import SHARED_DATA
    from explorer.ui.train import shown_settings
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"MNIST is not under {SHARED_DATA}: the digits-vae preset trains on it")
    root = tmp_path / "ck"
    make_model(root / "plain", 0)
    demo, url = launch(root, data_root=SHARED_DATA)
    try:
        client = Client(url, verbose=False)
        sh = shown_settings("digits-vae")
        assert sh["beta"] == 1.0 and sh["lr"] == 5e-4
        info = client.predict("digits-vae", api_name="/preset_info")
        assert "A VAE: an encoder and a decoder" in info[0]
        values = [sh["dataset"], sh["correlation"], "", sh["arch"], "wgangp", 8, 3, sh["clip"], 2.0, False,
                  16, sh["lr"], 6]
        client.predict("digits-vae", "my-vae", 3, *values, api_name="/train_start_custom")
        st = wait(client, lambda s: s["state"] in ("finished", "failed"))
        assert st["state"] == "finished", st
        conf = json.loads((root / "my-vae" / "config.json").read_text())
        assert conf["kind"] == "vae" and conf["train"]["beta"] == 6 and conf["train"]["model"]["z_dim"] == 8
        assert conf["train"]["loss"] == "bce" and conf["train"]["n_critic"] is None     # GAN settings ignored
        assert "my-vae" in [m["name"] for m in demo.explorer_context.renderer.models.refresh()]
    finally:
        if demo.jobs.running():
            demo.jobs._proc.kill()
        demo.close()


def test_a_translation_preset_runs_from_the_panel_on_translation_data_only(tmp_path):
    """faces-cyclegan-sunglasses in the panel: only two-domain datasets are offered, the GAN-only controls sent
    along by the page do not reach the run, and the finished CycleGAN is listed among the translators."""
    import json
    from gradio_client import Client
    from conftest import SHARED_DATA
    from explorer.ui.train import dataset_choices, shown_settings
    assert [v for _, v in dataset_choices("faces-pix2pix", True)] == ["faces-sketch", "pairs"]
    assert [v for _, v in dataset_choices("faces-cyclegan-sunglasses", True)] == ["faces-domains", "domains"]
    assert "faces-sketch" not in [v for _, v in dataset_choices("faces-dcgan", True)]
    root = tmp_path / "ck"
    make_model(root / "plain", 0)
    data_root = SHARED_DATA if SHARED_DATA.is_dir() else tmp_path / "data"   # the rendered faces are cached there
    demo, url = launch(root, data_root=data_root)
    try:
        client = Client(url, verbose=False)
        info = client.predict("faces-cyclegan-sunglasses", api_name="/preset_info")
        assert info[0].startswith("CycleGAN (Zhu et al. 2017)")
        sh = shown_settings("faces-cyclegan-sunglasses")
        values = [sh["dataset"], sh["correlation"], "", sh["arch"], "wgangp", 8, 3, sh["clip"], 2.0, False,
                  2, sh["lr"], sh["beta"]]
        client.predict("faces-cyclegan-sunglasses", "my-cycle", 2, *values, api_name="/train_start_custom")
        st = wait(client, lambda s: s["state"] in ("finished", "failed"), timeout=300)
        assert st["state"] == "finished", st
        conf = json.loads((root / "my-cycle" / "config.json").read_text())
        assert conf["kind"] == "translator" and conf["train"]["batch_size"] == 2
        assert (conf["train"]["loss"], conf["train"]["model"]["arch"]) == ("lsgan", "resnet")   # the preset's
        assert "my-cycle" in demo.explorer_context.services.translation.refresh()
        assert "my-cycle" not in [m["name"] for m in demo.explorer_context.renderer.models.refresh()]
    finally:
        if demo.jobs.running():
            demo.jobs._proc.kill()
        demo.close()
