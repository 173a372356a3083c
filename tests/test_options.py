"""Training options of the seed papers: each changes the graph or the loss as
claimed, trains with finite losses with and without the memory, and survives a
checkpoint, MirroredStrategy and export."""

import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, data, losses, networks, trainer
from tests.helpers import ROOT, TINY_FLAGS, assert_passes_in_float64_process, blobs, run_main, tiny_config

OPTIONS = {
    "d_steps": dict(d_steps=2),
    "label_smoothing": dict(label_smoothing=0.9),
    "feature_matching": dict(feature_matching=True),
    "feature_matching_alone": dict(feature_matching=True, loss="none"),
    "minibatch_discrimination": dict(minibatch_discrimination=True),
    "historical_averaging": dict(historical_averaging=1e-3),
    "self_modulation": dict(self_modulation=True),
    "spectral_norm": dict(spectral_norm=True),
}


def fit(model, config, images, steps):
    batch = config.train.batch_size * config.model.d_steps
    ds = tf.data.Dataset.from_tensor_slices(images).batch(batch, drop_remainder=True).repeat()
    return model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False).history


def build(**model):
    config = tiny_config(**model)
    return config, trainer.build_model(config, tf.distribute.get_strategy(), total_steps=10)


def images(n=64):
    return blobs(n).astype(np.float32) / 255.0


# ------------------------------------------------------------------ flags and values
def test_every_option_is_a_flag_off_by_default():
    fields = {name: field.default for _, name, _, _, field in configs.flag_fields()}
    assert fields["d_steps"] == 1 and fields["label_smoothing"] == 1.0 and fields["historical_averaging"] == 0.0
    for name in ("feature_matching", "minibatch_discrimination", "self_modulation", "spectral_norm"):
        assert fields[name] is False


@pytest.mark.parametrize("overrides, flag", [
    (dict(label_smoothing=0.0), "label_smoothing"), (dict(label_smoothing=1.5), "label_smoothing"),
    (dict(historical_averaging=-1.0), "historical_averaging"), (dict(d_steps=0), "d_steps"),
    (dict(loss="none"), "loss"),
])
def test_bad_option_values_are_refused(overrides, flag):
    with pytest.raises(configs.ConfigError) as error:
        configs.make_config("fashion_mnist", model_overrides=overrides)
    assert error.value.flag == flag


def test_label_smoothed_discriminator_loss_by_hand():
    d_real, d_fake = 0.8, 0.3
    got = losses.discriminator_loss(tf.math.log(d_real), tf.math.log(1 - d_fake), tf.math.log(1 - d_real), 0.9)
    expected = -0.9 * math.log(0.8) - 0.1 * math.log(0.2) - math.log(0.7)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # t = 1 is the unsmoothed loss
    plain = losses.discriminator_loss(tf.math.log(d_real), tf.math.log(1 - d_fake))
    assert float(plain) == pytest.approx(-math.log(0.8) - math.log(0.7), rel=1e-6)


def test_feature_matching_and_historical_averaging_by_hand():
    assert float(losses.feature_matching(tf.constant([1.0, 2.0]), tf.constant([0.0, 4.0]))) == pytest.approx(5.0)
    params = [tf.constant([1.0, 2.0]), tf.constant([[3.0]])]
    assert float(losses.historical_averaging(params, [tf.constant([0.0, 0.0]), tf.constant([[1.0]])])) == 9.0
    assert float(losses.historical_averaging(params, params)) == 0.0  # zero at the running average
    assert float(losses.generator_loss(tf.constant([-0.5]), tf.constant([-1.0]), "none")[0]) == 0.0


def test_group_order_gives_each_replica_its_share_of_every_batch():
    order = data.group_order(batch_size=4, groups=2, replicas=2)
    # replica 0 holds rows 0-1 of batch 0 then rows 0-1 of batch 1; replica 1 the rest
    np.testing.assert_array_equal(order, [0, 1, 4, 5, 2, 3, 6, 7])


