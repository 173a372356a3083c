"""The DCGAN: the GAN of Goodfellow et al. (2014) with MemoryGAN's networks.

Table 2's "- Memory" ablation: the same encoder as MemoryGAN's discriminator trunk with
a one-logit head (networks.build_logit_head), D(x) = sigmoid(logit), and the same
generator reading z alone. `--model=dcgan` and `--use_memory=false` build this model.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from memorygan_tf import networks, serving
from memorygan_tf.models import base


class DCGAN(base.GAN):
    """Encoder + logit head against a generator of z."""

    def build_heads(self):
        self.logit_head = networks.build_logit_head(self.config)

    @property
    def head_variables(self):
        return self.logit_head.trainable_variables

    def judge(self, features, training):
        """(log D, log(1 - D), D) from the encoder's output."""
        logit = self.logit_head(features, training=training)
        return tf.math.log_sigmoid(logit), tf.math.log_sigmoid(-logit), tf.sigmoid(logit)

    def information(self, latent, features):
        """The information term of the generated batch (none for the plain GAN)."""
        return tf.zeros([], keras.backend.floatx())

    def discriminate_pair(self, real, fake, latent):
        log_d_real, log_1m_d_real, d_real = self.judge(self.encoder(real, training=True), True)
        fake_features = self.encoder(fake, training=True)
        _, log_1m_d_fake, d_fake = self.judge(fake_features, True)
        return base.DiscriminatorOutputs(log_d_real, log_1m_d_real, log_1m_d_fake, d_real, d_fake,
                                         info=self.information(latent, fake_features))

    def judge_generated(self, raw_fake, latent):
        log_d_fake, log_1m_d_fake, _ = self.judge(raw_fake, True)
        return base.GeneratorOutputs(log_d_fake, log_1m_d_fake, info=self.information(latent, raw_fake))

    def add_serving_endpoints(self, archive, z_spec):
        """serve(z) and sample(z, seed) -> {"images"}: the generator reads z alone."""

        def serve(z):
            return {"images": serving.images_from(self, serving.finite(z))}

        def sample(z, seed):
            del seed  # nothing to draw besides z
            return serve(z)

        archive.add_endpoint("serve", serve, input_signature=[z_spec])
        archive.add_endpoint("sample", sample, input_signature=[z_spec, serving.seed_spec()])
