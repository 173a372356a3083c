"""Sample-quality metrics and memory health on hand-computed inputs."""

import math

import numpy as np
import pytest

from memorygan_tf import evaluation as ev


# ------------------------------------------------------------ Inception Score
def test_inception_score_hand_computed():
    # Confident and balanced over 2 classes: KL = log 2 for every image -> IS = 2.
    probs = np.array([[1.0, 0.0], [0.0, 1.0]] * 5)
    mean, std = ev.inception_score(probs, splits=1)
    assert mean == pytest.approx(2.0) and std == 0.0
    # One image p = (0.75, 0.25), the other (0.25, 0.75): marginal (0.5, 0.5),
    # KL = 0.75 log 1.5 + 0.25 log 0.5 for both.
    probs = np.array([[0.75, 0.25], [0.25, 0.75]])
    expected = math.exp(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert ev.inception_score(probs, splits=1)[0] == pytest.approx(expected)


def test_inception_score_bounds_and_splits():
    rng = np.random.default_rng(0)
    confident = np.eye(10)[rng.integers(0, 10, 5000)]
    assert ev.inception_score(confident)[0] == pytest.approx(10.0, rel=0.02)  # all classes, sure
    noise = np.full((5000, 10), 0.1)
    assert ev.inception_score(noise) == (pytest.approx(1.0), pytest.approx(0.0))  # no information
    one_class = np.eye(10)[np.zeros(5000, int)]
    assert ev.inception_score(one_class)[0] == pytest.approx(1.0)  # mode collapse
    # Splits use their own marginal: 2 splits each of a single (different) class -> IS 1 each.
    halves = np.concatenate([np.eye(2)[[0] * 50], np.eye(2)[[1] * 50]])
    assert ev.inception_score(halves, splits=2)[0] == pytest.approx(1.0)
    assert ev.inception_score(halves, splits=1)[0] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        ev.inception_score(noise[:5], splits=10)


# ---------------------------------------------------------------------- FID
def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    # sum (mu1 - mu2)^2 + sum (s1 - s2)^2 with s the standard deviations.
    expected = (1 + 0 + 4) + ((1 - 2) ** 2 + (2 - 1) ** 2 + 0)
    assert ev.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected)


def test_frechet_distance_is_rotation_invariant_and_zero_on_itself():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    sigma1, sigma2 = a @ a.T, np.diag(rng.uniform(0.5, 2.0, 6))
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    value = ev.frechet_distance(mu1, sigma1, mu2, sigma2)
    rotated = ev.frechet_distance(rotation @ mu1, rotation @ sigma1 @ rotation.T,
                                  rotation @ mu2, rotation @ sigma2 @ rotation.T)
    assert rotated == pytest.approx(value, rel=1e-8)
    assert ev.frechet_distance(mu1, sigma1, mu1, sigma1) == pytest.approx(0.0, abs=1e-8)


