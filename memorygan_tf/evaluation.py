"""Sample quality and clustering: Inception Score, FID, KID, precision / recall, and how a model clusters data.

Sample quality follows the paper's protocol (Sec. 5, Table 3): the Inception Score of
generated images under a classifier trained on the data set's training split, with
10 splits, IS = exp(E_x KL(p(y|x) || p(y))) (Salimans et al., 2016). FID (Heusel et
al., 2017), KID (Binkowski et al., 2018) and improved precision and recall
(Kynkaanniemi et al., 2019) are computed in the same classifier's penultimate feature
space against the test set. All are pure functions of arrays; :func:`classify`
produces the arrays.

How a clustering model (MemoryGAN's slots, InfoGAN's codes, MIC-GANs' modes) spreads
test images over its clusters is :func:`clustering_report`'s; a model's own report (the
memory health of MemoryGAN: models/memorygan/report.py) is its evaluation_report.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from memorygan_tf import configs, data


# ------------------------------------------------------------ sample quality
def inception_score(probs, splits=10):
    """IS = exp(E_x KL(p(y|x) || p(y))) per split; returns (mean, std) over the splits.

    `probs` [n, classes] are class probabilities p(y|x) of n images; each split
    uses its own marginal p(y), as in Salimans et al. (2016) and the paper's Table 2.
    """
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or len(probs) < splits:
        raise ValueError(f"need [n >= {splits}, classes] probabilities, got {probs.shape}")
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (_safe_log(part) - _safe_log(marginal)), axis=1)
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _safe_log(x):
    return np.log(np.maximum(x, 1e-12))


def feature_statistics(features):
    """Mean [d] and covariance [d, d] (unbiased) of features [n, d]."""
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrtm_psd(matrix):
    """Square root of a symmetric positive semi-definite matrix (eigen-decomposition)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance of two Gaussians (FID, Heusel et al. 2017):

    |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2).
    The matrix square roots are taken of symmetric PSD matrices, so no complex parts.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root1 = _sqrtm_psd(sigma1)
    cross = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_sqrt = np.sum(np.sqrt(np.maximum(cross, 0.0)))
    value = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def fid_from_features(features_a, features_b):
    """FID between two feature sets [n, d] and [m, d]."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # Binkowski et al.'s defaults


def polynomial_kernel(a, b):
    """KID's kernel k(x, y) = (x.y / d + 1)^3 between rows of a [n, d] and b [m, d]."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased MMD^2 of two samples [m, d] and [n, d] under :func:`polynomial_kernel`:

    sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (n(n-1)) - 2 mean k(x_i, y_j).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"MMD^2 needs at least 2 rows in each set, got {m} and {n}")
    kxx, kyy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * polynomial_kernel(x, y).mean())


def kernel_inception_distance(features_a, features_b, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=0):
    """KID (Binkowski et al. 2018): the unbiased MMD^2 (:func:`mmd2_unbiased`) of random
    subsets of `subset_size` rows of each set (at most the smaller set's size), drawn
    without replacement; returns (mean, std) over `subsets` subsets. Unbiased: near 0
    (and possibly below) for two samples of one distribution."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    size = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


PR_NEIGHBOURS = 3  # Kynkaanniemi et al.'s k


def _squared_distances(a, b):
    return np.maximum(np.sum(a * a, 1)[:, None] + np.sum(b * b, 1)[None, :] - 2.0 * a @ b.T, 0.0)


def knn_radii(features, k=PR_NEIGHBOURS, chunk=2000):
    """Each row's distance to its k-th nearest other row (the row itself excluded)."""
    features = np.asarray(features, np.float64)
    if len(features) <= k:
        raise ValueError(f"need more than k = {k} rows, got {len(features)}")
    radii = []
    for start in range(0, len(features), chunk):
        d2 = _squared_distances(features[start:start + chunk], features)
        radii.append(np.sqrt(np.partition(d2, k, axis=1)[:, k]))  # index 0 is the row itself
    return np.concatenate(radii)


