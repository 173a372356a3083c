"""The generator's moving average (--g_ema_decay) and the z-only baselines' noise."""

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, rundir, trainer
from tests.helpers import blobs, tiny_config


@pytest.mark.parametrize("overrides, z_dim", [
    (dict(), 2),  # MemoryGAN: 2-d z beside the 256-d key
    (dict(model="dcgan"), 32),  # the paper's DCGAN reads z in R^32
    (dict(use_memory=False), 32),
    (dict(use_mcgn=False), 32),
    (dict(model="dcgan", z_dim=258), 258),  # --z_dim still overrides
    (dict(model="infogan"), 62),
])
def test_z_only_generators_read_the_papers_dcgan_noise(overrides, z_dim):
    assert configs.make_config("fashion_mnist", overrides).model.z_dim == z_dim


def test_colour_data_z_only_noise_is_the_original_dcgans():
    assert configs.make_config("cifar10", dict(model="dcgan")).model.z_dim == 100
    assert configs.make_config("cifar10").model.z_dim == 16


@pytest.mark.parametrize("decay", [-0.1, 1.0, float("nan")])
def test_bad_ema_decay_is_refused_naming_the_flag(decay):
    with pytest.raises(configs.ConfigError, match="--g_ema_decay"):
        configs.make_config("fashion_mnist", dict(g_ema_decay=decay))


def test_old_run_configs_have_no_moving_average():
    """A config.json written before the option existed resumes without an average (its
    checkpoints hold none)."""
    config = rundir.config_from_dict({"model": {"model": "dcgan"}, "optimizer": {}, "train": {}})
    assert config.model.g_ema_decay == 0.0


def _train(config, steps, seed=0):
    strategy = tf.distribute.get_strategy()
    model = trainer.build_model(config, strategy, steps)
    x = blobs(config.train.batch_size * steps, seed=seed).astype(np.float32) / 255.0
    ds = tf.data.Dataset.from_tensor_slices(x).batch(config.train.batch_size, drop_remainder=True)
    return model, ds


def _fitted(model_name, decay, steps=3):
    """A model trained `steps` steps with --g_ema_decay=`decay`, and its config."""
    config = tiny_config(model=model_name, g_ema_decay=decay)
    model, ds = _train(config, steps)
    model.fit(ds, epochs=1, verbose=0)
    return model, config


@pytest.mark.parametrize("model_name", ["dcgan", "memorygan"])
def test_moving_average_follows_the_update_rule(model_name):
    """After each step the average equals a NumPy replay of d_t a + (1 - d_t) w with the
    warm-up d_t = min(d, (1 + t) / (10 + t)), from the weights after each step."""
    config = tiny_config(model=model_name, g_ema_decay=0.9)
    model, ds = _train(config, 4)
    weights = model.ema_tracked_weights
    expected = [w.numpy().astype(np.float64) for w in weights]  # the average starts at the initial weights
    for t, batch in enumerate(ds.take(4)):
        model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
        d = min(0.9, (1 + t) / (10 + t))
        expected = [d * a + (1 - d) * w.numpy() for a, w in zip(expected, weights)]
    assert int(model.step.numpy()) == 4
    for a, e in zip(model.g_ema, expected):
        np.testing.assert_allclose(a.numpy(), e, rtol=1e-4, atol=1e-6)
    # and it differs from the trained weights (a test that cannot pass by copying them)
    assert any(not np.allclose(a.numpy(), w.numpy()) for a, w in zip(model.g_ema, weights))


def test_ema_generator_swaps_in_and_restores():
    model, config = _fitted("dcgan", 0.5)
    trained = [w.numpy().copy() for w in model.ema_tracked_weights]
    z = tf.random.stateless_uniform([4, config.model.z_dim], [1, 2], -1, 1)
    raw = model.generator(z).numpy()
    with model.ema_generator():
        for w, a in zip(model.ema_tracked_weights, model.g_ema):
            np.testing.assert_array_equal(w.numpy(), a.numpy())
        averaged = model.generator(z).numpy()
    assert not np.allclose(raw, averaged)
    for w, before in zip(model.ema_tracked_weights, trained):
        np.testing.assert_array_equal(w.numpy(), before)
    with pytest.raises(ValueError, match="g_ema_decay"):
        with tiny_config_model_without_ema().ema_generator():
            pass


