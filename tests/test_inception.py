"""Inception-network scores for colour data, on a stand-in of the same architecture (random
weights: the ImageNet weights cannot be downloaded here)."""

import numpy as np
import pytest

from memorygan_tf import evaluation, inception


@pytest.fixture(scope="module")
def heads():
    return inception.inception_heads((32, 32, 3), weights=None)


def test_heads_give_imagenet_probabilities_and_pool_features(heads):
    images = np.random.default_rng(0).random((3, 32, 32, 3)).astype(np.float32)
    probs, features = evaluation.classify(heads, images, batch_size=2)
    assert probs.shape == (3, 1000) and features.shape == (3, 2048)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert np.all(features >= 0)  # pool3 follows a ReLU: the FID features are non-negative


def test_input_is_resized_and_scaled_as_inception_expects(heads):
    """The wrapper feeds the base network bilinear 299x299 images in [-1, 1]: compared with
    calling the base network on images prepared by hand."""
    import tensorflow as tf

    base = heads.layers[-1]  # the (probabilities, pool) model on 299x299 inputs
    images = np.random.default_rng(1).random((2, 32, 32, 3)).astype(np.float32)
    prepared = tf.image.resize(images, (299, 299), method="bilinear") * 2.0 - 1.0
    expected = base(prepared, training=False)
    got = heads(images, training=False)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_grey_images_are_repeated_into_three_channels():
    grey_heads = inception.inception_heads((28, 28, 1), weights=None)
    images = np.random.default_rng(2).random((2, 28, 28, 1)).astype(np.float32)
    assert evaluation.classify(grey_heads, images)[1].shape == (2, 2048)


def test_offline_imagenet_weights_say_where_to_put_them(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no route to host")

    monkeypatch.setattr(keras.applications, "InceptionV3", offline)
    with pytest.raises(inception.InceptionUnavailable, match=inception.WEIGHTS_FILE):
        inception.inception_heads((32, 32, 3), weights="imagenet")


def test_network_key_names_the_weights(tmp_path):
    assert inception.network_key("imagenet").startswith("inception_v3:imagenet")
    path = tmp_path / "w.h5"
    path.write_bytes(b"abc")
    key = inception.network_key(str(path))
    path.write_bytes(b"abd")
    assert inception.network_key(str(path)) != key
