"""Generator and discriminator encoder networks of the release, chosen by image size.

* ``dcgan28``  (28x28, Fashion-MNIST / MNIST), ``dcgan40`` (40x40, affine-MNIST):
  DCGAN-style convolutions, lrelu 0.2, batch norm (none on the first encoder layer),
  sigmoid output.
* ``resnet32`` (32x32, CIFAR10): the WGAN-GP ResNet, layer norm and ELU, mean-pool
  down-sampling in the encoder, tanh output.
* ``resnet64`` (64x64, CelebA / Chairs, the paper's Fig. 4): the release has no 64-pixel
  network (its config stops at CIFAR10; chair.py reads 32x32 grey chairs and celeba.py is
  absent), so this follows the paper: "for CIFAR10 and CelebA, we use the WGAN-GP ResNet
  (Gulrajani et al. 2017) with layer normalization and ELU" (Sec. 4; Table 3 gives Chairs
  the CelebA settings). It is ``resnet32`` (the release's blocks) grown as WGAN-GP's own
  64x64 ResNet (gan_64x64.py) grows: encoder conv 3x3 f at 64 px, the first mean-pool
  block (f, 32 px), residual down blocks of 2f, 4f, 8f (16, 8, 4 px), then a dense
  layer from the 4x4x8f map to the query; generator dense to 4x4x8f, layer norm, ELU,
  residual up blocks of 8f, 4f, 2f, f (8 to 64 px), conv 3x3 to the image.
  Where it differs from WGAN-GP's 64x64 ResNet: layer norm and ELU everywhere (the
  paper's change; WGAN-GP: batch norm and ReLU in G, layer norm and ReLU in D); its
  blocks are the release's (both convolutions output the block's width, where WGAN-GP's
  down block widens in its second); the first block is the release's mean-pool block
  (WGAN-GP: a plain residual down block); no normalisation before G's last conv (as the
  release's resnet32; WGAN-GP normalises there); the dense head outputs the key_dim
  query, not one logit. With f_dim = 64 it has WGAN-GP 64's widths (64 to 512).

The encoder mu(x) returns the raw query (the memory L2-normalises it); the
"- Memory" DCGAN ablation puts a one-logit dense head on the same encoder.
Weights are initialised N(0, 0.02) as in the release. Layers followed by batch norm
have no bias (BN's offset takes its place; such a bias only gets rounding noise as
gradient, which Adam would blow up to full-size steps).

Training options (configs "Training options of the seed papers"): spectral
normalisation wraps the encoder's and the logit head's kernels; minibatch
discrimination ends the encoder (before the query or the logit head);
self-modulation gives every generator normalisation a scale and shift computed
from the generator input. The encoder's last hidden activation is the layer named
``features`` (feature matching reads it).
"""

from __future__ import annotations

import contextlib
from typing import Callable, NamedTuple

import keras
from keras import layers

from memorygan_tf.configs import ARCHITECTURES  # noqa: E402 - declared once, in configs


@contextlib.contextmanager
def precision(policy):
    """Networks built inside compute in `policy` ("float32" or "mixed_bfloat16": bfloat16
    arithmetic, float32 variables); their outputs (images, query, logit) are float32.
    Keras reads the policy when a layer is created, so it is set for the construction
    only and restored after; "float32" keeps the default policy (floatx: float64 in the
    tests that compare replicas)."""
    if policy == "float32":
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def architecture_for(model_config):
    """The architecture name for the configured image size (or the explicit choice)."""
    name = model_config.architecture
    if name == "auto":
        size = tuple(model_config.image_shape[:2])
        if size not in ARCHITECTURES:
            raise ValueError(
                f"no network for {size[0]}x{size[1]} images; supported sizes: "
                + ", ".join(f"{h}x{w}" for h, w in ARCHITECTURES)
            )
        name = ARCHITECTURES[size]
    if name not in NETWORKS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(NETWORKS)}")
    return name


# Minibatch discrimination (Salimans et al. 2016, Sec. 3.2): B kernels of C dimensions.
MINIBATCH_KERNELS, MINIBATCH_KERNEL_DIM = 50, 5
# Self-modulation (Chen et al. 2019, Sec. 3): hidden width of each one-hidden-layer MLP.
SELF_MODULATION_HIDDEN = 32


