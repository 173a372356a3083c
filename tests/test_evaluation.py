"""Sample-quality and clustering metrics on hand-computed inputs (MemoryGAN's memory health:
tests/models/test_memory_report.py)."""

import math
import os

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


# ----------------------------------------------------------------- clustering
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


def _classifier_folder(folder, dataset="mnist"):
    from tests.test_careless import fake_classifier

    return fake_classifier(folder, dataset=dataset)


def test_scoring_classifier_loads_with_its_record(tmp_path):
    folder = _classifier_folder(tmp_path / "clf")
    classifier, record = ev.load_scoring_classifier(folder, "mnist")
    assert classifier.input_shape[1:] == (28, 28, 1)
    assert record == dict(dataset="mnist", test_accuracy=0.5,
                          path=os.path.abspath(os.path.join(folder, "classifier.keras")))
    # another data set's classifier only when asked, and then its record says whose it is
    assert ev.load_scoring_classifier(folder, "fashion_mnist", allow_mismatch=True)[1]["dataset"] == "mnist"


def _remove(folder, name):
    os.remove(os.path.join(folder, name))


@pytest.mark.parametrize("damage, dataset, needles", [
    (lambda f: _remove(f, "classifier.keras"), "mnist", ["no ", "classifier.keras", "train_classifier.py"]),
    (lambda f: _remove(f, "classifier.json"), "mnist", ["no ", "classifier.json", "train_classifier.py"]),
    (lambda f: open(os.path.join(f, "classifier.json"), "w").write("[]"), "mnist",
     ["classifier.json", "unreadable", "expected an object"]),
    (lambda f: open(os.path.join(f, "classifier.json"), "w").write('{"data'), "mnist",
     ["classifier.json", "unreadable"]),
    (lambda f: None, "fashion_mnist", ["trained on mnist, not fashion_mnist", "classifiers/fashion_mnist",
                                       "--allow_mismatch"]),
    (lambda f: open(os.path.join(f, "classifier.keras"), "wb").write(b"PK\x03\x04 not a keras file"), "mnist",
     ["classifier.keras", "does not load"]),
], ids=["no-model", "no-record", "record-not-an-object", "record-truncated", "other-data-set", "corrupt-model"])
def test_scoring_classifier_refusals_are_one_line_naming_the_flag(tmp_path, damage, dataset, needles):
    from memorygan_tf import configs

    folder = _classifier_folder(tmp_path / "clf")
    damage(folder)
    for flag in ("classifier", "eval_classifier"):
        with pytest.raises(configs.ConfigError) as caught:
            ev.load_scoring_classifier(folder, dataset, flag=flag)
        message = str(caught.value)
        assert message.startswith(f"--{flag}: ") and "\n" not in message, message
        for needle in needles:
            assert needle in message, message


def test_scoring_classifier_defaults_to_the_data_sets_folder(tmp_path, monkeypatch):
    from memorygan_tf import configs

    monkeypatch.chdir(tmp_path)
    with pytest.raises(configs.ConfigError, match=r"no classifiers/mnist/classifier\.keras"):
        ev.load_scoring_classifier(None, "mnist")
    _classifier_folder(tmp_path / "classifiers" / "mnist")
    assert ev.load_scoring_classifier(None, "mnist")[1]["path"] == str(tmp_path / "classifiers/mnist/classifier.keras")


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


def _mmd2_by_loops(x, y):
    """MMD^2 (unbiased, cubic polynomial kernel) written out term by term."""
    k = lambda a, b: (np.dot(a, b) / len(a) + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_unbiased_hand_computed():
    # 1-d: k(x, y) = (xy + 1)^3. x = {0, 1}, y = {2}: xx = k(0,1) = 1, yy needs 2 rows -> use y = {2, 0}.
    # xx = (k(0,1) + k(1,0)) / 2 = 1; yy = (k(2,0) + k(0,2)) / 2 = 1;
    # xy = (k(0,2) + k(0,0) + k(1,2) + k(1,0)) / 4 = (1 + 1 + 27 + 1) / 4 = 7.5 -> 1 + 1 - 15 = -13.
    assert ev.mmd2_unbiased([[0.0], [1.0]], [[2.0], [0.0]]) == pytest.approx(-13.0)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 4)), rng.normal(0.5, 1.0, size=(5, 4))
    assert ev.mmd2_unbiased(x, y) == pytest.approx(_mmd2_by_loops(x, y))
    with pytest.raises(ValueError):
        ev.mmd2_unbiased(x[:1], y)


