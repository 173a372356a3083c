"""MIC-GANs (models/micgan/): the ACRP schedule, the state a CRP round leaves, the
conditional discriminator, exact resume, two replicas = one device. The Gibbs sweep
itself is tested in tests/models/test_crp.py; the harness's promises in test_models.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, data, models, trainer
from tests.helpers import assert_passes_in_float64_process, blobs, tiny_config
from tests.test_distributed import replicas_of
from tests.test_models import TINY_MICGAN


def micgan_config(tmp_path=None, steps_per_epoch=2, epochs=1, **overrides):
    config = tiny_config(model="micgan", **{**TINY_MICGAN, **overrides})
    if tmp_path is None:
        return config
    return configs.ExperimentConfig(model=config.model, optimizer=config.optimizer, train=configs.TrainConfig(
        batch_size=8, steps_per_epoch=steps_per_epoch, epochs=epochs, logdir=str(tmp_path / "run"),
        keep_checkpoints=5))


def quiet(message):
    del message


def test_rounds_fall_on_the_schedule():
    model = models.build(micgan_config(micgan_init_steps=10, micgan_round_steps=5).model)
    assert [model.round_due(s) for s in (0, 9, 10, 14, 15, 19, 20)] == [0, 0, 1, 1, 2, 2, 3]
    assert model.generator_input_dim() == 3 + 3 and model.noise_dim == 3
    assert model.min_members(60000) == 40 and model.min_members(30) == 5  # (K + 1) x 10, capped at n / 2K


def test_options_are_checked():
    for flag, value in [("micgan_modes", 1), ("micgan_round_steps", 0), ("micgan_encoder_steps", 0),
                        ("micgan_init_steps", -1), ("micgan_r1", -1.0), ("micgan_concentration", -0.5)]:
        with pytest.raises(configs.ConfigError, match=f"--{flag}"):
            tiny_config(model="micgan", **{flag: value})
    with pytest.raises(configs.ConfigError, match="--d_steps"):
        tiny_config(model="micgan", d_steps=2)
    preset = configs.make_config("mnist", model_overrides=dict(model="micgan")).model
    assert preset.z_dim == 256 and preset.z_distribution == "normal" and preset.micgan_modes == 20


def test_dataset_with_index_yields_the_images_of_those_indices():
    images = blobs(20)
    batch, index = next(iter(data.make_dataset(images, 8, seed=3, with_index=True)))
    expected = data.scale_images(images[index.numpy()], "sigmoid").numpy()
    np.testing.assert_array_equal(batch.numpy(), expected)
    assert len(set(index.numpy().tolist())) == 8


def test_the_mode_moves_the_generator_as_much_as_the_noise():
    """The generator runs on z + e_k with e_k ~ N(0, I) at the start (the authors'
    conditioning): changing the mode changes the images about as much as changing z.
    (Concatenating one_hot(k) to a 256-dimensional z changed them ~20 times less, and the
    trained generator ignored its modes.) Averaged over 64 pairs and seeded: one pair's
    ratio ranged 0.5-1.7 over initialisations, the 64 pairs' mean 0.8-1.4."""
    keras.utils.set_random_seed(0)
    config = micgan_config(z_dim=64)
    model = models.build(config.model)
    n = 64
    z = model.sample_noise(2 * n, tf.constant([4, 5], tf.int64))
    zeros, ones = tf.zeros([n], tf.int32), tf.ones([n], tf.int32)
    same_z = model.generator(model.latent_from(tf.concat([z[:n], z[:n]], 0), tf.concat([zeros, ones], 0)))
    same_mode = model.generator(model.latent_from(z, tf.concat([zeros, zeros], 0)))
    mode_change = float(tf.reduce_mean(tf.norm(tf.reshape(same_z[:n] - same_z[n:], [n, -1]), axis=1)))
    noise_change = float(tf.reduce_mean(tf.norm(tf.reshape(same_mode[:n] - same_mode[n:], [n, -1]), axis=1)))
    assert mode_change > 0.5 * noise_change, (mode_change, noise_change)
    embedding = model.generator.get_layer("mode_embedding").kernel.numpy()
    assert embedding.shape == (3, 64) and 0.8 < embedding.std() < 1.2


def test_discriminator_picks_the_unconditional_logit_then_the_modes():
    model = models.build(micgan_config().model)
    features = tf.random.stateless_normal([4, model.config.key_dim], [1, 2])
    logits = model.logit_head(features).numpy()
    modes = tf.constant([0, 2, 1, 2])
    np.testing.assert_allclose(model.logit(features, modes, False).numpy(), logits[:, 0], rtol=1e-6)
    model.crp_round.assign(1)
    np.testing.assert_allclose(model.logit(features, modes, False).numpy(),
                               logits[np.arange(4), modes.numpy() + 1], rtol=1e-6)