def tiny_config_model_without_ema():
    return trainer.build_model(tiny_config(model="dcgan", g_ema_decay=0.0), tf.distribute.get_strategy(), 1)


def test_moving_average_round_trips_through_a_checkpoint(tmp_path):
    model, config = _fitted("memorygan", 0.9)
    path = trainer.make_checkpoint(model).save(str(tmp_path / "ckpt"))
    fresh = trainer.build_model(config, tf.distribute.get_strategy(), 3)
    trainer.make_checkpoint(fresh).restore(path).assert_existing_objects_matched()
    for a, b in zip(model.g_ema, fresh.g_ema):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_export_serves_the_moving_average_unless_told_otherwise(tmp_path):
    from memorygan_tf import export
    model, config = _fitted("dcgan", 0.5)
    z = tf.random.stateless_uniform([4, config.model.z_dim], [3, 4], -1, 1)
    raw = model.generator(z).numpy()
    with model.ema_generator():
        averaged = model.generator(z).numpy()
    served = {}
    for weights in ("auto", "trained"):
        export.export_generator(model, str(tmp_path / weights), weights)
        loaded = tf.saved_model.load(str(tmp_path / weights))  # kept: its functions read its variables
        served[weights] = loaded.serve(z)["images"].numpy()
    # images in [0, 1]: the generator's sigmoid output as it is
    np.testing.assert_allclose(served["auto"], averaged, atol=1e-5)
    np.testing.assert_allclose(served["trained"], raw, atol=1e-5)
    with pytest.raises(configs.ConfigError, match="--weights"):
        export.export_generator(tiny_config_model_without_ema(), str(tmp_path / "none"), "ema")


def _averaged_by_hand(model, n, seed):
    """Images of model.generate(n, seed) with the average copied into the generator by hand
    (not through ema_generator), and the trained weights put back."""
    weights = model.ema_tracked_weights
    trained = [w.numpy().copy() for w in weights]
    for weight, average in zip(weights, model.g_ema):
        weight.assign(average.numpy())
    images = model.generate(n, seed).numpy()
    for weight, value in zip(weights, trained):
        weight.assign(value)
    return images


@pytest.mark.parametrize("model_name", ["dcgan", "memorygan"])
def test_auto_weights_generate_from_the_average_where_the_run_keeps_one(model_name):
    model, _ = _fitted(model_name, 0.5)
    seed = tf.constant([5, 6], tf.int64)
    trained = model.generate(8, seed).numpy()
    averaged = _averaged_by_hand(model, 8, seed)
    gap = float(np.abs(trained - averaged).max())  # a tiny generator's outputs lie near 0.5
    assert gap > 1e-6
    for choice, expected, used in (("auto", averaged, "ema"), ("ema", averaged, "ema"),
                                   ("trained", trained, "trained")):
        with model.generator_weights(choice) as got:
            assert got == used, choice
            np.testing.assert_allclose(model.generate(8, seed).numpy(), expected, rtol=0, atol=gap / 100,
                                       err_msg=choice)
        np.testing.assert_array_equal(model.generate(8, seed).numpy(), trained)  # the trained weights are back


def test_a_run_without_an_average_serves_its_trained_weights_and_refuses_ema_in_one_line():
    model = tiny_config_model_without_ema()
    seed = tf.constant([5, 6], tf.int64)
    trained = model.generate(4, seed).numpy()
    with model.generator_weights("auto") as used:
        assert used == "trained"
        np.testing.assert_array_equal(model.generate(4, seed).numpy(), trained)
    with pytest.raises(configs.ConfigError) as caught:
        model.generator_weights("ema")  # at the call: nothing is generated before the refusal
    message = str(caught.value)
    assert message.startswith("--weights: ") and "\n" not in message, message
    assert "no moving average" in message and "--g_ema_decay=0" in message and "--weights=trained" in message
    with pytest.raises(configs.ConfigError, match="--weights: must be one of auto, ema, trained, got 'average'"):
        model.generator_weights("average")