def test_fid_near_zero_on_same_distribution_and_grows_with_noise():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(4000, 8)) @ rng.normal(size=(8, 8))
    other = rng.normal(size=(4000, 8)) @ np.eye(8)
    same = ev.fid_from_features(features[:2000], features[2000:])
    assert same < 0.01 * np.trace(np.cov(features, rowvar=False))  # sampling noise only
    noisy = [ev.fid_from_features(features, features + s * rng.normal(size=features.shape))
             for s in (0.1, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in zip(noisy, noisy[1:])), noisy
    assert ev.fid_from_features(features, other) > same


# ------------------------------------------------------------- memory health
def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_memory_health_of_a_collapsed_memory():
    keys = np.zeros((16, 4))
    keys[:6] = unit(np.array([1.0, 2.0, 0.0, 0.0]))  # six real slots, one direction
    values = np.r_[np.ones(8), np.zeros(8)]
    histogram = np.r_[np.full(6, 2.0), np.full(10, 1e-5)]
    health = ev.memory_health(keys, values, histogram)
    assert health.real_slots == 6 and health.distinct_real_keys == 1
    assert health.mean_real_cosine == pytest.approx(1.0)
    # Real mass: 6 x 2.0 plus two unwritten real slots of 1e-5: effectively 6 slots.
    assert health.effective_slots == pytest.approx(6.0, rel=1e-4)


def test_memory_health_of_a_diverse_memory():
    keys = np.zeros((16, 8))
    keys[:8] = np.eye(8)  # eight orthogonal real keys
    keys[8:12] = unit(np.ones((4, 8)))  # fake keys do not count
    values = np.r_[np.ones(8), np.zeros(8)]
    histogram = np.r_[[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0], np.ones(8)]
    health = ev.memory_health(keys, values, histogram)
    assert health.real_slots == 8 and health.distinct_real_keys == 8
    assert health.mean_real_cosine == pytest.approx(0.0)
    p = np.array([1, 1, 1, 1, 2, 2, 2, 2]) / 12.0
    assert health.effective_slots == pytest.approx(math.exp(-np.sum(p * np.log(p))))


def test_purity_and_nmi_hand_computed():
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert ev.cluster_purity([5, 5, 7, 7, 9, 9], labels) == 1.0
    assert ev.normalized_mutual_information([5, 5, 7, 7, 9, 9], labels) == pytest.approx(1.0)
    assert ev.cluster_purity([1] * 6, labels) == pytest.approx(2 / 6)
    assert ev.normalized_mutual_information([1] * 6, labels) == 0.0
    # Clusters {0,0,1} and {1,2,2}: purity 4/6. NMI by hand:
    clusters = [0, 0, 0, 1, 1, 1]
    assert ev.cluster_purity(clusters, labels) == pytest.approx(4 / 6)
    joint = np.array([[2, 1, 0], [0, 1, 2]]) / 6.0
    pa, pb = joint.sum(1), joint.sum(0)
    nz = joint > 0
    mi = np.sum(joint[nz] * np.log(joint[nz] / np.outer(pa, pb)[nz]))
    expected = mi / math.sqrt(-np.sum(pa * np.log(pa)) * -np.sum(pb * np.log(pb)))
    assert ev.normalized_mutual_information(clusters, labels) == pytest.approx(expected)
    report = ev.slot_clustering(np.array(clusters), labels)
    assert report["argmax_slots"] == 2 and report["purity"] == pytest.approx(4 / 6)


# ------------------------------------------------------------- the classifier
def test_classifier_trains_one_short_epoch_and_reloads(tmp_path):
    rng = np.random.default_rng(3)
    # Class = which half of the image holds a bright square (learnable in one epoch).
    images = np.zeros((256, 28, 28, 1), np.uint8)
    labels = rng.integers(0, 2, 256)
    for image, label in zip(images, labels):
        image[2:10, (2 if label == 0 else 18):(10 if label == 0 else 26)] = 255
    accuracy = ev.train_classifier(images[:192], labels[:192], images[192:], labels[192:], str(tmp_path),
                                   epochs=1, batch_size=32, flip=False, width=4, verbose=0)
    assert 0.0 <= accuracy <= 1.0
    classifier = ev.load_classifier(str(tmp_path / "classifier.keras"))
    probs, features = ev.classify(ev.classifier_heads(classifier), images[:10].astype(np.float32) / 255.0)
    assert probs.shape == (10, 2) and features.shape == (10, 128)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_evaluate_model_with_precomputed_test_features_gives_the_same_result():
    import tensorflow as tf

    from memorygan_tf import trainer
    from tests.helpers import blobs, tiny_config

    model = trainer.build_model(tiny_config(), tf.distribute.get_strategy(), total_steps=1)
    classifier = ev.build_classifier((28, 28, 1), width=4)
    x_test, y_test = blobs(40, seed=3), np.arange(40) % 10
    fresh = ev.evaluate_model(model, classifier, x_test, y_test, num_samples=30, splits=3)
    cached = ev.evaluate_model(model, classifier, x_test, y_test, num_samples=30, splits=3,
                               test_features=ev.reference_features(classifier, x_test))
    assert cached["fid"] == pytest.approx(fresh["fid"], rel=1e-6)
    assert cached["inception_score"] == fresh["inception_score"]
    # a different reference changes FID: the argument is used
    other = ev.evaluate_model(model, classifier, x_test, y_test, num_samples=30, splits=3,
                              test_features=ev.reference_features(classifier, blobs(40, seed=4)))
    assert other["fid"] != pytest.approx(fresh["fid"], rel=1e-3)


def test_memory_report_write_diagnostics_on_hand_built_memories():
    """All slots generated-labelled: every real test image would be reset. All slots real
    with one key and one count: the posterior within S_1 is flat, entropy log k."""
    import tensorflow as tf

    from memorygan_tf import trainer
    from tests.helpers import blobs, tiny_config

    model = trainer.build_model(tiny_config(), tf.distribute.get_strategy(), total_steps=1)
    memory = model.memory
    size, dim = memory.keys.shape
    x_test, y_test = blobs(30, seed=5), np.arange(30) % 3
    key = np.zeros((size, dim), np.float32)
    key[:, 0] = 1.0
    memory.keys.assign(key)
    memory.histogram.assign(np.ones(size, np.float32))
    memory.values.assign(np.zeros(size, np.float32))
    report = ev.memory_report(model, x_test, y_test, batch_size=7)
    assert report["test_reset_rate"] == 1.0 and report["test_entropy_s"] == 0.0
    memory.values.assign(np.ones(size, np.float32))
    report = ev.memory_report(model, x_test, y_test, batch_size=7)
    assert report["test_reset_rate"] == 0.0
    assert report["test_entropy_s"] == pytest.approx(np.log(memory.choose_k), rel=1e-5)