def test_r1_penalty_is_gamma_times_the_mean_squared_input_gradient():
    """The penalty against the gradient of the summed logits taken outside the model: zero
    in the initialisation stage (unless micgan_r1_init), gamma x the mean squared norm from
    the first CRP round on, and zero at gamma = 0."""
    model = models.build(micgan_config().model)
    real = tf.constant(blobs(4).astype(np.float32) / 255.0)
    modes = tf.constant([0, 2, 1, 0], tf.int32)

    def expected(column):
        with tf.GradientTape() as tape:
            tape.watch(real)
            logits = model.logit_head(model.encoder(real, training=True))
            total = tf.reduce_sum(tf.gather(logits, column, batch_dims=1))
        grad = tape.gradient(total, real).numpy()
        return 10.0 * np.mean(np.sum(grad.reshape(4, -1) ** 2, axis=1))

    assert float(model.r1_penalty(real, modes)[1]) == 0.0  # the initialisation stage
    unconditional = expected(tf.zeros([4], tf.int32))
    with_init = models.build(micgan_config(micgan_r1_init=True).model)
    with_init.set_weights(model.get_weights())
    assert float(with_init.r1_penalty(real, modes)[1]) == pytest.approx(unconditional, rel=1e-4)
    model.crp_round.assign(1)
    conditional = expected(modes + 1)
    assert float(model.r1_penalty(real, modes)[1]) == pytest.approx(conditional, rel=1e-4)
    assert conditional > 0 and conditional != pytest.approx(unconditional)
    assert float(models.build(micgan_config(micgan_r1=0.0).model).r1_penalty(real, modes)[1]) == 0.0


def test_r1_gradient_reaches_the_discriminator_after_the_stage_switch():
    """Traced before the first round, the step has no penalty (and no gradient from it);
    traced after it, the discriminator's gradient of the penalty equals an ungated
    computation (AdversarialCRP traces the step again at the switch: next test)."""
    model = models.build(micgan_config().model)
    real = tf.constant(blobs(4).astype(np.float32) / 255.0)
    modes = tf.constant([1, 0, 2, 1], tf.int32)
    weights = model.encoder.trainable_variables

    def gated_step():
        def step():
            with tf.GradientTape() as tape:
                penalty = model.r1_penalty(real, modes)[1]
            grads = tape.gradient(penalty, weights)
            return penalty, [tf.zeros([]) if g is None else g for g in grads]
        return tf.function(step)

    def ungated():
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(real)
                logits = model.logit_head(model.encoder(real, training=True))
                total = tf.reduce_sum(tf.gather(logits[:, 1:], modes, batch_dims=1))
            grad = inner.gradient(total, real)
            penalty = 10.0 * tf.reduce_mean(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
        return penalty, outer.gradient(penalty, weights)

    before = gated_step()
    penalty, grads = before()
    assert float(penalty) == 0.0 and all(float(tf.reduce_max(tf.abs(g))) == 0.0 for g in grads)
    model.crp_round.assign(1)
    penalty, grads = gated_step()()
    reference, reference_grads = ungated()
    assert float(penalty) == pytest.approx(float(reference), rel=1e-4) and float(penalty) > 0
    for g, r in zip(grads, reference_grads):
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-3, atol=1e-6 * float(tf.reduce_max(tf.abs(r))))
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 0


def test_a_crp_round_leaves_consistent_state(tmp_path):
    """After training through rounds: labels lie in the active modes, pi is their share,
    pruned modes weigh 0, and the modes the generator reads are the real batch's labels."""
    images = blobs(48)
    config = micgan_config(tmp_path, steps_per_epoch=3)
    model = trainer.train(config, images, verbose=0, log=quiet)
    assert int(model.crp_round.numpy()) == 2  # rounds before steps 1 and 2
    # The step was traced again at the first round: steps 1 and 2 paid the R1 penalty.
    assert float(model.trackers["r1"].result()) > 0
    labels = model.data_labels.numpy()
    active = model.mode_active.numpy() > 0.5
    weights = model.mode_weights.numpy()
    assert labels.shape == (48,) and np.all(active[labels])
    np.testing.assert_allclose(weights, np.bincount(labels, minlength=3) / 48, atol=1e-7)
    assert np.all(weights[~active] == 0) and weights.sum() == pytest.approx(1.0)
    # The ACRP stage conditions the generator on the labels of the real images.
    index = tf.constant([5, 0, 7, 3])
    latent = model.training_latent(4, 0, 0, index)
    np.testing.assert_array_equal(model.modes_of(latent).numpy(), labels[[5, 0, 7, 3]])
    # Sampling from the prior never picks a pruned mode.
    _, controls = model.sample_latent(500, tf.constant([1, 2], tf.int64))
    assert np.all(active[controls["mode"].numpy()])


def test_the_mode_encoder_learns_the_mode_means():
    """The encoder steps lower 0.1 x MSE(Q(G(z, k)), mu_k) (from 0.1 x 1/3 at the start
    towards 0.1 x 2/9, what predicting the modes' mean target gives, or below). The weights'
    seed is pinned: 40 steps from some initialisations (left by earlier tests) only reach 0.85."""
    keras.utils.set_random_seed(0)
    config = micgan_config(micgan_encoder_steps=40)
    model = trainer.build_model(config, tf.distribute.get_strategy(), 10)
    first = float(model.encoder_step(tf.constant(1, tf.int64), tf.constant(0, tf.int64)))
    model.train_encoder(1)
    last = float(model.encoder_step(tf.constant(1, tf.int64), tf.constant(0, tf.int64)))
    assert last < 0.8 * first, (first, last)


