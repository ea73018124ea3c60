"""Training jobs run in their own process: start, watch, stop, resume, refuse a second, survive a kill."""
import os
import signal
import time

import pytest

from explorer.errors import ConfigError
from explorer.store.checkpoint import load_generator
from explorer.services.jobs import JobManager

PRESET = "toy-8gaussians-bce"


def wait_for(manager, predicate, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        st = manager.status()
        if predicate(st):
            return st
        time.sleep(0.2)
    raise AssertionError(f"timed out; last status {manager.status()}")


@pytest.fixture
def manager(tmp_path):
    m = JobManager(tmp_path)
    yield m
    if m.running():
        m._proc.kill()


def test_start_progress_stop_resume(manager, tmp_path):
    assert manager.status()["state"] == "idle"
    manager.start(PRESET, 100000, "job1", log_every=5, checkpoint_every=50)
    st = wait_for(manager, lambda s: s["step"] >= 10)
    assert st["state"] == "running" and st["total_steps"] == 100000 and st["name"] == "job1"
    assert "loss_d" in st["metrics"] and st["eta_s"] > 0
    with pytest.raises(ConfigError, match="already running"):
        manager.start(PRESET, 10, "job2")
    st = manager.stop()
    assert st["state"] == "stopped" and not manager.running()
    step = st["step"]
    model = load_generator(tmp_path / "job1")            # the stopped run is a model
    assert model.is_points
    manager.start(PRESET, step + 20, "job1", resume=True)
    st = wait_for(manager, lambda s: s["state"] in ("finished", "failed"))
    assert st["state"] == "finished" and st["step"] == step + 20, st


def test_killed_job_leaves_the_last_checkpoint(manager, tmp_path):
    manager.start(PRESET, 100000, "victim", log_every=5, checkpoint_every=20)
    wait_for(manager, lambda s: s["step"] >= 45)
    os.kill(manager._proc.pid, signal.SIGKILL)
    manager._proc.join(10)
    st = manager.status()
    assert st["state"] == "failed" and "ended unexpectedly" in st["error"]
    load_generator(tmp_path / "victim")                  # the step-20/40 checkpoint still loads
    manager.start(PRESET, 5, "after")                    # and the manager takes a new job
    assert wait_for(manager, lambda s: s["state"] == "finished")["step"] == 5


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 80, None])
def test_bad_names_are_refused(manager, name):
    with pytest.raises(ConfigError, match="plain folder name"):
        manager.start(PRESET, 10, name)


def test_taken_name_unknown_preset_and_bad_steps(manager, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="taken"):
        manager.start(PRESET, 10, "taken")
    with pytest.raises(ConfigError, match="unknown preset"):
        manager.start("nope", 10, "fresh")
    with pytest.raises(ConfigError, match="positive integer"):
        manager.start(PRESET, 0, "fresh")
    assert not manager.running()
