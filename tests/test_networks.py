"""The architectures: one entry each of networks.NETWORKS, one image size each in
configs.ARCHITECTURES, and a variable layout that a checkpoint of an earlier build loads into."""

import dataclasses
import math

import pytest
import tensorflow as tf

from memorygan_tf import configs, networks

SIZES = {name: size for size, name in configs.ARCHITECTURES.items()}
CHANNELS = {"dcgan28": 1, "dcgan40": 1, "resnet32": 3, "resnet64": 3}
# (variables, values) of the encoder and of the generator of each architecture at f_dim 8,
# fc_dim 32, key_dim 16 and a latent of 18: the layout checkpoints written before the
# architectures became entries of one table hold (BN's moving statistics included).
LAYOUT = {
    "dcgan28": ((17, 18824), (17, 33345)),
    "dcgan40": ((27, 24904), (27, 28481)),
    "resnet32": ((36, 22864), (36, 33507)),
    "resnet64": ((40, 195240), (46, 321155)),
}


def small(name):
    return configs.ModelConfig(image_shape=SIZES[name] + (CHANNELS[name],), architecture=name, f_dim=8, fc_dim=32,
                               key_dim=16)


def test_every_architecture_has_its_networks_and_one_image_size():
    assert set(networks.NETWORKS) == set(configs.ARCHITECTURES.values()) == set(LAYOUT)
    field = next(f for f in dataclasses.fields(configs.ModelConfig) if f.name == "architecture")
    assert set(field.metadata["choices"]) == {"auto"} | set(networks.NETWORKS)


@pytest.mark.parametrize("name", sorted(LAYOUT))
def test_each_architecture_builds_its_layout_and_shapes(name):
    m = small(name)
    encoder, generator = networks.build_encoder(m), networks.build_generator(m, 18)
    layout = tuple((len(net.weights), sum(math.prod(v.shape) for v in net.weights)) for net in (encoder, generator))
    assert layout == LAYOUT[name]
    images = generator(tf.random.uniform((2, 18), -1.0, 1.0))
    assert images.shape == (2,) + m.image_shape
    assert encoder(images).shape == (2, m.key_dim)
    assert networks.architecture_for(configs.ModelConfig(image_shape=m.image_shape)) == name  # auto: by size
    networks.feature_view(encoder)  # every encoder names its features layer


def test_an_unknown_architecture_is_a_clear_error():
    m = configs.ModelConfig(architecture="vgg16")
    with pytest.raises(ValueError, match="unknown architecture 'vgg16'"):
        networks.build_encoder(m)


def test_bn_epsilon_reaches_every_batch_norm_and_changes_small_variance_outputs():
    import keras
    import numpy as np

    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (8, 28, 28, 1)).astype("float32"))
    outputs = {}
    for epsilon in (1e-5, 1e-3):
        keras.utils.set_random_seed(0)
        encoder = networks.build_encoder(dataclasses.replace(small("dcgan28"), bn_epsilon=epsilon))
        norms = [layer for layer in encoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms and all(layer.epsilon == epsilon for layer in norms)
        outputs[epsilon] = encoder(x, training=True).numpy()
    # N(0, 0.02) weights: pre-norm variances near 1e-3, so the epsilon shows in the normalised query
    assert np.abs(outputs[1e-5] - outputs[1e-3]).max() > 1e-2
    # with epsilon e, batch norm maps variance v to v / (v + e): the query's mean square drops
    assert np.mean(outputs[1e-3] ** 2) < np.mean(outputs[1e-5] ** 2)


def test_nobn_scale_drops_every_gamma_and_keeps_the_initial_outputs():
    import keras
    import numpy as np

    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (8, 28, 28, 1)).astype("float32"))
    z = tf.constant(np.random.default_rng(1).uniform(-1, 1, (8, 18)).astype("float32"))
    built = {}
    for scale in (True, False):
        keras.utils.set_random_seed(0)
        config = dataclasses.replace(small("dcgan28"), bn_scale=scale)
        encoder, generator = networks.build_encoder(config), networks.build_generator(config, input_dim=18)
        norms = [layer for net in (encoder, generator) for layer in net.layers
                 if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms and all(layer.scale is scale and layer.center for layer in norms)
        gammas = [v for net in (encoder, generator) for v in net.trainable_variables if v.path.endswith("gamma")]
        assert len(gammas) == (len(norms) if scale else 0)
        built[scale] = (len(encoder.trainable_variables) + len(generator.trainable_variables),
                        encoder(x, training=True).numpy(), generator(z, training=True).numpy())
    # slim's batch norm without a scale is Keras's with gamma fixed at its initial 1
    assert built[True][0] - built[False][0] == len(norms)
    np.testing.assert_allclose(built[True][1], built[False][1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(built[True][2], built[False][2], rtol=1e-6, atol=1e-6)


@pytest.mark.messages
def test_bn_epsilon_must_be_positive():
    with pytest.raises(configs.ConfigError, match="--bn_epsilon"):
        configs.make_config("fashion_mnist", dict(bn_epsilon=0.0))