@pytest.mark.slow
def test_resume_continues_the_same_round_with_the_same_labels(tmp_path):
    """Stopped after step 2 (round 1 ran before step 1) and resumed to step 4: the round,
    labels and mixture come back from the checkpoint, no round is redone, and the
    weights equal those of a run that was never interrupted."""
    images = blobs(48)
    overrides = dict(micgan_round_steps=5)
    keras.utils.set_random_seed(5)  # the same initial weights for both runs
    stopped = trainer.train(micgan_config(tmp_path, **overrides), images, verbose=0, log=quiet)
    labels, means = stopped.data_labels.numpy(), stopped.mode_means.numpy()
    assert int(stopped.crp_round.numpy()) == 1
    resumed = trainer.train(micgan_config(tmp_path, epochs=2, **overrides), images, verbose=0, log=quiet)
    assert int(resumed.step.numpy()) == 4 and int(resumed.crp_round.numpy()) == 1
    np.testing.assert_array_equal(resumed.data_labels.numpy(), labels)
    np.testing.assert_array_equal(resumed.mode_means.numpy(), means)
    keras.utils.set_random_seed(5)
    whole = trainer.train(micgan_config(tmp_path / "whole", epochs=2, **overrides), images, verbose=0, log=quiet)
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=a.path)


def compare_micgan_mirrored_with_one_device(steps=3):
    """Three MIC-GAN steps with two CRP rounds (encoder steps under the strategy, the CRP
    once on the host) on one device and on two replicas from the same weights agree
    (float64), and both replicas hold the same labels and mixture."""
    assert len(tf.config.list_logical_devices("CPU")) >= 2, "conftest.py configures two logical CPUs"
    config = micgan_config()
    raw = blobs(8 * steps)
    images = data.scale_images(raw, "sigmoid").numpy()
    keras.utils.set_random_seed(3)
    init = trainer.build_model(config, tf.distribute.get_strategy(), steps)
    names = ("encoder", "generator", "logit_head", "mode_encoder")
    trained = []
    for strategy in (tf.distribute.OneDeviceStrategy("/cpu:0"), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])):
        model = trainer.build_model(config, strategy, steps)
        with strategy.scope():
            model.prepare_training(raw)
        for name in names:
            getattr(model, name).set_weights(getattr(init, name).get_weights())
        ds = tf.data.Dataset.from_tensor_slices((images, tf.range(len(images), dtype=tf.int64))).batch(8)
        model.fit(ds.repeat(), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
                  callbacks=model.training_callbacks(raw, "sigmoid"))
        trained.append(model)
    single, mirrored = trained
    assert int(mirrored.crp_round.numpy()) == 2
    for name in names:
        for a, b in zip(getattr(single, name).weights, getattr(mirrored, name).weights):
            np.testing.assert_allclose(replicas_of(b)[0], a.numpy(), atol=1e-6, err_msg=a.path)
    for name in ("data_labels", "mode_weights", "mode_means", "mode_active"):
        copies = replicas_of(getattr(mirrored, name))
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=name)
        np.testing.assert_allclose(copies[0], getattr(single, name).numpy(), atol=1e-6, err_msg=name)


@pytest.mark.slow  # a fresh process (see test_models' InfoGAN case); ~25 s on 2 cores
def test_micgan_two_replicas_match_one_device():
    assert_passes_in_float64_process("tests.models.test_micgan", "compare_micgan_mirrored_with_one_device")


def test_broadcast_from_first_hands_replica_zeros_values_to_every_replica():
    """Each replica computes its own values (here: different on purpose, as two workers
    on different CPUs could); every replica ends with replica 0's, dtype kept. In a fresh
    process: a second MirroredStrategy in one process reuses collective instance keys."""
    assert_passes_in_float64_process("tests.models.test_micgan", "check_broadcast_from_first")


def check_broadcast_from_first():
    from memorygan_tf.models import base

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    def values(ctx):
        rid = ctx.replica_id_in_sync_group
        return [tf.fill([3], tf.cast(rid, tf.int32) + 5), tf.fill([2, 2], tf.cast(rid, tf.float32) + 0.25)]

    labels, means = base.broadcast_copies(strategy, values)
    assert len(labels) == len(means) == 2  # one copy per replica
    for copy in labels:
        assert copy.dtype == np.int32
        np.testing.assert_array_equal(copy, [5, 5, 5])
    for copy in means:
        assert copy.dtype == np.float32
        np.testing.assert_array_equal(copy, np.full([2, 2], 0.25, np.float32))
    first = base.broadcast_from_first(strategy, values)
    np.testing.assert_array_equal(first[0], [5, 5, 5])
