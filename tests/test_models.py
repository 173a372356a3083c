"""The GAN interface: every registered model trains, resumes, exports, evaluates and (if it
clusters) assigns through the same harness; the DCGAN and InfoGAN on their own."""

import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, evaluation, export, losses, models, rundir, trainer
from tests.helpers import assert_passes_in_float64_process, blobs, tiny_config
from tests.test_distributed import replicas_of

TINY_INFOGAN = dict(z_dim=3, info_categories=3, info_continuous=2)
# Three modes; a CRP round at steps 1, 2, 3, ... after one initialisation step.
TINY_MICGAN = dict(z_dim=3, micgan_modes=3, micgan_init_steps=1, micgan_round_steps=1, micgan_encoder_steps=2,
                   micgan_gibbs_rounds=1, micgan_gibbs_sweeps=1, micgan_r1=10.0)
TINY = {"infogan": TINY_INFOGAN, "micgan": TINY_MICGAN}


def config_for(name, tmp_path=None, **overrides):
    extra = dict(TINY.get(name, {}))
    extra.update(overrides)
    config = tiny_config(model=name, **extra)
    if tmp_path is not None:
        config = configs.ExperimentConfig(model=config.model, optimizer=config.optimizer, train=configs.TrainConfig(
            batch_size=8, steps_per_epoch=2, logdir=str(tmp_path / name), keep_checkpoints=2))
    return config


def test_every_name_of_the_flags_is_registered():
    assert set(configs.MODELS) == set(models.REGISTRY)
    for name in configs.MODELS:
        assert issubclass(models.REGISTRY[name], models.GAN)


def test_use_memory_false_builds_the_dcgan():
    assert models.model_class(tiny_config(use_memory=False).model) is models.DCGAN
    assert models.model_class(tiny_config(model="dcgan").model) is models.DCGAN
    assert models.model_class(tiny_config().model) is models.MemoryGAN


def _inputs_for(spec, n, rng, control=0):
    if spec.name == "seed":
        return tf.constant([3, 4], tf.int64)
    if spec.dtype == tf.int32:
        return tf.fill([n], control)
    shape = [n] + list(spec.shape[1:])
    return tf.constant(rng.uniform(-1, 1, shape).astype(np.float32))


@pytest.mark.parametrize("name", [name if name == "memorygan" else pytest.param(name, marks=pytest.mark.slow)
                                  for name in configs.MODELS])
