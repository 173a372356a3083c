"""The harness: TensorBoard tags, NaN handling, SIGKILL and exact deterministic resume."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, rundir, trainer
from memorygan_tf.models import MemoryGAN
from tests.helpers import ROOT, TINY_FLAGS, TINY_MODEL, blobs


def tiny_train_config(logdir, **train):
    overrides = dict(batch_size=8, steps_per_epoch=4, logdir=logdir, num_sample_images=4, log_every_steps=2)
    overrides.update(train)
    return configs.make_config("fashion_mnist", model_overrides=TINY_MODEL, train_overrides=overrides)


def test_tensorboard_event_files_hold_the_promised_tags(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    logdir = str(tmp_path / "run")
    trainer.train(tiny_train_config(logdir), blobs(32), verbose=0)
    acc = event_accumulator.EventAccumulator(logdir, size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    expected = {"d_loss", "g_loss", "d_real", "d_fake", "mi_loss", "mem_real_rate", "steps_per_second",
                "mem_reset_rate", "mem_entropy_s",
                "memory/slots_in_use", "memory/prior_entropy", "memory/real_rate",
                "samples", "real_batch", "memory/histogram", "memory/ages", "memory/real_slots",
                "memory/distinct_real_keys", "memory/mean_real_cosine", "memory/effective_slots", "slots"}
    assert expected <= tags, expected - tags
    in_use = [tf.make_ndarray(e.tensor_proto) for e in acc.Tensors("memory/slots_in_use")]
    assert 0.0 < float(in_use[-1]) <= 1.0
    grid = acc.Tensors("samples")[-1]
    assert grid.step == 4
    assert os.path.exists(os.path.join(logdir, "samples", "step_00000004.png"))


def test_nan_loss_stops_training_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    original = MemoryGAN.mutual_information

    def poisoned(self, latent, query):
        value = original(self, latent, query)
        return value + tf.where(self.step >= 4, np.nan, 0.0)  # NaN from step 5 on, gradients clean before

    monkeypatch.setattr(MemoryGAN, "mutual_information", poisoned)
    logdir = str(tmp_path / "run")
    config = tiny_train_config(logdir, steps_per_epoch=10, checkpoint_every_steps=2)
    with pytest.raises(trainer.TrainingDiverged, match=r"_loss became nan at step 5.*ckpt-4"):
        trainer.train(config, blobs(32), verbose=0)
    latest = tf.train.latest_checkpoint(rundir.RunDir(logdir).checkpoints)
    assert latest.endswith("ckpt-4")
    reader = tf.train.load_checkpoint(latest)
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.all(np.isfinite(value)), name


def final_state(logdir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(rundir.RunDir(logdir).checkpoints))
    names = sorted(n for n in reader.get_variable_to_shape_map() if not n.startswith("_CHECKPOINTABLE"))
    return {n: reader.get_tensor(n) for n in names}


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(tmp_path):
    data = str(tmp_path / "data.npz")
    np.savez(data, x_train=blobs(64)[..., 0])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)

    def command(logdir):
        return [sys.executable, "-m", "memorygan_tf.main", "--dataset=custom", f"--data_path={data}",
                f"--logdir={logdir}", "--batch_size=8", "--steps_per_epoch=30", "--epochs=2",
                "--checkpoint_every_steps=5", "--deterministic", "--seed=3", "--log_every_steps=5",
                *TINY_FLAGS, "--f_dim=16"]

    straight = str(tmp_path / "straight")
    done = subprocess.run(command(straight), env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]

    killed = str(tmp_path / "killed")
    proc = subprocess.Popen(command(killed), env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    target = os.path.join(killed, "checkpoints", "ckpt-15.index")
    deadline = time.time() + 300
    while not os.path.exists(target) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    last = tf.train.latest_checkpoint(os.path.join(killed, "checkpoints"))
    assert last is not None and int(last.rsplit("-", 1)[1]) < 60

    resumed = subprocess.run(command(killed), env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resumed from" in resumed.stdout

    a, b = final_state(straight), final_state(killed)
    assert a.keys() == b.keys()
    step_names = [n for n in a if n.startswith("model/step")]
    assert step_names and a[step_names[0]] == b[step_names[0]] == 60
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("signum", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path, signum):
    data = str(tmp_path / "data.npz")
    np.savez(data, x_train=blobs(64)[..., 0])
    logdir = str(tmp_path / "run")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "memorygan_tf.main", "--dataset=custom", f"--data_path={data}",
                             f"--logdir={logdir}", "--batch_size=8", "--steps_per_epoch=100000",
                             "--checkpoint_every_steps=5", *TINY_FLAGS],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell's background job inherits SIGINT ignored; a terminal's Ctrl-C does not
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = os.path.join(logdir, "checkpoints", "ckpt-5.index")
    deadline = time.time() + 300
    while not os.path.exists(first) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err[-2000:]
    assert "Interrupted: saved a checkpoint at step" in out + err
    assert "Traceback" not in err
    step = int(tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints")).rsplit("-", 1)[1])
    assert step >= 5