@keras.saving.register_keras_serializable(package="memorygan_tf")
class MinibatchDiscrimination(layers.Layer):
    """f -> [f, o(f)] with o(f_i)_b = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1), M = f T.

    T is an A x B x C tensor (Salimans et al. 2016, Sec. 3.2). The sum runs over the
    batch the layer sees: each of the real and the generated batch on its own, and on
    each replica its share under a distribution strategy.
    """

    def __init__(self, kernels=MINIBATCH_KERNELS, kernel_dim=MINIBATCH_KERNEL_DIM, **kwargs):
        super().__init__(**kwargs)
        self.kernels, self.kernel_dim = kernels, kernel_dim

    def build(self, input_shape):
        self.tensor = self.add_weight(shape=(input_shape[-1], self.kernels * self.kernel_dim), name="tensor",
                                      initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, features):
        m = keras.ops.reshape(keras.ops.matmul(features, self.tensor), (-1, self.kernels, self.kernel_dim))
        l1 = keras.ops.sum(keras.ops.abs(m[:, None] - m[None, :]), axis=-1)  # [n, n, B]
        o = keras.ops.sum(keras.ops.exp(-l1), axis=1) - 1.0  # minus exp(0) of i == j
        return keras.ops.concatenate([features, o], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + self.kernels,)

    def get_config(self):
        return dict(super().get_config(), kernels=self.kernels, kernel_dim=self.kernel_dim)


@keras.saving.register_keras_serializable(package="memorygan_tf")
class SelfModulation(layers.Layer):
    """[h, latent] -> h * (1 + gamma(latent)) + beta(latent), per channel (Chen et al. 2019, Eq. 2).

    gamma and beta are one-hidden-layer ReLU MLPs of the generator input; h is the output
    of a normalisation without its own scale and shift. The "1 +" starts the scale at the
    identity (the MLP's output is near 0 at initialisation).
    """

    def __init__(self, hidden=SELF_MODULATION_HIDDEN, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden

    def build(self, input_shapes):
        channels = input_shapes[0][-1]
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.mlps = []
        for name in ("gamma", "beta"):
            mlp = keras.Sequential([layers.Dense(self.hidden, activation="relu", kernel_initializer=init),
                                    layers.Dense(channels, kernel_initializer=init)], name=name)
            mlp.build(tuple(input_shapes[1]))
            self.mlps.append(mlp)

    def call(self, inputs):
        h, latent = inputs
        gamma, beta = (mlp(latent) for mlp in self.mlps)
        shape = (-1,) + (1,) * (len(h.shape) - 2) + (h.shape[-1],)
        return h * (1.0 + keras.ops.reshape(gamma, shape)) + keras.ops.reshape(beta, shape)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return dict(super().get_config(), hidden=self.hidden)


class _Blocks:
    """Small layer factory that carries the shared init, normalisation and option choices.

    `spectral`: wrap conv / dense kernels in SpectralNormalization (the encoder);
    `modulate_by`: the generator input that modulates every normalisation (self-modulation).
    """

    def __init__(self, model_config, spectral=False, modulate_by=None):
        self.init = keras.initializers.RandomNormal(stddev=0.02)
        self.sync = model_config.sync_batch_norm
        self.bn_epsilon = model_config.bn_epsilon
        self.bn_scale = model_config.bn_scale
        self.spectral = spectral
        self.modulate_by = modulate_by

    def _wrap(self, layer):
        return layers.SpectralNormalization(layer) if self.spectral else layer

    def conv(self, x, filters, kernel, stride, padding="same", bias=True):
        return self._wrap(layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=bias,
                                        kernel_initializer=self.init))(x)

    def deconv(self, x, filters, kernel, stride, bias=True):
        return layers.Conv2DTranspose(filters, kernel, stride, padding="same", use_bias=bias,
                                      kernel_initializer=self.init)(x)

    def dense(self, x, units, bias=True):
        return self._wrap(layers.Dense(units, use_bias=bias, kernel_initializer=self.init))(x)

    def _modulated(self, x):
        return SelfModulation()([x, self.modulate_by]) if self.modulate_by is not None else x

    def bn(self, x):
        own = self.modulate_by is None  # self-modulation replaces BN's own scale and shift
        return self._modulated(layers.BatchNormalization(momentum=0.9, epsilon=self.bn_epsilon, synchronized=self.sync,
                                                         center=own, scale=own and self.bn_scale)(x))

    def ln(self, x):
        own = self.modulate_by is None
        return self._modulated(layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5, center=own, scale=own)(x))

    @staticmethod
    def lrelu(x, name=None):
        return layers.LeakyReLU(negative_slope=0.2, name=name)(x)

    def conv_mean_pool(self, x, filters, kernel):
        return layers.AveragePooling2D(2)(self.conv(x, filters, kernel, 1))

    def residual_block(self, x, filters, resample, norm, act):
        """WGAN-GP residual block; resample is "up", "down" or None."""
        shortcut = x
        if resample == "up":
            shortcut = self.conv(layers.UpSampling2D(2)(shortcut), filters, 1, 1)
        elif resample == "down":
            shortcut = self.conv(layers.AveragePooling2D(2)(shortcut), filters, 1, 1)
        elif x.shape[-1] != filters:
            shortcut = self.conv(shortcut, filters, 1, 1)
        h = act(norm(x))
        if resample == "up":
            h = layers.UpSampling2D(2)(h)
        h = self.conv(h, filters, 3, 1)
        h = act(norm(h))
        h = self.conv(h, filters, 3, 1)
        if resample == "down":
            h = layers.AveragePooling2D(2)(h)
        return layers.Add()([shortcut, h])


