"""The DCGAN: MemoryGAN's networks with a one-logit head (Table 2's "- Memory")."""

from memorygan_tf.models.dcgan.gan import DCGAN

__all__ = ["DCGAN"]