def test_kid_near_zero_on_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    same, same_std = ev.kernel_inception_distance(a, b, subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std / np.sqrt(20) + 0.01
    shifted = [ev.kernel_inception_distance(a, b + s, subsets=20, subset_size=500)[0] for s in (0.5, 1.0)]
    assert same < shifted[0] < shifted[1]
    # Identical sets and one subset of everything: exactly the closed form of mmd2_unbiased.
    assert ev.kernel_inception_distance(a[:50], a[:50], subsets=1, subset_size=50)[0] == pytest.approx(
        _mmd2_by_loops(a[:50], a[:50]))


def test_knn_radii_and_precision_recall_hand_computed():
    # Points on a line 0, 1, 3, 7: 1st neighbours at 1, 1, 2, 4; 2nd at 3, 2, 3, 6.
    line = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert np.allclose(ev.knn_radii(line, k=1), [1, 1, 2, 4])
    assert np.allclose(ev.knn_radii(line, k=2), [3, 2, 3, 6])
    # Real {0, 1, 3, 7} (k = 1 balls [-1,1], [0,2], [1,5], [3,11]); fake {0.5, 6, 20, 30}:
    # 0.5 and 6 inside: precision 2/4. Fake radii (k = 1): 5.5, 5.5, 10, 10 -> balls
    # [-5,6], [0.5,11.5], [10,30], [20,40]: every real point inside, recall 1.
    fake = np.array([[0.5], [6.0], [20.0], [30.0]])
    assert ev.precision_recall(line, fake, k=1) == pytest.approx((0.5, 1.0))
    with pytest.raises(ValueError):
        ev.knn_radii(line, k=4)


def test_precision_recall_of_identical_and_disjoint_sets():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 5))
    assert ev.precision_recall(real, real.copy()) == (1.0, 1.0)
    assert ev.precision_recall(real, real + 100.0) == (0.0, 0.0)
    # A fake set that covers half the real modes: precision stays high, recall drops.
    modes = rng.normal(scale=20.0, size=(4, 5))
    real = np.concatenate([m + rng.normal(size=(200, 5)) for m in modes])
    fake = np.concatenate([m + rng.normal(size=(400, 5)) for m in modes[:2]])
    precision, recall = ev.precision_recall(real, fake)
    assert precision > 0.9 and 0.4 < recall < 0.6
    # A larger fake set is cut to the real set's size (800 of 1600), drawn at random.
    precision_cut, recall_cut = ev.precision_recall(real, np.concatenate([fake, fake]), seed=2)
    assert precision_cut > 0.9 and 0.4 < recall_cut < 0.6


def test_sample_quality_holds_every_metric():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(10), size=200)
    features, test = rng.normal(size=(200, 6)), rng.normal(size=(300, 6))
    result = ev.sample_quality(probs, features, test)
    assert set(result) == {"inception_score", "inception_score_std", "fid", "kid", "kid_std", "precision", "recall"}
    assert result["fid"] == pytest.approx(ev.fid_from_features(features, test))
    assert 0.0 <= result["precision"] <= 1.0 and 0.0 <= result["recall"] <= 1.0


# ------------------------------------------------- clustering (MIC-GANs' protocol)
def test_clustering_accuracy_matches_clusters_to_labels_one_to_one():
    # clusters 0 -> label 1 (2 items), 1 -> label 0 (2), 2 -> label 2 (1 of its 2): 5 of 6
    assert ev.clustering_accuracy([0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 0, 2]) == pytest.approx(5 / 6)
    # more clusters than labels: only two clusters can be matched, one item each of the rest is lost
    assert ev.clustering_accuracy([0, 1, 2, 3], [0, 0, 1, 1]) == pytest.approx(0.5)
    # labels renamed: a perfect clustering stays perfect (purity too)
    assert ev.clustering_accuracy([5, 5, 9, 9], [1, 1, 0, 0]) == 1.0
    # the majority map of purity can send two clusters to one label; the one-to-one map cannot
    assert ev.cluster_purity([0, 0, 1, 1], [0, 0, 0, 0]) == 1.0
    assert ev.clustering_accuracy([0, 0, 1, 1], [0, 0, 0, 0]) == pytest.approx(0.5)


def test_heaviest_clusters_ranks_by_weight_then_id():
    np.testing.assert_array_equal(ev.heaviest_clusters([0.1, 0.5, 0.5, 0.2, 0.0], 3), [1, 2, 3])


class _Assigner:
    """A stand-in clustering model: image i scores highest on cluster i % 4 and next on
    cluster 2, so restricted to clusters 2 and 3 it goes to 2 unless it is 3's; weights
    favour clusters 2 and 3. Scores are asked for once per batch."""

    clusters = True
    calls = 0

    class config:  # noqa: N801 - mimics model.config
        output_activation = "sigmoid"

    def cluster_scores(self, images):
        self.calls += 1
        scores = np.eye(4)[np.arange(len(images)) % 4]
        scores[:, 2] += 0.5
        return scores

    def cluster_weights(self):
        return np.array([0.1, 0.2, 0.4, 0.3])


def test_clustering_report_uses_the_c_heaviest_clusters():
    images = np.zeros((8, 28, 28, 1), np.uint8)
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3]) % 2  # two classes: C = 2 heaviest clusters are 2 and 3
    model = _Assigner()
    report = ev.clustering_report(model, images, labels, batch_size=4)
    assert model.calls == 2  # one pass over the test images, in two batches
    # all clusters: i % 4, each pure (cluster c holds label c % 2)
    assert report["cluster_purity"] == 1.0 and report["clusters_used"] == 4
    # top-2: clusters 0 and 1 fold into cluster 2 (allowed[0] of [2, 3]): ids 2,2,2,3,...
    # cluster 2 holds labels 0,1,0 (x2) -> majority 4 of 6; cluster 3 holds label 1 twice
    assert report["cluster_purity_top"] == pytest.approx(6 / 8)
    assert report["cluster_accuracy_top"] == pytest.approx(6 / 8)
    # NMI = I / sqrt(H(clusters) H(labels)): log 2 / sqrt(log 4 log 2) over all four clusters
    assert report["cluster_nmi"] == pytest.approx(1 / math.sqrt(2))
    assert 0.0 < report["cluster_nmi_top"] < report["cluster_nmi"]
