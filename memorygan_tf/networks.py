"""Generator and discriminator encoder networks of the release, chosen by image size.

* ``dcgan28``  (28x28, Fashion-MNIST / MNIST), ``dcgan40`` (40x40, affine-MNIST):
  DCGAN-style convolutions, lrelu 0.2, batch norm (none on the first encoder layer),
  sigmoid output.
* ``resnet32`` (32x32, CIFAR10): the WGAN-GP ResNet, layer norm and ELU, mean-pool
  down-sampling in the encoder, tanh output.

The encoder mu(x) returns the raw query (the memory L2-normalises it); the
"- Memory" DCGAN ablation puts a one-logit dense head on the same encoder.
Weights are initialised N(0, 0.02) as in the release. Layers followed by batch norm
have no bias (BN's offset takes its place; such a bias only gets rounding noise as
gradient, which Adam would blow up to full-size steps).
"""

from __future__ import annotations

import keras
from keras import layers

from memorygan_tf.configs import ARCHITECTURES  # noqa: E402 - declared once, in configs


def architecture_for(model_config):
    """The architecture name for the configured image size (or the explicit choice)."""
    if model_config.architecture != "auto":
        return model_config.architecture
    size = tuple(model_config.image_shape[:2])
    if size not in ARCHITECTURES:
        raise ValueError(
            f"no network for {size[0]}x{size[1]} images; supported sizes: "
            + ", ".join(f"{h}x{w}" for h, w in ARCHITECTURES)
        )
    return ARCHITECTURES[size]


def generator_input_dim(model_config):
    """z_dim, plus key_dim when the generator is memory-conditional (MCGN)."""
    conditional = model_config.use_memory and model_config.use_mcgn
    return model_config.z_dim + (model_config.key_dim if conditional else 0)


class _Blocks:
    """Small layer factory that carries the shared init and normalisation choice."""

    def __init__(self, model_config):
        self.init = keras.initializers.RandomNormal(stddev=0.02)
        self.sync = model_config.sync_batch_norm

    def conv(self, x, filters, kernel, stride, padding="same", bias=True):
        return layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=bias,
                             kernel_initializer=self.init)(x)

    def deconv(self, x, filters, kernel, stride, bias=True):
        return layers.Conv2DTranspose(filters, kernel, stride, padding="same", use_bias=bias,
                                      kernel_initializer=self.init)(x)

    def dense(self, x, units, bias=True):
        return layers.Dense(units, use_bias=bias, kernel_initializer=self.init)(x)

    def bn(self, x):
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=self.sync)(x)

    @staticmethod
    def ln(x):
        return layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5)(x)

    @staticmethod
    def lrelu(x):
        return layers.LeakyReLU(negative_slope=0.2)(x)

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


def build_encoder(model_config, name="encoder"):
    """The inference network mu(x): image -> raw query of size key_dim (Sec. 3.1)."""
    arch = architecture_for(model_config)
    f, m = model_config.f_dim, model_config.key_dim
    b = _Blocks(model_config)
    x = keras.Input(shape=tuple(model_config.image_shape), name="image")
    if arch == "dcgan28":
        h = b.lrelu(b.conv(x, f, 4, 2))
        h = b.lrelu(b.bn(b.conv(h, f * 2, 4, 2, bias=False)))
        h = b.lrelu(b.bn(b.conv(h, f * 4, 4, 2, bias=False)))  # 4x4
        q = b.bn(b.conv(h, m, 4, 4, bias=False))  # 1x1, no activation
        q = layers.Flatten()(q)
    elif arch == "dcgan40":
        h = b.lrelu(b.conv(x, f, 4, 2))  # 20x20
        for c in (2, 4):
            h = b.lrelu(b.bn(b.conv(h, f * c, 4, 2, bias=False)))
            h = b.lrelu(b.bn(b.conv(h, f * c, 1, 1, bias=False)))
        q = b.bn(b.conv(h, m, h.shape[1], h.shape[1], padding="valid", bias=False))  # 5x5 -> 1x1
        q = layers.Flatten()(q)
    elif arch == "resnet32":
        act = layers.Activation("elu")
        h = act(b.conv(x, f, 3, 1))
        h = layers.Add()([b.conv_mean_pool(h, f, 3), b.conv_mean_pool(x, f, 1)])
        h = layers.Activation("elu")(b.ln(h))  # 16x16
        elu = lambda t: layers.Activation("elu")(t)  # noqa: E731
        h = b.residual_block(h, f, "down", b.ln, elu)  # 8x8
        h = b.residual_block(h, f, None, b.ln, elu)
        h = b.residual_block(h, f, None, b.ln, elu)
        q = b.conv(h, m, 4, 2)
        q = layers.GlobalAveragePooling2D()(q)
    else:
        raise ValueError(f"unknown architecture {arch!r}")
    return keras.Model(x, q, name=name)


def build_logit_head(model_config, name="logit_head"):
    """One-logit head for the "- Memory" (plain DCGAN) ablation: lrelu, then dense.

    The encoder ends in batch norm, and real and generated batches are normalised
    separately, so a *linear* head would give both batches the same mean logit and
    the discriminator could not tell them apart on average (it sat at D = 0.5).
    """
    q = keras.Input(shape=(model_config.key_dim,))
    h = layers.LeakyReLU(negative_slope=0.2)(q)
    logit = layers.Dense(1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.02))(h)
    return keras.Model(q, layers.Reshape(())(logit), name=name)


def build_generator(model_config, name="generator"):
    """G([z, K_i]) (MCGN, Sec. 3.2) or G(z): latent vector -> image."""
    arch = architecture_for(model_config)
    f = model_config.f_dim
    b = _Blocks(model_config)
    height, width, channels = model_config.image_shape
    out_act = model_config.output_activation
    latent = keras.Input(shape=(generator_input_dim(model_config),), name="latent")
    if arch == "dcgan28":
        h = b.lrelu(b.bn(b.dense(latent, model_config.fc_dim, bias=False)))
        h = layers.ReLU()(b.bn(b.dense(h, f * 2 * (height // 4) * (width // 4), bias=False)))
        h = layers.Reshape((height // 4, width // 4, f * 2))(h)
        h = layers.ReLU()(b.bn(b.deconv(h, f * 2, 4, 2, bias=False)))
        x = b.deconv(h, channels, 4, 2)
    elif arch == "dcgan40":
        s = height // 8
        h = b.lrelu(b.bn(b.dense(latent, f * 4 * s * s, bias=False)))
        h = layers.Reshape((s, s, f * 4))(h)
        for c in (2, 1):
            h = layers.ReLU()(b.bn(b.deconv(h, f * c, 4, 2, bias=False)))
            h = layers.ReLU()(b.bn(b.deconv(h, f * c, 1, 1, bias=False)))
        x = b.deconv(h, channels, 4, 2)
    elif arch == "resnet32":
        s = height // 8
        elu = lambda t: layers.Activation("elu")(t)  # noqa: E731
        h = b.dense(latent, f * s * s)
        h = layers.Reshape((s, s, f))(h)
        h = elu(b.ln(h))
        for _ in range(3):
            h = b.residual_block(h, f, "up", b.ln, elu)
        x = b.conv(h, channels, 3, 1)
    else:
        raise ValueError(f"unknown architecture {arch!r}")
    x = layers.Activation(out_act, dtype="float32")(x)
    return keras.Model(latent, x, name=name)