# ------------------------------------------------------------------ graph changes
def test_self_modulation_parameter_count():
    config = tiny_config()
    latent_dim = 7
    plain = networks.build_generator(config.model, latent_dim)
    modulated = networks.build_generator(tiny_config(self_modulation=True).model, latent_dim)
    h = networks.SELF_MODULATION_HIDDEN
    norms = [layer for layer in plain.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3
    expected = 0
    for layer in norms:
        c = layer.gamma.shape[0]
        expected += 2 * (latent_dim * h + h + h * c + c) - 2 * c  # two MLPs in, BN's gamma/beta out
    assert modulated.count_params() - plain.count_params() == expected


def test_minibatch_discrimination_parameter_count_and_values():
    config = tiny_config()
    plain = networks.build_encoder(config.model)
    with_mbd = networks.build_encoder(tiny_config(minibatch_discrimination=True).model)
    a, b, c = config.model.key_dim, networks.MINIBATCH_KERNELS, networks.MINIBATCH_KERNEL_DIM
    assert with_mbd.count_params() - plain.count_params() == a * b * c + (a + b) * a + a
    # o(f_i)_b = sum_{j != i} exp(-||M_ib - M_jb||_1), against NumPy
    layer = networks.MinibatchDiscrimination(kernels=3, kernel_dim=2)
    f = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    out = layer(f).numpy()
    m = (f @ layer.tensor.numpy()).reshape(4, 3, 2)
    l1 = np.abs(m[:, None] - m[None, :]).sum(-1)
    np.testing.assert_allclose(out[:, 5:], np.exp(-l1).sum(1) - 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out[:, :5], f)


def test_spectral_norm_kernels_have_unit_largest_singular_value_after_steps():
    config, model = build(spectral_norm=True)
    fit(model, config, images(), steps=25)
    wrapped = [layer for layer in model.encoder.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 4  # every conv of dcgan28's encoder
    for layer in wrapped:
        kernel = layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1])
        assert np.linalg.svd(kernel, compute_uv=False)[0] == pytest.approx(1.0, abs=0.05), layer.name
    # without the option the kernels are not normalised
    config, model = build()
    fit(model, config, images(), steps=2)
    kernel = model.encoder.layers[1].kernel.numpy()
    assert abs(np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0] - 1.0) > 0.5


@pytest.mark.parametrize("d_steps", [1, 2])
def test_d_steps_writes_the_memory_once_per_discriminator_step(d_steps):
    config, model = build(d_steps=d_steps, memory_size=256)
    d_before = model.d_optimizer.iterations.numpy()
    fit(model, config, images(), steps=1)
    # a slot no write touched has aged once per write
    assert model.memory.ages.numpy().max() == d_steps
    assert model.d_optimizer.iterations.numpy() - d_before == d_steps
    assert model.g_optimizer.iterations.numpy() == 1


def test_historical_averages_are_running_means_of_the_parameters():
    config, model = build(historical_averaging=1e-3)
    first = [v.numpy() for v in model.generator.trainable_variables]
    fit(model, config, images(), steps=1)
    second = [v.numpy() for v in model.generator.trainable_variables]
    for a, p0, p1 in zip(model.g_averages, first, second):
        np.testing.assert_allclose(a.numpy(), (p0 + p1) / 2, atol=1e-7)
    fit(model, config, images(), steps=1)
    third = [v.numpy() for v in model.generator.trainable_variables]
    for a, p0, p1, p2 in zip(model.g_averages, first, second, third):
        np.testing.assert_allclose(a.numpy(), (p0 + p1 + p2) / 3, atol=1e-6)
    # the penalty is zero at the running average and counts in the G step's loss
    assert float(model.history_penalty(model.g_averages, model.g_averages)) == 0.0
    assert float(model.history_penalty(model.generator.trainable_variables, model.g_averages)) > 0.0


def test_feature_matching_loss_is_logged_and_alone_leaves_only_it():
    config, model = build(feature_matching=True, loss="none")
    history = fit(model, config, images(), steps=2)
    assert history["g_loss"][-1] == 0.0 and history["fm_loss"][-1] > 0.0


# ------------------------------------------------------------------ training
def assert_trains(use_memory, **options):
    config, model = build(use_memory=use_memory, **options)
    history = fit(model, config, images(), steps=2)
    for key, values in history.items():
        assert np.isfinite(values[-1]), (key, values)
    assert int(model.step.numpy()) == 2


@pytest.mark.parametrize("use_memory", [True, pytest.param(False, marks=pytest.mark.slow)],
                         ids=["memory", "dcgan"])
def test_all_options_together_train_with_finite_losses(use_memory):
    assert_trains(use_memory, **{k: v for opts in OPTIONS.values() for k, v in opts.items() if k != "loss"})


@pytest.mark.slow
@pytest.mark.parametrize("use_memory", [True, False], ids=["memory", "dcgan"])
@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_option_trains_with_finite_losses(name, use_memory):
    assert_trains(use_memory, **OPTIONS[name])