def test_conformance_train_resume_export_evaluate_assign(name, tmp_path):
    """What the harness promises for any registered model (models.base.GAN)."""
    config = config_for(name, tmp_path)
    images = blobs(32)
    model = trainer.train(config, images, verbose=0, log=lambda m: None)
    assert int(model.step.numpy()) == 2
    assert isinstance(model, models.model_class(config.model))

    # Checkpoint round-trip: the newest checkpoint restores every variable of the model
    # (a reader has no training set: MIC-GANs' per-image labels are the trainer's only).
    restored, path = rundir.RunDir(config.train.logdir).load_model()
    trained = [w for w in model.weights if w.path != "data_labels"]
    assert path.endswith("ckpt-2") and len(trained) == len(restored.weights)
    for a, b in zip(trained, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    # A trained MemoryGAN restores with another slot-draw temperature (no variable depends
    # on it): its prior mass becomes (h v)^(1/T); a model without that prior refuses one.
    if name == "memorygan":
        run_config = rundir.RunDir(config.train.logdir).load_config()
        tempered, _ = rundir.RunDir(config.train.logdir).load_model(
            config=configs.with_prior_temperature(run_config, 2.0))
        assert tempered.memory.prior_temperature == 2.0 and restored.memory.prior_temperature == 1.0
        np.testing.assert_allclose(tempered.cluster_weights(), np.sqrt(restored.cluster_weights()), rtol=1e-5)
        # A config the caller already read (and changed) is the one built, not the run's file.
        given = configs.with_prior_temperature(run_config, 4.0)
        quartered, _ = rundir.RunDir(config.train.logdir).load_model(config=given)
        assert quartered.memory.prior_temperature == 4.0
        np.testing.assert_allclose(quartered.cluster_weights(), np.sqrt(tempered.cluster_weights()), rtol=1e-5)
    else:
        with pytest.raises(configs.ConfigError, match="prior_temperature"):
            configs.with_prior_temperature(rundir.RunDir(config.train.logdir).load_config(), 2.0)
    # Resuming with more epochs continues from step 2.
    longer = configs.ExperimentConfig(model=config.model, optimizer=config.optimizer,
                                      train=configs.TrainConfig(**{**config.train.__dict__, "epochs": 2}))
    assert int(trainer.train(longer, images, verbose=0, log=lambda m: None).step.numpy()) == 4

    # Export and serve every signature.
    out = tmp_path / "export"
    export.export_from_logdir(config.train.logdir, str(out))
    loaded = tf.saved_model.load(str(out))
    rng = np.random.default_rng(0)
    endpoints = [n for n in ("serve", "sample", "generate_from_slot", "generate_from_code", "generate_from_mode")
                 if hasattr(loaded, n)]
    assert {"serve", "sample"} <= set(endpoints)
    expected_control = {"memorygan": "generate_from_slot", "infogan": "generate_from_code",
                        "micgan": "generate_from_mode"}.get(name)
    if expected_control:
        assert expected_control in endpoints
    # a control of a cluster that exists (MIC-GANs' CRP may prune any mode, mode 0 too)
    exported, _ = rundir.RunDir(config.train.logdir).load_model()  # the newest checkpoint, as exported
    control = int(np.argmax(exported.cluster_weights())) if exported.clusters else 0
    for endpoint in endpoints:
        function = getattr(loaded, endpoint)
        specs = function.concrete_functions[0].structured_input_signature[0]
        result = function(*[_inputs_for(s, 5, rng, control) for s in specs])
        images_out = result["images"].numpy()
        assert images_out.shape == (5, 28, 28, 1), endpoint
        assert 0.0 <= images_out.min() and images_out.max() <= 1.0

    # Evaluate with an (untrained) classifier: the scores and the model's own report.
    classifier = evaluation.build_classifier((28, 28, 1), width=4, blocks_per_stage=1)
    labels = np.arange(40) % 4
    scores = evaluation.evaluate_model(restored, classifier, blobs(40, seed=1), labels, num_samples=20)
    assert np.isfinite(scores["fid"]) and scores["num_samples"] == 20
    assert ("cluster_purity_top" in scores) == restored.clusters

    # assign: one cluster per image, a weight per cluster, restricted on request.
    x = blobs(10, seed=2).astype(np.float32) / 255.0
    if not restored.clusters:
        with pytest.raises(NotImplementedError):
            restored.assign(x)
        return
    ids, weights = restored.assign(x)
    assert ids.shape == (10,) and np.all((0 <= ids) & (ids < len(weights))) and np.all(weights >= 0)
    chosen = evaluation.heaviest_clusters(weights, 2)
    restricted, _ = restored.assign(x, clusters=chosen)
    assert set(restricted) <= set(chosen.tolist())


def test_use_memory_false_flagfiles_give_the_dcgan_weights():
    """Table 2's '- Memory' flagfiles (--use_memory=false) and --model=dcgan train the same
    model: same weights after two steps from the same seed."""
    images = tf.constant(blobs(16).astype(np.float32) / 255.0)
    trained = []
    for config in (tiny_config(use_memory=False), tiny_config(model="dcgan")):
        keras.utils.set_random_seed(7)
        model = trainer.build_model(config, tf.distribute.get_strategy(), total_steps=2)
        step = tf.function(model.train_step)
        for i in range(2):
            step(images[8 * i:8 * i + 8])
        trained.append(model)
    assert len(trained[0].weights) == len(trained[1].weights)
    for a, b in zip(trained[0].weights, trained[1].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


# ------------------------------------------------------------------ InfoGAN
def test_info_loss_against_hand_computed_values():
    onehot = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    logits = tf.constant([[0.0, 0.0], [math.log(3.0), 0.0]])  # softmax [1/2, 1/2] and [3/4, 1/4]
    continuous = tf.constant([[1.0], [0.0]])
    mean = tf.constant([[0.0], [0.5]])
    c = 0.5 * math.log(2 * math.pi)
    expected = ((math.log(2.0) + 0.1 * (0.5 + c)) + (math.log(4.0) + 0.1 * (0.125 + c))) / 2
    value = float(losses.info_loss(onehot, logits, continuous, mean, continuous_weight=0.1))
    assert value == pytest.approx(expected, rel=1e-6)
    # The loss falls as Q puts more mass on the drawn code (a sign flip would make it rise).
    sharper = float(losses.info_loss(onehot, logits * 0 + tf.constant([[5.0, 0.0], [0.0, 5.0]]), continuous,
                                     mean, 0.1))
    assert sharper < value


def test_infogan_codes_reach_the_generator_input():
    config = config_for("infogan")
    model = models.build(config.model)
    z_dim, categories, width = 3, 3, 2
    assert model.generator.input_shape == (None, z_dim + categories + width)
    latent, controls = model.sample_latent(6, tf.constant([1, 2], tf.int64))
    np.testing.assert_array_equal(latent[:, z_dim:z_dim + categories].numpy(),
                                  np.eye(categories)[controls["code"].numpy()])
    np.testing.assert_array_equal(latent[:, z_dim + categories:].numpy(), controls["continuous"].numpy())
    assert np.all(np.abs(controls["continuous"].numpy()) <= 1.0)
    z = tf.zeros([2, z_dim])
    a = model.generator(model.latent_from(z, tf.constant([0, 1])), training=False).numpy()
    assert not np.allclose(a[0], a[1])  # the code changes the image


def test_infogan_information_term_uses_the_drawn_codes():
    """The term of a batch equals losses.info_loss of the codes in its latent under Q."""
    model = models.build(config_for("infogan").model)
    latent, controls = model.sample_latent(4, tf.constant([5, 6], tf.int64))
    features = tf.random.stateless_normal([4, 8], [1, 1])
    logits, mean = model.q(features)
    expected = losses.info_loss(tf.one_hot(controls["code"], 3), logits, controls["continuous"], mean, 0.1)
    assert float(model.information(latent, features)) == pytest.approx(float(expected), rel=1e-6)


def test_infogan_train_step_lowers_the_information_term():
    """Q and G learn the codes: the information term falls over a few steps."""
    config = config_for("infogan", info_lambda=1.0)
    keras.utils.set_random_seed(0)
    model = trainer.build_model(config, tf.distribute.get_strategy(), total_steps=30)
    step = tf.function(model.train_step)
    images = tf.constant(blobs(8).astype(np.float32) / 255.0)
    first = [float(step(images)["mi_loss"]) for _ in range(3)]
    for _ in range(20):
        last = step(images)
    model.reset_metrics()
    later = [float(step(images)["mi_loss"]) for _ in range(1)]
    assert np.mean(later) < np.mean(first), (first, later)
    assert np.isfinite(float(last["g_loss"]))


def _copy_networks(source, target):
    for name in ("encoder", "generator", "logit_head", "q_head"):
        getattr(target, name).set_weights(getattr(source, name).get_weights())


def compare_infogan_mirrored_with_one_device(steps=3):
    """Three InfoGAN steps on one device and on two replicas from the same weights agree
    (float64; the code draws, the Q head's loss scaling and sync BN across replicas)."""
    assert len(tf.config.list_logical_devices("CPU")) >= 2, "conftest.py configures two logical CPUs"
    config = config_for("infogan")
    images = blobs(8 * steps).astype(np.float64) / 255.0
    keras.utils.set_random_seed(3)
    init = trainer.build_model(config, tf.distribute.get_strategy(), steps)
    trained = []
    for strategy in (tf.distribute.OneDeviceStrategy("/cpu:0"), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])):
        model = trainer.build_model(config, strategy, steps)
        _copy_networks(init, model)
        ds = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)
        model.fit(ds.repeat(), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        trained.append(model)
    single, mirrored = trained
    assert int(mirrored.step.numpy()) == steps
    for name in ("encoder", "generator", "logit_head", "q_head"):
        for a, b in zip(getattr(single, name).weights, getattr(mirrored, name).weights):
            np.testing.assert_allclose(replicas_of(b)[0], a.numpy(), atol=1e-6, err_msg=a.path)


@pytest.mark.slow
def test_infogan_two_replicas_match_one_device():
    """In a fresh process: a second MirroredStrategy in one process reuses collective
    instance keys, and a model of other shapes then clashes with the runtime's cached
    instance parameters (see test_distributed)."""
    assert_passes_in_float64_process("tests.test_models", "compare_infogan_mirrored_with_one_device")


def test_infogan_options_are_checked():
    with pytest.raises(configs.ConfigError, match="--info_categories"):
        tiny_config(model="infogan", info_categories=1)
    with pytest.raises(configs.ConfigError, match="--info_lambda"):
        tiny_config(model="infogan", info_lambda=-1.0)
    # Memory rules do not apply to a model without a memory.
    tiny_config(model="infogan", memory_size=4)
    with pytest.raises(configs.ConfigError, match="--memory_size"):
        tiny_config(memory_size=4)


def test_infogan_preset_noise_is_the_papers():
    assert configs.make_config("mnist", model_overrides=dict(model="infogan")).model.z_dim == 62
    assert configs.make_config("mnist", model_overrides=dict(model="infogan", z_dim=5)).model.z_dim == 5
    assert configs.make_config("mnist").model.z_dim == 2


def test_run_config_records_the_model(tmp_path):
    config = config_for("infogan", tmp_path)
    trainer.train(config, blobs(32), verbose=0, log=lambda m: None)
    saved = json.load(open(os.path.join(config.train.logdir, "config.json")))
    assert saved["model"]["model"] == "infogan" and saved["model"]["info_categories"] == 3
    assert rundir.RunDir(config.train.logdir).load_config().model == config.model


@pytest.mark.parametrize("name", ["memorygan", "infogan", "micgan"])
def test_clusters_grid_rows_are_the_heaviest_clusters(name):
    from memorygan_tf import visualize

    model = models.build(config_for(name).model)
    if name == "memorygan":  # a memory whose real slots 5, 9, 2 weigh most
        values = np.zeros(64, np.float32)
        values[[2, 5, 9, 11]] = 1.0
        histogram = np.ones(64, np.float32)
        histogram[[5, 9, 2, 11]] = [9.0, 7.0, 5.0, 3.0]
        model.memory.values.assign(values)
        model.memory.histogram.assign(histogram)
        expected = [5, 9, 2]
    elif name == "micgan":  # mode 1 pruned (weight 0): left out, though 3 rows were asked for
        model.mode_weights.assign([0.25, 0.0, 0.75])
        expected = [2, 0]
    else:
        expected = [0, 1, 2]  # equal weights: lower ids first
    grid, shown = visualize.clusters_grid(model, rows=3, columns=4)
    assert list(shown) == expected
    assert grid.shape == (len(expected) * 28, 4 * 28, 1)
    # row r is generated from cluster shown[r]
    z = visualize.noise(model, 4, 0)
    row = model.generator(model.latent_from(z, **{model.cluster_control: tf.fill([4], int(shown[1]))}),
                          training=False).numpy()
    np.testing.assert_allclose(grid[28:56, :28, 0], row[0, :, :, 0], atol=1e-6)


def test_clusters_grid_refuses_a_model_that_does_not_cluster():
    from memorygan_tf import visualize

    with pytest.raises(ValueError, match="needs a model that clusters images"):
        visualize.clusters_grid(models.build(config_for("dcgan").model))


def test_clustering_scores_reach_tensorboard(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    from memorygan_tf import summaries

    config = config_for("infogan", tmp_path)
    summaries.write_evaluation(str(tmp_path / "eval"), config, dict(step=5, fid=3.0, cluster_purity_top=0.75,
                                                                     cluster_accuracy_top=0.5))
    acc = event_accumulator.EventAccumulator(str(tmp_path / "eval"), size_guidance={"tensors": 0})
    acc.Reload()
    values = {tag: float(tf.make_ndarray(acc.Tensors(tag)[0].tensor_proto)) for tag in acc.Tags()["tensors"]
              if tag.startswith("eval/")}
    assert values == {"eval/fid": 3.0, "eval/cluster_purity_top": 0.75, "eval/cluster_accuracy_top": 0.5}


def test_readers_restore_lazily_built_layers(tmp_path):
    """Self-modulation builds its MLPs lazily: the checkpoint names their variables only by
    their place in the G optimizer's list, so a reader (export, evaluate, figures) must
    build the optimizers too, or those layers keep their initial weights (found by the
    slow export round trip on an AVX2 machine)."""
    config = config_for("memorygan", tmp_path, self_modulation=True)
    model = trainer.train(config, blobs(32), verbose=0, log=lambda m: None)
    restored, _ = rundir.RunDir(config.train.logdir).load_model()
    for a, b in zip(model.generator.weights, restored.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_prior_temperature_reaches_the_memory_and_the_cluster_weights():
    """--prior_temperature flows config -> Memory; the MCGN prior the model reports (cluster
    weights, effective slots) is (h v)^(1/T), and a step trains with it."""
    images = tf.constant(blobs(8).astype(np.float32) / 255.0)
    model = trainer.build_model(tiny_config(prior_temperature=2.0), tf.distribute.get_strategy(), total_steps=1)
    tf.function(model.train_step)(images)
    memory = model.memory
    assert memory.prior_temperature == 2.0
    mass = memory.histogram.numpy().astype(np.float64) * (memory.values.numpy() > 0.5)
    np.testing.assert_allclose(model.cluster_weights(), np.sqrt(mass), rtol=1e-6)
    logits = memory.prior_logits().numpy()
    real = memory.values.numpy() > 0.5
    np.testing.assert_allclose(logits[real], 0.5 * np.log(memory.histogram.numpy()[real]), rtol=1e-5)
