"""Networks, the MemoryGAN train step and its ablations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, models, networks
from memorygan_tf.models import MemoryGAN
from tests.helpers import blobs, tiny_config


@pytest.mark.parametrize("dataset,shape", [("fashion_mnist", (28, 28, 1)), ("affine_mnist", (40, 40, 1)),
                                           ("cifar10", (32, 32, 3))])
def test_networks_by_image_size(dataset, shape):
    config = tiny_config(dataset).model
    encoder, generator = networks.build_encoder(config), networks.build_generator(config, 3)
    x = tf.random.uniform((3,) + shape)
    assert encoder(x).shape == (3, config.key_dim)
    latent = tf.random.uniform((3, 3))
    images = generator(latent).numpy()
    assert images.shape == (3,) + shape
    low = -1.0 if config.output_activation == "tanh" else 0.0
    assert images.min() >= low and images.max() <= 1.0


def test_release_network_sizes():
    """The 28x28 nets at the release's widths: encoder 4x4 convs to M = 256, generator 1024 fc."""
    config = configs.make_config("fashion_mnist").model
    encoder = networks.build_encoder(config)
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 128, 256, 256]
    assert [c.strides for c in convs] == [(2, 2), (2, 2), (2, 2), (4, 4)]
    generator = MemoryGAN(config).generator  # the MCGN reads [z, K_i]
    assert generator.input_shape == (None, 2 + 256)
    dense = [layer.units for layer in generator.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [1024, 128 * 7 * 7]


def test_unsupported_image_size_is_a_clear_error():
    config = tiny_config().model
    bad = configs.ModelConfig(**{**config.__dict__, "image_shape": (50, 50, 1)})
    with pytest.raises(ValueError, match="no network for 50x50"):
        networks.build_encoder(bad)


def make_model(config, seed=0):
    model = models.build(config.model, seed=seed)
    model.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
    model.build_optimizers()
    return model


def images_for(config, n=8):
    h, w, c = config.model.image_shape
    return tf.constant(blobs(n, h, c).astype(np.float32) / 255.0)


@pytest.mark.parametrize("overrides", [
    dict(),
    dict(update_rule="kaiser"),
    dict(update_rule="release"),
    dict(use_mcgn=False),
    dict(use_memory=False),
    dict(loss="alternative"),
    dict(loss="reverse_kl"),
    # The release's writes with its k > batch (128 > 64): with k <= batch every generated
    # reset of the first D step lands on the k real slots just written (both draw on the
    # pre-step oldest slots, as in the release), the memory holds no real key and the
    # second step's posterior is flat.
    dict(batch_write="last", writes_per_step=3, update_rule="release", fill_empty=False, choose_k=16),
])
def test_train_step_runs_and_changes_state(overrides):
    config = tiny_config(**overrides)
    model = make_model(config)
    before_g = [v.numpy().copy() for v in model.generator.trainable_variables]
    before_d = [v.numpy().copy() for v in model.discriminator_variables]
    memory = getattr(model, "memory", None)
    before_keys = memory.keys.numpy().copy() if memory is not None else None
    step = tf.function(model.train_step)
    for _ in range(2):
        logs = step(images_for(config))
    logs = {k: float(v) for k, v in logs.items()}
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert {"d_loss", "g_loss", "d_real", "d_fake", "mi_loss"} <= set(logs)
    assert int(model.step.numpy()) == 2
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before_g, model.generator.trainable_variables))
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before_d, model.discriminator_variables))
    if memory is not None:
        assert "mem_real_rate" in logs
        keys = model.memory.keys.numpy()
        assert not np.allclose(keys, before_keys)
        norms = np.linalg.norm(keys, axis=1)
        if overrides.get("fill_empty") is False:
            # An empty (zero) key that EM gives a responsibility below l2_normalize's
            # epsilon stays shorter than unit, in the release as here; none is longer.
            assert norms.max() <= 1.0 + 1e-5 and np.sum(np.abs(norms - 1.0) < 1e-5) >= config.train.batch_size
        else:
            np.testing.assert_allclose(norms[norms > 0], 1.0, atol=1e-5)
    if overrides.get("use_mcgn") is False or overrides.get("use_memory") is False:
        assert logs["mi_loss"] == 0.0


@pytest.mark.parametrize("writes,batch_write", [(1, "sum"), (3, "sum"), (3, "last")])
def test_writes_per_step_counts_memory_writes(writes, batch_write):
    """Every write ages every slot by one: after one step a never-written slot is as old as
    the number of writes (1 in Algorithm 1, 3 in the release: real, fake, G-step fake)."""
    config = tiny_config(writes_per_step=writes, batch_write=batch_write)
    model = make_model(config)
    model.train_step(images_for(config))
    ages = model.memory.ages.numpy()
    assert ages.max() == writes
    assert (ages == 0).any()


