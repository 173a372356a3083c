"""InfoGAN (Chen et al. 2016): a GAN whose generator reads codes it must keep recognisable.

The generator reads [z, one_hot(c), c'] with a categorical code c of
`info_categories` equally likely values and `info_continuous` codes c' ~ U(-1, 1); a Q
head on the discriminator's trunk (the DCGAN's encoder) predicts them from the image,
and both players minimise the lower bound's negative, -E log Q(c, c' | G(z, c, c'))
(losses.info_loss), with weight `info_lambda` (the continuous codes' Gaussian term
weighted by `info_continuous_weight`, as the paper weights continuous codes lower).
MemoryGAN's MCGN adapts this term (its Eq. 6); here the code is a free categorical
instead of a memory slot. Q's argmax of the categorical code clusters images.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from memorygan_tf import evaluation, losses, networks, serving
from memorygan_tf.models import base
from memorygan_tf.models.dcgan.gan import DCGAN


class InfoGAN(DCGAN):
    """DCGAN + categorical and continuous codes + Q head."""

    clusters = True
    cluster_control = "code"

    @property
    def categories(self):
        return self.config.info_categories

    @property
    def continuous(self):
        return self.config.info_continuous

    @property
    def controls(self):
        return {"code": base.Control("int32", self.categories, "value of the categorical code"),
                "continuous": base.Control("float32", self.continuous, "continuous codes, U(-1, 1) a priori")}

    def generator_input_dim(self):
        return self.config.z_dim + self.categories + self.continuous

    def build_heads(self):
        super().build_heads()
        self.q_head = networks.build_q_head(self.config, self.categories + self.continuous)

    @property
    def head_variables(self):
        return self.logit_head.trainable_variables + self.q_head.trainable_variables

    @property
    def info_weight(self):
        return self.config.info_lambda

    # -------------------------------------------------------- sampling
    def sample_controls(self, n, seed):
        """c uniform over the categories, c' ~ U(-1, 1)."""
        code_seed, continuous_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        dtype = keras.backend.floatx()
        uniform = tf.zeros([1, self.categories], dtype)
        code = tf.random.stateless_categorical(uniform, n, seed=code_seed, dtype=tf.int32)[0]
        continuous = tf.random.stateless_uniform([n, self.continuous], continuous_seed, -1.0, 1.0, dtype=dtype)
        return self._codes(code, continuous), {"code": code, "continuous": continuous}

    def _codes(self, code, continuous):
        dtype = continuous.dtype
        return tf.concat([tf.one_hot(code, self.categories, dtype=dtype), continuous], axis=-1)

    def latent_from(self, z, code=None, continuous=None):
        """Generator input [z, one_hot(code), continuous] (continuous codes default to 0,
        their prior's mean)."""
        z = tf.convert_to_tensor(z)
        if continuous is None:
            continuous = tf.zeros([tf.shape(z)[0], self.continuous], z.dtype)
        return tf.concat([z, self._codes(tf.convert_to_tensor(code), tf.cast(continuous, z.dtype))], axis=-1)

    def q(self, features):
        """Q's (categorical logits [n, C], continuous means [n, c]) from the encoder's output."""
        out = self.q_head(features)
        return out[:, :self.categories], out[:, self.categories:]

    def information(self, latent, features):
        """-E log Q(c, c' | G(z, c, c')) of the generated batch (losses.info_loss)."""
        z_dim = self.config.z_dim
        onehot = latent[:, z_dim:z_dim + self.categories]
        continuous = latent[:, z_dim + self.categories:]
        logits, mean = self.q(features)
        return losses.info_loss(onehot, logits, continuous, mean, self.config.info_continuous_weight)

    # ------------------------------------------------------ the harness
    @property
    def figures(self):
        """Also what the codes control (figures.codes_grid)."""
        return super().figures + ("codes",)

    def evaluation_report(self, x_test, y_test):
        return evaluation.clustering_report(self, x_test, y_test)

    def cluster_scores(self, images):
        """Q's logits of the categorical code: an image's cluster is their argmax."""
        return self.q(self.encoder(images, training=False))[0]

    def cluster_weights(self):
        """The code's uniform prior: every value weighs 1 / C."""
        return np.full(self.categories, 1.0 / self.categories)

    def add_serving_endpoints(self, archive, z_spec):
        """serve(z) and sample(z, seed) -> {"images", "codes"}: the categorical code from a
        uniform hashed from z (serve) or drawn from the seed (sample), continuous codes 0
        (serve) or drawn (sample); generate_from_code(z, code, continuous) -> {"images"}."""
        categories, width = self.categories, self.continuous

        def code_for(uniform):
            return tf.minimum(tf.cast(uniform * categories, tf.int32), categories - 1)

        def serve(z):
            z = serving.finite(z)
            code = code_for(serving.hash_uniform(z))
            return {"images": serving.images_from(self, self.latent_from(z, code)), "codes": code}

        def sample(z, seed):
            z = serving.finite(z)
            code_seed, continuous_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
            code = code_for(tf.random.stateless_uniform(tf.shape(z)[:1], code_seed))
            continuous = tf.random.stateless_uniform([tf.shape(z)[0], width], continuous_seed, -1.0, 1.0)
            return {"images": serving.images_from(self, self.latent_from(z, code, continuous)), "codes": code}

        def generate_from_code(z, code, continuous):
            code = serving.in_range(code, categories, f"input code must lie in [0, {categories})")
            continuous = serving.finite(continuous, "continuous")
            return {"images": serving.images_from(self, self.latent_from(serving.finite(z), code, continuous))}

        archive.add_endpoint("serve", serve, input_signature=[z_spec])
        archive.add_endpoint("sample", sample, input_signature=[z_spec, serving.seed_spec()])
        archive.add_endpoint("generate_from_code", generate_from_code, input_signature=[
            z_spec, tf.TensorSpec([None], tf.int32, name="code"),
            tf.TensorSpec([None, width], tf.float32, name="continuous")])
