"""The private TensorFlow / Keras behaviour this package relies on, in one place.

Each function names what it uses; tests/test_compat.py fails loudly when an upgrade
removes it, instead of a distributed run failing deep inside a train step.
"""

from __future__ import annotations

import tensorflow as tf


def local_component(variable):
    """The tf.Variable behind `variable` on this replica (for in-place row scatters).

    A MirroredVariable has no scatter_nd_update; its per-device component does. Uses
    the private `_get_on_device_or_primary` of tf.distribute's distributed values.
    Outside a strategy the variable itself is returned.
    """
    local = getattr(variable, "_get_on_device_or_primary", None)
    return local() if local is not None else variable


def in_multi_worker_mode(strategy=None):
    """True under a MultiWorkerMirroredStrategy that spans several workers (the private
    `extended._in_multi_worker_mode()`, the same test Keras itself uses)."""
    strategy = strategy or tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._in_multi_worker_mode()  # noqa: SLF001


def fit_outputs(results):
    """Keras 3.15 reduces `fit` outputs under multi-worker with
    strategy.reduce(MEAN, v, axis=0), which fails on scalars: give them a length-1 axis there."""
    if in_multi_worker_mode():
        return {name: tf.reshape(value, [1]) for name, value in results.items()}
    return results


def onednn_enabled():
    """True where TensorFlow runs its oneDNN kernels (the private `IsMklEnabled` of
    tensorflow.python.util._pywrap_util_port; TF_ENABLE_ONEDNN_OPTS decides at load)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())
