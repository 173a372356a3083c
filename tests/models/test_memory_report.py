"""MemoryGAN's evaluation report (models/memorygan/report.py) on hand-computed memories."""

import math

import numpy as np
import pytest

from memorygan_tf.models.memorygan import report as ev


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_memory_health_of_a_collapsed_memory():
    keys = np.zeros((16, 4))
    keys[:6] = unit(np.array([1.0, 2.0, 0.0, 0.0]))  # six real slots, one direction
    values = np.r_[np.ones(8), np.zeros(8)]
    histogram = np.r_[np.full(6, 2.0), np.full(10, 1e-5)]
    health = ev.memory_health(keys, values, histogram)
    assert health.real_slots == 6 and health.distinct_real_keys == 1
    assert health.mean_real_cosine == pytest.approx(1.0)
    # Real mass: 6 x 2.0 plus two unwritten real slots of 1e-5: effectively 6 slots.
    assert health.effective_slots == pytest.approx(6.0, rel=1e-4)


def test_memory_health_of_a_diverse_memory():
    keys = np.zeros((16, 8))
    keys[:8] = np.eye(8)  # eight orthogonal real keys
    keys[8:12] = unit(np.ones((4, 8)))  # fake keys do not count
    values = np.r_[np.ones(8), np.zeros(8)]
    histogram = np.r_[[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0], np.ones(8)]
    health = ev.memory_health(keys, values, histogram)
    assert health.real_slots == 8 and health.distinct_real_keys == 8
    assert health.mean_real_cosine == pytest.approx(0.0)
    p = np.array([1, 1, 1, 1, 2, 2, 2, 2]) / 12.0
    assert health.effective_slots == pytest.approx(math.exp(-np.sum(p * np.log(p))))

    # With a prior temperature T the MCGN draws from (h v)^(1/T): T = 2 gives masses 1 and
    # sqrt(2), by hand: p = 1 / (4 + 4 sqrt 2) and sqrt(2) / (4 + 4 sqrt 2).
    flatter = ev.memory_health(keys, values, histogram, prior_temperature=2.0)
    q = np.array([1, 1, 1, 1] + [math.sqrt(2)] * 4) / (4 + 4 * math.sqrt(2))
    assert flatter.effective_slots == pytest.approx(math.exp(-np.sum(q * np.log(q))))
    assert health.effective_slots < flatter.effective_slots < 8.0


def test_prior_mass_hand_computed():
    histogram, values = np.array([4.0, 9.0, 1.0, 16.0]), np.array([1.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(ev.prior_mass(histogram, values), [4.0, 9.0, 0.0, 16.0])
    np.testing.assert_allclose(ev.prior_mass(histogram, values, prior_temperature=2.0), [2.0, 3.0, 0.0, 4.0])


def test_memory_report_write_diagnostics_on_hand_built_memories():
    """All slots generated-labelled: every real test image would be reset. All slots real
    with one key and one count: the posterior within S_1 is flat, entropy log k."""
    import tensorflow as tf

    from memorygan_tf import trainer
    from tests.helpers import blobs, tiny_config

    model = trainer.build_model(tiny_config(), tf.distribute.get_strategy(), total_steps=1)
    memory = model.memory
    size, dim = memory.keys.shape
    x_test = blobs(30, seed=5)
    key = np.zeros((size, dim), np.float32)
    key[:, 0] = 1.0
    memory.keys.assign(key)
    memory.histogram.assign(np.ones(size, np.float32))
    memory.values.assign(np.zeros(size, np.float32))
    report = ev.memory_report(model, x_test, batch_size=7)
    assert report["test_reset_rate"] == 1.0 and report["test_entropy_s"] == 0.0
    memory.values.assign(np.ones(size, np.float32))
    report = ev.memory_report(model, x_test, batch_size=7)
    assert report["test_reset_rate"] == 0.0
    assert report["test_entropy_s"] == pytest.approx(np.log(memory.choose_k), rel=1e-5)
