import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def data_root() -> Path:
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"MNIST not found at {SHARED_DATA} (CI provides ../shared/data)")
    return SHARED_DATA


def run_cli(*args, env=None, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    """Run `python -m explorer ...` as a user would, capturing stdout and stderr."""
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], capture_output=True, text=True,
                          env=e, cwd=cwd or ROOT, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    """Non-zero exit, one readable line on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    for f in fragments:
        assert f.lower() in err.lower(), err


# After a headless Chromium page has loaded the app, this process can abort while the interpreter finalises
# ("terminate called without an active exception", exit status 134), after every test has run and been
# reported: a native thread pool destroyed while a thread is still joinable. Reproduced at 6d8ade3 with a
# single-test module that only launches the app and loads the page; a whole run sometimes escapes it. pytest's
# own exit status is what the suite means, so the process leaves with it once pytest has finished everything.
# Under pytest-xdist only the controlling process does: a worker leaving early could cut off its last report
# to the controller, which has it all by the time the controller finishes.
_session = {}


def pytest_sessionfinish(session, exitstatus):
    _session["exitstatus"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if "exitstatus" in _session and not os.environ.get("PYTEST_XDIST_WORKER"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_session["exitstatus"])