# ------------------------------------------------------------- the architectures
FEATURES = "features"  # the encoder's last hidden activation (feature matching)

# Each architecture is one entry of NETWORKS: its encoder body (blocks, image input,
# model config -> the query before the optional minibatch layer and the output cast) and
# its generator body (blocks, latent, model config -> the image before the output
# activation). build_encoder / build_generator add what every architecture shares. Its
# image size is its line of configs.ARCHITECTURES (TensorFlow-free: the flags, validation
# and `--architecture`'s choices read it); tests check the two name the same networks.


def _dcgan28_encoder(b, x, m):
    f = m.f_dim
    h = b.lrelu(b.conv(x, f, 4, 2))
    h = b.lrelu(b.bn(b.conv(h, f * 2, 4, 2, bias=False)))
    h = b.lrelu(b.bn(b.conv(h, f * 4, 4, 2, bias=False)), name=FEATURES)  # 4x4
    q = b.bn(b.conv(h, m.key_dim, 4, 4, bias=False))  # 1x1, no activation
    return layers.Flatten()(q)


def _dcgan28_generator(b, latent, m):
    f = m.f_dim
    height, width, channels = m.image_shape
    h = b.lrelu(b.bn(b.dense(latent, m.fc_dim, bias=False)))
    h = layers.ReLU()(b.bn(b.dense(h, f * 2 * (height // 4) * (width // 4), bias=False)))
    h = layers.Reshape((height // 4, width // 4, f * 2))(h)
    h = layers.ReLU()(b.bn(b.deconv(h, f * 2, 4, 2, bias=False)))
    return b.deconv(h, channels, 4, 2)


def _dcgan40_encoder(b, x, m):
    f = m.f_dim
    h = b.lrelu(b.conv(x, f, 4, 2))  # 20x20
    for c in (2, 4):
        h = b.lrelu(b.bn(b.conv(h, f * c, 4, 2, bias=False)))
        h = b.lrelu(b.bn(b.conv(h, f * c, 1, 1, bias=False)), name=FEATURES if c == 4 else None)
    q = b.bn(b.conv(h, m.key_dim, h.shape[1], h.shape[1], padding="valid", bias=False))  # 5x5 -> 1x1
    return layers.Flatten()(q)


def _dcgan40_generator(b, latent, m):
    f = m.f_dim
    height, _, channels = m.image_shape
    s = height // 8
    h = b.lrelu(b.bn(b.dense(latent, f * 4 * s * s, bias=False)))
    h = layers.Reshape((s, s, f * 4))(h)
    for c in (2, 1):
        h = layers.ReLU()(b.bn(b.deconv(h, f * c, 4, 2, bias=False)))
        h = layers.ReLU()(b.bn(b.deconv(h, f * c, 1, 1, bias=False)))
    return b.deconv(h, channels, 4, 2)


def _elu(t):
    return layers.Activation("elu")(t)


def _resnet32_encoder(b, x, m):
    f = m.f_dim
    act = layers.Activation("elu")  # created before the first convolution (the layers' names keep this order)
    h = act(b.conv(x, f, 3, 1))
    h = layers.Add()([b.conv_mean_pool(h, f, 3), b.conv_mean_pool(x, f, 1)])
    h = _elu(b.ln(h))  # 16x16
    h = b.residual_block(h, f, "down", b.ln, _elu)  # 8x8
    h = b.residual_block(h, f, None, b.ln, _elu)
    h = b.residual_block(h, f, None, b.ln, _elu)
    h = layers.Identity(name=FEATURES)(h)
    q = b.conv(h, m.key_dim, 4, 2)
    return layers.GlobalAveragePooling2D()(q)


def _resnet32_generator(b, latent, m):
    f = m.f_dim
    height, _, channels = m.image_shape
    s = height // 8
    h = b.dense(latent, f * s * s)
    h = layers.Reshape((s, s, f))(h)
    h = _elu(b.ln(h))
    for _ in range(3):
        h = b.residual_block(h, f, "up", b.ln, _elu)
    return b.conv(h, channels, 3, 1)


def _resnet64_encoder(b, x, m):
    f = m.f_dim
    h = _elu(b.conv(x, f, 3, 1))  # 64x64
    h = layers.Add()([b.conv_mean_pool(h, f, 3), b.conv_mean_pool(x, f, 1)])
    h = _elu(b.ln(h))  # 32x32
    for c in (2, 4, 8):
        h = b.residual_block(h, f * c, "down", b.ln, _elu)  # 16, 8, 4
    h = layers.Identity(name=FEATURES)(h)  # 4x4x8f, no norm or activation (as resnet32 and WGAN-GP)
    return b.dense(layers.Flatten()(h), m.key_dim)


def _resnet64_generator(b, latent, m):
    f = m.f_dim
    height, _, channels = m.image_shape
    s = height // 16
    h = b.dense(latent, f * 8 * s * s)
    h = layers.Reshape((s, s, f * 8))(h)
    h = _elu(b.ln(h))  # 4x4x8f
    for c in (8, 4, 2, 1):
        h = b.residual_block(h, f * c, "up", b.ln, _elu)  # 8, 16, 32, 64
    return b.conv(h, channels, 3, 1)


class Architecture(NamedTuple):
    """One architecture's two networks (see the comment above NETWORKS' builders)."""

    encoder: Callable  # (blocks, image input, model config) -> query (before minibatch discrimination)
    generator: Callable  # (blocks, latent, model config) -> image (before the output activation)


NETWORKS = {
    "dcgan28": Architecture(_dcgan28_encoder, _dcgan28_generator),
    "dcgan40": Architecture(_dcgan40_encoder, _dcgan40_generator),
    "resnet32": Architecture(_resnet32_encoder, _resnet32_generator),
    "resnet64": Architecture(_resnet64_encoder, _resnet64_generator),
}


def build_encoder(model_config, name="encoder"):
    """The inference network mu(x): image -> raw query of size key_dim (Sec. 3.1)."""
    network = NETWORKS[architecture_for(model_config)]
    b = _Blocks(model_config, spectral=model_config.spectral_norm)
    x = keras.Input(shape=tuple(model_config.image_shape), name="image")
    q = network.encoder(b, x, model_config)
    if model_config.minibatch_discrimination:
        q = b.dense(MinibatchDiscrimination()(q), model_config.key_dim)
    # The query leaves in the variables' dtype (float32) whatever the compute precision:
    # the memory, its EM step and the losses run in it (configs' `precision`).
    q = layers.Activation("linear", dtype=keras.config.floatx(), name="query")(q)
    return keras.Model(x, q, name=name)



def feature_view(encoder):
    """The encoder as image -> (raw query, flattened `features` activation); shares its weights."""
    features = layers.Flatten()(encoder.get_layer(FEATURES).output)
    features = layers.Activation("linear", dtype=keras.config.floatx())(features)  # the loss's dtype
    return keras.Model(encoder.inputs, [encoder.outputs[0], features], name=encoder.name + "_features")


def build_logit_head(model_config, name="logit_head", outputs=1):
    """One-logit head for the "- Memory" (plain DCGAN) ablation: lrelu, then dense
    (`outputs` > 1: that many logits, [n, outputs], e.g. MIC-GANs' one per mode).

    The encoder ends in batch norm, and real and generated batches are normalised
    separately, so a *linear* head would give both batches the same mean logit and
    the discriminator could not tell them apart on average (it sat at D = 0.5).
    """
    q = keras.Input(shape=(model_config.key_dim,))
    h = layers.LeakyReLU(negative_slope=0.2)(q)
    logit = _Blocks(model_config, spectral=model_config.spectral_norm).dense(h, outputs)
    if outputs == 1:
        logit = layers.Reshape(())(logit)
    logit = layers.Activation("linear", dtype=keras.config.floatx())(logit)  # as the losses
    return keras.Model(q, logit, name=name)


def build_mode_encoder(model_config, dim, name="mode_encoder"):
    """MIC-GANs' encoder Q of Eq. 12: image -> embedding of size `dim` in which each mode
    is a Gaussian. As the authors': strided 4x4 convolutions with lrelu and no batch norm
    (f, 2f, 4f, ... filters until the map is at most 4x4), then a dense layer."""
    x = keras.Input(shape=tuple(model_config.image_shape), name="image")
    b = _Blocks(model_config)
    h, filters = x, model_config.f_dim
    while h.shape[1] > 4:
        h = b.lrelu(b.conv(h, filters, 4, 2))
        filters *= 2
    out = b.dense(layers.Flatten()(h), dim)
    out = layers.Activation("linear", dtype=keras.config.floatx(), name="embedding")(out)
    return keras.Model(x, out, name=name)


def build_q_head(model_config, outputs, hidden=128, name="q_head"):
    """InfoGAN's Q network on the discriminator's trunk (Chen et al. 2016, Appendix C):
    lrelu, a hidden dense layer of `hidden` units, lrelu, `outputs` values (the
    categorical code's logits, then the continuous codes' means)."""
    q = keras.Input(shape=(model_config.key_dim,))
    b = _Blocks(model_config)
    h = b.lrelu(b.dense(b.lrelu(q), hidden))
    out = layers.Activation("linear", dtype=keras.config.floatx())(b.dense(h, outputs))  # as the losses
    return keras.Model(q, out, name=name)


def build_generator(model_config, input_dim, name="generator", modes=0):
    """G(latent): a latent vector of `input_dim` values -> image. The model chooses what
    the latent holds: [z, K_i] for the MCGN (Sec. 3.2), [z, codes] for InfoGAN, z alone
    for the DCGAN (models.base.GAN.generator_input_dim).

    `modes` > 0 (MIC-GANs): the latent is [z, one_hot(k)] with `modes` values of k, and
    the network reads z + e_k, a learned embedding per mode of z's size initialised
    N(0, I) like z itself (the authors' "embedding_add" conditioning), so the mode moves
    the input as much as the noise does from the first step."""
    network = NETWORKS[architecture_for(model_config)]
    inputs = keras.Input(shape=(input_dim,), name="latent")
    latent = inputs
    if modes:
        z_dim = input_dim - modes
        embedding = layers.Dense(z_dim, use_bias=False, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0),
                                 name="mode_embedding")(inputs[:, z_dim:])
        latent = layers.Add()([inputs[:, :z_dim], embedding])
    b = _Blocks(model_config, modulate_by=inputs if model_config.self_modulation else None)
    x = network.generator(b, latent, model_config)
    x = layers.Activation(model_config.output_activation, dtype="float32")(x)
    return keras.Model(inputs, x, name=name)
