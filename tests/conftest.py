"""Test set-up: two logical CPU devices (for MirroredStrategy tests) before TF starts."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:  # already initialised
    pass


import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.helpers import blobs, copy_run, train_two_epochs  # noqa: E402


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    """A custom data file of 48 generated 28x28 images (x_train only)."""
    path = str(tmp_path_factory.mktemp("data") / "blobs.npz")
    np.savez(path, x_train=blobs(48)[..., 0])
    return path


@pytest.fixture(scope="module")
def trained(npz, tmp_path_factory):
    """A run trained by main for two tiny epochs (ckpt-2 and ckpt-4), once per module that
    asks; tests change only their copy (`run`)."""
    return train_two_epochs(npz, tmp_path_factory)


@pytest.fixture
def run(trained, tmp_path):
    """A private copy of `trained` for a test that changes it."""
    return copy_run(trained, tmp_path)


@pytest.fixture
def float64():
    """float32 rounding differs between one batch of 8 and two of 4 (conv blocking, sum order);
    GAN training + Adam amplify that to ~1e-4 in a few steps. In float64 the same comparison
    checks the *algorithm* (gathering, loss scaling, sync BN, memory write) to 1e-5."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy().name
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(policy)