def manifold_coverage(points, manifold, radii, chunk=2000):
    """Share of `points` inside the union of balls around `manifold`'s rows (radii given)."""
    points, manifold = np.asarray(points, np.float64), np.asarray(manifold, np.float64)
    inside = []
    for start in range(0, len(points), chunk):
        d2 = _squared_distances(points[start:start + chunk], manifold)
        inside.append(np.any(d2 <= radii[None, :] ** 2, axis=1))
    return float(np.mean(np.concatenate(inside)))


def precision_recall(real_features, fake_features, k=PR_NEIGHBOURS, max_points=10000, seed=0, real_radii=None):
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k nearest neighbours.

    Each set's manifold is the union of balls around its points, each of radius the
    distance to its k-th nearest neighbour in the set. Precision: the share of fake
    points inside the real manifold; recall: the share of real points inside the fake
    one. Both sets are cut to the same size (the smaller, at most `max_points`, drawn
    at random) because the radii shrink as a set grows. Returns (precision, recall).
    """
    real, fake = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)
    n = min(len(real), len(fake), max_points)
    rng = np.random.default_rng(seed)
    real = real[rng.choice(len(real), n, replace=False)] if n < len(real) else real
    fake = fake[rng.choice(len(fake), n, replace=False)] if n < len(fake) else fake
    # `real_radii`: knn_radii of the whole real set (a Reference's), used when it is not cut
    if real_radii is None or n < len(real_features):
        real_radii = knn_radii(real, k)
    precision = manifold_coverage(fake, real, real_radii)
    recall = manifold_coverage(real, fake, knn_radii(fake, k))
    return precision, recall


def sample_quality(probs, features, test_features, splits=10, reference=None):
    """IS, FID, KID and precision/recall of generated images' classifier outputs
    (`probs`, `features`) against the test set's features, as a dict. `reference` (a
    Reference of those features) saves recomputing their mean, covariance and k-NN radii."""
    is_mean, is_std = inception_score(probs, splits)
    kid, kid_std = kernel_inception_distance(features, test_features)
    precision, recall = precision_recall(test_features, features,
                                         real_radii=None if reference is None else reference.radii)
    if reference is None:
        fid = fid_from_features(features, test_features)
    else:
        fid = frechet_distance(*feature_statistics(features), reference.mean, reference.covariance)
    return dict(inception_score=is_mean, inception_score_std=is_std, fid=fid, kid=kid, kid_std=kid_std,
                precision=precision, recall=recall)


# -------------------------------------------------------------- the classifier
def build_classifier(image_shape, num_classes=10, width=16, blocks_per_stage=2):
    """A small pre-activation ResNet (He et al., 2016) for 28x28 / 40x40 / 32x32 images.

    Three stages of `blocks_per_stage` residual blocks with width, 2x and 4x filters
    (stride 2 between stages), global average pooling, a `features` layer (the FID
    feature space) and a softmax over the classes. Inputs are pixels in [0, 1].
    """
    import keras
    from keras import layers

    inputs = keras.Input(image_shape)
    x = layers.Conv2D(width, 3, padding="same", use_bias=False)(inputs)
    for stage in range(3):
        filters = width * 2**stage
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            y = layers.BatchNormalization()(x)
            y = layers.ReLU()(y)
            shortcut = x
            if stride != 1 or x.shape[-1] != filters:
                shortcut = layers.Conv2D(filters, 1, stride, use_bias=False)(y)
            y = layers.Conv2D(filters, 3, stride, padding="same", use_bias=False)(y)
            y = layers.BatchNormalization()(y)
            y = layers.ReLU()(y)
            y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
            x = layers.Add()([shortcut, y])
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    features = layers.Dense(128, activation="relu", name="features")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(layers.Dropout(0.3)(features))
    return keras.Model(inputs, outputs, name="classifier")


def classifier_heads(classifier):
    """A model returning (probabilities, penultimate features) of the classifier."""
    import keras

    return keras.Model(classifier.inputs[0], [classifier.output, classifier.get_layer("features").output])


def augment(images, seed, flip=True):
    """Training augmentation for the classifier: random shifts of up to 2 pixels and,
    with `flip` (data sets where it keeps the class: Fashion-MNIST), horizontal flips."""
    import tensorflow as tf

    shape = tf.shape(images)
    padded = tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]])
    seeds = tf.random.experimental.stateless_split(seed, 2)
    shifted = tf.image.stateless_random_crop(padded, shape, seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(shifted, seed=seeds[1]) if flip else shifted


CLASSIFIER_EPOCHS = 12  # Fashion-MNIST test accuracy 0.9256 after 8 epochs, 0.9319 after 12


def train_classifier(x_train, y_train, x_test, y_test, directory, epochs=CLASSIFIER_EPOCHS, batch_size=128,
                     flip=True, width=16, seed=0, verbose="auto"):
    """Trains the evaluation classifier (resumable by epoch) and saves `classifier.keras`.

    Images uint8 [n, H, W, C]; returns the test accuracy. Training resumes from
    `directory/backup` after an interruption (keras.callbacks.BackupAndRestore).
    """
    import os

    import keras
    import tensorflow as tf

    os.makedirs(directory, exist_ok=True)
    keras.utils.set_random_seed(seed)
    model = build_classifier(x_train.shape[1:], int(np.max(y_train)) + 1, width=width)
    steps = epochs * (len(x_train) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, steps)
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])

    def scale(x):
        return tf.cast(x, tf.float32) / 255.0

    train = tf.data.Dataset.from_tensor_slices((x_train, y_train.astype(np.int32)))
    train = train.shuffle(len(x_train), seed=seed).batch(batch_size, drop_remainder=True).enumerate()

    def prepare(i, batch):
        x, y = batch
        return augment(scale(x), tf.stack([tf.constant(seed, tf.int64), i]), flip), y

    train = train.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    test = tf.data.Dataset.from_tensor_slices((x_test, y_test.astype(np.int32))).batch(512)
    test = test.map(lambda x, y: (scale(x), y))
    model.fit(train, epochs=epochs, validation_data=test, verbose=verbose, shuffle=False,  # the dataset shuffles
              callbacks=[keras.callbacks.BackupAndRestore(os.path.join(directory, "backup"))])
    _, accuracy = model.evaluate(test, verbose=0)
    model.save(os.path.join(directory, "classifier.keras"))
    return float(accuracy)


def load_classifier(path):
    import keras

    return keras.models.load_model(path, compile=False)


def load_scoring_classifier(classifier_dir, dataset, allow_mismatch=False, flag="classifier"):
    """The classifier that scores `dataset`'s images (tools/train_classifier.py's folder:
    classifier.keras and its record classifier.json; None: classifiers/<dataset>), as
    (keras model, record): the record is classifier.json's object with `path`, the
    classifier file's absolute path. Raises configs.ConfigError naming `flag`, one line,
    for a missing file, an unreadable record, a classifier trained on another data set
    than `dataset` (unless `allow_mismatch`: --allow_mismatch) and a file that does not
    load: the same refusal wherever a classifier is loaded to score."""
    import json

    classifier_dir = classifier_dir or os.path.join("classifiers", dataset)
    path, record_path = (os.path.join(classifier_dir, name) for name in ("classifier.keras", "classifier.json"))
    for needed in (path, record_path):
        if not os.path.isfile(needed):
            raise configs.ConfigError(flag, f"no {needed}; train one with tools/train_classifier.py")
    try:
        with open(record_path) as f:
            record = json.load(f)
        if not isinstance(record, dict):
            raise ValueError(f"expected an object, got {type(record).__name__}")
    except (OSError, ValueError) as err:
        raise configs.ConfigError(flag, f"{record_path} is unreadable ({_first_line(err)}); train the classifier "
                                  "again with tools/train_classifier.py") from None
    trained_on = record.get("dataset")
    if trained_on and trained_on != dataset and not allow_mismatch:
        raise configs.ConfigError(flag, f"{classifier_dir} was trained on {trained_on}, not {dataset}; use "
                                  f"classifiers/{dataset} (or pass --allow_mismatch)")
    try:
        classifier = load_classifier(path)
    except Exception as err:  # noqa: BLE001 - any way a saved Keras model can fail to load
        raise configs.ConfigError(flag, f"{path} does not load ({_first_line(err)}); train it again with "
                                  "tools/train_classifier.py") from None
    return classifier, dict(record, path=os.path.abspath(path))


def _first_line(err):
    """An exception's first line (at most 160 characters), else its type's name."""
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__


def classify(heads, images, batch_size=500, progress=None):
    """(probabilities [n, classes], features [n, d]) of images in [0, 1] ([n, H, W, C])."""
    probs, features = [], []
    for start in range(0, len(images), batch_size):
        p, f = heads(np.asarray(images[start:start + batch_size], np.float32), training=False)
        probs.append(np.asarray(p))
        features.append(np.asarray(f))
        if progress:
            progress(min(start + batch_size, len(images)), len(images))
    return np.concatenate(probs), np.concatenate(features)


def effective_number(weights):
    """exp(entropy) of the distribution proportional to non-negative `weights`."""
    weights = np.asarray(weights, np.float64)
    total = weights.sum()
    if total <= 0:
        return 0.0
    p = weights[weights > 0] / total
    return float(math.exp(-np.sum(p * np.log(p))))


def cluster_purity(assignments, labels):
    """Fraction of items whose label is the majority label of their cluster."""
    assignments, labels = np.asarray(assignments), np.asarray(labels)
    correct = 0
    for cluster in np.unique(assignments):
        correct += np.bincount(labels[assignments == cluster]).max()
    return float(correct / len(labels))


def contingency_table(assignments, labels):
    """Counts [clusters, labels] of the items in each (cluster, label) pair, the clusters
    and labels that occur numbered from 0 in sorted order."""
    _, a = np.unique(np.asarray(assignments), return_inverse=True)
    _, b = np.unique(np.asarray(labels), return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1.0)
    return table


def normalized_mutual_information(assignments, labels):
    """NMI(clusters, labels) = I / sqrt(H(clusters) H(labels)) (0 when either is constant)."""
    joint = contingency_table(assignments, labels)
    joint /= joint.sum()
    pa, pb = joint.sum(axis=1), joint.sum(axis=0)
    nz = joint > 0
    mi = np.sum(joint[nz] * np.log(joint[nz] / np.outer(pa, pb)[nz]))
    ha, hb = -np.sum(pa * np.log(pa)), -np.sum(pb * np.log(pb))
    if ha <= 0 or hb <= 0:
        return 0.0
    return float(mi / math.sqrt(ha * hb))


def clustering_accuracy(assignments, labels):
    """Accuracy of the best one-to-one map of clusters to labels (the Hungarian method on
    the contingency table, scipy's linear_sum_assignment): the share of items whose
    cluster is mapped to their label. With more clusters than labels, the clusters left
    unmatched count as wrong."""
    from scipy.optimize import linear_sum_assignment

    table = contingency_table(assignments, labels)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def heaviest_clusters(weights, count):
    """Ids of the `count` clusters of largest weight, heaviest first (ties: lower id first)."""
    weights = np.asarray(weights, np.float64)
    order = np.argsort(-weights, kind="stable")
    return order[:count]


def clustering_report(model, x_test, y_test, num_classes=None, batch_size=1000):
    """How a clustering model's `assign` groups the (uint8) test images, by the MIC-GANs
    paper's protocol: each image goes to the most probable of the C heaviest clusters
    (C = number of classes, clusters ranked by the model's weights), and purity, NMI and
    the Hungarian accuracy of those assignments against the labels (`*_top`); and
    the same over all clusters (`cluster_*`, with the number of clusters used)."""
    labels = np.asarray(y_test)
    count = num_classes or len(np.unique(labels))
    chosen = heaviest_clusters(model.cluster_weights(), count)
    every, top = [], []  # both argmaxes from one pass of cluster_scores (assign's rule)
    for start in range(0, len(x_test), batch_size):
        x = data.scale_images(x_test[start:start + batch_size], model.config.output_activation).numpy()
        scores = np.asarray(model.cluster_scores(x))
        every.append(np.argmax(scores, axis=1))
        top.append(chosen[np.argmax(scores[:, chosen], axis=1)])
    every, top = np.concatenate(every), np.concatenate(top)
    return dict(cluster_purity_top=cluster_purity(top, labels), cluster_nmi_top=normalized_mutual_information(top, labels),
                cluster_accuracy_top=clustering_accuracy(top, labels), cluster_purity=cluster_purity(every, labels),
                cluster_nmi=normalized_mutual_information(every, labels),
                cluster_accuracy=clustering_accuracy(every, labels), clusters_used=int(len(np.unique(every))))


# ------------------------------------------------------------- evaluating a run
def generate_images(model, n, seed=configs.EVAL_SEED, batch_size=1000):
    """n generated images in [0, 1] from the model's prior, reproducible from `seed`."""
    import tensorflow as tf

    out = []
    for i, start in enumerate(range(0, n, batch_size)):
        count = min(batch_size, n - start)
        images = model.generate(count, tf.constant([seed, i], tf.int64))
        out.append(data.to_unit_range(images.numpy(), model.config.output_activation))
    return np.concatenate(out)


def reference_features(classifier, x_test):
    """The classifier's penultimate features of the (uint8) test images, FID's reference."""
    return classify(classifier_heads(classifier), x_test.astype(np.float32) / 255.0)[1]


def evaluate_model(model, classifier, x_test, y_test, num_samples=configs.PAPER_EVAL_SAMPLES, splits=10,
                   seed=configs.EVAL_SEED, progress=None, test_features=None, reference=None, heads=None,
                   batch_size=500):
    """IS, FID, KID, precision and recall of `num_samples` generated images
    (:func:`sample_quality`), the same of the generator's moving average under "ema" (same
    latents) where the model keeps one, and the model's own report of the test set (MemoryGAN: the
    memory report; clustering models: :func:`clustering_report`), as a dict.

    `test_features` (reference_features) or `reference` (a cached Reference, see
    :func:`load_reference`) saves classifying the test set again. `heads` scores with another
    feature network (inception.inception_heads) than the classifier's."""
    heads = classifier_heads(classifier) if heads is None else heads
    if reference is not None:
        test_features = reference.features
    elif test_features is None:
        test_features = reference_features(classifier, x_test)

    def score():
        images = generate_images(model, num_samples, seed=seed)
        return score_images(images, heads, test_features, splits, reference, progress, batch_size)

    result = score()
    result.update(num_samples=int(num_samples), step=int(model.step.numpy()))
    if getattr(model, "has_ema", False):  # the same images' latents, through the averaged generator
        with model.ema_generator():
            result["ema"] = score()
    result.update(model.evaluation_report(x_test, y_test))
    return result


def real_data_reference(classifier, x_test, splits=10):
    """IS of the real test images and FID(test half, other half): the metrics' scale."""
    heads = classifier_heads(classifier)
    probs, features = classify(heads, x_test.astype(np.float32) / 255.0)
    half = len(features) // 2
    is_mean, is_std = inception_score(probs, splits)
    return dict(test_inception_score=is_mean, test_inception_score_std=is_std,
                fid_test_halves=fid_from_features(features[:half], features[half:]))


# ------------------------------------------------- images from anywhere, cached references
def score_images(images, heads, test_features, splits=10, reference=None, progress=None, batch_size=500):
    """sample_quality of images in [0, 1] [n, H, W, C] under the classifier's heads, with the
    histogram of their predicted classes: what a run's evaluation scores, for any images."""
    probs, features = classify(heads, images, batch_size=batch_size, progress=progress)
    scores = sample_quality(probs, features, test_features, splits, reference)
    scores["class_histogram"] = np.bincount(probs.argmax(1), minlength=probs.shape[1]).tolist()
    return scores


@dataclasses.dataclass(frozen=True)
class Reference:
    """The real side of FID, KID and precision/recall: the test images' classifier features,
    their mean and covariance, and each feature's distance to its k-th nearest neighbour."""

    features: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray
    radii: np.ndarray


REFERENCE_VERSION = 1  # bump when what a Reference holds, or how it is computed, changes


def reference_key(classifier_path, x_test, network_key=None):
    """The cache key of a Reference: a hash of the classifier file's bytes (or of
    `network_key`, a string naming another feature network) and of the test images (shape,
    dtype, pixels), so a new classifier or other test data is a new entry."""
    import hashlib

    digest = hashlib.sha256(f"v{REFERENCE_VERSION}:k{PR_NEIGHBOURS}".encode())
    if network_key is not None:
        digest.update(network_key.encode())
    else:
        with open(classifier_path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    images = np.ascontiguousarray(x_test)
    digest.update(f"{images.shape}{images.dtype}".encode())
    digest.update(images.tobytes())
    return digest.hexdigest()[:32]


def default_cache_dir(environ):
    """Where references are cached: $MEMORYGAN_CACHE_DIR, else ~/.cache/memorygan_tf."""
    base = environ.get("MEMORYGAN_CACHE_DIR") or os.path.join(
        environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "memorygan_tf")
    return os.path.join(base, "reference")


def load_reference(classifier, classifier_path, x_test, cache_dir=None, log=lambda message: None, heads=None,
                   network_key=None, batch_size=500):
    """The test set's Reference under `classifier` (loaded from `classifier_path`): read from
    `cache_dir` if an entry with the same classifier bytes and test images is there, else
    computed and written there (atomically; an unreadable entry is computed again; a cache
    that cannot be written is skipped). cache_dir None: computed, not cached. `heads` and
    `network_key` score with another feature network (inception.inception_heads)."""
    path = None
    if cache_dir:
        path = os.path.join(cache_dir, f"{reference_key(classifier_path, x_test, network_key)}.npz")
        try:
            with np.load(path) as stored:
                return Reference(**{name: stored[name] for name in ("features", "mean", "covariance", "radii")})
        except (OSError, ValueError, KeyError, EOFError):
            pass  # absent or unreadable: compute it again
    if heads is None:
        features = reference_features(classifier, x_test)
    else:
        features = classify(heads, x_test.astype(np.float32) / 255.0, batch_size=batch_size)[1]
    mean, covariance = feature_statistics(features)
    reference = Reference(features, mean, covariance, knn_radii(features))
    if path is not None:
        try:
            os.makedirs(cache_dir, exist_ok=True)
            partial = f"{path}.{os.getpid()}.partial.npz"
            np.savez(partial, **dataclasses.asdict(reference))
            os.replace(partial, path)
            log(f"Cached the test set's reference statistics in {path}")
        except OSError as err:
            log(f"Could not cache the reference statistics in {cache_dir} ({err.strerror or err})")
    return reference


def as_unit_images(images, source):
    """Images a user brings, as float32 [n, H, W, C] in [0, 1]: floats already in [0, 1] are
    kept as they are (so generated images saved as floats score exactly as the run scored
    them); every other pixel convention data.as_nhwc_uint8 accepts is converted by it."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if (np.issubdtype(array.dtype, np.floating) and array.ndim == 4 and array.shape[-1] in (1, 3) and array.size
            and np.all(np.isfinite(array)) and array.min() >= 0.0 and array.max() <= 1.0):
        return array.astype(np.float32)
    return data.as_nhwc_uint8(array, source).astype(np.float32) / 255.0
