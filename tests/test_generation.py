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


# ------------------------------------------------------------ the tools, end to end
def _tool(name, *args):
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT, MEMORYGAN_CACHE_DIR=str(args[0]))
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name), *args[1:]], capture_output=True,
                          text=True, env=env, timeout=900, cwd=ROOT)


@pytest.mark.slow
def test_scoring_generated_files_gives_the_runs_numbers(tmp_path):
    """generate.py's .npz (trained and averaged weights) scored by evaluate.py --samples gives
    the numbers evaluate.py gives the run itself; the second scoring reads the cached
    reference; a PNG folder of the same images scores within the 8-bit rounding."""
    import json
    import os

    from tests.helpers import args_for, run_main
    from tests.test_careless import fake_classifier

    data_path = tmp_path / "blobs.npz"
    np.savez(data_path, x_train=blobs(64), y_train=np.arange(64) % 4, x_test=blobs(40, seed=9),
             y_test=np.arange(40) % 4)
    logdir = tmp_path / "run"
    assert run_main(args_for(data_path, logdir, "--epochs=1")).returncode == 0
    clf = fake_classifier(tmp_path / "clf", dataset="custom")
    cache = tmp_path / "cache"
    n = "--num_samples=30"
    run = _tool("evaluate.py", cache, f"--logdir={logdir}", f"--classifier={clf}", n, f"--out={tmp_path / 'run.json'}")
    assert run.returncode == 0, run.stderr[-2000:]
    scored = json.loads((tmp_path / "run.json").read_text())
    assert len(os.listdir(cache / "reference")) == 1
    for weights, expected in (("trained", scored), ("ema", scored["ema"])):
        out = tmp_path / f"{weights}.npz"
        made = _tool("generate.py", cache, f"--logdir={logdir}", "--num_images=30", f"--weights={weights}",
                     f"--out={out}")
        assert made.returncode == 0, made.stderr[-2000:]
        result = _tool("evaluate.py", cache, f"--samples={out}", "--dataset=custom", f"--data_path={data_path}",
                       f"--classifier={clf}", f"--out={tmp_path / (weights + '.json')}")
        assert result.returncode == 0, result.stderr[-2000:]
        got = json.loads((tmp_path / f"{weights}.json").read_text())
        for key in ("inception_score", "fid", "kid", "precision", "recall"):
            assert got[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-6), (weights, key)
    assert len(os.listdir(cache / "reference")) == 1  # one test set, one classifier: one entry, reused
    pngs = tmp_path / "pngs"
    assert _tool("generate.py", cache, f"--logdir={logdir}", "--num_images=30", "--weights=trained",
                 f"--out={pngs}").returncode == 0
    result = _tool("evaluate.py", cache, f"--samples={pngs}", "--dataset=custom", f"--data_path={data_path}",
                   f"--classifier={clf}", f"--out={tmp_path / 'png.json'}")
    assert result.returncode == 0, result.stderr[-2000:]
    got = json.loads((tmp_path / "png.json").read_text())
    assert got["num_samples"] == 30 and got["fid"] == pytest.approx(scored["fid"], rel=0.05, abs=1e-3)


@pytest.mark.slow
@pytest.mark.messages
def test_samples_mistakes_are_one_line(tmp_path):
    from tests.helpers import assert_one_line_error

    images = tmp_path / "s.npz"
    np.savez(images, images=np.zeros((20, 28, 28, 1), np.float32))
    assert_one_line_error(_tool("evaluate.py", tmp_path, f"--samples={images}"), "--dataset")
    assert_one_line_error(_tool("evaluate.py", tmp_path, f"--samples={tmp_path / 'none.npz'}",
                                "--dataset=fashion_mnist"), "--samples", "does not exist")
    wrong = tmp_path / "w.npz"
    np.savez(wrong, images=np.zeros((20, 32, 32, 3), np.float32))
    test_set = tmp_path / "data.npz"
    np.savez(test_set, x_train=blobs(20), y_train=np.zeros(20, np.int64), x_test=blobs(20), y_test=np.zeros(20, np.int64))
    assert_one_line_error(_tool("evaluate.py", tmp_path, f"--samples={wrong}", "--dataset=custom",
                                f"--data_path={test_set}"), "--samples", "(28, 28, 1)")
    assert_one_line_error(_tool("evaluate.py", tmp_path, f"--samples={images}", "--dataset=custom",
                                f"--data_path={images}"), "--data_path")
    assert_one_line_error(_tool("generate.py", tmp_path, f"--logdir={tmp_path}", f"--export_dir={tmp_path}",
                                f"--out={tmp_path / 'x.npz'}"), "--logdir", "one of the two")
    assert_one_line_error(_tool("generate.py", tmp_path, f"--export_dir={tmp_path}", f"--out={tmp_path / 'x.npz'}"),
                          "--export_dir", "saved_model.pb")


@pytest.mark.slow
@pytest.mark.messages
def test_a_run_and_brought_images_get_the_same_classifier_refusals(tmp_path):
    """A run's scoring and --samples load the classifier through one function: the same
    one-line refusal of a classifier of another data set, or of none, from both."""
    from tests.helpers import assert_one_line_error
    from tests.test_careless import fake_classifier, fake_run, labelled_npz

    run = fake_run(tmp_path / "r", checkpoint=True)  # a Fashion-MNIST run
    images = tmp_path / "s.npz"
    np.savez(images, images=np.zeros((20, 28, 28, 1), np.float32))
    test_set = labelled_npz(tmp_path / "labelled.npz")
    for classifier, needles in ((fake_classifier(tmp_path / "mnist_clf", dataset="mnist"),
                                 ["trained on mnist, not fashion_mnist", "--allow_mismatch"]),
                                (str(tmp_path / "none"), ["no ", "none/classifier.keras"])):
        by_run = _tool("evaluate.py", tmp_path, f"--logdir={run}", f"--classifier={classifier}")
        by_samples = _tool("evaluate.py", tmp_path, f"--samples={images}", "--dataset=fashion_mnist",
                           f"--data_path={test_set}", f"--classifier={classifier}")
        assert (assert_one_line_error(by_run, "--classifier", *needles)
                == assert_one_line_error(by_samples, "--classifier", *needles))
