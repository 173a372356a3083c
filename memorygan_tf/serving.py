"""Pieces every model's SavedModel signatures share (export.py writes the archive; each
model adds its own signatures through models.base.GAN.add_serving_endpoints)."""

from __future__ import annotations

import tensorflow as tf

from memorygan_tf import data


def hash_uniform(z):
    """A per-row uniform in [0, 1) from the bits of z (deterministic, order-free within a row):
    a request's controls drawn from it make the same z always give the same image."""
    prime = tf.constant(4294967291, tf.int64)
    bits = tf.math.floormod(tf.cast(tf.bitcast(z, tf.int32), tf.int64), prime)
    weights = tf.range(1, tf.shape(z)[1] + 1, dtype=tf.int64) * 40503
    mixed = tf.math.floormod(tf.reduce_sum(tf.math.floormod(bits * weights, prime), axis=1), prime)
    mixed = tf.bitwise.bitwise_xor(mixed, tf.bitwise.right_shift(mixed, 13))
    mixed = tf.math.floormod(mixed * 2654435761, prime)
    return tf.cast(tf.math.floormod(mixed, 1 << 24), tf.float32) / float(1 << 24)


def finite(z, name="z"):
    """z itself, after an assert that names it if a row holds NaN or Inf."""
    return tf.debugging.assert_all_finite(z, f"input {name} holds NaN or Inf")


def in_range(index, size, message):
    """Indices after asserts (failing with `message`) that they lie in [0, size)."""
    checks = [tf.debugging.assert_non_negative(index, message=message),
              tf.debugging.assert_less(index, tf.cast(size, index.dtype), message=message)]
    with tf.control_dependencies(checks):
        return tf.identity(index)


def kept(index, weights, message):
    """Indices (already checked by in_range) after an assert (failing with `message`) that
    their weight is positive: a mode the CRP pruned (weight 0) is never served."""
    check = tf.debugging.assert_positive(tf.gather(weights, index), message=message)
    with tf.control_dependencies([check]):
        return tf.identity(index)


def images_from(model, latent):
    """Generated images in [0, 1] whatever the generator's output activation."""
    return data.to_unit_range(model.generator(latent, training=False), model.config.output_activation)


def z_spec(model):
    return tf.TensorSpec([None, model.noise_dim], tf.float32, name="z")


def seed_spec():
    return tf.TensorSpec([2], tf.int64, name="seed")


def inverse_cdf(cdf, uniform):
    """Index i of each uniform u in [0, 1) by inverse-CDF sampling from an unnormalised
    cumulative weight vector `cdf` [n] (a prior over slots or modes)."""
    idx = tf.searchsorted(cdf, uniform * cdf[-1], side="right")
    return tf.minimum(tf.cast(idx, tf.int32), tf.shape(cdf, out_type=tf.int32)[0] - 1)


def add_prior_endpoints(archive, z_spec, pick, generate, name):
    """serve(z) and sample(z, seed) -> {"images", name}: each row's control from
    pick(uniform), with a uniform hashed from that row's z (serve: the same z always
    gives the same image) or drawn from the seed (sample); images from generate(z, control)."""

    def serve(z):
        z = finite(z)
        control = pick(hash_uniform(z))
        return {"images": generate(z, control), name: control}

    def sample(z, seed):
        z = finite(z)
        control = pick(tf.random.stateless_uniform(tf.shape(z)[:1], seed))
        return {"images": generate(z, control), name: control}

    archive.add_endpoint("serve", serve, input_signature=[z_spec])
    archive.add_endpoint("sample", sample, input_signature=[z_spec, seed_spec()])
