"""InfoGAN (Chen et al. 2016): the model (gan.py) and its codes figure (figures.py)."""

from memorygan_tf.models.infogan.gan import InfoGAN

__all__ = ["InfoGAN"]