def test_mcgn_feeds_sampled_keys_to_the_generator():
    config = tiny_config()
    model = make_model(config)
    rng = np.random.default_rng(0)
    keys = rng.normal(size=(64, 8)).astype(np.float32)
    model.memory.keys.assign(keys / np.linalg.norm(keys, axis=1, keepdims=True))
    latent, controls = model.sample_latent(5, tf.constant([1, 2], tf.int64))
    slots = controls["slot"]
    np.testing.assert_allclose(latent[:, 2:].numpy(), model.memory.keys.numpy()[slots.numpy()])
    assert np.all(np.abs(latent[:, :2].numpy()) <= 1.0)  # z ~ U(-1, 1)
    assert np.all(model.memory.values.numpy()[slots.numpy()] == 1.0)  # only real slots
    # generate() is reproducible from its seed.
    a = model.generate(4, tf.constant([3, 4])).numpy()
    b = model.generate(4, tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(a, b)


def test_mutual_information_term_is_negative_cosine():
    config = tiny_config()
    model = make_model(config)
    z = tf.zeros([2, 2])
    keys = tf.constant([[1.0] + [0.0] * 7, [0.0, 1.0] + [0.0] * 6])
    query = tf.constant([[0.6, 0.8] + [0.0] * 6, [0.6, 0.8] + [0.0] * 6])
    value = model.mutual_information(tf.concat([z, keys], -1), query)
    assert float(value) == pytest.approx(-config.model.kappa * (0.6 + 0.8) / 2)
    # The encoder's raw output is normalised first: its length does not matter.
    assert float(model.mutual_information(tf.concat([z, keys], -1), 5.0 * query)) == pytest.approx(float(value))


def test_release_mutual_information_is_mse_of_the_raw_output():
    config = tiny_config(mi_form="release")
    model = make_model(config)
    z = tf.zeros([2, 2])
    keys = tf.constant([[1.0] + [0.0] * 7, [0.0, 1.0] + [0.0] * 6])
    raw = tf.constant([[3.0, 4.0] + [0.0] * 6, [0.0, 1.0] + [0.0] * 6])
    value = model.mutual_information(tf.concat([z, keys], -1), raw)
    assert float(value) == pytest.approx((2.0 ** 2 + 4.0 ** 2) / 16)  # mean over 2 x 8 entries


def test_d_loss_matches_eq7_on_first_step():
    """At step 0 the logged d_loss is -mean log D(x) - mean log(1 - D(G(z))) of the D step."""
    config = tiny_config()
    model = make_model(config)
    real = images_for(config)
    latent = model.local_latent(8, 0)
    fake = model.generator(latent, training=True)
    log_d_real, _, _, _ = model.judge(model.encoder(real, training=True))
    _, log_1m_fake, _, _ = model.judge(model.encoder(fake, training=True))
    expected = float(tf.reduce_mean(-log_d_real - log_1m_fake))
    logs = model.train_step(real)
    assert float(logs["d_loss"]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_xla_compiled_network_passes_give_the_same_step():
    config = tiny_config()
    plain = make_model(config)
    jit = MemoryGAN(config.model, seed=0, jit_compile=True)
    jit.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
    jit.build_optimizers()
    for a, b in zip(plain.weights, jit.weights):
        b.assign(a)
    real = images_for(config)
    logs_plain = tf.function(plain.train_step)(real)
    logs_jit = tf.function(jit.train_step)(real)
    for name in logs_plain:
        assert float(logs_jit[name]) == pytest.approx(float(logs_plain[name]), rel=1e-3, abs=1e-4), name
    np.testing.assert_allclose(jit.memory.keys.numpy(), plain.memory.keys.numpy(), atol=1e-4)


@pytest.mark.parametrize("loss", ["jsd", "alternative", "reverse_kl"])
def test_g_step_loss_is_the_configured_generator_loss(loss):
    """The G step's loss is mean L_G (Eq. 8) of its own D outputs, with the configured sign."""
    config = tiny_config(loss=loss)
    model = make_model(config)
    latent = model.local_latent(8, 1)
    _, g_loss, _, _, _ = model.generator_gradients(latent, None)
    log_d, log_1m_d, _, _ = model.judge(model.encoder(model.generator(latent, training=True), training=True))
    expected = {"jsd": log_1m_d, "alternative": -log_d, "reverse_kl": log_1m_d - log_d}[loss]
    assert float(g_loss) == pytest.approx(float(tf.reduce_mean(expected)), rel=1e-5)
