"""MirroredStrategy on two logical CPUs equals one device; multi-worker stays in sync."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import trainer
from tests.helpers import ROOT, assert_passes_in_float64_process, blobs, tiny_config

STEPS = 4


def train_copy(strategy, config, images, initial_weights=None):
    model = trainer.build_model(config, strategy, total_steps=STEPS)
    if initial_weights is not None:
        model.encoder.set_weights(initial_weights[0])
        model.generator.set_weights(initial_weights[1])
    ds = tf.data.Dataset.from_tensor_slices(images).batch(config.train.batch_size, drop_remainder=True)
    model.fit(ds.repeat(), epochs=1, steps_per_epoch=STEPS, verbose=0, shuffle=False)
    return model


def replicas_of(variable):
    value = variable.value if hasattr(variable, "value") else variable
    return [v.numpy() for v in getattr(value, "values", [value])]


def compare_mirrored_with_one_device(rule, write):
    """Trains STEPS steps on one device and on two replicas from the same weights; asserts
    the memory (identical on both replicas) and the weights agree."""
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "conftest.py configures two logical CPUs"
    config = tiny_config(batch_size=8, update_rule=rule, memory_size=32, **write)
    images = blobs(8 * STEPS).astype(np.float64) / 255.0

    # Both copies start from the same initial weights.
    keras.utils.set_random_seed(123)
    init = trainer.build_model(config, tf.distribute.get_strategy(), STEPS)
    single = train_copy(tf.distribute.OneDeviceStrategy("/cpu:0"), config, images,
                        initial_weights=(init.encoder.get_weights(), init.generator.get_weights()))
    mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored_strategy.num_replicas_in_sync == 2
    mirrored = train_copy(mirrored_strategy, config, images,
                          initial_weights=(init.encoder.get_weights(), init.generator.get_weights()))

    assert int(mirrored.step.numpy()) == STEPS
    for name in ("keys", "values", "ages", "histogram"):
        copies = replicas_of(getattr(mirrored.memory, name))
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=f"replicas differ in {name}")
        np.testing.assert_allclose(copies[0], getattr(single.memory, name).numpy(), atol=1e-5,
                                   err_msg=f"{name} differs from the one-device run")
    assert np.any(single.memory.keys.numpy() != 0)
    for a, b in zip(single.encoder.weights + single.generator.weights,
                    mirrored.encoder.weights + mirrored.generator.weights):
        np.testing.assert_allclose(replicas_of(b)[0], a.numpy(), atol=1e-5, err_msg=a.name)



@pytest.mark.parametrize("rule", ["em", pytest.param("kaiser", marks=pytest.mark.slow)])
def test_mirrored_two_replicas_match_one_device(rule, float64):
    compare_mirrored_with_one_device(rule, {})


@pytest.mark.slow
def test_mirrored_last_write_with_three_writes_matches_one_device():
    """batch_write=last, writes_per_step=3 under MirroredStrategy. In a fresh process: a
    second MirroredStrategy in one process reuses collective instance keys, and when the
    two strategies' step functions issue different collective sequences (three writes
    gather more plans) the runtime's cached instance parameters clash."""
    assert_passes_in_float64_process("tests.test_distributed", "compare_mirrored_with_one_device", "release",
                                     {"batch_write": "last", "writes_per_step": 3})


WORKER = r"""
import os, sys
import numpy as np
import tensorflow as tf
sys.path.insert(0, os.environ["ROOT"])
from memorygan_tf import configs, trainer
from tests.helpers import TINY_MODEL, blobs

strategy = tf.distribute.MultiWorkerMirroredStrategy()
model_overrides = dict(TINY_MODEL, memory_size=32)
config = configs.make_config("fashion_mnist", model_overrides=model_overrides, train_overrides=dict(
    batch_size=8, steps_per_epoch=3, epochs=1, logdir=sys.argv[2], strategy="multi_worker"))
model = trainer.train(config, blobs(24), strategy=strategy, verbose=0)
m = model.memory
np.savez(sys.argv[1], keys=m.keys.numpy(), values=m.values.numpy(), ages=m.ages.numpy(),
         histogram=m.histogram.numpy(), step=int(model.step.numpy()))
"""


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_two_processes_end_with_identical_memory(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, ROOT=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / f"w{index}.npz"), str(tmp_path / "run")],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        outputs.append(out)
        assert proc.returncode == 0, out[-3000:]
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert int(w0["step"]) == int(w1["step"]) == 3
    for name in ("keys", "values", "ages", "histogram"):
        np.testing.assert_array_equal(w0[name], w1[name], err_msg=name)
    assert np.any(w0["keys"] != 0)
    # The chief wrote the checkpoint; the other worker's temporary copy was removed.
    assert (tmp_path / "run" / "checkpoints" / "ckpt-3.index").exists()
    assert not list((tmp_path / "run").glob("worker_tmp_*"))
