"""The README's first command, as a newcomer runs it, from the installed package."""

import glob
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import ROOT, blobs


def readme_commands():
    """The two set-up commands: the lines of the README's first bash block."""
    with open(os.path.join(ROOT, "README.md")) as f:
        block = re.search(r"```bash\n(.*?)```", f.read(), re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_has_exactly_two_setup_commands():
    install_and_train, install_and_test = readme_commands()
    assert install_and_train.startswith("pip install -e . && python -m memorygan_tf.main")
    assert install_and_test == 'pip install -e ".[test]" && python -m pytest -q'


@pytest.mark.slow
def test_readme_first_command_trains_from_the_installed_package(tmp_path):
    """Runs the README's training command (with 2 steps instead of 500) in an empty folder
    whose ./data holds a small generated fashion_mnist.npz: no source tree on the path, no
    shared data; it must exit 0 and write events, a sample grid and a checkpoint."""
    train = readme_commands()[0].split("&&", 1)[1]
    args = shlex.split(train)
    assert args[:3] == ["python", "-m", "memorygan_tf.main"]
    args = [re.sub(r"^--steps_per_epoch=\d+$", "--steps_per_epoch=2", a) for a in args[3:]]
    assert "--steps_per_epoch=2" in args
    os.makedirs(tmp_path / "data")
    images = blobs(200)[..., 0]
    np.savez(tmp_path / "data" / "fashion_mnist.npz", x_train=images, y_train=np.zeros(200, np.uint8))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MEMORYGAN_DATA_DIR")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run([sys.executable, "-m", "memorygan_tf.main", *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    run = tmp_path / "runs" / "fashion_mnist"
    assert glob.glob(str(run / "events.out.tfevents.*"))
    assert glob.glob(str(run / "samples" / "step_*.png"))
    assert os.path.exists(run / "checkpoints" / "ckpt-2.index")
    assert "Using the local copy data/fashion_mnist.npz" in result.stdout
    assert "Samples: runs/fashion_mnist/samples/step_00000002.png" in result.stdout  # where to look
