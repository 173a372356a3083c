"""Generating images from a run or an export, and scoring images a user brings."""

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, evaluation, export, generation, trainer
from tests.helpers import blobs, tiny_config


def _trained(model_name, steps=2, **overrides):
    config = tiny_config(model=model_name, **overrides)
    model = trainer.build_model(config, tf.distribute.get_strategy(), steps)
    x = blobs(config.train.batch_size * steps).astype(np.float32) / 255.0
    model.fit(tf.data.Dataset.from_tensor_slices(x).batch(config.train.batch_size), epochs=1, verbose=0)
    return model


def test_parse_control():
    assert generation.parse_control("slot=3,17") == ("slot", [3, 17])
    assert generation.parse_control(None) == (None, [None])
    for bad in ("slot", "slot=", "=3", "slot=a"):
        with pytest.raises(configs.ConfigError, match="--control"):
            generation.parse_control(bad)


def test_controls_are_checked_against_the_model():
    model = _trained("memorygan")
    generation.check_control("slot", [0, 63], model.controls, "memorygan")
    with pytest.raises(configs.ConfigError, match=r"\[0, 64\)"):
        generation.check_control("slot", [64], model.controls, "memorygan")
    with pytest.raises(configs.ConfigError, match="no control 'code'.*slot"):
        generation.check_control("code", [1], model.controls, "memorygan")
    with pytest.raises(configs.ConfigError, match="none"):
        generation.check_control("slot", [1], _trained("dcgan").controls, "dcgan")


def test_prior_images_are_the_ones_an_evaluation_scores():
    model = _trained("dcgan")
    np.testing.assert_array_equal(generation.generate(model, 12, seed=5),
                                  evaluation.generate_images(model, 12, seed=5))


def test_a_slot_control_feeds_that_slots_key():
    model = _trained("memorygan")
    images = generation.generate(model, 4, seed=1, control="slot", value=7)
    z = model.sample_noise(4, tf.constant([1, 0], tf.int64))
    keys = tf.gather(tf.convert_to_tensor(model.memory.keys), [7] * 4)
    expected = model.generator(tf.concat([z, keys], -1), training=False).numpy()
    np.testing.assert_allclose(images, expected, atol=1e-6)  # sigmoid output: already in [0, 1]


def test_export_generates_what_the_model_does(tmp_path):
    model = _trained("memorygan", g_ema_decay=0.0)
    export.export_generator(model, str(tmp_path / "export"))
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    z = model.sample_noise(6, tf.constant([9, 0], tf.int64))
    np.testing.assert_allclose(loaded.noise(tf.constant(6), tf.constant([9, 0], tf.int64))["z"].numpy(), z.numpy())
    from_export = generation.generate_from_export(loaded, 6, seed=9, control="slot", value=3)
    np.testing.assert_allclose(from_export, generation.generate(model, 6, seed=9, control="slot", value=3),
                               atol=1e-5)
    with pytest.raises(configs.ConfigError, match="no control 'mode'"):
        generation.generate_from_export(loaded, 2, control="mode", value=0)


def test_outputs_npz_keeps_floats_and_pngs_round_trip(tmp_path):
    images = np.random.default_rng(0).random((5, 28, 28, 1)).astype(np.float32)
    generation.write_images(images, str(tmp_path / "x.npz"), labels=np.arange(5), control="slot")
    with np.load(tmp_path / "x.npz") as stored:
        np.testing.assert_array_equal(stored["images"], images)
        np.testing.assert_array_equal(stored["slot"], np.arange(5))
    paths = generation.write_images(images, str(tmp_path / "pngs"))
    assert len(paths) == 5
    from memorygan_tf import data
    back = data.load_local(str(tmp_path / "pngs"))
    np.testing.assert_array_equal(back, np.clip(images * 255 + 0.5, 0, 255).astype(np.uint8))
    with pytest.raises(configs.ConfigError, match="--overwrite"):
        generation.check_output(str(tmp_path / "x.npz"), overwrite=False)
    with pytest.raises(configs.ConfigError, match="--overwrite"):
        generation.check_output(str(tmp_path / "pngs"), overwrite=False)
    (tmp_path / "pngs" / "notes.txt").write_text("mine")
    with pytest.raises(configs.ConfigError, match="not PNGs"):
        generation.check_output(str(tmp_path / "pngs"), overwrite=True)


def test_unit_images_keep_floats_and_convert_the_rest():
    floats = np.random.default_rng(1).random((3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(evaluation.as_unit_images(floats, "x"), floats)
    uint8 = (floats * 255).astype(np.uint8)
    np.testing.assert_allclose(evaluation.as_unit_images(uint8, "x"), uint8 / 255.0, atol=1e-7)
    from memorygan_tf import data
    with pytest.raises(data.DataError):
        evaluation.as_unit_images(np.full((2, 8, 8), np.nan, np.float32), "x")


def _classifier(tmp_path, image_shape=(28, 28, 1)):
    model = evaluation.build_classifier(image_shape, width=4, blocks_per_stage=1)
    path = str(tmp_path / "classifier.keras")
    model.save(path)
    return evaluation.load_classifier(path), path


def test_reference_cache_is_reused_and_keyed_by_classifier_and_test_data(tmp_path):
    classifier, path = _classifier(tmp_path)
    x_test = blobs(40)
    cache = str(tmp_path / "cache")
    first = evaluation.load_reference(classifier, path, x_test, cache)
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1
    np.testing.assert_array_equal(first.features, evaluation.reference_features(classifier, x_test))
    mean, cov = evaluation.feature_statistics(first.features)
    np.testing.assert_allclose(first.mean, mean)
    np.testing.assert_allclose(first.covariance, cov)
    np.testing.assert_allclose(first.radii, evaluation.knn_radii(first.features))
    # a second read comes from the file: poison it and the poison is what is read
    with np.load(files[0]) as stored:
        arrays = dict(stored)
    arrays["mean"] = arrays["mean"] + 1.0
    np.savez(files[0], **arrays)
    np.testing.assert_allclose(evaluation.load_reference(classifier, path, x_test, cache).mean, mean + 1.0)
    # other test images, or another classifier file: a new entry
    evaluation.load_reference(classifier, path, blobs(40, seed=1), cache)
    other, other_path = _classifier(tmp_path / "b") if (tmp_path / "b").mkdir() is None else None
    evaluation.load_reference(other, other_path, x_test, cache)
    assert len(list((tmp_path / "cache").iterdir())) == 3
    # an unreadable entry is computed again
    files[0].write_bytes(b"truncated")
    np.testing.assert_allclose(evaluation.load_reference(classifier, path, x_test, cache).mean, mean)


def test_scores_with_a_reference_equal_the_scores_without(tmp_path):
    classifier, path = _classifier(tmp_path)
    heads = evaluation.classifier_heads(classifier)
    x_test, fake = blobs(60), blobs(60, seed=3).astype(np.float32) / 255.0
    reference = evaluation.load_reference(classifier, path, x_test, None)
    plain = evaluation.score_images(fake, heads, reference.features)
    cached = evaluation.score_images(fake, heads, reference.features, reference=reference)
    for key in ("inception_score", "fid", "kid", "precision", "recall"):
        assert cached[key] == pytest.approx(plain[key], rel=1e-9, abs=1e-12), key
