"""The GAN losses of MemoryGAN (paper Eqs. 6-8) as small pure functions.

All take the discriminator's outputs in log space, log D(x) and log(1 - D(x)), with
D(x) = p(y = 1 | x) of the DMN (clipped to [eps, 1 - eps] by the memory) or
sigmoid(logit) of the "- Memory" DCGAN, and return per-example values; the model
averages them over the global batch.
"""

from __future__ import annotations

import math

import tensorflow as tf

from memorygan_tf.configs import LOSSES as GENERATOR_LOSSES


def discriminator_loss(log_d_real, log_1m_d_fake, log_1m_d_real=None, real_target=1.0):
    """Eq. 7 without the MI term: -log D(x) - log(1 - D(G(z, K_i))), per example.

    With one-sided label smoothing (Salimans et al. 2016, Sec. 3.4) the real images'
    target is `real_target` t < 1: -t log D(x) - (1 - t) log(1 - D(x)) - log(1 - D(G)).
    """
    if real_target == 1.0:
        return -log_d_real - log_1m_d_fake
    return -real_target * log_d_real - (1.0 - real_target) * log_1m_d_real - log_1m_d_fake


def generator_loss(log_d_fake, log_1m_d_fake, kind="jsd"):
    """Eq. 8 without the MI term, per example (the release's `loss` flag).

    jsd:         log(1 - D(G))            (the minimax loss of Eq. 8)
    alternative: -log D(G)                (non-saturating)
    reverse_kl:  log(1 - D(G)) - log D(G) (= -log(D / (1 - D)), the logit)
    none:        0                        (feature matching alone)
    """
    if kind == "jsd":
        return log_1m_d_fake
    if kind == "alternative":
        return -log_d_fake
    if kind == "reverse_kl":
        return log_1m_d_fake - log_d_fake
    if kind == "none":
        return tf.zeros_like(log_d_fake)
    raise ValueError(f"unknown generator loss {kind!r}; choose one of {', '.join(GENERATOR_LOSSES)}")


def mutual_information(keys, query, kappa):
    """I_hat = -E[kappa K_i . mu(G(z, K_i))] (Eq. 6): the negative expected vMF log-likelihood
    (up to constants) of the conditioning key under the query of the generated image.
    Minimising it makes generated images recognisable as their slot. Returns a scalar."""
    return -tf.reduce_mean(kappa * tf.reduce_sum(keys * query, axis=-1))


def release_information(keys, features):
    """The authors' release's stand-in for I_hat: the mean squared error between the
    encoder's raw output (before the memory normalises it into the query) and the key K_i
    the generator read, averaged over the batch and the key's dimensions
    (models/memory_gan.py: mean_squared_error(q_f, q_sample)). Returns a scalar."""
    return tf.reduce_mean(tf.square(features - keys))


def info_loss(code_onehot, code_logits, continuous, continuous_mean, continuous_weight=1.0):
    """InfoGAN's information term (Chen et al. 2016, Eq. 5), -L_I up to the constant H(c):
    -E[log Q(c | G(z, c))] with Q a categorical over the code's values (cross-entropy of the
    drawn code under `code_logits`) times a factored unit-variance Gaussian over the
    continuous codes (0.5 (c - mean)^2 + 0.5 log 2 pi per code, weighted by
    `continuous_weight`). Minimising it maximises the lower bound of I(c; G(z, c)).
    Returns a scalar (the mean over the batch)."""
    cross_entropy = -tf.reduce_sum(code_onehot * tf.nn.log_softmax(code_logits, axis=-1), axis=-1)
    gaussian = tf.reduce_sum(0.5 * tf.square(continuous - continuous_mean) + 0.5 * math.log(2.0 * math.pi), axis=-1)
    return tf.reduce_mean(cross_entropy + continuous_weight * gaussian)


def feature_matching(mean_real_features, mean_fake_features):
    """||E f(x) - E f(G(z))||^2 (Salimans et al. 2016, Sec. 3.1), given the batch means of
    an intermediate discriminator feature f. Returns a scalar."""
    return tf.reduce_sum(tf.square(mean_real_features - mean_fake_features))


def historical_averaging(parameters, averages):
    """sum_p ||theta_p - mean_t theta_p[t]||^2 (Salimans et al. 2016, Sec. 3.3): the squared
    distance of the parameters to their running averages. Returns a scalar."""
    return tf.add_n([tf.reduce_sum(tf.square(p - a)) for p, a in zip(parameters, averages)])
