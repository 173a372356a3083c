"""Inception-network scores for colour data: IS and FID from Keras's InceptionV3.

The paper scores CIFAR10 (Table 1: IS 8.04) with the Inception network of Salimans et
al. (2016), a TF graph of 2015-12-05 with 1008 classes; FID (Heusel et al. 2017) uses that
graph's 2048-d pool3 features. Keras ships InceptionV3 with other ImageNet weights (1000
classes; `keras.applications.InceptionV3`, downloaded once into ~/.keras/models). The
architecture is the same, the weights are not: ports that swapped in other Inception
weights found different numbers and had to port the 2015 graph's weights to match it
(pytorch-fid's fix of torchvision's InceptionV3), and no published measurement of the
gap for Keras's weights was found. So scores from here compare runs scored here; they
are not bit-equal to, and should not be set beside, numbers of the original TF code.

inception_heads() builds what evaluation.classify takes: a model from images in [0, 1]
(any size, grey or RGB) to (class probabilities [n, 1000], pool features [n, 2048]),
resizing bilinearly to 299x299 and scaling to [-1, 1] as InceptionV3 expects.
"""

from __future__ import annotations

import hashlib

INPUT_SIZE = 299
BATCH_SIZE = 50  # images per forward pass: 299x299 activations are large
WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"  # what Keras downloads and caches


class InceptionUnavailable(RuntimeError):
    """The ImageNet weights could not be had (offline, no cached copy)."""


def inception_heads(image_shape, weights="imagenet"):
    """(probabilities, pool features) of InceptionV3 for images [n, *image_shape] in [0, 1].

    `weights`: "imagenet" (Keras's, downloaded once and cached), a path to that .h5 file,
    or None (random weights of the same architecture: for tests). Raises
    InceptionUnavailable when the ImageNet weights cannot be downloaded."""
    import keras
    from keras import layers

    try:
        base = keras.applications.InceptionV3(include_top=True, weights=weights, classifier_activation="softmax")
    except Exception as err:  # noqa: BLE001 - a download fails in many ways (URLError, OSError, ...)
        if weights != "imagenet":
            raise
        raise InceptionUnavailable(
            f"cannot download Keras's InceptionV3 ImageNet weights ({str(err).splitlines()[0][:120]}); on a machine "
            f"without internet put {WEIGHTS_FILE} into ~/.keras/models/ or pass its path") from None
    features = keras.Model(base.inputs, [base.output, base.get_layer("avg_pool").output])
    inputs = keras.Input(tuple(image_shape))
    x = inputs
    if image_shape[-1] == 1:
        x = layers.Concatenate()([x, x, x])
    x = layers.Resizing(INPUT_SIZE, INPUT_SIZE, interpolation="bilinear")(x)
    x = layers.Rescaling(2.0, offset=-1.0)(x)
    probs, pooled = features(x)
    return keras.Model(inputs, [probs, pooled], name="inception_heads")


def network_key(weights):
    """What identifies the network in a reference cache key: the weights file's hash, or the
    name of Keras's weights and the Keras version."""
    import keras

    if weights in (None, "imagenet"):
        return f"inception_v3:{weights}:keras{keras.__version__}"
    digest = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"inception_v3:{digest.hexdigest()}"
