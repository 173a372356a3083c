"""The losses of Eqs. 6-8 on hand-computed inputs: a sign flip in any of them fails here."""

import math

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import losses

D_REAL, D_FAKE = np.array([0.9, 0.6]), np.array([0.2, 0.7])


def logs(d):
    return tf.constant(np.log(d)), tf.constant(np.log(1.0 - d))


def test_discriminator_loss_eq7():
    log_d_real, _ = logs(D_REAL)
    _, log_1m_d_fake = logs(D_FAKE)
    value = losses.discriminator_loss(log_d_real, log_1m_d_fake).numpy()
    expected = [-math.log(0.9) - math.log(0.8), -math.log(0.6) - math.log(0.3)]
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert np.all(value > 0)  # a negative log-likelihood


@pytest.mark.parametrize("kind,expected", [
    ("jsd", [math.log(0.8), math.log(0.3)]),  # log(1 - D(G)), Eq. 8: minimised by D(G) -> 1
    ("alternative", [-math.log(0.2), -math.log(0.7)]),  # -log D(G)
    ("reverse_kl", [math.log(0.8 / 0.2), math.log(0.3 / 0.7)]),  # -logit D(G)
])
def test_generator_losses_eq8(kind, expected):
    log_d_fake, log_1m_d_fake = logs(D_FAKE)
    value = losses.generator_loss(log_d_fake, log_1m_d_fake, kind).numpy()
    np.testing.assert_allclose(value, expected, rtol=1e-12)


@pytest.mark.parametrize("kind", [k for k in losses.GENERATOR_LOSSES if k != "none"])
def test_every_generator_loss_decreases_as_d_is_fooled(kind):
    """A generator loss must fall as D(G(z)) rises: the direction a sign flip reverses."""
    d = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    value = losses.generator_loss(*logs(d), kind).numpy()
    assert np.all(np.diff(value) < 0), value


def test_unknown_generator_loss_is_rejected():
    with pytest.raises(ValueError, match="unknown generator loss"):
        losses.generator_loss(*logs(D_FAKE), "wasserstein")


def test_mutual_information_eq6():
    keys = tf.constant([[1.0, 0.0], [0.0, 1.0]], tf.float64)
    query = tf.constant([[0.6, 0.8], [0.6, 0.8]], tf.float64)
    # -(kappa / B) sum_b K_b . q_b = -(2 / 2) (0.6 + 0.8)
    assert float(losses.mutual_information(keys, query, kappa=2.0)) == pytest.approx(-1.4)
    # Perfectly aligned keys give the minimum -kappa; opposite ones the maximum +kappa.
    assert float(losses.mutual_information(keys, keys, 3.0)) == pytest.approx(-3.0)
    assert float(losses.mutual_information(keys, -keys, 3.0)) == pytest.approx(3.0)


def test_release_information_is_mse_of_the_raw_output():
    keys = tf.constant([[1.0, 0.0], [0.0, 1.0]], tf.float64)
    raw = tf.constant([[3.0, 4.0], [0.0, 1.0]], tf.float64)
    # mean over 2 x 2 entries of (f - K)^2: ((3 - 1)^2 + 4^2 + 0 + 0) / 4 = 20 / 4
    assert float(losses.release_information(keys, raw)) == pytest.approx(5.0)
    # Unlike Eq. 6 it depends on the raw output's length, not only its direction.
    assert float(losses.release_information(keys, 2.0 * keys)) == pytest.approx(0.5)