ALL_BUT_MBD = dict(d_steps=2, label_smoothing=0.9, feature_matching=True, historical_averaging=1e-3,
                   self_modulation=True, spectral_norm=True)

def compare_options_mirrored():
    """All options but minibatch discrimination (which compares within each replica's
    batch by design): two replicas end where one device does. Then every option
    including it: replicas stay identical."""
    from tests.test_distributed import replicas_of
    steps, batch = 3, 8
    config = tiny_config(batch_size=batch, memory_size=32, **ALL_BUT_MBD)
    x = blobs(batch * 2 * steps).astype(np.float64) / 255.0
    keras.utils.set_random_seed(5)
    init = trainer.build_model(config, tf.distribute.get_strategy(), steps)
    weights = (init.encoder.get_weights(), init.generator.get_weights())

    def run(strategy, order=None, cfg=config):
        model = trainer.build_model(cfg, strategy, steps)
        if cfg is config:
            model.encoder.set_weights(weights[0])
            model.generator.set_weights(weights[1])
            for averages, variables in ((model.d_averages, model.discriminator_variables),
                                        (model.g_averages, model.generator.trainable_variables)):
                for a, v in zip(averages, variables):
                    a.assign(v)
        ds = tf.data.Dataset.from_tensor_slices(x).batch(batch * 2, drop_remainder=True)
        if order is not None:
            ds = ds.map(lambda images: tf.gather(images, order))
        model.fit(ds.repeat(), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        return model

    single = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
    mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    mirrored = run(mirrored_strategy, data.group_order(batch, 2, 2))
    for name in ("keys", "values", "ages", "histogram"):
        copies = replicas_of(getattr(mirrored.memory, name))
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=name)
        np.testing.assert_allclose(copies[0], getattr(single.memory, name).numpy(), atol=1e-5, err_msg=name)
    for a, b in zip(single.encoder.weights + single.generator.weights + single.g_averages,
                    mirrored.encoder.weights + mirrored.generator.weights + mirrored.g_averages):
        np.testing.assert_allclose(replicas_of(b)[0], a.numpy(), atol=1e-5, err_msg=a.name)

    everything = tiny_config(batch_size=batch, memory_size=32, minibatch_discrimination=True, **ALL_BUT_MBD)
    model = run(mirrored_strategy, data.group_order(batch, 2, 2), cfg=everything)
    for v in model.encoder.weights + model.generator.weights + [model.memory.keys]:
        copies = replicas_of(v)
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=v.name)


@pytest.mark.slow
def test_options_under_mirrored_strategy_match_one_device():
    assert_passes_in_float64_process("tests.test_options", "compare_options_mirrored")


@pytest.mark.slow
def test_all_options_through_main_checkpoint_resume_and_export(tmp_path):
    """main with every option trains, resumes from its checkpoint and exports a generator."""
    path = tmp_path / "blobs.npz"
    np.savez(path, x_train=blobs(64))
    logdir = tmp_path / "run"
    flags = ["--dataset=custom", f"--data_path={path}", f"--logdir={logdir}", "--batch_size=8",
             "--steps_per_epoch=2", "--d_steps=2", "--label_smoothing=0.9", "--feature_matching",
             "--minibatch_discrimination", "--historical_averaging=0.001", "--self_modulation",
             "--spectral_norm", *TINY_FLAGS]
    first = run_main([*flags, "--epochs=1"])
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_main([*flags, "--epochs=2"])
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Resumed from" in second.stdout + second.stderr
    export_dir = tmp_path / "export"
    # The export runs with this process's oneDNN setting: its kernels round differently from
    # TensorFlow's own (~1e-4 here), and the tool turns oneDNN on where TensorFlow leaves it off.
    from memorygan_tf import compat

    onednn = "1" if compat.onednn_enabled() else "0"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export_generator.py"),
                             f"--logdir={logdir}", f"--export_dir={export_dir}"], capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
                                                TF_ENABLE_ONEDNN_OPTS=onednn))
    assert result.returncode == 0, result.stderr[-2000:]
    served = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    z = tf.random.stateless_uniform([5, 2], [1, 2], minval=-1.0, maxval=1.0)
    out = served(z=z)
    from memorygan_tf import rundir
    model, _ = rundir.RunDir(logdir).load_model()
    with model.ema_generator():  # the export serves the generator's moving average (--weights=auto)
        expected = model.generator(model.latent_from(z, out["slots"]), training=False)
    np.testing.assert_allclose(out["images"].numpy(), expected.numpy(), atol=1e-5)
