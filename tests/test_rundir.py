"""A run directory that cannot be lost: resume contract, checkpoint fallback, lock, refusals.

Each test is a case a careless user hit on the earlier main (see the issue's ten points).
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import ROOT, args_for, assert_one_line_error, run_main

pytestmark = pytest.mark.slow  # every test here starts training subprocesses


# `trained` (ckpt-2 and ckpt-4: two epochs of two steps) and `run` (a private copy): tests/conftest.py


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def data_file(logdir, step):
    folder = os.path.join(logdir, "checkpoints")
    return os.path.join(folder, next(f for f in os.listdir(folder) if f.startswith(f"ckpt-{step}.data")))


one_line_error = assert_one_line_error


# 1 ------------------------------------------------------- no silent overwrite
def test_lost_state_file_resumes_from_the_newest_checkpoint(npz, run):
    ckpt2 = md5(data_file(run, 2))
    os.remove(os.path.join(run, "checkpoints", "checkpoint"))
    result = run_main(args_for(npz, run, "--epochs=3"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ckpt-4 (step 4)" in result.stdout
    assert md5(data_file(run, 2)) == ckpt2  # not overwritten by a restart from step 0
    assert os.path.exists(os.path.join(run, "checkpoints", "ckpt-6.index"))


# 2 ------------------------------------------------------------ resume contract
def test_learning_rate_given_on_resume_is_used_and_recorded(npz, run):
    result = run_main(args_for(npz, run, "--epochs=3", "--learning_rate=0.01"))
    assert result.returncode == 0, result.stderr[-2000:]
    reader = tf.train.load_checkpoint(os.path.join(run, "checkpoints", "ckpt-6"))
    rates = [reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
             if "learning_rate" in n and n.startswith(("d_optimizer", "g_optimizer"))]
    assert len(rates) == 2
    assert rates and all(float(r) == pytest.approx(0.01) for r in rates)
    with open(os.path.join(run, "config.json")) as f:
        saved = json.load(f)
    assert saved["optimizer"]["learning_rate"] == 0.01
    assert saved["history"][-1]["step"] == 4
    assert saved["history"][-1]["changed"]["learning_rate"] == [2e-4, 0.01]
    assert saved["history"][-1]["changed"]["epochs"] == [2, 3]


@pytest.mark.messages
def test_changing_the_memory_on_resume_is_refused_then_overridable(npz, run):
    with open(os.path.join(run, "config.json")) as f:
        kappa = json.load(f)["model"]["kappa"]
    refused = run_main(args_for(npz, run, "--epochs=3", "--kappa=3"))
    one_line_error(refused, f"--kappa=3.0 (saved: {kappa})", "--override_config")
    assert not os.path.exists(os.path.join(run, "checkpoints", "ckpt-6.index"))
    applied = run_main(args_for(npz, run, "--epochs=3", "--kappa=3", "--override_config"))
    assert applied.returncode == 0, applied.stderr[-2000:]
    with open(os.path.join(run, "config.json")) as f:
        saved = json.load(f)
    assert saved["model"]["kappa"] == 3.0 and saved["history"][-1]["changed"]["kappa"] == [kappa, 3.0]


@pytest.mark.messages
def test_shape_changes_are_refused_even_with_override(npz, run):
    result = run_main(args_for(npz, run, "--epochs=3", "--memory_size=128", "--override_config"))
    one_line_error(result, "--memory_size=128 (saved: 64)", "shape")


def test_flags_left_out_on_resume_keep_their_saved_values(npz, tmp_path):
    logdir = str(tmp_path / "kappa_run")
    assert run_main(args_for(npz, logdir, "--kappa=4")).returncode == 0
    again = run_main(args_for(npz, logdir, "--epochs=2"))  # no --kappa: the saved 4 stays
    assert again.returncode == 0, again.stderr[-2000:]
    with open(os.path.join(logdir, "config.json")) as f:
        assert json.load(f)["model"]["kappa"] == 4.0


# 3 ------------------------------------------------------ checkpoint fallback
@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_broken_newest_checkpoint_falls_back_to_an_older_one(npz, run, damage):
    path = data_file(run, 4)
    if damage == "truncate":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 3)
    elif damage == "flip":
        with open(path, "r+b") as f:
            raw = bytearray(f.read())
            for i in range(0, len(raw), 7):
                raw[i] ^= 0xFF
            f.seek(0)
            f.write(raw)
    else:
        for name in os.listdir(os.path.join(run, "checkpoints")):
            if name.startswith("ckpt-4."):
                os.remove(os.path.join(run, "checkpoints", name))
    export_dir = os.path.join(os.path.dirname(run), "export")
    exported = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_generator.py"),
                               f"--logdir={run}", f"--export_dir={export_dir}"], capture_output=True, text=True,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=600)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert "ckpt-2" in exported.stdout
    resumed = run_main(args_for(npz, run, "--epochs=3"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "ckpt-2 (step 2)" in resumed.stdout
    if damage != "delete":
        assert "Skipped" in resumed.stdout and "ckpt-4" in resumed.stdout


@pytest.mark.messages
def test_no_loadable_checkpoint_is_refused_not_restarted(npz, run):
    for step in (2, 4):
        with open(data_file(run, step), "r+b") as f:
            f.truncate(10)
    result = run_main(args_for(npz, run, "--epochs=3"))
    one_line_error(result, "refusing to start again from step 0")


# 4, 10 ------------------------------------------------------------------ data
@pytest.mark.messages
def test_nan_images_are_refused_and_leave_no_run_behind(tmp_path):
    path = str(tmp_path / "nan.npz")
    np.savez(path, x_train=np.full((16, 28, 28), np.nan, np.float32))
    logdir = str(tmp_path / "never")
    result = run_main(args_for(path, logdir))
    one_line_error(result, "NaN or Inf")
    assert not os.path.exists(logdir)


@pytest.mark.messages
def test_images_without_a_network_are_refused_in_one_line(tmp_path):
    path = str(tmp_path / "small.npz")
    np.savez(path, x_train=np.random.default_rng(0).integers(0, 255, (16, 30, 30), np.uint8))
    one_line_error(run_main(args_for(path, str(tmp_path / "r"))), "30x30", "28x28")


@pytest.mark.messages
def test_tf_config_is_checked_before_the_data_is_read(tmp_path):
    path = str(tmp_path / "broken.npz")
    with open(path, "wb") as f:
        f.write(b"not an npz")
    env_less = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "memorygan_tf.main",
                             *args_for(path, str(tmp_path / "r"), "--strategy=multi_worker")],
                            capture_output=True, text=True, env=dict(env_less, TF_CPP_MIN_LOG_LEVEL="2"),
                            timeout=300, cwd=ROOT)
    one_line_error(result, "--strategy", "TF_CONFIG")


# 5 ------------------------------------------------------------ unwritable run
@pytest.mark.messages
def test_unwritable_checkpoint_folder_fails_before_training(npz, tmp_path):
    logdir = tmp_path / "r"
    logdir.mkdir()
    (logdir / "checkpoints").write_text("a file where the folder should be")
    one_line_error(run_main(args_for(npz, str(logdir))), "--logdir", "cannot write")


@pytest.mark.messages
def test_logdir_that_is_a_file_is_refused(npz, tmp_path):
    path = tmp_path / "afile"
    path.write_text("x")
    one_line_error(run_main(args_for(npz, str(path))), "--logdir", "is a file")


# 6 ---------------------------------------------------------- one run per dir
@pytest.mark.messages
def test_second_run_in_the_same_logdir_is_refused_until_the_first_dies(npz, tmp_path):
    logdir = str(tmp_path / "shared")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    first = subprocess.Popen([sys.executable, "-m", "memorygan_tf.main",
                              *args_for(npz, logdir, "--epochs=1000")], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = os.path.join(logdir, ".lock")
        deadline = time.time() + 120
        while time.time() < deadline and not (os.path.exists(lock) and open(lock).read().startswith("PID")):
            time.sleep(0.5)
        second = run_main(args_for(npz, logdir))
        one_line_error(second, "is in use by PID", str(first.pid))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The kernel released the dead process's lock: a new run may resume.
    third = run_main(args_for(npz, logdir, "--epochs=1"))
    assert third.returncode == 0, third.stderr[-2000:]


# 9 ------------------------------------------------------------------- export
def export(logdir, export_dir, *extra):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_generator.py"),
                           f"--logdir={logdir}", f"--export_dir={export_dir}", *extra],
                          capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                          timeout=600)


@pytest.mark.messages
def test_export_refusals_are_one_line(run, tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("someone's file")
    one_line_error(export(run, str(occupied)), "--export_dir", "--overwrite")
    assert (occupied / "keep.txt").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    one_line_error(export(run, str(afile)), "--export_dir", "is a file")
    one_line_error(export(run, str(tmp_path / "e1"), f"--checkpoint={run}/checkpoints/ckpt-99"),
                   "--checkpoint", "not a checkpoint")
    with open(data_file(run, 4), "r+b") as f:
        f.truncate(10)
    one_line_error(export(run, str(tmp_path / "e2"), f"--checkpoint={run}/checkpoints/ckpt-4"),
                   "--checkpoint", "does not load")
    # --overwrite replaces an earlier export only, never the user's files.
    one_line_error(export(run, str(occupied), "--overwrite"), "--export_dir", "not an export", "keep.txt")
    assert (occupied / "keep.txt").read_text() == "someone's file"
