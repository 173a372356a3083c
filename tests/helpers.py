"""Small configurations and fixtures shared by the tests."""

import json
import os
import subprocess
import sys

import numpy as np

from memorygan_tf import configs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Tiny networks and memory so a train step takes milliseconds.
TINY_MODEL = dict(f_dim=4, fc_dim=16, key_dim=8, memory_size=64, choose_k=4)
TINY_FLAGS = [f"--{k}={v}" for k, v in TINY_MODEL.items()]


def tiny_config(dataset="fashion_mnist", batch_size=8, **model):
    overrides = dict(TINY_MODEL)
    overrides.update(model)
    return configs.make_config(dataset, model_overrides=overrides, train_overrides=dict(batch_size=batch_size))


def blobs(n=64, size=28, channels=1, seed=0):
    """Generated images: bright squares at random places (uint8 [n, size, size, channels])."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, channels), np.uint8)
    for image in images:
        y, x = rng.integers(0, size - 8, 2)
        image[y:y + 8, x:x + 8] = rng.integers(128, 256)
    return images


def args_for(data_path, logdir, *extra):
    """main's flags for a tiny two-step-per-epoch run on a custom data file."""
    return ["--dataset=custom", f"--data_path={data_path}", f"--logdir={logdir}", "--batch_size=8",
            "--steps_per_epoch=2", "--num_sample_images=4", *TINY_FLAGS, *extra]


def run_main(args, cwd=ROOT, timeout=600):
    """Runs `python -m memorygan_tf.main` in a subprocess; returns the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "memorygan_tf.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def train_two_epochs(data_path, tmp_path_factory):
    """A run trained by main for two tiny epochs (ckpt-2 and ckpt-4 with TINY_FLAGS), for a
    module's tests to copy (copy_run) rather than train again."""
    logdir = str(tmp_path_factory.mktemp("base") / "run")
    result = run_main(args_for(data_path, logdir, "--epochs=2"))
    assert result.returncode == 0, result.stderr[-2000:]
    return logdir


def copy_run(logdir, tmp_path):
    """A private copy of a run directory, for a test that changes it."""
    import shutil

    copy = str(tmp_path / "run")
    shutil.copytree(logdir, copy)
    return copy


def assert_one_line_error(result, *needles):
    """A user mistake's contract: exit status 2 and stderr exactly one `error: ...` line
    naming each needle (no traceback, no TensorFlow start-up lines, on any CPU)."""
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr[-1500:]
    err = result.stderr.strip()
    assert "Traceback" not in err and "\n" not in err and err.startswith("error: "), err
    for needle in needles:
        assert needle in err, err
    return err


_FLOAT64_CHILD = r"""
import importlib, json, os, sys
sys.path.insert(0, os.environ["ROOT"])
import tests.conftest  # two logical CPUs before TensorFlow starts
import keras
keras.config.set_floatx("float64")
keras.config.set_dtype_policy("float64")
module, function, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
getattr(importlib.import_module(module), function)(*args)
print("OK")
"""


def assert_passes_in_float64_process(module, function, *args, timeout=900):
    """Runs `module.function(*args)` (JSON arguments) in a fresh process in float64 with two
    logical CPUs, and asserts it returned. A fresh process because a second
    MirroredStrategy in one process reuses collective instance keys, and a model whose
    collectives differ (other shapes, more gathers) clashes with the runtime's cached
    instance parameters."""
    result = subprocess.run([sys.executable, "-c", _FLOAT64_CHILD, module, function, json.dumps(list(args))],
                            capture_output=True, text=True, env=dict(os.environ, ROOT=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
                            timeout=timeout)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]
